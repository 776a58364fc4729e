//! Generates `proto.Hello` (the benchmark service, `bench-harness/go/proto/benchmark.proto`)
//! with volo-build: pilota parses the .proto in Rust, no `protoc` needed.

fn main() {
    let proto_dir = std::path::Path::new("../go/proto");
    println!("cargo:rerun-if-changed=../go/proto/benchmark.proto");
    volo_build::Builder::protobuf()
        .add_service(proto_dir.join("benchmark.proto"))
        .include_dirs(vec![proto_dir.into()])
        .write()
        .expect("generate proto.Hello from benchmark.proto");
}
