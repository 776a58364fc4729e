//! The mailbox of one connection, shared (`Rc`, one shard) by its driver, its handlers, its
//! pushers and its shard.
//!
//! Handlers that finish away from the driver leave their [`Completion`] here; pushers leave
//! encoded push frames; the shard leaves a [`Control`] request (drain, idle check, abort).
//! Each of them then wakes the driver, which empties the mailbox through
//! [`super::Connection::handle_link`]. Borrows of the cells never outlive one method call.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{encode_frame, Header};

use super::call::Completion;
use crate::error::PushError;

/// What the shard asks of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    /// Close if nothing happened since the last check (no read, nothing in flight).
    IdleCheck,
    /// Stop reading, finish in-flight requests, flush, close (graceful shutdown).
    Drain,
    /// Close now, dropping in-flight requests (drain timeout).
    Abort,
}

/// A connection's mailbox. See the module docs.
pub struct Link {
    peer: Option<SocketAddr>,
    waker: RefCell<Option<Waker>>,
    completions: RefCell<VecDeque<Completion>>,
    pushes: RefCell<BytesMut>,
    push_waiters: RefCell<Vec<Waker>>,
    push_seq: Rc<Cell<u64>>,
    push_buffer_max: usize,
    backlog: Cell<usize>,
    control: Cell<Option<Control>>,
    activity: Cell<u64>,
    closed: Cell<bool>,
}

impl Link {
    /// `push_seq` is the shard's push counter: pushes carry their own seq, starting at 1,
    /// shared by all connections of a shard (rpcx-go shares one per process).
    pub fn new(peer: Option<SocketAddr>, push_seq: Rc<Cell<u64>>, push_buffer_max: usize) -> Self {
        Self {
            peer,
            waker: RefCell::new(None),
            completions: RefCell::new(VecDeque::new()),
            pushes: RefCell::new(BytesMut::new()),
            push_waiters: RefCell::new(Vec::new()),
            push_seq,
            push_buffer_max,
            backlog: Cell::new(0),
            control: Cell::new(None),
            activity: Cell::new(0),
            closed: Cell::new(false),
        }
    }

    /// A link for a connection that is not attached to a shard (tests, benchmarks).
    pub fn detached() -> Rc<Self> {
        Rc::new(Self::new(None, Rc::new(Cell::new(1)), usize::MAX))
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

    /// Wakes the driver (the TLS handshake timer uses it).
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

    /// Counts a read, for the shard's idle check.
    pub(crate) fn touch(&self) {
        self.activity.set(self.activity.get().wrapping_add(1));
    }

    /// A number that changes whenever the connection receives bytes.
    pub fn activity(&self) -> u64 {
        self.activity.get()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Marks the connection gone: later completions and pushes are dropped, and waiting
    /// pushers fail.
    pub(super) fn close(&self) {
        self.closed.set(true);
        self.completions.borrow_mut().clear();
        self.pushes.borrow_mut().clear();
        self.wake_pushers();
    }

    /// Output bytes the connection holds but has not sent, published by the connection so
    /// pushers can wait for room.
    pub(super) fn set_backlog(&self, backlog: usize) {
        self.backlog.set(backlog);
        if backlog < self.push_buffer_max {
            self.wake_pushers();
        }
    }

    fn wake_pushers(&self) {
        let waiters = std::mem::take(&mut *self.push_waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Ready when a push may be queued: the connection's unsent output is under the push
    /// buffer limit. Fails once the connection is closed.
    pub(crate) fn poll_push_room(&self, cx: &mut Context<'_>) -> Poll<Result<(), PushError>> {
        if self.closed.get() {
            return Poll::Ready(Err(PushError::Closed));
        }
        if self.pushes.borrow().len() + self.backlog.get() < self.push_buffer_max {
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
        if self.closed.get() {
            return Err(PushError::Closed);
        }
        let seq = self.push_seq.get();
        let mut header = Header::request(seq, SerializeType::None);
        header.set_oneway(true);
        let mut pushes = self.pushes.borrow_mut();
        encode_frame(
            &mut pushes,
            &header,
            service_path,
            service_method,
            metadata,
            payload,
        )?;
        drop(pushes);
        self.push_seq.set(seq.wrapping_add(1).max(1));
        self.wake();
        Ok(())
    }

    /// Moves queued push frames to the end of `out`.
    pub(super) fn take_pushes(&self, out: &mut BytesMut) {
        let mut pushes = self.pushes.borrow_mut();
        if !pushes.is_empty() {
            out.extend_from_slice(&pushes);
            pushes.clear();
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
