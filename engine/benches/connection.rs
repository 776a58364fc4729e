//! The connection core without sockets: parse, dispatch, run the handler inline and encode
//! the replies of a batch of 64 pipelined frames, as one read would deliver them.
//! `cargo bench -p ringrpc-engine --bench connection`; `cargo test --benches` runs each
//! case once.

use std::hint::black_box;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use ringrpc_engine::codec::payload::benchmark_message::BenchmarkMessage;
use ringrpc_engine::codec::payload::{Proto, Serde};
use ringrpc_engine::codec::{encode_frame, Header, NO_METADATA};
use ringrpc_engine::conn::{ConnConfig, Connection, Link};
use ringrpc_engine::{HandlerError, Request, Response, SerializeType, Services};

const BATCH: u64 = 64;

async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.into_payload()))
}

async fn say(request: Request) -> Result<Response<Proto<BenchmarkMessage>>, HandlerError> {
    let Proto(message): Proto<BenchmarkMessage> = request.decode()?;
    Ok(Response::new(Proto(message.into_benchmark_reply())))
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Reply {
    #[serde(rename = "C")]
    c: i64,
}

async fn mul(request: Request) -> Result<Response<Serde<Reply>>, HandlerError> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply { c: args.a * args.b })))
}

fn connection() -> Connection {
    let mut services = Services::new();
    services
        .register("Echo", "Echo", echo)
        .register("Hello", "Say", say);
    services.register("Arith", "Mul", mul);
    Connection::new(
        Rc::new(services),
        Rc::new(ConnConfig::default()),
        Link::detached(),
    )
}

fn batch(serialize_type: SerializeType, path: &str, method: &str, payload: &[u8]) -> Bytes {
    let mut dst = BytesMut::new();
    for seq in 0..BATCH {
        let header = Header::request(seq, serialize_type);
        encode_frame(&mut dst, &header, path, method, NO_METADATA, payload).unwrap();
    }
    dst.freeze()
}

/// One read's worth of frames through the core; returns the bytes it would send.
fn round(conn: &mut Connection, input: &[u8]) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut rest = input;
    let mut sent = 0;
    while !rest.is_empty() {
        let _ = conn.handle_read(|buf| {
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            Poll::Ready(Ok(n))
        });
        while let Some(mut call) = conn.poll_call(Instant::now) {
            let _ = call.poll(&mut cx);
            conn.handle_completion(call.finish());
        }
        while let Some(bytes) = conn.poll_transmit() {
            let n = black_box(bytes).len();
            sent += n;
            conn.handle_sent(n);
        }
    }
    sent
}

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "echo_raw_581B",
            batch(SerializeType::None, "Echo", "Echo", &[7u8; 581]),
        ),
        (
            "hello_say_protobuf",
            batch(
                SerializeType::Protobuf,
                "Hello",
                "Say",
                &BenchmarkMessage::benchmark_request().encode_to_vec(),
            ),
        ),
        (
            "arith_mul_json",
            batch(SerializeType::Json, "Arith", "Mul", br#"{"A":10,"B":20}"#),
        ),
    ];
    let mut group = c.benchmark_group("connection_core_batch64");
    group.throughput(Throughput::Elements(BATCH));
    for (name, input) in cases {
        let mut conn = connection();
        assert!(round(&mut conn, &input) > 0);
        group.bench_function(name, |b| b.iter(|| round(&mut conn, black_box(&input))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
