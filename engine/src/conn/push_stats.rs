//! [`PushStats`]: the state of one shard's push queues, readable from any thread (the
//! metrics exposition, `/status`, `Server::stats`).
//!
//! A push is queued when a handler's [`crate::Pusher`] encodes it into its connection's
//! mailbox (`Link`), and leaves the queue when the connection moves it to its output (from
//! then on it counts in the shard's unsent bytes, like a reply). Written by the shard thread
//! only, on the push path: requests never touch these counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One shard's push queues. See the module docs.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Pushes queued in their connections' mailboxes now.
    pub queued: AtomicUsize,
    /// Their bytes (encoded frames).
    pub queued_bytes: AtomicUsize,
    /// Pushes queued since start.
    pub queued_total: AtomicU64,
    /// Pushes that had to wait for room first (their connection's unsent output was at
    /// `ServerConfig::push_buffer_max_bytes`).
    pub waited: AtomicU64,
    /// Queued pushes discarded because their connection closed before sending them.
    pub dropped: AtomicU64,
    /// Pushes that failed and were not queued: the connection was closed or speaks HTTP,
    /// the frame could not be encoded, or a plugin refused it.
    pub failed: AtomicU64,
}

impl PushStats {
    /// A push of `bytes` was queued.
    pub(super) fn queue(&self, bytes: usize) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.queued_total.fetch_add(1, Ordering::Relaxed);
    }

    /// `count` queued pushes of `bytes` in all moved to their connection's output.
    pub(super) fn dequeue(&self, count: usize, bytes: usize) {
        self.queued.fetch_sub(count, Ordering::Relaxed);
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// `count` queued pushes of `bytes` in all were discarded with their connection.
    pub(super) fn drop_queued(&self, count: usize, bytes: usize) {
        if count > 0 {
            self.dequeue(count, bytes);
            self.dropped.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A pusher found no room and waited.
    pub(crate) fn count_wait(&self) {
        self.waited.fetch_add(1, Ordering::Relaxed);
    }

    /// A push failed before it was queued.
    pub(super) fn count_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use bytes::BytesMut;

    use super::*;
    use crate::conn::{Link, ShardBounds, Timeouts};
    use crate::PushError;

    fn load(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }

    #[test]
    fn queued_pushes_are_counted_until_sent_or_dropped_with_their_connection() {
        let bounds = Rc::new(ShardBounds::new(
            usize::MAX,
            1 << 20,
            Timeouts::default(),
            Default::default(),
        ));
        let stats = &bounds.stats().pushes;
        let link = Link::new(None, Rc::new(Cell::new(1)), bounds.clone());
        let none: [(&str, &str); 0] = [];
        for _ in 0..3 {
            link.push("Events", "Tick", none, b"0123456789").unwrap();
        }
        assert_eq!(load(&stats.queued), 3);
        let queued_bytes = load(&stats.queued_bytes);
        assert!(queued_bytes > 30, "{queued_bytes}");
        let mut out = BytesMut::new();
        link.take_pushes(&mut out);
        assert_eq!((load(&stats.queued), load(&stats.queued_bytes)), (0, 0));
        assert_eq!(
            out.len(),
            queued_bytes,
            "moved to the output, counted as unsent"
        );

        link.push("Events", "Tick", none, b"lost").unwrap();
        link.push("Events", "Tick", none, b"lost").unwrap();
        link.close();
        assert_eq!((load(&stats.queued), load(&stats.queued_bytes)), (0, 0));
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.queued_total.load(Ordering::Relaxed), 5);
        assert_eq!(
            link.push("Events", "Tick", none, b"late"),
            Err(PushError::Closed)
        );
        assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(
            link.poll_push_room(&mut cx),
            Poll::Ready(Err(PushError::Closed))
        );
    }
}
