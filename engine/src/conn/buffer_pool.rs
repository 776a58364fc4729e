//! The empty receive and send buffers of a shard's idle connections, kept for the next
//! connection that needs one ([`take`], [`give`]).
//!
//! A connection that has no input pending and no output unsent gives its buffers back
//! (`Connection::release_idle_buffers`, which the drivers call whenever a connection goes
//! quiet), so thousands of idle connections hold none. Going through this pool instead of
//! the allocator keeps that free: a busy connection takes the same buffer back on its next
//! request, with no allocation, and the memory of a burst of connections is reused by the
//! next one instead of lingering in the allocator.
//!
//! Bounds: at most [`POOL_COUNT_MAX`] buffers, each of [`BUFFER_BYTES`] to twice that, per
//! shard thread (at most 4 MiB). A buffer that is still shared (a frame or a send in flight
//! holds part of its memory), or whose allocation is larger, goes back to the allocator.
//!
//! The pool is thread-local: a shard's connections all live on its thread, and the pool is
//! nothing but a cache, so no state is shared and no call site has to carry it.

use std::cell::RefCell;

use bytes::BytesMut;

/// Capacity of a pooled buffer (the connection's first allocation of a buffer).
pub(super) const BUFFER_BYTES: usize = 64 << 10;
/// Buffers kept per shard thread.
pub(super) const POOL_COUNT_MAX: usize = 32;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer of at least [`BUFFER_BYTES`]: a pooled one, else a new one.
pub(super) fn take() -> BytesMut {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        // The list itself is allocated once, with the thread's first buffer, at its full
        // length: giving a buffer back never allocates, however late it first happens.
        if pool.capacity() == 0 {
            pool.reserve_exact(POOL_COUNT_MAX);
        }
        pool.pop()
    })
    .unwrap_or_else(|| BytesMut::with_capacity(BUFFER_BYTES))
}

/// Takes `buf` out of its owner if it is empty; pools it if it owns its whole allocation of
/// a pooled size, else frees it.
pub(super) fn give(buf: &mut BytesMut) {
    if !buf.is_empty() || buf.capacity() == 0 {
        return;
    }
    let mut buf = std::mem::take(buf);
    // True only if the buffer can hold BUFFER_BYTES without allocating: it is unique (no
    // frame or send shares its memory any more) and its allocation is that large.
    let whole = buf.try_reclaim(BUFFER_BYTES) && buf.capacity() <= 2 * BUFFER_BYTES;
    if whole {
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_COUNT_MAX {
                pool.push(buf);
            }
        });
    }
}

#[cfg(test)]
pub(super) fn pooled() -> usize {
    POOL.with(|pool| pool.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_whole_buffers_come_back_and_shared_or_big_ones_are_freed() {
        let start = pooled();
        let mut buf = take();
        buf.extend_from_slice(b"frame");
        give(&mut buf);
        assert_eq!(
            (pooled(), &buf[..]),
            (start, &b"frame"[..]),
            "not empty: kept"
        );

        let frame = buf.split().freeze();
        give(&mut buf);
        assert_eq!(pooled(), start, "shared with a live frame: freed");
        assert_eq!(buf.capacity(), 0, "taken from its owner either way");

        let mut again = take();
        again.extend_from_slice(b"reply");
        let sent = again.split().freeze();
        drop(sent);
        give(&mut again);
        assert_eq!(
            pooled(),
            start + 1,
            "the send finished: whole again, pooled"
        );
        let reused = take();
        assert!(reused.capacity() >= BUFFER_BYTES);
        assert_eq!(pooled(), start);

        let mut big = BytesMut::with_capacity(16 << 20);
        give(&mut big);
        assert_eq!(pooled(), start, "a big allocation goes to the allocator");
        drop(frame);
    }
}
