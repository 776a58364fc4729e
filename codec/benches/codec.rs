//! Codec micro-benchmarks: header parse, full decode of the 621-byte BenchmarkMessage
//! request frame, encode, and each payload codec. Under `cargo test --benches` each case
//! runs once, so the benches cannot rot.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;
use ringrpc_codec::payload::{Json, MsgPack, PayloadCodec, Protobuf};
use ringrpc_codec::{decode, encode_frame, Header, Limits, Reply, SerializeType, NO_METADATA};

fn bench_request_frame() -> Bytes {
    let payload = BenchmarkMessage::benchmark_request().encode_to_vec();
    let mut buf = BytesMut::new();
    let header = Header::request(42, SerializeType::Protobuf);
    encode_frame(&mut buf, &header, "Hello", "Say", NO_METADATA, &payload).unwrap();
    assert_eq!(buf.len(), 621);
    buf.freeze()
}

fn frames(c: &mut Criterion) {
    let frame = bench_request_frame();
    let limits = Limits::default();
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(frame.len() as u64));

    group.bench_function("header_parse", |b| {
        b.iter(|| {
            let header = Header::peek(black_box(&frame)).unwrap();
            black_box((header.seq(), header.frame_len(), header.is_oneway()))
        })
    });

    group.bench_function("decode_621B_benchmark_message", |b| {
        let mut src = BytesMut::with_capacity(frame.len() * 2);
        b.iter(|| {
            src.extend_from_slice(&frame);
            let decoded = decode(&mut src, &limits).unwrap().unwrap();
            black_box(decoded.payload().len())
        })
    });

    let request = decode(&mut BytesMut::from(&frame[..]), &limits)
        .unwrap()
        .unwrap();
    let reply_payload = BenchmarkMessage::benchmark_request()
        .into_benchmark_reply()
        .encode_to_vec();
    group.bench_function("encode_reply_527B", |b| {
        let mut dst = BytesMut::with_capacity(4096);
        b.iter(|| {
            dst.clear();
            Reply::to(&request)
                .encode_ok(&mut dst, NO_METADATA, black_box(&reply_payload))
                .unwrap();
            black_box(dst.len())
        })
    });
    group.finish();
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

fn payload_codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload");
    let message = BenchmarkMessage::benchmark_request();
    let encoded = Bytes::from(message.encode_to_vec());
    group.bench_function("protobuf_decode_benchmark_message", |b| {
        b.iter(|| {
            black_box(<Protobuf as PayloadCodec<BenchmarkMessage>>::decode(&encoded).unwrap())
        })
    });
    group.bench_function("protobuf_encode_benchmark_message", |b| {
        let mut dst = BytesMut::with_capacity(1024);
        b.iter(|| {
            dst.clear();
            Protobuf::encode(black_box(&message), &mut dst).unwrap();
        })
    });
    let args = Args { a: 10, b: 20 };
    group.bench_function("json_encode_args", |b| {
        let mut dst = BytesMut::with_capacity(64);
        b.iter(|| {
            dst.clear();
            Json::encode(black_box(&args), &mut dst).unwrap();
        })
    });
    group.bench_function("msgpack_encode_args", |b| {
        let mut dst = BytesMut::with_capacity(64);
        b.iter(|| {
            dst.clear();
            MsgPack::encode(black_box(&args), &mut dst).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, frames, payload_codecs);
criterion_main!(benches);
