//! The sans-IO pipelining core: one rpcx connection as a state machine, driven by
//! [`crate::Client`] on either runtime. It never touches a socket, a clock or a runtime: bytes and
//! time come in through `handle_*`, bytes to send, timer deadlines, finished calls and
//! server pushes go out through `poll_*`. Read [`Connection`] first.
//!
//! What it does (PROTOCOL.md §6): seqs per connection starting at 0; a pending table
//! matching replies by seq in any order; write coalescing (everything queued while a send
//! is in flight leaves in the next single send); per-call deadlines, sent as
//! `__ServerTimeout` and enforced here; heartbeats; oneway calls; server pushes. After each
//! input a driver takes the [`Events`] to act on: calls to complete, pushes to deliver and
//! which of its tasks to wake, so no driver recomputes them.

mod events;
mod heartbeat;
mod pending;
mod recv;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringrpc_codec::{
    encode_frame, encode_request, Frame, Header, MessageType, SerializeType, StatusType, AUTH_KEY,
    ERROR_KEY, NO_METADATA, SERVER_TIMEOUT_KEY,
};

use crate::error::{Disconnect, Error};
use crate::message::{Push, Reply, Request};
use crate::options::ClientOptions;
pub use events::{Events, Wake};
use heartbeat::{Due, Heartbeat};
use pending::{Entry, Pending};
pub use recv::RecvBuf;

/// One client connection, without I/O. `W` is whatever the driver wakes a caller with (a
/// oneshot sender); the core hands it back with the call's result.
///
/// ```text
///            handle_close()                 last transmit done
///   Open ───────────────────▶ Closing ─────────────────────────▶ Closed(Closed)
///     │   (pending calls fail;   (queued bytes still go out)
///     │    new calls refused)
///     └── handle_disconnect(reason) / too many heartbeat misses ─▶ Closed(reason)
///         (pending calls fail with the reason; queued bytes are dropped)
/// ```
///
/// A driver loops: feed received frames to [`handle_frame`](Self::handle_frame), the timer
/// to [`handle_timeout`](Self::handle_timeout); send what
/// [`poll_transmit`](Self::poll_transmit) gives and report it with
/// [`handle_transmit_done`](Self::handle_transmit_done); sleep until
/// [`poll_timeout`](Self::poll_timeout); after each input, act on
/// [`poll_events`](Self::poll_events): complete calls, deliver pushes, wake its tasks.
#[derive(Debug)]
pub struct Connection<W> {
    options: ClientOptions,
    /// An instant and the wall-clock time at it, for heartbeat payloads.
    epoch: Instant,
    epoch_unix_nanos: i64,
    next_seq: u64,
    pending: Pending<W>,
    heartbeat: Option<Heartbeat>,
    transmit: BytesMut,
    sending: bool,
    state: State,
    completions: Vec<(W, Result<Reply, Error>)>,
    pushes: VecDeque<Push>,
    /// The deadline the driver's timer was last armed for (from `poll_timeout`).
    timer_armed_at: Option<Instant>,
    /// A call's deadline came before `timer_armed_at`: the reader must re-arm its timer.
    timer_rearm: bool,
    stats: Stats,
}

#[derive(Debug)]
enum State {
    Open,
    Closing,
    Closed(Disconnect),
}

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
    /// Server pushes dropped because the push queue was full.
    pub push_dropped_count: u64,
    /// Replies whose call had already timed out or been cancelled; dropped.
    pub late_reply_count: u64,
    /// Calls failed by their deadline.
    pub timeout_count: u64,
}

impl<W> Connection<W> {
    /// A connection opened at `now`, when the wall clock read `unix_nanos`.
    pub fn new(options: ClientOptions, now: Instant, unix_nanos: i64) -> Self {
        let heartbeat = options
            .heartbeat_interval
            .filter(|interval| !interval.is_zero())
            .map(|interval| Heartbeat::new(interval, options.heartbeat_misses_max, now));
        Self {
            options,
            epoch: now,
            epoch_unix_nanos: unix_nanos,
            next_seq: 0,
            pending: Pending::default(),
            heartbeat,
            transmit: BytesMut::new(),
            sending: false,
            state: State::Open,
            completions: Vec::new(),
            pushes: VecDeque::new(),
            timer_armed_at: None,
            timer_rearm: false,
            stats: Stats::default(),
        }
    }

    /// The options the connection was opened with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Queues a call and returns its seq; its result comes back with `waiter` in the
    /// completions of [`poll_events`](Self::poll_events).
    pub fn handle_call(
        &mut self,
        request: &Request<'_>,
        waiter: W,
        now: Instant,
    ) -> Result<u64, Error> {
        let deadline = self.options.deadline_of(request, now);
        let seq = self.queue_request(request, false, deadline, now)?;
        let timeout_ms = deadline.map_or(0, |d| Error::timeout_ms(d, now));
        self.pending.insert(
            seq,
            Entry {
                waiter,
                deadline,
                timeout_ms,
            },
        );
        if deadline.is_some_and(|d| self.timer_armed_at.is_none_or(|t| d < t)) {
            self.timer_armed_at = deadline;
            self.timer_rearm = true;
        }
        Ok(seq)
    }

    /// Queues a oneway request and returns its seq: no reply is expected and nothing comes
    /// back for it.
    pub fn handle_oneway(&mut self, request: &Request<'_>, now: Instant) -> Result<u64, Error> {
        self.queue_request(request, true, request.deadline, now)
    }

    /// Forgets a call whose caller gave up; a late reply to it is dropped. Returns whether
    /// it was still pending.
    pub fn handle_cancel(&mut self, seq: u64) -> bool {
        self.pending.remove(seq).is_some()
    }

    /// Takes one frame received from the server.
    pub fn handle_frame(&mut self, frame: Frame) {
        if !matches!(self.state, State::Open) {
            return;
        }
        let header = frame.header();
        // PROTOCOL.md §4.14, §6.4: a push is a oneway request that is not a heartbeat. Any
        // other frame is matched by seq; like rpcx-go we do not check its type bit.
        if header.message_type() == MessageType::Request
            && header.is_oneway()
            && !header.is_heartbeat()
        {
            self.stats.push_count += 1;
            if self.pushes.len() >= self.options.push_queue_max {
                self.stats.push_dropped_count += 1;
                tracing::warn!(seq = header.seq(), "push queue full: server push dropped");
            } else {
                self.pushes.push_back(Push::new(frame));
            }
            return;
        }
        let seq = header.seq();
        if header.is_heartbeat() {
            if let Some(heartbeat) = &mut self.heartbeat {
                if heartbeat.handle_reply(seq, frame.payload()) {
                    return;
                }
            }
        }
        let Some(entry) = self.pending.remove(seq) else {
            self.stats.late_reply_count += 1;
            tracing::trace!(seq, "reply to no pending call dropped");
            return;
        };
        let result = if header.status() == StatusType::Error {
            let message = frame
                .metadata()
                .get(ERROR_KEY)
                .unwrap_or_default()
                .to_owned();
            Err(Error::Service { message })
        } else {
            Ok(Reply::new(frame))
        };
        self.completions.push((entry.waiter, result));
    }

    /// Takes the time: expires calls whose deadline passed and sends a heartbeat when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !matches!(self.state, State::Open) {
            return;
        }
        while let Some(entry) = self.pending.pop_expired(now) {
            self.stats.timeout_count += 1;
            let error = Error::Timeout {
                timeout_ms: entry.timeout_ms,
            };
            self.completions.push((entry.waiter, Err(error)));
        }
        let unix_nanos = self.unix_nanos(now);
        let due = match &mut self.heartbeat {
            Some(heartbeat) => heartbeat.poll_due(now, unix_nanos),
            None => Due::Nothing,
        };
        match due {
            Due::Nothing => {}
            Due::Fail { misses } => self.handle_disconnect(Disconnect::HeartbeatMissed { misses }),
            Due::Send(payload) => {
                let seq = self.alloc_seq();
                let mut header = Header::request(seq, SerializeType::MsgPack);
                header.set_heartbeat(true);
                let encoded =
                    encode_frame(&mut self.transmit, &header, "", "", NO_METADATA, &payload);
                // Nine bytes and no metadata always fit a frame.
                debug_assert!(encoded.is_ok());
                if let Some(heartbeat) = &mut self.heartbeat {
                    heartbeat.handle_sent(seq, payload);
                }
            }
        }
    }

    /// The driver finished writing what `poll_transmit` gave it.
    pub fn handle_transmit_done(&mut self) {
        self.sending = false;
        if matches!(self.state, State::Closing) && self.transmit.is_empty() {
            self.state = State::Closed(Disconnect::Closed);
        }
    }

    /// The user closes the connection: pending calls fail (retryable, `connection is shut
    /// down`), new calls are refused, and what is queued is still sent.
    pub fn handle_close(&mut self) {
        if !matches!(self.state, State::Open) {
            return;
        }
        self.state = State::Closing;
        self.heartbeat = None;
        self.fail_pending(&Disconnect::Closed);
        if self.transmit.is_empty() && !self.sending {
            self.state = State::Closed(Disconnect::Closed);
        }
    }

    /// The connection is gone (EOF, socket error, bad frame): every pending call fails at
    /// once with `reason`, and so will every later call.
    pub fn handle_disconnect(&mut self, reason: Disconnect) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        tracing::debug!(%reason, inflight = self.pending.len(), "connection closed");
        self.fail_pending(&reason);
        self.transmit.clear();
        self.heartbeat = None;
        self.state = State::Closed(reason);
    }

    /// Bytes to write now: everything queued since the last send, in one buffer. `None`
    /// while a send is in flight (its `handle_transmit_done` has not come) or nothing waits.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.sending || self.transmit.is_empty() || matches!(self.state, State::Closed(_)) {
            return None;
        }
        self.sending = true;
        self.stats.transmit_count += 1;
        Some(self.transmit.split().freeze())
    }

    /// When `handle_timeout` must be called next: the earliest call deadline or heartbeat.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let next = if matches!(self.state, State::Open) {
            let heartbeat = self.heartbeat.as_ref().map(Heartbeat::next_at);
            match (self.pending.next_deadline(), heartbeat) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            None
        };
        self.timer_armed_at = next;
        next
    }

    /// What a driver's reader does at the top of every round, so that deadlines and
    /// heartbeats keep their time even while the socket never runs dry: runs the timer if it
    /// is due at `now`, then returns when it is due next (`Some(None)`: nothing pending), or
    /// `None` once the connection is no longer open (the reader stops).
    pub fn handle_due_timers(&mut self, now: Instant) -> Option<Option<Instant>> {
        if self.poll_timeout().is_some_and(|at| at <= now) {
            self.handle_timeout(now);
        }
        self.is_open().then(|| self.poll_timeout())
    }

    /// What the driver must do now that the last input is handled: the finished calls (the
    /// waiter given to `handle_call` with its result), the received pushes when
    /// `take_pushes` (a driver with a push handler; otherwise they stay queued for
    /// [`poll_push`](Self::poll_push)), and which of its tasks to wake. Pushes come before
    /// completions: a push the server sent before a reply must be seen before that reply
    /// wakes its caller.
    pub fn poll_events(&mut self, take_pushes: bool) -> Events<W> {
        let pushes = if take_pushes {
            self.pushes.drain(..).collect()
        } else {
            Vec::new()
        };
        let open = self.is_open();
        let wake = Wake {
            writer: self.has_transmit() || self.is_closed(),
            reader: !open || std::mem::take(&mut self.timer_rearm),
            push_reader: !open || (!take_pushes && self.has_push()),
        };
        Events {
            completions: std::mem::take(&mut self.completions),
            pushes,
            wake,
        }
    }

    /// A message the server pushed.
    pub fn poll_push(&mut self) -> Option<Push> {
        self.pushes.pop_front()
    }

    /// Whether `poll_push` would return a push.
    pub fn has_push(&self) -> bool {
        !self.pushes.is_empty()
    }

    /// Whether the connection takes calls (not closing or closed).
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Nothing more will be sent or received.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Why the connection stopped taking calls (`Closed` while closing).
    pub fn close_reason(&self) -> Option<Disconnect> {
        match &self.state {
            State::Open => None,
            State::Closing => Some(Disconnect::Closed),
            State::Closed(reason) => Some(reason.clone()),
        }
    }

    /// Whether `poll_transmit` would return bytes.
    pub fn has_transmit(&self) -> bool {
        !self.sending && !self.transmit.is_empty() && !matches!(self.state, State::Closed(_))
    }

    /// The connection's counters.
    pub fn stats(&self) -> Stats {
        let heartbeat = self.heartbeat.as_ref();
        Stats {
            inflight_count: self.pending.len(),
            seq_next: self.next_seq,
            heartbeat_sent_count: heartbeat.map_or(0, |h| h.sent),
            heartbeat_answered_count: heartbeat.map_or(0, |h| h.answered),
            heartbeat_misses: heartbeat.map_or(0, Heartbeat::misses),
            ..self.stats
        }
    }

    fn queue_request(
        &mut self,
        request: &Request<'_>,
        oneway: bool,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<u64, Error> {
        if let Some(reason) = self.close_reason() {
            return Err(Error::Disconnected(reason));
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(now));
        if remaining == Some(Duration::ZERO) {
            return Err(Error::Timeout { timeout_ms: 0 });
        }
        let seq = self.alloc_seq();
        let serialize_type = request
            .serialize_type
            .unwrap_or(self.options.serialize_type);
        let mut header = Header::request(seq, serialize_type);
        header.set_oneway(oneway);
        let remaining_ms = remaining.map(|r| millis(r).to_string());
        let metadata = (self
            .options
            .auth
            .as_deref()
            .map(|token| (AUTH_KEY, token))
            .into_iter())
        .chain(
            request
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .chain(remaining_ms.as_deref().map(|ms| (SERVER_TIMEOUT_KEY, ms)));
        encode_request(
            &mut self.transmit,
            &header,
            request.service_path,
            request.service_method,
            metadata,
            request.payload,
            request.compress.unwrap_or(self.options.compress),
        )
        .map_err(Error::Frame)?;
        Ok(seq)
    }

    fn alloc_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    fn fail_pending(&mut self, reason: &Disconnect) {
        for entry in self.pending.drain() {
            let error = Error::Disconnected(reason.clone());
            self.completions.push((entry.waiter, Err(error)));
        }
    }

    fn unix_nanos(&self, now: Instant) -> i64 {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        self.epoch_unix_nanos
            .saturating_add(i64::try_from(since).unwrap_or(i64::MAX))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
