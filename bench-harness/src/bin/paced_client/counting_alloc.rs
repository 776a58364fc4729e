//! Allocation counting for the client's thread: the counting global allocator of the
//! engine's allocation tests, counting the thread that runs the client into one counter.

use std::sync::atomic::{AtomicU64, Ordering};

#[path = "../../../../engine/tests/support/counting_alloc.rs"]
mod counting;

pub use counting::Counting;

static CLIENT_THREAD_ALLOCS: AtomicU64 = AtomicU64::new(0);

/// Counts the calling thread's allocations from now on (call it on the executor thread).
pub fn count_this_thread() {
    counting::count_on_this_thread(Some(&CLIENT_THREAD_ALLOCS));
}

/// Allocations counted so far.
pub fn allocations() -> u64 {
    CLIENT_THREAD_ALLOCS.load(Ordering::Relaxed)
}
