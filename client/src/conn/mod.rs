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
mod push_queue;
mod recv;
mod screen;
mod send_bound;
mod stats;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bounds;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringrpc_codec::{
    encode_frame, encode_request, Frame, Header, SerializeType, StatusType, AUTH_KEY, ERROR_KEY,
    NO_METADATA, SERVER_TIMEOUT_KEY,
};

use crate::error::{Disconnect, Error};
use crate::message::{Push, Reply, Request};
use crate::options::ClientOptions;
pub use events::{Events, Wake};
use heartbeat::{Due, Heartbeat};
use pending::{Entry, Pending};
use push_queue::PushQueue;
pub use recv::{Received, RecvBuf};
pub use screen::Screen;
pub use stats::Stats;

/// One client connection, without I/O. `W` is whatever the driver wakes a caller with (a
/// oneshot sender); the core hands it back with the call's result.
///
/// ```text
///            handle_close(now)              last transmit done
///   Open ───────────────────▶ Closing ─────────────────────────▶ Closed(Closed)
///     │   (pending calls fail;   (queued bytes still go out) │
///     │    new calls refused)     close_timeout passed: unsent bytes dropped ─▶ Closed(Closed)
///     └── handle_disconnect(reason) / too many heartbeat misses ─▶ Closed(reason)
///         (pending calls fail with the reason; queued bytes are dropped)
/// ```
///
/// Bounds (see [`ClientOptions`]): unsent request bytes (`send_buffer_max_bytes`; a call
/// that does not fit is refused with [`Error::SendBufferFull`] and its driver waits for
/// [`Wake::send_space`]), queued pushes (`push_queue_max`, `push_queue_max_bytes`), the
/// time spent closing (`close_timeout`). A frame nobody waits for is turned away by
/// [`screen`](Self::screen) before its payload is inflated.
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
    /// Bytes of the send in flight (handed out by `poll_transmit`, not yet done).
    sending_len: usize,
    /// Sends completed so far: a caller refused for want of send space waits for it to move.
    sent_epoch: u64,
    /// A call was refused for want of send space and waits for room.
    send_space_wanted: bool,
    /// A send completed (or the connection closed) while calls waited for room, since the
    /// last `poll_events`.
    send_space_freed: bool,
    /// While closing: when unsent bytes are given up (`None`: no bound).
    close_deadline: Option<Instant>,
    state: State,
    completions: Vec<(W, Result<Reply, Error>)>,
    pushes: PushQueue,
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

impl<W> Connection<W> {
    /// A connection opened at `now`, when the wall clock read `unix_nanos`.
    pub fn new(options: ClientOptions, now: Instant, unix_nanos: i64) -> Self {
        // An interval beyond the clock's range (`Duration::MAX`) means no heartbeat.
        let heartbeat = options
            .heartbeat_interval
            .filter(|interval| !interval.is_zero())
            .and_then(|interval| Heartbeat::new(interval, options.heartbeat_misses_max, now));
        let pushes = PushQueue::new(options.push_queue_max, options.push_queue_max_bytes);
        Self {
            options,
            epoch: now,
            epoch_unix_nanos: unix_nanos,
            next_seq: 0,
            pending: Pending::default(),
            heartbeat,
            transmit: BytesMut::new(),
            sending: false,
            sending_len: 0,
            sent_epoch: 0,
            send_space_wanted: false,
            send_space_freed: false,
            close_deadline: None,
            state: State::Open,
            completions: Vec::new(),
            pushes,
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
        self.handle_call_since(request, waiter, now, now)
    }

    /// [`Self::handle_call`] for a call that began at `since` and waited (for a call slot,
    /// for room in the send buffer): its timeout error reports the time from `since` to its
    /// deadline, the timeout the caller set.
    pub fn handle_call_since(
        &mut self,
        request: &Request<'_>,
        waiter: W,
        since: Instant,
        now: Instant,
    ) -> Result<u64, Error> {
        let deadline = self.options.deadline_of(request, now);
        let seq = self.queue_request(request, false, deadline, now)?;
        let timeout_ms = deadline.map_or(0, |d| Error::timeout_ms(d, since.min(now)));
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
        if screen::is_push(header) {
            self.stats.push_count += 1;
            let seq = header.seq();
            if !self.pushes.push(Push::new(frame)) {
                self.stats.push_dropped_count += 1;
                tracing::warn!(seq, "push queue full: server push dropped");
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

    /// Takes the time: expires calls whose deadline passed and sends a heartbeat when due;
    /// while closing, gives up unsent bytes once `close_timeout` has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Closing) {
            if self.close_deadline.is_some_and(|at| at <= now) {
                tracing::warn!(
                    unsent_bytes = self.unsent_bytes(),
                    "close timed out: the server is not reading; unsent bytes dropped"
                );
                self.handle_disconnect(Disconnect::Closed);
            }
            return;
        }
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
        self.sending_len = 0;
        self.sent_epoch += 1;
        self.send_space_freed |= std::mem::take(&mut self.send_space_wanted);
        self.release_idle_transmit();
        if matches!(self.state, State::Closing) && self.transmit.is_empty() {
            self.state = State::Closed(Disconnect::Closed);
        }
    }

    /// The user closes the connection at `now`: pending calls fail (retryable, `connection
    /// is shut down`), new calls are refused, and what is queued is still sent, for at most
    /// `close_timeout`.
    pub fn handle_close(&mut self, now: Instant) {
        if !matches!(self.state, State::Open) {
            return;
        }
        self.state = State::Closing;
        self.heartbeat = None;
        self.fail_pending(&Disconnect::Closed);
        self.send_space_freed |= std::mem::take(&mut self.send_space_wanted);
        self.close_deadline = now.checked_add(self.options.close_timeout);
        self.timer_rearm = true;
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
        self.transmit = BytesMut::new();
        // A write in flight is abandoned with the connection.
        self.sending_len = 0;
        self.heartbeat = None;
        self.send_space_freed |= std::mem::take(&mut self.send_space_wanted);
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
        self.sending_len = self.transmit.len();
        Some(self.transmit.split().freeze())
    }

    /// When `handle_timeout` must be called next: the earliest call deadline or heartbeat,
    /// or while closing the close deadline.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let next = match self.state {
            State::Open => {
                let heartbeat = self.heartbeat.as_ref().and_then(Heartbeat::next_at);
                match (self.pending.next_deadline(), heartbeat) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Closing => self.close_deadline,
            State::Closed(_) => None,
        };
        self.timer_armed_at = next;
        next
    }

    /// What a driver's reader does at the top of every round, so that deadlines and
    /// heartbeats (and the close deadline) keep their time even while the socket never runs
    /// dry: runs the timer if it is due at `now`, then returns when it is due next
    /// (`Some(None)`: nothing pending), or `None` once the connection is closed (the reader
    /// stops).
    pub fn handle_due_timers(&mut self, now: Instant) -> Option<Option<Instant>> {
        if self.poll_timeout().is_some_and(|at| at <= now) {
            self.handle_timeout(now);
        }
        (!self.is_closed()).then(|| self.poll_timeout())
    }

    /// What the driver must do now that the last input is handled: the finished calls (the
    /// waiter given to `handle_call` with its result), the received pushes when
    /// `take_pushes` (a driver with a push handler; otherwise they stay queued for
    /// [`poll_push`](Self::poll_push)), and which of its tasks to wake. Pushes come before
    /// completions: a push the server sent before a reply must be seen before that reply
    /// wakes its caller.
    pub fn poll_events(&mut self, take_pushes: bool) -> Events<W> {
        let pushes = if take_pushes {
            self.pushes.drain()
        } else {
            Vec::new()
        };
        let open = self.is_open();
        let wake = Wake {
            writer: self.has_transmit() || self.is_closed(),
            reader: self.is_closed() || std::mem::take(&mut self.timer_rearm),
            push_reader: !open || (!take_pushes && self.has_push()),
            send_space: std::mem::take(&mut self.send_space_freed),
        };
        Events {
            completions: std::mem::take(&mut self.completions),
            pushes,
            wake,
        }
    }

    /// A message the server pushed.
    pub fn poll_push(&mut self) -> Option<Push> {
        self.pushes.pop()
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
            push_queue_bytes: self.pushes.bytes(),
            unsent_bytes: self.unsent_bytes(),
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
        let queued_before = self.transmit.len();
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
        self.admit_queued(seq, queued_before)?;
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
