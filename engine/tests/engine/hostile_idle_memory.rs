//! Hostile peers, idle connections (issue: "idle connections hold nothing"): thousands of
//! connections that each made one call and then stay open must not keep their receive and
//! send buffers. Measured from outside the connection code: the heap bytes the shard thread
//! holds (allocated minus freed on that thread, counted by this binary's global allocator,
//! [`ThreadHeap`]), read through a `Mem.Live` handler that runs on the shard itself. Both
//! drivers; the figure per connection is printed.
//!
//! A connection gives its buffers back as soon as it is quiet (to the shard's buffer pool,
//! at most 32 buffers); the test still polls, with a deadline, in case the last replies
//! are still on their way out when it first looks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringrpc_engine::codec::{decode, Limits};
use ringrpc_engine::{Driver, Response, SerializeType, Server};

use crate::common;

/// Counts, per thread, the heap bytes allocated minus those freed on that thread. A buffer
/// freed on another thread than the one that allocated it stays counted where it was
/// allocated (so the figure can only err high).
pub struct ThreadHeap;

thread_local! {
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every method forwards to `System` with the same arguments, so the allocator
// contract is `System`'s; counting touches only a const thread-local that never allocates.
unsafe impl GlobalAlloc for ThreadHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: ThreadHeap = ThreadHeap;

/// Connections opened by the test (each with one call): enough to see per-connection cost
/// above the shard's fixed allocations, few enough for a test.
const CONNECTIONS: usize = 2000;

fn start(driver: Driver) -> Server {
    let config = common::test_config(1).driver(driver).idle_timeout(None);
    Server::start(config, |services| {
        common::register_test_services(services, common::Gauge::default());
        services.register("Mem", "Live", |_request: ringrpc_engine::Request| async {
            let live = LIVE_BYTES.with(Cell::get);
            Ok::<_, ringrpc_engine::HandlerError>(Response::new(Bytes::from(live.to_string())))
        });
    })
    .expect("server starts")
}

/// The shard thread's live heap bytes, asked on `probe`.
fn shard_live_bytes(probe: &mut common::FrameClient) -> i64 {
    let reply = probe.call(&common::request(
        1,
        SerializeType::None,
        "Mem",
        "Live",
        &[],
        b"",
    ));
    std::str::from_utf8(reply.payload())
        .expect("utf-8")
        .parse()
        .expect("a number")
}

/// One small Echo call on a plain socket, which then stays open (the client side keeps
/// nothing but the descriptor).
fn one_call(addr: std::net::SocketAddr, seq: u64) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    let payload = [b'x'; 100];
    stream
        .write_all(&common::request(
            seq,
            SerializeType::None,
            "Echo",
            "Echo",
            &[],
            &payload,
        ))
        .unwrap();
    let mut buf = bytes::BytesMut::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(reply) = decode(&mut buf, &Limits::default()).unwrap() {
            assert_eq!(reply.seq(), seq);
            return stream;
        }
        let n = stream.read(&mut chunk).expect("reply");
        assert!(n > 0, "closed before the reply");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn idle_bytes_per_connection(driver: Driver, bound_bytes: i64) {
    let server = start(driver);
    let mut probe = common::FrameClient::connect(server.local_addr());
    let before = shard_live_bytes(&mut probe);
    let idle: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|i| one_call(server.local_addr(), i as u64))
        .collect();
    assert_eq!(server.stats()[0].connections_open, CONNECTIONS + 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = (shard_live_bytes(&mut probe) - before) / CONNECTIONS as i64;
    let mut per_conn = first;
    while per_conn > bound_bytes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        per_conn = (shard_live_bytes(&mut probe) - before) / CONNECTIONS as i64;
    }
    println!(
        "{driver:?}: {per_conn} heap bytes per idle connection after one call \
         ({first} right after the calls)"
    );
    assert!(
        per_conn <= bound_bytes,
        "{driver:?}: {per_conn} bytes per idle connection (bound {bound_bytes})"
    );
    // The shard's own count agrees: no idle connection keeps a receive buffer (the probe,
    // which just made a call, may still hold one).
    let recv_bytes = server.stats()[0].recv_buffer_bytes;
    assert!(
        recv_bytes <= 128 << 10,
        "{driver:?}: {recv_bytes} receive-buffer bytes"
    );
    drop(idle);
}

#[test]
fn idle_connections_hold_at_most_2_kib_on_io_uring() {
    idle_bytes_per_connection(Driver::Uring, 2048);
}

#[test]
fn idle_connections_hold_at_most_2_5_kib_on_glommio() {
    idle_bytes_per_connection(Driver::Glommio, 2560);
}
