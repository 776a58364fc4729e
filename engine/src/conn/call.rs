//! A dispatched request ([`Call`]), its deadline (`__ServerTimeout`) and its result
//! ([`Completion`]).

use std::future::Future;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::rc::Rc;

use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{Frame, Header, Reply, SERVER_TIMEOUT_KEY};

use crate::inflight::InFlight;
use crate::plugin::Watch;
use crate::runtime::timers::Sleep;
use crate::services::Route;

/// What a call's reply is derived from (PROTOCOL.md §4.5: the request's header, path and
/// method).
pub(super) enum ReplyTo {
    /// The request's header and the route it was found by, whose names equal the request's
    /// byte for byte: the request frame itself went to the handler.
    Routed(Header, Rc<Route>),
    /// The request frame (kept when plugins watch the request or chose its route), boxed
    /// so the call's state stays small.
    Frame(Box<Frame>),
    /// A slot waiting in its handler's pool: no call.
    Unset,
}

/// The header [`ReplyTo::Unset`] answers with (never encoded: an unset slot is no call).
const UNSET_HEADER: Header = Header::request(0, SerializeType::None);

impl ReplyTo {
    pub(super) fn header(&self) -> &Header {
        match self {
            Self::Routed(header, _) => header,
            Self::Frame(frame) => frame.header(),
            Self::Unset => &UNSET_HEADER,
        }
    }

    pub(super) fn reply(&self) -> Reply<'_> {
        match self {
            Self::Routed(header, route) => Reply {
                request: header,
                service_path: &route.service_path,
                service_method: &route.service_method,
            },
            Self::Frame(frame) => Reply::to(frame),
            Self::Unset => Reply {
                request: &UNSET_HEADER,
                service_path: "",
                service_method: "",
            },
        }
    }
}

/// What the connection keeps about a started call: it lives in the handler's pooled slot,
/// next to the handler's future, written in place when the call starts and cleared when the
/// slot goes back to its pool. A [`Call`] is then two words (the slot's pointer and vtable)
/// and moves in registers between the core and the driver, instead of a struct copied
/// through the stack at every step (decoded, routed, started, polled, completed).
pub(crate) struct CallState {
    pub(super) reply_to: ReplyTo,
    pub(crate) serialize_type: SerializeType,
    pub(super) deadline: Option<Instant>,
    pub(crate) span: tracing::Span,
    /// Request bytes the call holds (frame and inflated payload) against the budgets.
    pub(super) held_bytes: usize,
    /// Holds the handler back until a plugin's time (a rate limit that waits).
    pub(super) delay: Option<Box<Sleep>>,
    /// The plugins that saw the request start, if any: they hear how it ended.
    pub(super) watch: Option<Box<Watch>>,
    /// The deadline passed before the handler finished (set by [`Call::expire`]).
    pub(super) expired: bool,
}

impl CallState {
    /// The state of a slot that holds no call.
    pub(crate) fn unset() -> Self {
        Self {
            reply_to: ReplyTo::Unset,
            serialize_type: SerializeType::None,
            deadline: None,
            span: tracing::Span::none(),
            held_bytes: 0,
            delay: None,
            watch: None,
            expired: false,
        }
    }

    /// Drops what the finished call held (its route, span, plugins' state): the slot goes
    /// back to its pool.
    pub(crate) fn clear(&mut self) {
        self.reply_to = ReplyTo::Unset;
        self.span = tracing::Span::none();
        self.delay = None;
        self.watch = None;
        self.deadline = None;
        self.held_bytes = 0;
        self.expired = false;
    }
}

/// A request whose handler has started. The driver polls it (once inline, then wherever it
/// likes), enforces its deadline, and turns it into a [`Completion`].
pub struct Call {
    /// The handler's slot, with the call's state in it ([`CallState`]).
    pub(super) slot: Box<dyn InFlight>,
}

impl Call {
    /// When the handler must be finished (`__ServerTimeout`), if the client set one.
    pub fn deadline(&self) -> Option<Instant> {
        self.slot.state().deadline
    }

    pub fn seq(&self) -> u64 {
        self.slot.state().reply_to.header().seq()
    }

    /// Polls the handler inside the request's span.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let state = self.slot.state_mut();
        if let Some(delay) = &mut state.delay {
            std::task::ready!(std::pin::Pin::new(&mut **delay).poll(cx));
            state.delay = None;
        }
        self.slot.poll(cx)
    }

    /// The handler finished (`poll` returned `Ready`).
    pub fn finish(self) -> Completion {
        Completion { call: self }
    }

    /// The deadline passed first: the handler is dropped and the client gets an error.
    pub fn expire(mut self) -> Completion {
        self.slot.cancel();
        let state = self.slot.state_mut();
        state.expired = true;
        tracing::debug!(parent: &state.span, "deadline exceeded; handler dropped");
        Completion { call: self }
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.slot.state();
        let reply = state.reply_to.reply();
        f.debug_struct("Call")
            .field("seq", &self.seq())
            .field("service_path", &reply.service_path)
            .field("service_method", &reply.service_method)
            .field("deadline", &state.deadline)
            .finish()
    }
}

/// A finished (or expired) call, ready to be encoded as a reply.
pub struct Completion {
    pub(super) call: Call,
}

impl Completion {
    pub fn seq(&self) -> u64 {
        self.call.seq()
    }

    pub fn is_expired(&self) -> bool {
        self.call.slot.state().expired
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("call", &self.call)
            .field("expired", &self.is_expired())
            .finish()
    }
}

pub(super) enum Timeout {
    None,
    At(Instant),
    Expired,
}

/// `__ServerTimeout` (PROTOCOL.md §4.6): milliseconds from `now()`, base-10 i64; values
/// that do not parse are ignored, as rpcx-go ignores them.
pub(super) fn server_timeout(frame: &Frame, now: &impl Fn() -> Instant) -> Timeout {
    let Some(ms) = frame
        .metadata()
        .get(SERVER_TIMEOUT_KEY)
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return Timeout::None;
    };
    let Ok(ms) = u64::try_from(ms) else {
        return Timeout::Expired;
    };
    if ms == 0 {
        return Timeout::Expired;
    }
    now()
        .checked_add(Duration::from_millis(ms))
        .map_or(Timeout::None, Timeout::At)
}
