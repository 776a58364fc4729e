//! The raw-echo workload of the allocation tests: the handler, its requests, and a blocking
//! client that measures a shard's allocations per request over a socket.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::{decode, encode_frame, Header, Limits, NO_METADATA};
use ringrpc_engine::{HandlerError, Request, Response, SerializeType, Server, ServerConfig};

/// Echoes the request payload as the reply payload (no copy: the reply shares it).
pub async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.into_payload()))
}

/// An `Echo.Echo` request frame with a raw payload.
pub fn echo_request(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    let header = Header::request(seq, SerializeType::None);
    encode_frame(&mut dst, &header, "Echo", "Echo", NO_METADATA, payload).unwrap();
    dst.to_vec()
}

/// Allocations the shard counted into `counter` per 581-byte echo request, with `depth`
/// requests written at once per round trip, over `count` round trips after a warm-up.
pub fn allocations_per_request(
    server: &Server,
    counter: &AtomicU64,
    depth: usize,
    count: u64,
) -> f64 {
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
    let before = counter.load(Ordering::Relaxed);
    round_trips(count);
    let allocs = counter.load(Ordering::Relaxed) - before;
    allocs as f64 / (depth as u64 * count) as f64
}

/// Starts a one-shard echo server with `config`, whose shard thread counts its allocations
/// into `counter`, and checks each `(requests in flight, round trips, allocations per
/// request allowed)` case; prints the figures (`--nocapture`).
pub fn check_shard_allocations(
    name: &str,
    config: ServerConfig,
    counter: &'static AtomicU64,
    cases: &[(usize, u64, f64)],
) {
    let server = Server::start(config, move |services| {
        crate::counting_alloc::count_on_this_thread(Some(counter));
        services.register("Echo", "Echo", echo);
    })
    .unwrap();
    for &(depth, count, bound) in cases {
        let per_request = allocations_per_request(&server, counter, depth, count);
        println!(
            "{name} shard, raw echo 581 B, {depth} in flight: {per_request:.3} allocations per \
             request"
        );
        assert!(
            per_request <= bound,
            "{name}: {per_request} allocations per request at {depth} in flight"
        );
    }
    server.shutdown();
}
