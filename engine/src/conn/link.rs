//! The mailbox of one connection, shared (`Rc`, one shard) by its driver, its handlers, its
//! pushers and its shard.
//!
//! Handlers that finish away from the driver leave their [`Completion`] here; pushers leave
//! encoded push frames; the shard leaves a [`Control`] request (drain, idle check, abort,
//! timeouts). Each of them then wakes the driver, which empties the mailbox through
//! [`super::Connection::handle_link`]. The connection publishes here what the shard's sweep
//! reads: frames received, bytes sent, whether a frame is half received, bytes unsent.
//! The layer under the core (TLS, `crate::tls`) reports here too what it holds: sealed
//! records not yet taken by the kernel (unsent) and a partly received record (receive
//! buffer), so the shard's bounds and timeouts see every byte.
//! Borrows of the cells never outlive one method call.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{encode_frame, Header};

use super::bounds::ShardBounds;
use super::call::Completion;
use crate::error::PushError;
use crate::plugin::{OutgoingKind, Verdict};
use crate::services::Services;

/// What the shard asks of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    /// Close if nothing happened since the last check (no read, nothing in flight).
    IdleCheck,
    /// Stop reading, finish in-flight requests, flush, close (graceful shutdown).
    Drain,
    /// A frame began to arrive and did not complete within the frame timeout: close now.
    FrameTimeout,
    /// Output waited and the peer took none of it within the send timeout: close now.
    SendTimeout,
    /// Close now, dropping in-flight requests (drain timeout).
    Abort,
}

/// A connection's mailbox. See the module docs.
pub struct Link {
    peer: Option<SocketAddr>,
    waker: RefCell<Option<Waker>>,
    completions: RefCell<VecDeque<Completion>>,
    pushes: RefCell<BytesMut>,
    /// How many push frames `pushes` holds.
    push_count: Cell<usize>,
    push_waiters: RefCell<Vec<Waker>>,
    push_seq: Rc<Cell<u64>>,
    bounds: Rc<ShardBounds>,
    /// Unsent output the connection holds (not counting `pushes`).
    backlog: Cell<usize>,
    /// Output the layer under the core holds (TLS records, also those a driver's send
    /// holds); kept after the core closed, until that layer gives it up.
    transport_unsent: Cell<usize>,
    /// Input the layer under the core holds (a partly received TLS record), as last
    /// reported to the shard's receive-buffer counter.
    transport_recv: Cell<usize>,
    /// That input is a frame half received, as far as the sweep is concerned.
    transport_receiving: Cell<bool>,
    /// `backlog` plus queued pushes plus `transport_unsent`, as last reported to the shard.
    unsent: Cell<usize>,
    control: Cell<Option<Control>>,
    frames: Cell<u64>,
    sent_bytes: Cell<u64>,
    receiving: Cell<bool>,
    /// In the shard's list of connections waiting for in-flight room (`ShardBounds`).
    pub(super) waiting_room: Cell<bool>,
    closed: Cell<bool>,
    /// An HTTP connection: pushes have no place in its byte stream.
    pushes_refused: Cell<bool>,
    /// The shard's services when plugins are registered: they see every push.
    observer: Option<Rc<Services>>,
}

impl Link {
    /// `push_seq` is the shard's push counter: pushes carry their own seq, starting at 1,
    /// shared by all connections of a shard (rpcx-go shares one per process); `bounds` are
    /// the shard's.
    pub fn new(peer: Option<SocketAddr>, push_seq: Rc<Cell<u64>>, bounds: Rc<ShardBounds>) -> Self {
        Self {
            peer,
            waker: RefCell::new(None),
            completions: RefCell::new(VecDeque::new()),
            pushes: RefCell::new(BytesMut::new()),
            push_count: Cell::new(0),
            push_waiters: RefCell::new(Vec::new()),
            push_seq,
            bounds,
            backlog: Cell::new(0),
            transport_unsent: Cell::new(0),
            transport_recv: Cell::new(0),
            transport_receiving: Cell::new(false),
            unsent: Cell::new(0),
            control: Cell::new(None),
            frames: Cell::new(0),
            sent_bytes: Cell::new(0),
            receiving: Cell::new(false),
            waiting_room: Cell::new(false),
            closed: Cell::new(false),
            pushes_refused: Cell::new(false),
            observer: None,
        }
    }

    /// Shows every push of this link to the plugins of `services` (if it has any).
    pub(crate) fn observed_by(mut self, services: &Rc<Services>) -> Self {
        if !services.plugins().is_empty() {
            self.observer = Some(services.clone());
        }
        self
    }

    /// A link for a connection that is not attached to a shard (tests, benchmarks).
    pub fn detached() -> Rc<Self> {
        Self::detached_with(Rc::new(ShardBounds::unlimited()))
    }

    /// A link outside any shard, counting against `bounds` (tests).
    pub fn detached_with(bounds: Rc<ShardBounds>) -> Rc<Self> {
        Rc::new(Self::new(None, Rc::new(Cell::new(1)), bounds))
    }

    /// The shard's bounds and byte counters.
    pub fn bounds(&self) -> &Rc<ShardBounds> {
        &self.bounds
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Registers the driver's waker (kept if it would wake the same task).
    pub fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// The driver's waker (a no-op one before the driver set one).
    pub(crate) fn waker(&self) -> Waker {
        self.waker
            .borrow()
            .clone()
            .unwrap_or_else(|| Waker::noop().clone())
    }

    /// Makes every later push fail with [`PushError::Http`] (the connection speaks HTTP).
    pub(crate) fn refuse_pushes(&self) {
        self.pushes_refused.set(true);
    }

    /// Wakes the driver (also the TLS handshake timer, `crate::tls`).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.borrow().as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Delivers a completion from a handler that ran away from the driver.
    pub fn complete(&self, completion: Completion) {
        if self.closed.get() {
            return;
        }
        self.completions.borrow_mut().push_back(completion);
        self.wake();
    }

    pub(super) fn pop_completion(&self) -> Option<Completion> {
        self.completions.borrow_mut().pop_front()
    }

    /// Asks the connection to do something; the strongest request pending wins.
    pub fn request(&self, control: Control) {
        if self.control.get().is_none_or(|pending| pending < control) {
            self.control.set(Some(control));
        }
        self.wake();
    }

    pub(crate) fn take_control(&self) -> Option<Control> {
        self.control.take()
    }

    /// Counts a complete frame received.
    pub(super) fn count_frame(&self) {
        self.frames.set(self.frames.get().wrapping_add(1));
    }

    /// Counts output bytes the kernel took (the core's, or the TLS layer's records).
    pub(crate) fn count_sent(&self, bytes: usize) {
        self.sent_bytes
            .set(self.sent_bytes.get().wrapping_add(bytes as u64));
    }

    /// Complete frames received so far (wrapping).
    pub fn frames(&self) -> u64 {
        self.frames.get()
    }

    /// Output bytes the kernel took so far (wrapping).
    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.get()
    }

    /// A number that changes whenever the connection does something a peer that is still
    /// there causes: a complete frame received or output taken by the kernel. Bytes that do
    /// not complete a frame do not count, so trickling them does not keep a connection open.
    pub fn activity(&self) -> u64 {
        self.frames.get().wrapping_add(self.sent_bytes.get())
    }

    /// Whether a frame has begun to arrive and is not complete, while the connection reads
    /// (in the core's buffer, or a record the layer under it holds).
    pub fn is_receiving(&self) -> bool {
        self.receiving.get() || self.transport_receiving.get()
    }

    pub(super) fn set_receiving(&self, receiving: bool) {
        self.receiving.set(receiving);
    }

    /// Output bytes not yet taken by the kernel: the connection's, queued pushes, and what
    /// the layer under the core (TLS) holds.
    pub fn unsent_bytes(&self) -> usize {
        self.backlog.get() + self.pushes.borrow().len() + self.transport_unsent.get()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Marks the connection gone: later completions and pushes are dropped, and waiting
    /// pushers fail.
    pub(super) fn close(&self) {
        self.closed.set(true);
        self.completions.borrow_mut().clear();
        let dropped = self.push_count.take();
        self.bounds
            .stats()
            .pushes
            .drop_queued(dropped, self.pushes.borrow().len());
        self.pushes.borrow_mut().clear();
        self.receiving.set(false);
        self.transport_receiving.set(false);
        self.set_backlog(0);
        self.wake_pushers();
    }

    /// Output bytes the connection holds but the kernel has not taken (including those a
    /// driver's send holds), published by the connection so pushers wait for room.
    /// Publishing only a change is enough: every other part of the unsent sum publishes its
    /// own changes (queued pushes when they are queued, the transport's bytes), and bytes
    /// moving from queued pushes into the connection's output change the backlog.
    pub(super) fn set_backlog(&self, backlog: usize) {
        if self.backlog.replace(backlog) != backlog {
            self.publish_unsent();
        }
    }

    /// Output bytes the layer under the core holds now (TLS: sealed records, including
    /// those a driver's send holds). They count as unsent for pushers, the shard's counter
    /// and the send timeout, also after the core closed (a close_notify the peer never
    /// reads), until that layer reports 0.
    pub(crate) fn set_transport_unsent(&self, bytes: usize) {
        if self.transport_unsent.replace(bytes) != bytes {
            self.publish_unsent();
        }
    }

    /// Input bytes the layer under the core holds now (TLS: a partly received record, or
    /// an unfinished handshake), counted in the shard's receive-buffer bytes; `receiving`:
    /// whether they are a frame the peer began and has not finished (for the frame
    /// timeout), or `None` to keep the last answer while bytes are held.
    pub(crate) fn set_transport_recv(&self, bytes: usize, receiving: Option<bool>) {
        let receiving = receiving.unwrap_or(self.transport_receiving.get()) && bytes > 0;
        self.transport_receiving.set(receiving);
        let old = self.transport_recv.replace(bytes);
        if old != bytes {
            self.bounds.move_recv(old, bytes);
        }
    }

    fn publish_unsent(&self) {
        self.report_unsent();
        if self.unsent.get() < self.bounds.push_buffer_max_bytes() {
            self.wake_pushers();
        }
    }

    fn report_unsent(&self) {
        let unsent = self.unsent_bytes();
        let old = self.unsent.replace(unsent);
        if old != unsent {
            self.bounds.move_unsent(old, unsent);
        }
    }

    fn wake_pushers(&self) {
        if self.push_waiters.borrow().is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut *self.push_waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Ready when a push may be queued: every byte of the connection not yet taken by the
    /// kernel (queued pushes, replies, a driver's send) is under the push buffer limit.
    /// Fails once the connection is closed.
    pub(crate) fn poll_push_room(&self, cx: &mut Context<'_>) -> Poll<Result<(), PushError>> {
        if self.closed.get() {
            return Poll::Ready(Err(PushError::Closed));
        }
        if self.pushes_refused.get() {
            return Poll::Ready(Err(PushError::Http));
        }
        if self.unsent_bytes() < self.bounds.push_buffer_max_bytes() {
            return Poll::Ready(Ok(()));
        }
        self.push_waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }

    /// Encodes one push (PROTOCOL.md §4.14: Request, oneway, SerializeNone, the shard's own
    /// seq) into the mailbox and wakes the driver.
    pub(crate) fn push<K: AsRef<str>, V: AsRef<str>>(
        &self,
        service_path: &str,
        service_method: &str,
        metadata: impl IntoIterator<Item = (K, V)>,
        payload: &[u8],
    ) -> Result<(), PushError> {
        let stats = &self.bounds.stats().pushes;
        if self.closed.get() {
            stats.count_failed();
            return Err(PushError::Closed);
        }
        if self.pushes_refused.get() {
            stats.count_failed();
            return Err(PushError::Http);
        }
        let seq = self.push_seq.get();
        let mut header = Header::request(seq, SerializeType::None);
        header.set_oneway(true);
        let mut pushes = self.pushes.borrow_mut();
        let start = pushes.len();
        encode_frame(
            &mut pushes,
            &header,
            service_path,
            service_method,
            metadata,
            payload,
        )
        .inspect_err(|_| stats.count_failed())?;
        if let Some(services) = &self.observer {
            let verdict =
                services
                    .plugins()
                    .before_write(OutgoingKind::Push, seq, &pushes[start..], false);
            if let Err(e) = edit_push(&mut pushes, start, verdict) {
                pushes.truncate(start);
                stats.count_failed();
                return Err(e);
            }
        }
        stats.queue(pushes.len() - start);
        self.push_count.set(self.push_count.get() + 1);
        drop(pushes);
        self.report_unsent();
        self.push_seq.set(seq.wrapping_add(1).max(1));
        self.wake();
        Ok(())
    }

    /// Frees the push buffer and the completion queue if they are empty and grew past
    /// `keep_bytes` ([`super::Connection::release_idle_buffers`]).
    pub(super) fn release_idle_buffers(&self, keep_bytes: usize) {
        let mut pushes = self.pushes.borrow_mut();
        if pushes.is_empty() && pushes.capacity() > keep_bytes {
            *pushes = BytesMut::new();
        }
        let mut completions = self.completions.borrow_mut();
        let queue_bytes = completions.capacity() * std::mem::size_of::<Completion>();
        if completions.is_empty() && queue_bytes > keep_bytes {
            *completions = VecDeque::new();
        }
    }

    /// Whether push frames wait to be taken.
    pub(super) fn has_pushes(&self) -> bool {
        !self.pushes.borrow().is_empty()
    }

    /// Moves queued push frames to the end of `out` (still unsent: they join the backlog).
    pub(super) fn take_pushes(&self, out: &mut BytesMut) {
        let mut pushes = self.pushes.borrow_mut();
        if !pushes.is_empty() {
            let count = self.push_count.take();
            self.bounds.stats().pushes.dequeue(count, pushes.len());
            out.extend_from_slice(&pushes);
            self.backlog.set(self.backlog.get() + pushes.len());
            pushes.clear();
        }
    }
}

/// Applies the plugins' verdict on the push encoded at `pushes[start..]`: kept, encoded
/// again with metadata added, or refused (the caller drops it).
fn edit_push(pushes: &mut BytesMut, start: usize, verdict: Verdict) -> Result<(), PushError> {
    match verdict {
        Verdict::Send => Ok(()),
        Verdict::Refuse(refusal) => Err(PushError::Refused {
            limit: refusal.limit(),
            text: refusal.text().to_owned(),
        }),
        Verdict::Edit(added) => {
            let Some(frame) = super::answer::reparse(pushes.split_off(start)) else {
                return Err(PushError::Closed);
            };
            let metadata = super::answer::with_added(frame.metadata().iter(), &added);
            let result = encode_frame(
                pushes,
                frame.header(),
                frame.service_path(),
                frame.service_method(),
                metadata,
                frame.payload(),
            );
            Ok(result?)
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.peer)
            .field("completions", &self.completions.borrow().len())
            .field("pushes_len", &self.pushes.borrow().len())
            .field("control", &self.control.get())
            .field("closed", &self.closed.get())
            .finish()
    }
}
