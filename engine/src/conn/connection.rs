//! [`Connection`]: one rpcx connection as a state machine over bytes.

use std::fmt::Write as _;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{
    encode_heartbeat_reply, frame_len, EncodeError, Frame, Reply, AUTH_KEY, NO_METADATA,
};

use super::call::{server_timeout, Call, Completion, Timeout};
use super::input;
use super::link::{Control, Link};
use super::DEADLINE_EXCEEDED;
use crate::config::ConnConfig;
use crate::error::CloseCause;
use crate::handler::Request;
use crate::inflight::{ErasedHandler, Outcome};
use crate::services::{Lookup, Services};

/// Smallest and largest read the connection asks for; it adapts between them.
const READ_MIN: usize = 4 << 10;
const READ_MAX: usize = 64 << 10;
/// Largest read asked for to complete a known, partially received frame.
const READ_FRAME_MAX: usize = 256 << 10;

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
///              │  │  │     │ in-flight == max_inflight or output >= flush_threshold:
///              │  │  └─────┘ stop reading (wants_read() == false), keep sending
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
///   bad frame, auth failure, encode failure -> Closing;   socket error -> Closed
/// ```
///
/// The driver closes the socket once [`Connection::is_closed`] and logs
/// [`Connection::take_cause`] once.
pub struct Connection {
    state: State,
    services: Rc<Services>,
    config: Rc<ConnConfig>,
    link: Rc<Link>,
    recv: BytesMut,
    /// Unparsed rest of the last buffer a driver lent with `handle_chunk` (see `input.rs`).
    chunk: Bytes,
    read_size: usize,
    out: BytesMut,
    scratch: BytesMut,
    text: String,
    inflight_count: usize,
    cause: Option<CloseCause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Draining,
    Closing,
    Closed,
}

impl Connection {
    pub fn new(services: Rc<Services>, config: Rc<ConnConfig>, link: Rc<Link>) -> Self {
        Self {
            state: State::Open,
            services,
            config,
            link,
            // Allocated on first use (`buffer`), so an idle connection holds no buffer.
            recv: BytesMut::new(),
            chunk: Bytes::new(),
            read_size: READ_MIN,
            out: BytesMut::new(),
            scratch: BytesMut::new(),
            text: String::new(),
            inflight_count: 0,
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
        debug_assert!(self.chunk.is_empty(), "handle_read after handle_chunk");
        buffer(&mut self.recv);
        let filled = self.recv.len();
        let mut want = self.read_size;
        if let Ok(Some(len)) = frame_len(&self.recv, &self.config.limits) {
            want = want.max(len.saturating_sub(filled).min(READ_FRAME_MAX));
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
        match result {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) => self.handle_read_closed(),
            Poll::Ready(Ok(_)) => {
                self.link.touch();
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
            self.link.touch();
            input::push_chunk(&mut self.recv, &mut self.chunk, chunk);
        }
    }

    /// Bytes received into a buffer the driver must reuse at once: they are copied.
    pub fn handle_received(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.link.touch();
            input::push_copy(&mut self.recv, &mut self.chunk, bytes);
        }
    }

    /// The peer will send nothing more: serve what was received, then close.
    pub fn handle_read_closed(&mut self) {
        self.begin_drain(CloseCause::PeerClosed);
    }

    /// Whether the driver should read now. False while paused by the in-flight or output
    /// limits (memory stays bounded) and once draining or closing.
    pub fn wants_read(&self) -> bool {
        self.state == State::Open
            && self.inflight_count < self.config.max_inflight
            && self.out.len() < self.config.flush_threshold_bytes
    }

    /// The next request that needs its handler run. Heartbeats, errors before dispatch and
    /// auth failures are answered here and never reach the driver.
    ///
    /// `now` is the driver's clock, read only for a request that carries `__ServerTimeout`
    /// (its deadline is `now() + timeout`), so requests without one cost no clock read and
    /// tests pass a fixed time.
    pub fn poll_call(&mut self, now: impl Fn() -> Instant) -> Option<Call> {
        loop {
            if !matches!(self.state, State::Open | State::Draining)
                || self.inflight_count >= self.config.max_inflight
                || self.out.len() >= self.config.flush_threshold_bytes
            {
                return None;
            }
            let frame =
                match input::next_frame(&mut self.recv, &mut self.chunk, &self.config.limits) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => {
                        self.update_state();
                        return None;
                    }
                    Err(e) => {
                        self.close_after_flush(CloseCause::Decode(e));
                        return None;
                    }
                };
            tracing::trace!(seq = frame.seq(), len = frame.as_bytes().len(), "frame");
            if let Some(call) = self.route(frame, &now) {
                return Some(call);
            }
        }
    }

    /// Decides what one request becomes, in rpcx-go's order (PROTOCOL.md §4.2–4.7): answered
    /// here (heartbeat, error reply, auth failure) or a started [`Call`] (`start`).
    fn route(&mut self, frame: Frame, now: &impl Fn() -> Instant) -> Option<Call> {
        buffer(&mut self.out);
        let header = *frame.header();
        if header.is_heartbeat() {
            encode_heartbeat_reply(&frame, &mut self.out);
            return None;
        }
        let services = Rc::clone(&self.services);
        if !self.authorize(&services, &frame) {
            return None;
        }
        let (path, method) = (frame.service_path(), frame.service_method());
        let handler = match services.lookup(path, method) {
            Lookup::Found(handler) => handler,
            Lookup::NoService => {
                self.reply_error(&frame, format_args!("rpcx: can't find service {path}"));
                return None;
            }
            Lookup::NoMethod => {
                self.reply_error(&frame, format_args!("rpcx: can't find method {method}"));
                return None;
            }
        };
        let serialize_type = match SerializeType::from_wire(header.serialize_bits()) {
            Ok(serialize_type) => serialize_type,
            Err(e) => {
                self.reply_error(&frame, format_args!("{e}"));
                return None;
            }
        };
        let deadline = match server_timeout(&frame, now) {
            Timeout::None => None,
            Timeout::At(deadline) => Some(deadline),
            Timeout::Expired => {
                self.reply_error(&frame, format_args!("{DEADLINE_EXCEEDED}"));
                return None;
            }
        };
        Some(self.start(frame, handler, serialize_type, deadline))
    }

    /// Runs the auth hook, if any (PROTOCOL.md §4.3): a refused request gets the hook's text
    /// as an error reply, then the connection closes.
    fn authorize(&mut self, services: &Services, frame: &Frame) -> bool {
        let Some(auth) = services.auth() else {
            return true;
        };
        let token = frame.metadata().get(AUTH_KEY).unwrap_or("");
        match auth(frame, token) {
            Ok(()) => true,
            Err(text) => {
                self.reply_error(frame, format_args!("{text}"));
                self.close_after_flush(CloseCause::Auth(text));
                false
            }
        }
    }

    /// Starts the handler of a routed request: the one place handler code is entered.
    fn start(
        &mut self,
        frame: Frame,
        handler: &Rc<dyn ErasedHandler>,
        serialize_type: SerializeType,
        deadline: Option<Instant>,
    ) -> Call {
        let header = frame.header();
        let span = tracing::debug_span!(
            "req",
            seq = header.seq(),
            service_path = frame.service_path(),
            service_method = frame.service_method()
        );
        let request = Request::new(frame.clone(), serialize_type, deadline, self.link.clone());
        let slot = span.in_scope(|| handler.start(request));
        self.inflight_count += 1;
        Call {
            reply_to: frame,
            serialize_type,
            slot,
            deadline,
            span,
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
        buffer(&mut self.out);
        self.link.take_pushes(&mut self.out);
        self.inflight_count = self.inflight_count.saturating_sub(1);
        let Completion { call, expired } = completion;
        let Call {
            reply_to,
            serialize_type,
            mut slot,
            span,
            ..
        } = call;
        if matches!(self.state, State::Open | State::Draining) && !reply_to.header().is_oneway() {
            let _entered = span.enter();
            let reply = Reply::to(&reply_to);
            let result = if expired {
                reply.encode_error(&mut self.out, DEADLINE_EXCEEDED, NO_METADATA, &[])
            } else {
                match slot.outcome(serialize_type, &mut self.scratch) {
                    Outcome::Ok { metadata, payload } => {
                        let metadata = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                        reply.encode_ok(&mut self.out, metadata, payload)
                    }
                    Outcome::Err {
                        message,
                        metadata,
                        payload,
                    } => {
                        tracing::debug!(error = message, "handler error");
                        let metadata = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                        reply.encode_error(&mut self.out, message, metadata, payload)
                    }
                }
            };
            if let Err(e) = result {
                self.close_after_flush(CloseCause::Encode(e));
            }
        }
        slot.recycle();
        self.update_state();
    }

    /// Empties the link: pushes, completions of handlers that ran elsewhere, and the
    /// shard's requests.
    pub fn handle_link(&mut self) {
        self.link.take_pushes(&mut self.out);
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
            None => {}
        }
        self.update_state();
    }

    /// Closes the connection if it has nothing in flight and nothing to send. The shard
    /// calls this (through [`Control::IdleCheck`]) when no byte arrived for a while.
    pub fn handle_idle_check(&mut self) {
        if self.state == State::Open && self.inflight_count == 0 && self.out.is_empty() {
            self.begin_drain(CloseCause::Idle);
        }
    }

    /// Bytes waiting to be sent, if any: everything encoded since the last send.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        self.link.take_pushes(&mut self.out);
        (!self.out.is_empty() && self.state != State::Closed).then_some(&self.out[..])
    }

    /// `n` bytes of [`Connection::poll_transmit`] were sent.
    pub fn handle_sent(&mut self, n: usize) {
        self.out.advance(n.min(self.out.len()));
        self.link.set_backlog(self.out.len());
        self.update_state();
    }

    /// Takes every byte waiting to be sent, for a driver whose send completes later and must
    /// own the bytes meanwhile (io_uring). Counts them as sent: the driver sends all of them
    /// (the rest of a short send first) before anything taken later, and closes the socket
    /// only after its last send completed, even if the connection is closed by then.
    pub fn poll_transmit_owned(&mut self) -> Option<Bytes> {
        self.link.take_pushes(&mut self.out);
        if self.out.is_empty() || self.state == State::Closed {
            return None;
        }
        let bytes = self.out.split().freeze();
        self.link.set_backlog(0);
        self.update_state();
        Some(bytes)
    }

    /// The socket failed: nothing more can be sent or received.
    pub fn handle_io_error(&mut self, error: io::Error) {
        self.close_now(CloseCause::Io(error));
    }

    /// The layer under the core failed (TLS: a bad record, a refused handshake, plain bytes
    /// on a TLS port): the connection closes now with `cause`.
    pub fn handle_transport_error(&mut self, cause: CloseCause) {
        self.close_now(cause);
    }

    /// Whether the driver should close the socket now.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the connection stopped reading for good (draining or closing).
    pub fn is_read_closed(&self) -> bool {
        self.state != State::Open
    }

    /// Why the connection closed (or is closing), taken once for the log.
    pub fn take_cause(&mut self) -> Option<CloseCause> {
        self.cause.take()
    }

    pub fn inflight_count(&self) -> usize {
        self.inflight_count
    }

    fn begin_drain(&mut self, cause: CloseCause) {
        if self.state == State::Open {
            self.state = State::Draining;
            self.cause.get_or_insert(cause);
            self.update_state();
        }
    }

    fn close_after_flush(&mut self, cause: CloseCause) {
        if matches!(self.state, State::Open | State::Draining) {
            self.state = State::Closing;
            self.cause = Some(cause);
            self.update_state();
        }
    }

    fn close_now(&mut self, cause: CloseCause) {
        if self.state != State::Closed {
            self.cause = Some(cause);
            self.enter_closed();
        }
    }

    fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.out.clear();
        self.link.close();
    }

    fn update_state(&mut self) {
        let done = match self.state {
            State::Draining => {
                self.inflight_count == 0 && self.out.is_empty() && !self.frame_ready()
            }
            State::Closing => self.out.is_empty(),
            State::Open | State::Closed => false,
        };
        if done {
            self.enter_closed();
        }
    }

    /// Whether a whole frame is waiting in the receive buffer (a bad one counts: it still
    /// has to be turned into a close).
    fn frame_ready(&self) -> bool {
        input::frame_ready(&self.recv, &self.chunk, &self.config.limits)
    }

    /// Answers `frame` with an error reply (status Error and `__rpcx_error__`), unless it
    /// is oneway.
    fn reply_error(&mut self, frame: &Frame, message: std::fmt::Arguments<'_>) {
        if frame.header().is_oneway() {
            return;
        }
        self.text.clear();
        let _ = self.text.write_fmt(message);
        tracing::debug!(seq = frame.seq(), error = %self.text, "error reply");
        let result: Result<(), EncodeError> =
            Reply::to(frame).encode_error(&mut self.out, &self.text, NO_METADATA, &[]);
        if let Err(e) = result {
            self.close_after_flush(CloseCause::Encode(e));
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("recv_len", &self.recv.len())
            .field("out_len", &self.out.len())
            .field("inflight_count", &self.inflight_count)
            .field("cause", &self.cause)
            .finish()
    }
}

/// Gives a buffer that has none its first allocation. Its size is also what the buffer
/// grows back to after `split`s (`BytesMut` remembers it), so replies taken with
/// `poll_transmit_owned` do not allocate one by one.
fn buffer(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        *buf = BytesMut::with_capacity(READ_MAX);
    }
}
