//! Proves the io_uring shard allocates nothing per request in steady state on the raw-echo
//! path through a socket, at 1 and at 16 requests in flight, with a counting global
//! allocator (its own test binary, so only this test's work is counted). Each received
//! buffer becomes a `Bytes` holding it while its frames are in use; the buffer ring made
//! those `Bytes`' shared headers once, at start (`driver/uring/buf_ring.rs`), so holding a
//! buffer costs a reference count, not an allocation. (The copying mode the shard falls back
//! to when buffers run short copies into the connection's spill buffer; it is not measured
//! here.)
//!
//! Run with `--nocapture` to see the figures.

use std::sync::atomic::AtomicU64;

use ringrpc_engine::{Driver, ServerConfig};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/echo.rs"]
mod echo;

static SHARD_ALLOCS: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn uring_shard_allocations_per_request_over_a_socket() {
    let config = ServerConfig::default()
        .listen(([127, 0, 0, 1], 0))
        .driver(Driver::Uring)
        .idle_timeout(None);
    echo::check_shard_allocations(
        "io_uring",
        config,
        &SHARD_ALLOCS,
        &[(1, 20_000, 0.0), (16, 2_000, 0.0)],
    );
}
