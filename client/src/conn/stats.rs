//! The counters of one connection, as [`Connection::stats`](super::Connection::stats)
//! reports them.

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls sent (or queued) and not yet answered, timed out or cancelled.
    pub inflight_count: usize,
    /// The seq the next request will get (= requests, heartbeats included, queued so far).
    pub seq_next: u64,
    /// Sends handed to the driver; each carries every request queued since the last one.
    pub transmit_count: u64,
    /// Heartbeats sent.
    pub heartbeat_sent_count: u64,
    /// Heartbeats the server echoed.
    pub heartbeat_answered_count: u64,
    /// Heartbeats in a row that were still unanswered when the next one was due.
    pub heartbeat_misses: u32,
    /// Server pushes received.
    pub push_count: u64,
    /// Server pushes dropped because the push queue was full (by count or by bytes).
    pub push_dropped_count: u64,
    /// Bytes the unread pushes hold now (bounded by `push_queue_max_bytes`).
    pub push_queue_bytes: usize,
    /// Request bytes not yet taken by the socket now (bounded by `send_buffer_max_bytes`).
    pub unsent_bytes: usize,
    /// Frames dropped unread because nobody waited for them (late or unknown seq, pushes
    /// over the bound): their payloads were never inflated.
    pub screened_out_count: u64,
    /// Replies whose call had already timed out or been cancelled, or whose seq was never
    /// used; dropped.
    pub late_reply_count: u64,
    /// Calls failed by their deadline.
    pub timeout_count: u64,
}
