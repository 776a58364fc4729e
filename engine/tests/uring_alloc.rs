//! Measures heap allocations per request in steady state on the raw-echo path through a
//! socket on an io_uring shard, with a counting global allocator (its own test binary, so
//! only this test's work is counted), in both ways of receiving:
//!
//! - zero-copy (the default): each received buffer becomes a `Bytes` that holds it while its
//!   frames are in use, which costs one small allocation (the `Bytes` owner) per received
//!   buffer, that is per request at 1 in flight and per batch when pipelined;
//! - copying (what the shard falls back to when buffers run short): nothing per request.
//!
//! Run with `--nocapture` to see the figures.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::{decode, encode_frame, Header, Limits, NO_METADATA};
use ringrpc_engine::{
    Driver, HandlerError, Request, Response, SerializeType, Server, ServerConfig,
};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

static SHARD_ALLOCS: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.into_payload()))
}

fn echo_request(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    let header = Header::request(seq, SerializeType::None);
    encode_frame(&mut dst, &header, "Echo", "Echo", NO_METADATA, payload).unwrap();
    dst.to_vec()
}

/// Allocations per request at `depth` requests in flight per round trip.
fn allocations_per_request(server: &Server, depth: usize, count: u64) -> f64 {
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let limits = Limits::default();
    let batch: Vec<u8> = (0..depth)
        .flat_map(|i| echo_request(i as u64, &[7u8; 581]))
        .collect();
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 << 10];
    let mut round_trips = |count: u64| {
        for _ in 0..count {
            stream.write_all(&batch).unwrap();
            let mut got = 0;
            while got < depth {
                match decode(&mut buf, &limits).unwrap() {
                    Some(frame) => {
                        let _: Bytes = frame.into_payload();
                        got += 1;
                    }
                    None => {
                        let n = stream.read(&mut chunk).unwrap();
                        assert!(n > 0, "server closed");
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
    };
    round_trips(2_000);
    let before = SHARD_ALLOCS.load(Ordering::Relaxed);
    round_trips(count);
    let allocs = SHARD_ALLOCS.load(Ordering::Relaxed) - before;
    allocs as f64 / (depth as u64 * count) as f64
}

#[test]
fn uring_shard_allocations_per_request_over_a_socket() {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        driver: Driver::Uring,
        idle_timeout: None,
        ..ServerConfig::default()
    };
    let server = Server::start(config, |services| {
        counting_alloc::count_on_this_thread(Some(&SHARD_ALLOCS));
        services.register("Echo", "Echo", echo);
    })
    .unwrap();
    for (depth, count, bound) in [(1usize, 20_000u64, 1.5), (16, 2_000, 0.5)] {
        let per_request = allocations_per_request(&server, depth, count);
        println!(
            "io_uring shard, raw echo 581 B, {depth} in flight: {per_request:.3} allocations \
             per request"
        );
        assert!(
            per_request <= bound,
            "{per_request} allocations per request"
        );
    }
    server.shutdown();
}
