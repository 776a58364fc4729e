//! Cache prefetch hints for the request path: memory the shard is about to touch (the next
//! frame's head, where the reply head will be written) asked for a little ahead, so the load
//! arrives while other work runs. A hint changes no result; off x86-64 it is a no-op.
//!
//! Why: all of a turn's receives and sends happen inside one `io_uring_enter`, so by the
//! time the shard parses a connection's bytes and writes its replies, other connections'
//! traffic has pushed them out of the first-level cache. In perf profiles the first load of
//! each frame's head was the hottest instruction of the parse (README, "Where the pipelined
//! gap is").

/// Asks for the cache line `bytes` begin with, if any.
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8]) {
    if !bytes.is_empty() {
        prefetch_at(bytes.as_ptr());
    }
}

/// Asks for the cache line holding `at`, any address (a prefetch never faults).
#[inline(always)]
pub(crate) fn prefetch_at<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `prefetcht0` is a hint: it never faults, whatever the address, and changes
        // no memory or register the program sees.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
