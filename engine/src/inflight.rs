//! Handler futures behind one object type, recycled so a request allocates nothing.
//!
//! Every registered handler `H` gets a pool of [`Slot<H>`]s. A slot is a heap cell that holds
//! one `H::Future` while it runs and its output once it finished, and the connection's state
//! of the call ([`CallState`]: what the reply answers, the budgets it holds, its deadline);
//! when the reply has been encoded the slot returns to its pool, empty, and the next request
//! reuses the same memory.
//! The future is pinned inside the slot (`Pin<Box<Option<Fut>>>`, written with `Pin::set`), so
//! no unsafe code is needed. In steady state starting a handler is a `Vec::pop`, finishing it
//! a `Vec::push`.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringrpc_codec::payload::{EncodePayload, SerializeType};
use ringrpc_codec::Frame;

use crate::conn::{CallState, Link};
use crate::error::{HandlerError, HandlerErrorKind};
use crate::handler::{Handler, Request, Response};

/// Empty slots kept per handler and shard; more than this many finishing at once are freed.
const POOL_MAX: usize = 1024;

/// A registered handler with its type erased: it starts requests.
pub(crate) trait ErasedHandler {
    /// Starts the handler on the request these parts make. The [`Request`] is built here,
    /// where the handler's future takes it, rather than built by the caller and copied in.
    fn start(
        &self,
        frame: Frame,
        serialize_type: SerializeType,
        deadline: Option<Instant>,
        link: Rc<Link>,
    ) -> Box<dyn InFlight>;
}

/// A running (or finished) handler invocation with its type erased, and its call's state.
pub(crate) trait InFlight {
    /// The call's state, kept in the slot (see [`CallState`]).
    fn state(&self) -> &CallState;
    fn state_mut(&mut self) -> &mut CallState;
    /// Polls the handler future inside the call's span; `Ready` once its output is stored
    /// in the slot. A panic in the handler is caught and becomes an error output, as rpcx-go
    /// recovers panics.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    /// Drops the future without waiting for it (deadline exceeded, connection gone).
    fn cancel(&mut self);
    /// The finished handler's reply, its payload encoded with the call's serialize type into
    /// `scratch` (raw `Bytes` payloads are lent as they are, without a copy), and the call's
    /// state beside it (the reply answers its `reply_to`).
    fn outcome<'a>(&'a mut self, scratch: &'a mut BytesMut) -> (Outcome<'a>, &'a CallState);
    /// Takes the payload of a successful reply out when it is raw `Bytes` of at least
    /// `min_bytes`, for a send that shares it instead of copying it; [`InFlight::outcome`]
    /// then lends an empty payload. `None` (the default) when there is no such payload.
    fn take_shared_payload(&mut self, min_bytes: usize) -> Option<Bytes> {
        let _ = min_bytes;
        None
    }
    /// Returns the slot to its handler's pool.
    fn recycle(self: Box<Self>);
}

/// What a finished handler produced, ready to be encoded as a reply.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A normal reply.
    Ok {
        /// The response metadata.
        metadata: &'a [(String, String)],
        /// The encoded reply payload.
        payload: &'a [u8],
    },
    /// An error reply: `message` goes in `__rpcx_error__`, next to `metadata`; `payload` is
    /// empty unless the handler used `Response::with_error`.
    Err {
        /// The error text.
        message: &'a str,
        /// The response metadata.
        metadata: &'a [(String, String)],
        /// The encoded reply payload, usually empty.
        payload: &'a [u8],
    },
}

type Pool<H> = RefCell<Vec<Box<Slot<H>>>>;

/// A handler and the pool of its slots.
pub(crate) struct Registered<H: Handler> {
    handler: H,
    pool: Rc<Pool<H>>,
}

impl<H: Handler> Registered<H> {
    pub(crate) fn new(handler: H) -> Self {
        Self {
            handler,
            pool: Rc::new(RefCell::new(Vec::new())),
        }
    }
}

impl<H: Handler> ErasedHandler for Registered<H> {
    fn start(
        &self,
        frame: Frame,
        serialize_type: SerializeType,
        deadline: Option<Instant>,
        link: Rc<Link>,
    ) -> Box<dyn InFlight> {
        let recycled = self.pool.borrow_mut().pop();
        let mut slot = recycled.unwrap_or_else(|| Box::new(Slot::new(Rc::downgrade(&self.pool))));
        let request = Request::new(frame, serialize_type, deadline, link);
        slot.future.as_mut().set(Some(self.handler.call(request)));
        slot
    }
}

pub(crate) struct Slot<H: Handler> {
    state: CallState,
    future: Pin<Box<Option<H::Future>>>,
    output: Option<Result<Response<H::Reply>, HandlerError>>,
    pool: Weak<Pool<H>>,
}

impl<H: Handler> Slot<H> {
    fn new(pool: Weak<Pool<H>>) -> Self {
        Self {
            state: CallState::unset(),
            future: Box::pin(None),
            output: None,
            pool,
        }
    }
}

impl<H: Handler> InFlight for Slot<H> {
    fn state(&self) -> &CallState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut CallState {
        &mut self.state
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Self {
            state,
            future: slot,
            output: stored,
            ..
        } = self;
        let Some(future) = slot.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        let _entered = state.span.enter();
        let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => output,
            Err(panic) => Err(HandlerError::with_kind(
                HandlerErrorKind::Panic,
                format!("[service internal error]: {}", panic_text(panic.as_ref())),
            )),
        };
        drop_future(slot);
        *stored = Some(output);
        Poll::Ready(())
    }

    fn cancel(&mut self) {
        drop_future(&mut self.future);
    }

    fn outcome<'a>(&'a mut self, scratch: &'a mut BytesMut) -> (Outcome<'a>, &'a CallState) {
        let serialize_type = self.state.serialize_type;
        scratch.clear();
        if let Some(Ok(response)) = &self.output {
            if as_bytes(response.payload()).is_none() {
                if let Err(error) = response.payload().encode_as(serialize_type, scratch) {
                    self.output = Some(Err(error.into()));
                }
            }
        }
        let outcome = match &self.output {
            Some(Ok(response)) => {
                let metadata = response.metadata();
                let payload = as_bytes(response.payload()).map_or(&scratch[..], |b| &b[..]);
                match response.error() {
                    None => Outcome::Ok { metadata, payload },
                    Some(error) => Outcome::Err {
                        message: error.message(),
                        metadata,
                        payload,
                    },
                }
            }
            Some(Err(error)) => Outcome::Err {
                message: error.message(),
                metadata: &[],
                payload: &[],
            },
            None => Outcome::Err {
                message: "rpcx: handler produced no reply",
                metadata: &[],
                payload: &[],
            },
        };
        (outcome, &self.state)
    }

    fn take_shared_payload(&mut self, min_bytes: usize) -> Option<Bytes> {
        let Some(Ok(response)) = &mut self.output else {
            return None;
        };
        if response.error().is_some() {
            return None;
        }
        let payload = (response.payload_mut() as &mut dyn Any).downcast_mut::<Bytes>()?;
        (payload.len() >= min_bytes).then(|| std::mem::take(payload))
    }

    fn recycle(mut self: Box<Self>) {
        // A finished handler's future is gone already (`poll` dropped it).
        if self.future.is_some() {
            self.cancel();
        }
        self.output = None;
        self.state.clear();
        if let Some(pool) = self.pool.upgrade() {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_MAX {
                pool.push(self);
            }
        }
    }
}

/// Drops a handler's future. Dropping a future runs user code; a panic there must not take
/// the shard down.
fn drop_future<F>(future: &mut Pin<Box<Option<F>>>) {
    let _ = catch_unwind(AssertUnwindSafe(|| future.as_mut().set(None)));
}

/// Raw `Bytes` replies are sent as they are; every other payload type is encoded.
fn as_bytes<T: EncodePayload + 'static>(payload: &T) -> Option<&Bytes> {
    (payload as &dyn Any).downcast_ref::<Bytes>()
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}
