//! Generates the tonic peer's `proto.Hello` service (`src/bin/tonic_server.rs`) with
//! tonic-build's manual builder: the same routes and trait tonic-build makes from
//! `go/proto/benchmark.proto`, without needing `protoc`. The message is the codec's
//! prost `BenchmarkMessage` (prost-build's output for that same file), sent with
//! tonic-prost's codec, as a tonic user's generated code would.

fn main() {
    let say = tonic_build::manual::Method::builder()
        .name("say")
        .route_name("Say")
        .input_type("::ringrpc_codec::payload::benchmark_message::BenchmarkMessage")
        .output_type("::ringrpc_codec::payload::benchmark_message::BenchmarkMessage")
        .codec_path("::tonic_prost::ProstCodec")
        .build();
    let hello = tonic_build::manual::Service::builder()
        .name("Hello")
        .package("proto")
        .method(say)
        .build();
    tonic_build::manual::Builder::new()
        .build_client(false)
        .compile(&[hello]);
    println!("cargo:rerun-if-changed=build.rs");
}
