//! [`ShardBounds`]: what the connections of one shard share about their bounds: the shard's
//! in-flight byte budget, its byte counters (read by `Server::stats` from any thread), the
//! push buffer bound and the [`Timeouts`] the shard's sweep applies.
//!
//! Bytes counted (each connection reports its own changes; the shard holds the sums):
//! - in flight: request bytes held from dispatch to reply (the frame as received plus its
//!   inflated payload). A connection stops parsing and reading while its own total is at
//!   `ServerConfig::max_inflight_bytes_per_conn` or the shard's at
//!   `max_inflight_bytes_per_shard`; connections paused by the shard wait in a list here and
//!   are woken when the shard drops back under its budget.
//! - unsent: output encoded and not yet taken by the kernel (queued pushes, replies, and the
//!   bytes a driver's send holds).
//! - receive buffer: the capacity of the connections' own receive buffers.
//!
//! What it never does: read a clock or allocate on the request path (a counter update is a
//! `Cell` write and a relaxed atomic store; the waiting list grows only when the shard's
//! budget is reached, at most one entry per connection).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::link::Link;

/// The timeouts the shard's sweep applies to every connection (`runtime::policy::ConnWatch`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// `ServerConfig::idle_timeout`.
    pub idle: Option<Duration>,
    /// `ServerConfig::frame_timeout`.
    pub frame: Option<Duration>,
    /// `ServerConfig::send_timeout`.
    pub send: Option<Duration>,
}

/// The byte counters of one shard, readable from any thread (`Server::stats`). Each is
/// written by the shard thread only; a peak is the largest value since start.
#[derive(Debug, Default)]
pub struct ByteStats {
    /// Request bytes held by running requests now, and the peak.
    pub inflight_bytes: AtomicUsize,
    /// See `inflight_bytes`.
    pub inflight_bytes_peak: AtomicUsize,
    /// Output bytes not yet taken by the kernel now, and the peak.
    pub unsent_bytes: AtomicUsize,
    /// See `unsent_bytes`.
    pub unsent_bytes_peak: AtomicUsize,
    /// Capacity of the connections' receive buffers now, and the peak.
    pub recv_buffer_bytes: AtomicUsize,
    /// See `recv_buffer_bytes`.
    pub recv_buffer_bytes_peak: AtomicUsize,
    /// The shard's push queues.
    pub pushes: super::PushStats,
}

/// One counter: the value on the shard thread, published to its atomics on every change.
#[derive(Debug, Default)]
struct Counter {
    value: Cell<usize>,
}

impl Counter {
    /// Replaces `old` (a part of the sum) with `new`.
    fn update(&self, old: usize, new: usize, now: &AtomicUsize, peak: &AtomicUsize) -> usize {
        debug_assert!(
            self.value.get() >= old,
            "a connection released more than it added"
        );
        let value = self.value.get() - old.min(self.value.get()) + new;
        self.value.set(value);
        now.store(value, Ordering::Relaxed);
        if value > peak.load(Ordering::Relaxed) {
            peak.store(value, Ordering::Relaxed);
        }
        value
    }
}

/// A shard's bounds and byte counters, shared (`Rc`) by the links of its connections.
#[derive(Debug)]
pub struct ShardBounds {
    inflight_max_bytes: usize,
    push_buffer_max_bytes: usize,
    timeouts: Timeouts,
    inflight: Counter,
    unsent: Counter,
    recv: Counter,
    waiting: RefCell<Vec<Weak<Link>>>,
    stats: Arc<ByteStats>,
}

impl ShardBounds {
    /// Bounds with a shard budget of `inflight_max_bytes` (at least 1), pushes bounded by
    /// `push_buffer_max_bytes`, reporting to `stats`.
    pub fn new(
        inflight_max_bytes: usize,
        push_buffer_max_bytes: usize,
        timeouts: Timeouts,
        stats: Arc<ByteStats>,
    ) -> Self {
        Self {
            inflight_max_bytes: inflight_max_bytes.max(1),
            push_buffer_max_bytes: push_buffer_max_bytes.max(1),
            timeouts,
            inflight: Counter::default(),
            unsent: Counter::default(),
            recv: Counter::default(),
            waiting: RefCell::new(Vec::new()),
            stats,
        }
    }

    /// No shard budget, no push bound, no timeouts (a connection outside any shard).
    pub fn unlimited() -> Self {
        Self::new(usize::MAX, usize::MAX, Timeouts::default(), Arc::default())
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn push_buffer_max_bytes(&self) -> usize {
        self.push_buffer_max_bytes
    }

    /// The shard's counters, as the server reads them.
    pub fn stats(&self) -> &Arc<ByteStats> {
        &self.stats
    }

    /// Whether the shard holds its whole in-flight budget: no connection parses a frame.
    pub fn is_full(&self) -> bool {
        self.inflight.value.get() >= self.inflight_max_bytes
    }

    /// A request of `bytes` was dispatched.
    pub(super) fn acquire(&self, bytes: usize) {
        let s = &self.stats;
        self.inflight
            .update(0, bytes, &s.inflight_bytes, &s.inflight_bytes_peak);
    }

    /// Requests holding `bytes` finished (or their connection closed); wakes the
    /// connections waiting for room once the shard is back under its budget.
    pub(super) fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let s = &self.stats;
        self.inflight
            .update(bytes, 0, &s.inflight_bytes, &s.inflight_bytes_peak);
        if !self.is_full() && !self.waiting.borrow().is_empty() {
            let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
            for link in waiting.iter().filter_map(Weak::upgrade) {
                link.waiting_room.set(false);
                link.wake();
            }
        }
    }

    /// `link`'s connection paused because the shard is full: wake it when it is not (once
    /// per pause, however often it asks).
    pub(super) fn wait_for_room(&self, link: &Rc<Link>) {
        if !link.waiting_room.replace(true) {
            self.waiting.borrow_mut().push(Rc::downgrade(link));
        }
    }

    /// A connection's unsent bytes went from `old` to `new`.
    pub(super) fn move_unsent(&self, old: usize, new: usize) {
        let s = &self.stats;
        self.unsent
            .update(old, new, &s.unsent_bytes, &s.unsent_bytes_peak);
    }

    /// A connection's receive buffer capacity went from `old` to `new`.
    pub(super) fn move_recv(&self, old: usize, new: usize) {
        let s = &self.stats;
        self.recv
            .update(old, new, &s.recv_buffer_bytes, &s.recv_buffer_bytes_peak);
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;
    use crate::conn::{ConnConfig, Connection};

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A shard with 100 bytes of in-flight budget and a 10-byte push buffer.
    fn small_bounds() -> Rc<ShardBounds> {
        Rc::new(ShardBounds::new(
            100,
            10,
            Timeouts::default(),
            Arc::default(),
        ))
    }

    #[test]
    fn a_full_shard_wakes_its_waiting_connections_once_under_budget() {
        let bounds = small_bounds();
        let link = Rc::new(Link::new(None, Rc::new(Cell::new(1)), bounds.clone()));
        let flag = Arc::new(Flag(false.into()));
        link.set_waker(&Waker::from(flag.clone()));
        bounds.acquire(60);
        assert!(!bounds.is_full());
        bounds.acquire(60);
        assert!(bounds.is_full());
        bounds.wait_for_room(&link);
        bounds.wait_for_room(&link);
        assert_eq!(bounds.waiting.borrow().len(), 1, "listed once");
        bounds.release(10);
        assert!(!flag.0.load(Ordering::SeqCst), "still at 110 of 100");
        bounds.release(60);
        assert!(flag.0.load(Ordering::SeqCst));
        let stats = bounds.stats();
        assert_eq!(stats.inflight_bytes.load(Ordering::Relaxed), 50);
        assert_eq!(stats.inflight_bytes_peak.load(Ordering::Relaxed), 120);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(link.poll_push_room(&mut cx), Poll::Ready(Ok(())));
    }

    /// A pusher that found no room is woken once the connection's unsent bytes drop under
    /// the push buffer limit; a backlog that stays or grows publishes nothing new.
    #[test]
    fn a_waiting_pusher_is_woken_when_the_backlog_drops_under_the_limit() {
        let bounds = small_bounds();
        let link = Rc::new(Link::new(None, Rc::new(Cell::new(1)), bounds.clone()));
        link.set_backlog(30);
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(link.poll_push_room(&mut cx).is_pending());
        for backlog in [30, 40, 12, 10] {
            link.set_backlog(backlog);
            assert!(
                !flag.0.load(Ordering::SeqCst),
                "{backlog} bytes: not under the limit of 10"
            );
        }
        let stats = bounds.stats();
        assert_eq!(stats.unsent_bytes.load(Ordering::Relaxed), 10);
        assert_eq!(stats.unsent_bytes_peak.load(Ordering::Relaxed), 40);
        link.set_backlog(4);
        assert!(flag.0.load(Ordering::SeqCst), "woken at 4 bytes");
        assert_eq!(stats.unsent_bytes.load(Ordering::Relaxed), 4);
        assert_eq!(link.poll_push_room(&mut cx), Poll::Ready(Ok(())));
    }

    /// A connection that stops reading at a full shard before parsing a frame (nothing
    /// received, so no protocol yet; or HTTP between requests) is woken like any other.
    #[test]
    fn a_connection_paused_before_its_first_frame_is_woken() {
        let bounds = small_bounds();
        for received in [&b""[..], b"GET / HTTP/1.1\r\n"] {
            let link = Rc::new(Link::new(None, Rc::new(Cell::new(1)), bounds.clone()));
            let flag = Arc::new(Flag(false.into()));
            link.set_waker(&Waker::from(flag.clone()));
            let mut conn = Connection::new(
                Rc::new(crate::Services::new()),
                Rc::new(ConnConfig::default()),
                link,
            );
            conn.handle_received(received);
            bounds.acquire(100);
            assert!(conn.poll_call(std::time::Instant::now).is_none());
            assert!(!conn.wants_read(), "paused by the shard");
            bounds.release(100);
            let input = String::from_utf8_lossy(received);
            assert!(flag.0.load(Ordering::SeqCst), "woken after {input:?}");
            assert!(conn.wants_read());
        }
    }

    #[test]
    fn counters_sum_what_connections_report() {
        let bounds = ShardBounds::unlimited();
        bounds.move_unsent(0, 30);
        bounds.move_unsent(0, 20);
        bounds.move_unsent(30, 5);
        bounds.move_recv(0, 4096);
        let stats = bounds.stats();
        assert_eq!(stats.unsent_bytes.load(Ordering::Relaxed), 25);
        assert_eq!(stats.unsent_bytes_peak.load(Ordering::Relaxed), 50);
        assert_eq!(stats.recv_buffer_bytes.load(Ordering::Relaxed), 4096);
    }
}
