//! [`Connection`]: one rpcx connection as a state machine over bytes.

use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringrpc_codec::frame_len;

use super::answer;
use super::buffer_pool;
use super::call::{Call, Completion};
use super::http::Proto;
use super::input;
use super::link::{Control, Link};
use super::out_queue::{OutQueue, BY_REFERENCE_MIN_BYTES};
use super::DEADLINE_EXCEEDED;
use crate::config::ConnConfig;
use crate::error::CloseCause;
use crate::inflight::Outcome;
use crate::plugin::{Status, Watch};
use crate::services::Services;

/// Smallest and largest read the connection asks for; it adapts between them.
const READ_MIN: usize = 4 << 10;
const READ_MAX: usize = 64 << 10;
/// Largest read asked for to complete a known, partially received frame.
const READ_FRAME_MAX: usize = 256 << 10;
/// Small buffers an idle connection may keep (see [`Connection::release_idle_buffers`]).
const KEEP_SMALL_BYTES: usize = 1 << 10;
/// Request bytes (frames as received plus inflated payloads) one `poll_call` batch handles
/// before it hands the shard back to its other connections (and wakes its driver to come
/// back): a peer pipelining large or inflating frames cannot hold the shard for long.
const BATCH_WORK_MAX_BYTES: usize = 1 << 20;

/// One rpcx connection, sans IO: bytes in through [`Connection::handle_read`], handler
/// calls out through [`Connection::poll_call`], replies in through
/// [`Connection::handle_completion`], bytes out through [`Connection::poll_transmit`].
///
/// ```text
///                 frames parsed in place; heartbeats and lookup/codec/auth errors
///                 answered at once; calls handed to the driver
///            ┌──────────┐
///  accept ──▶│   Open   │◀─┐ replies drain below the limits
///            └──────────┘  │
///              │  │  │     │ in-flight count or bytes (own or shard's) at their budget,
///              │  │  └─────┘ or output >= flush_threshold: stop reading
///              │  │          (wants_read() == false), keep sending
///              │  │
///              │  │ EOF from peer, Drain (shutdown) or IdleCheck with nothing to do
///              │  ▼
///              │ ┌──────────┐  frames already received are still served, nothing more
///              │ │ Draining │  is read; in-flight == 0 and output sent
///              │ └──────────┘ ─────────────────────────────────────────────┐
///              │  │ Abort (drain timeout)                                  │
///              ▼  ▼                                                        ▼
///            ┌──────────┐  output already encoded is sent (e.g. the   ┌──────────┐
///            │ Closing  │─ auth error reply); completions dropped ───▶│  Closed  │
///            └──────────┘                                             └──────────┘
///   bad frame, auth failure, encode failure, frame timeout -> Closing;
///   socket error, send timeout -> Closed (unsent output dropped)
/// ```
///
/// The driver closes the socket once [`Connection::is_closed`] and logs
/// [`Connection::take_cause`] once.
pub struct Connection {
    pub(super) state: State,
    /// rpcx or HTTP, decided by the first byte (`http.rs`).
    pub(super) proto: Proto,
    pub(super) services: Rc<Services>,
    pub(super) config: Rc<ConnConfig>,
    pub(super) link: Rc<Link>,
    pub(super) recv: BytesMut,
    /// Unparsed buffers a driver lent with `handle_chunk` (see `input.rs`).
    pub(super) chunks: input::Chunks,
    read_size: usize,
    pub(super) out: BytesMut,
    /// Output cut off `out` to be sent without a copy, ahead of `out`'s bytes.
    pub(super) out_queue: OutQueue,
    pub(super) scratch: BytesMut,
    pub(super) text: String,
    pub(super) inflight_count: usize,
    /// Request bytes held by the calls in flight (`Call::held_bytes` summed).
    pub(super) held_bytes: usize,
    /// Bytes taken with `poll_transmit_owned` that the kernel has not taken yet.
    pub(super) owned_unsent: usize,
    /// Receive buffer capacity last reported to the shard.
    recv_capacity: usize,
    /// Closed without sending what was left (a driver's send in flight may be cancelled).
    pub(super) output_dropped: bool,
    /// Request bytes handled in the current `poll_call` batch (`BATCH_WORK_MAX_BYTES`).
    pub(super) batch_work_bytes: usize,
    pub(super) cause: Option<CloseCause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Open,
    Draining,
    Closing,
    Closed,
}

impl Connection {
    pub fn new(services: Rc<Services>, config: Rc<ConnConfig>, link: Rc<Link>) -> Self {
        Self {
            state: State::Open,
            proto: Proto::Unknown,
            services,
            config,
            link,
            // Allocated on first use (`buffer`), so an idle connection holds no buffer.
            recv: BytesMut::new(),
            chunks: input::Chunks::default(),
            read_size: READ_MIN,
            out: BytesMut::new(),
            out_queue: OutQueue::default(),
            scratch: BytesMut::new(),
            text: String::new(),
            inflight_count: 0,
            held_bytes: 0,
            owned_unsent: 0,
            recv_capacity: 0,
            output_dropped: false,
            batch_work_bytes: 0,
            cause: None,
        }
    }

    pub fn link(&self) -> &Rc<Link> {
        &self.link
    }

    /// Reads once: `read` gets the free tail of the receive buffer and returns how many
    /// bytes it wrote, `Ok(0)` for end of stream. Returns the byte count (0 for EOF or an
    /// error, which the connection handles itself), or `Pending` if `read` was pending.
    pub fn handle_read(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<usize> {
        // A driver reads into this buffer or lends its own (`handle_chunk`), never both.
        debug_assert!(self.chunks.is_empty(), "handle_read after handle_chunk");
        buffer(&mut self.recv);
        let filled = self.recv.len();
        let mut want = self.read_size;
        if let Ok(Some(len)) = frame_len(&self.recv, &self.config.limits) {
            // A partial frame: read up to as much again as arrived (the buffer doubles with
            // the bytes received, never sized from the length a header announces).
            want = want.max(len.saturating_sub(filled).min(filled).min(READ_FRAME_MAX));
        }
        // The buffer only lends initialized memory; zeroing `want` bytes costs far less than
        // the syscall that fills them.
        self.recv.resize(filled + want, 0);
        let result = read(&mut self.recv[filled..]);
        let n = match &result {
            Poll::Ready(Ok(n)) => (*n).min(want),
            _ => 0,
        };
        self.recv.truncate(filled + n);
        self.publish_recv();
        match result {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) => self.handle_read_closed(),
            Poll::Ready(Ok(_)) => {
                if n == want && want == self.read_size {
                    self.read_size = (self.read_size * 2).min(READ_MAX);
                } else if n < self.read_size / 4 {
                    self.read_size = (self.read_size / 2).max(READ_MIN);
                }
            }
            Poll::Ready(Err(e)) => self.close_now(CloseCause::Io(e)),
        }
        Poll::Ready(n)
    }

    /// Bytes received into a buffer the driver does not own (an io_uring provided buffer),
    /// shared as `Bytes`: frames wholly inside it are parsed where they lie and handlers see
    /// slices of it; only a frame cut by its end is copied. The buffer is released as soon
    /// as no unparsed complete frame is left in it (see `input.rs`).
    pub fn handle_chunk(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            crate::prefetch::prefetch(&chunk);
            input::push_chunk(&mut self.recv, &mut self.chunks, chunk);
            self.publish_recv();
        }
    }

    /// Bytes received into a buffer the driver must reuse at once: they are copied.
    pub fn handle_received(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            input::push_copy(&mut self.recv, &mut self.chunks, bytes);
            self.publish_recv();
        }
    }

    /// The peer will send nothing more: serve what was received, then close.
    pub fn handle_read_closed(&mut self) {
        self.begin_drain(CloseCause::PeerClosed);
    }

    /// Whether the driver should read now. False while paused by the in-flight (count or
    /// bytes, the connection's or the shard's) or output limits (memory stays bounded) and
    /// once draining or closing. A connection paused by the shard is listed to be woken
    /// when the shard has room again, whatever its protocol and input.
    pub fn wants_read(&self) -> bool {
        self.state == State::Open && self.own_room() && self.shard_room()
    }

    /// Whether this connection's own budgets leave room for one more request.
    fn own_room(&self) -> bool {
        self.inflight_count < self.config.max_inflight
            && self.held_bytes < self.config.max_inflight_bytes
            && self.unsent_len() < self.config.flush_threshold_bytes
            && self.proto.wants_read()
    }

    /// [`Self::own_room`] and [`Self::shard_room`].
    fn has_room(&self) -> bool {
        self.own_room() && self.shard_room()
    }

    /// Whether the shard's budget has room; if not, the connection is listed to be woken
    /// once it has. Both the parse pause (`has_room`) and the read pause (`wants_read`)
    /// go through here: a connection that stops reading before any frame is parsed (no
    /// byte yet, or an HTTP connection between requests) must be woken too.
    fn shard_room(&self) -> bool {
        let bounds = self.link.bounds();
        if bounds.is_full() {
            bounds.wait_for_room(&self.link);
            return false;
        }
        true
    }

    /// The next request that needs its handler run. Heartbeats, errors before dispatch and
    /// auth failures are answered here and never reach the driver.
    ///
    /// `now` is the driver's clock, read only for a request that carries `__ServerTimeout`
    /// (its deadline is `now() + timeout`), so requests without one cost no clock read and
    /// tests pass a fixed time.
    ///
    /// After `BATCH_WORK_MAX_BYTES` of requests in one batch it returns `None` early and
    /// wakes the driver, which serves the shard's other connections before coming back.
    pub fn poll_call(&mut self, now: impl Fn() -> Instant) -> Option<Call> {
        let call = self.next_call(&now);
        if call.is_none() {
            self.batch_work_bytes = 0;
        }
        self.publish_recv();
        call
    }

    fn next_call(&mut self, now: &impl Fn() -> Instant) -> Option<Call> {
        match self.poll_proto() {
            None => {
                self.update_state();
                return None;
            }
            Some(Proto::Http(_)) => return self.poll_http(now),
            Some(_) => {}
        }
        loop {
            if !matches!(self.state, State::Open | State::Draining) {
                return None;
            }
            if !self.has_room() {
                // Paused by our own budgets: a frame left unfinished is not the peer's fault.
                // Lent receive buffers but the newest are copied out while it waits.
                input::keep_newest(&mut self.recv, &mut self.chunks);
                self.link.set_receiving(false);
                return None;
            }
            if self.batch_work_bytes >= BATCH_WORK_MAX_BYTES {
                self.link.wake();
                return None;
            }
            let frame =
                match input::next_frame(&mut self.recv, &mut self.chunks, &self.config.limits) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => {
                        let partial = !self.recv.is_empty() || !self.chunks.is_empty();
                        self.link
                            .set_receiving(partial && self.state == State::Open);
                        self.update_state();
                        return None;
                    }
                    Err(e) => {
                        self.close_after_flush(CloseCause::Decode(e));
                        return None;
                    }
                };
            self.link.count_frame();
            tracing::trace!(seq = frame.seq(), len = frame.as_bytes().len(), "frame");
            if let Some(call) = self.route(frame, now) {
                return Some(call);
            }
        }
    }

    /// Polls a call from [`Connection::poll_call`] once, inline (fast handlers cost no task):
    /// one that finished is answered at once and `None` returned; one that did not comes
    /// back for the driver to run elsewhere, to its end or deadline (its completion then
    /// arrives through the [`Link`]).
    pub fn poll_inline(&mut self, cx: &mut Context<'_>, mut call: Call) -> Option<Call> {
        if call.poll(cx).is_pending() {
            return Some(call);
        }
        self.handle_completion(call.finish());
        None
    }

    /// Encodes the reply of a finished (or expired) call. Pushes its handler queued go out
    /// first. Oneway requests get nothing (PROTOCOL.md §4.10).
    pub fn handle_completion(&mut self, completion: Completion) {
        self.inflight_count = self.inflight_count.saturating_sub(1);
        let mut slot = completion.call.slot;
        let state = slot.state_mut();
        let watch = state.watch.take();
        if self.state == State::Closed {
            // It gave back everything it held when it closed.
            if let Some(watch) = watch {
                watch.finish(Status::Dropped);
            }
            slot.recycle();
            return;
        }
        let held_bytes = state.held_bytes;
        let expired = state.expired;
        let oneway = state.reply_to.header().is_oneway();
        debug_assert!(held_bytes <= self.held_bytes, "released more than held");
        self.held_bytes -= held_bytes.min(self.held_bytes);
        self.link.bounds().release(held_bytes);
        buffer(&mut self.out);
        self.link.take_pushes(&mut self.out);
        let open = matches!(self.state, State::Open | State::Draining);
        let http = matches!(self.proto, Proto::Http(_));
        let status = if !open {
            Status::Dropped
        } else if !http && oneway {
            // Nothing to answer (an HTTP oneway call is answered: rpcx-go does, empty).
            if expired {
                Status::Expired
            } else {
                Status::Ok
            }
        } else {
            // A raw payload goes out by reference, unless a plugin sees the reply's bytes
            // or it is an HTTP answer.
            let shared = match (&watch, expired || http) {
                (None, false) => slot.take_shared_payload(BY_REFERENCE_MIN_BYTES),
                _ => None,
            };
            let mut scratch = std::mem::take(&mut self.scratch);
            // Used where the slot returned them (a move would copy the outcome through the
            // stack once more).
            let parts = slot.outcome(&mut scratch);
            let (outcome, state) = (&parts.0, parts.1);
            let _entered = state.span.enter();
            let expired_answer;
            let (answer, status) = if expired {
                expired_answer = answer::error(DEADLINE_EXCEEDED);
                (&expired_answer, Status::Expired)
            } else {
                if let Outcome::Err { message, .. } = outcome {
                    tracing::debug!(error = message, "handler error");
                }
                (outcome, answer::status(outcome))
            };
            let plugins = watch.as_deref().map(Watch::plugins);
            let reply = state.reply_to.reply();
            let status = self.write_answer(&reply, answer, plugins, status, shared);
            drop(_entered);
            self.scratch = scratch;
            status
        };
        if let Some(watch) = watch {
            watch.finish(status);
        }
        slot.recycle();
        self.update_state();
    }

    /// Empties the link: pushes, completions of handlers that ran elsewhere, and the
    /// shard's requests.
    pub fn handle_link(&mut self) {
        self.link.take_pushes(&mut self.out);
        self.poll_http_timeout();
        while let Some(completion) = self.link.pop_completion() {
            self.handle_completion(completion);
        }
        match self.link.take_control() {
            Some(Control::IdleCheck) => self.handle_idle_check(),
            Some(Control::Drain) => self.begin_drain(CloseCause::Shutdown),
            Some(Control::Abort) => {
                let inflight = self.inflight_count;
                self.close_after_flush(CloseCause::DrainTimeout { inflight });
            }
            Some(Control::FrameTimeout) => self.close_after_flush(CloseCause::FrameTimeout),
            Some(Control::SendTimeout) => self.drop_output(),
            None => {}
        }
        self.update_state();
    }

    /// Closes the connection if it has nothing in flight and nothing to send. The shard
    /// calls this (through [`Control::IdleCheck`]) when no byte arrived for a while.
    pub fn handle_idle_check(&mut self) {
        if self.state == State::Open && self.inflight_count == 0 && self.unsent_len() == 0 {
            self.begin_drain(CloseCause::Idle);
        }
    }

    /// Gives the receive buffer back when no partial frame waits in it and the send buffer
    /// when nothing is unsent (to the shard's pool, `buffer_pool.rs`), and frees the small
    /// buffers (encode scratch, error text, the link's push buffer) once they grew past
    /// [`KEEP_SMALL_BYTES`]. Drivers call it whenever the connection goes quiet (nothing in
    /// the kernel for it either), so an idle connection holds no buffer; the next request
    /// takes one from the pool.
    pub fn release_idle_buffers(&mut self) {
        if self.chunks.is_empty() {
            buffer_pool::give(&mut self.recv);
            self.publish_recv();
        }
        buffer_pool::give(&mut self.out);
        self.out_queue.release_idle();
        if self.scratch.capacity() > KEEP_SMALL_BYTES {
            self.scratch = BytesMut::new();
        }
        if self.text.capacity() > KEEP_SMALL_BYTES {
            self.text = String::new();
        }
        self.link.release_idle_buffers(KEEP_SMALL_BYTES);
    }

    pub fn inflight_count(&self) -> usize {
        self.inflight_count
    }

    /// Reports a change of the receive buffer's capacity to the shard's counter.
    pub(super) fn publish_recv(&mut self) {
        let capacity = self.recv.capacity();
        if capacity != self.recv_capacity {
            self.link.bounds().move_recv(self.recv_capacity, capacity);
            self.recv_capacity = capacity;
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("proto", &self.proto)
            .field("recv_len", &self.recv.len())
            .field("out_len", &self.unsent_len())
            .field("inflight_count", &self.inflight_count)
            .field("held_bytes", &self.held_bytes)
            .field("cause", &self.cause)
            .finish()
    }
}

impl Drop for Connection {
    /// A connection dropped before it closed (its shard stopped) gives back what it held.
    fn drop(&mut self) {
        if self.state != State::Closed {
            self.enter_closed();
        }
    }
}

/// Gives a buffer that has none its first allocation. Its size is also what the buffer
/// grows back to after `split`s (`BytesMut` remembers it), so replies taken with
/// `poll_transmit_owned` do not allocate one by one. An empty buffer that `split`s used up
/// to under half of that is rewound to the start of its memory as soon as nothing shares
/// it (sent pieces dropped): it then never has to grow while pieces are still in flight.
pub(super) fn buffer(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        *buf = buffer_pool::take();
    } else if buf.is_empty() && buf.capacity() < buffer_pool::BUFFER_BYTES / 2 {
        // Never allocates: false (and nothing done) while a piece still shares it.
        let _ = buf.try_reclaim(buffer_pool::BUFFER_BYTES);
    }
}
