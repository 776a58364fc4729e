//! A fixed number of rounds through the connection core, the way the io_uring driver drives
//! it for pipelined requests, with no socket and no clock reads beyond the core's own: for
//! counting the instructions one request costs in our code (README, "Instructions per
//! request in the core").
//!
//! Each round hands the core one received chunk of 16 echo requests (SerializeNone, the
//! payload length given; a third argument changes the count, 1 being the pattern at one
//! call in flight), takes the calls it starts, polls each once inline (the echo
//! handler answers on its first poll), takes every reply piece to send and reports them
//! sent. The chunk is the same `Bytes` every round, so the round copies nothing itself.
//!
//! ```text
//! cargo build --release -p ringrpc-engine --example core_rounds
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/core_rounds 2000 581
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/core_rounds 4000 581
//! ```
//!
//! The difference between the two totals divided by 32 000 (2000 more rounds of 16) is
//! the instructions per request, without start-up (divide by 2000 × the count given).

use std::hint::black_box;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::{encode_frame, Header, NO_METADATA};
use ringrpc_engine::conn::{ConnConfig, Connection, Link, SendPieces};
use ringrpc_engine::{HandlerError, Request, Response, SerializeType, Services};

/// Requests per received chunk unless the third argument says otherwise.
const PER_CHUNK: usize = 16;

async fn echo(request: Request) -> Result<Response, HandlerError> {
    let reply = Response::new(()).with_metadata_from(request.metadata());
    Ok(reply.with_payload(request.into_payload()))
}

fn argument(position: usize, default: usize) -> usize {
    std::env::args().nth(position).map_or(default, |text| {
        text.parse()
            .unwrap_or_else(|_| panic!("argument {position} must be a count, not {text:?}"))
    })
}

fn main() {
    let rounds = argument(1, 1000);
    let payload_len = argument(2, 581);
    let per_chunk = argument(3, PER_CHUNK);

    let mut services = Services::new();
    services.register("Echo", "Echo", echo);
    let mut conn = Connection::new(
        Rc::new(services),
        Rc::new(ConnConfig::default()),
        Link::detached(),
    );
    let chunk = requests(payload_len, per_chunk);
    let mut cx = Context::from_waker(Waker::noop());
    let mut pieces = SendPieces::default();
    let mut replied = 0usize;
    for _ in 0..rounds {
        conn.handle_chunk(chunk.clone());
        while let Some(call) = conn.poll_call(Instant::now) {
            assert!(
                conn.poll_inline(&mut cx, call).is_none(),
                "the echo handler answers on its first poll"
            );
        }
        while conn.poll_transmit_owned_into(&mut pieces, 64) > 0 {}
        let sent = pieces.len();
        black_box(&pieces);
        pieces.clear();
        conn.handle_sent_owned(sent);
        replied += sent;
    }
    println!("{rounds} rounds of {per_chunk} requests, {replied} reply bytes");
}

/// One chunk of `per_chunk` echo requests of `payload_len` bytes each.
fn requests(payload_len: usize, per_chunk: usize) -> Bytes {
    let payload = vec![7u8; payload_len];
    let mut wire = BytesMut::new();
    for seq in 0..per_chunk as u64 {
        let header = Header::request(seq, SerializeType::None);
        encode_frame(&mut wire, &header, "Echo", "Echo", NO_METADATA, &payload)
            .expect("an echo request encodes");
    }
    wire.freeze()
}
