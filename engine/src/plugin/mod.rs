//! Server plugins: code that watches or steers connections and requests at fixed points, as
//! rpcx-go's server plugins do (`server/plugin.go`).
//!
//! Plugins are registered per shard, next to the handlers, with
//! [`Services::plugin`](crate::Services::plugin): every shard builds its own instances, so a
//! plugin's state is shard-local (`Cell`, `RefCell`) and the request path takes no lock.
//! With no plugin registered each hook point costs one branch on an empty list: no clock
//! read, no allocation (`engine/tests/alloc_per_request.rs` counts 0 in the core).
//!
//! ## Lifecycle (the order hooks are called in; `tests` below asserts it)
//!
//! ```text
//! connection accepted ─▶ on_accept        (every plugin in registration order; the first
//!                                          Err refuses: the socket is closed at once)
//!   per request (heartbeats excluded), after the auth hook:
//!     ─▶ before_handle                     (in order; may rewrite the service path and
//!                                          method, set the request's span, delay it; the
//!                                          first Err refuses: an error reply with its text)
//!     ─▶ the handler runs
//!     ─▶ before_write (Reply)              (in order, with the encoded reply or HTTP
//!                                          answer; may add reply metadata; the first Err
//!                                          refuses: an error reply with its text instead)
//!     ─▶ after_handle                      (every plugin whose before_handle ran: status
//!                                          and duration)
//!   per push: before_write (Push)          (in order, with the encoded push; may add
//!                                          metadata; the first Err drops it: the pusher
//!                                          gets PushError::Refused)
//! connection closed ─▶ on_close            (every plugin whose on_accept ran)
//! ```
//!
//! Pairs always match: a plugin whose `on_accept` ran gets exactly one `on_close` for that
//! connection (with the refusal if one refused it), and a plugin whose `before_handle` ran
//! gets exactly one `after_handle` for that request, even if a later plugin refused it
//! ([`Status::Refused`]), the service was not found ([`Status::Error`]), the deadline passed
//! ([`Status::Expired`]) or the connection died first ([`Status::Dropped`]). So a plugin can
//! keep gauges (in-flight, open connections) with no leaks. A request whose reply a
//! `before_write` refused ends as [`Status::Refused`]. The engine's own
//! `max_conns_per_shard` limit is checked after every `on_accept` passed; a connection it
//! refuses reaches `on_close` with the refusal `max_conns`.
//!
//! ## Writing one
//!
//! ```
//! use std::cell::Cell;
//! use ringrpc_engine::plugin::{Handled, Incoming, Plugin, Refusal};
//! use ringrpc_engine::Services;
//!
//! /// Refuses `Admin.*` to peers outside loopback and counts handled requests.
//! #[derive(Default)]
//! struct Guard {
//!     handled: Cell<u64>,
//! }
//!
//! impl Plugin for Guard {
//!     fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
//!         let local = request.peer().is_some_and(|peer| peer.ip().is_loopback());
//!         if request.service_path() == "Admin" && !local {
//!             return Err(Refusal::new("guard", "admin calls only from loopback"));
//!         }
//!         Ok(())
//!     }
//!
//!     fn after_handle(&self, _: &Handled<'_>) {
//!         self.handled.set(self.handled.get() + 1);
//!     }
//! }
//!
//! let mut services = Services::new();
//! services.plugin(Guard::default());
//! ```
//!
//! Built-in plugins: [`Metrics`] (Prometheus), [`Tracing`] (W3C trace context),
//! [`RateLimit`] (requests, token bucket), [`ConnRateLimit`], [`IpFilter`], [`Alias`].
//!
//! What this module never does: perform I/O or read the clock on its own (the chain's clock
//! is injectable, [`Plugins`]), or let a plugin see another shard's state.

mod alias;
mod chain;
mod ip_filter;
pub mod metrics;
#[cfg(feature = "otel")]
mod otel;
mod rate_limit;
mod trace;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringrpc_codec::{Frame, Metadata};

pub use alias::Alias;
pub use chain::Plugins;
pub(crate) use chain::Watch;
pub use ip_filter::IpFilter;
pub use metrics::{Metrics, MetricsRegistry};
pub use rate_limit::{ConnRateLimit, RateLimit, RATE_LIMIT_TEXT};
pub use trace::{TraceParent, Tracing, TRACEPARENT_KEY, TRACESTATE_KEY};

/// A server plugin. Every hook has a no-op default: implement the ones you need. See the
/// module docs for the order they are called in.
pub trait Plugin {
    /// A connection was accepted. `Err` refuses it: the socket is closed at once.
    fn on_accept(&self, conn: &ConnInfo) -> Result<(), Refusal> {
        let _ = conn;
        Ok(())
    }

    /// A connection this plugin's `on_accept` passed is gone; `refused` says which rule
    /// refused it, if one did (a later plugin or the engine's `max_conns`).
    fn on_close(&self, conn: &ConnInfo, refused: Option<&Refusal>) {
        let _ = (conn, refused);
    }

    /// A request passed the auth hook and is about to be looked up and handled. It may be
    /// rewritten ([`Incoming::rewrite`]), given a span ([`Incoming::set_span`]) or delayed
    /// ([`Incoming::delay_until`]); `Err` refuses it with an error reply carrying the text.
    fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
        let _ = request;
        Ok(())
    }

    /// A request this plugin's `before_handle` saw is finished: how, and how long it took
    /// from `before_handle` to its reply.
    fn after_handle(&self, handled: &Handled<'_>) {
        let _ = handled;
    }

    /// A reply or a push is encoded and about to be sent (rpcx-go's `PreWriteResponse`,
    /// which may change the response). It may add metadata to it
    /// ([`Outgoing::set_metadata`]): the frame is encoded again with it. `Err` refuses it: a
    /// reply is replaced by an error reply carrying the refusal's text (its request ends as
    /// [`Status::Refused`]), a push is not sent (the pusher gets
    /// [`crate::PushError::Refused`]). Plugins after a refusing one are not called.
    ///
    /// Every plugin sees the frame as first encoded (`bytes`); metadata added by earlier
    /// plugins is in [`Outgoing::added_metadata`].
    fn before_write(&self, outgoing: &mut Outgoing<'_>) -> Result<(), Refusal> {
        let _ = outgoing;
        Ok(())
    }
}

/// The connection a hook is about.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The shard serving it.
    pub shard: usize,
    /// The peer's address, if known.
    pub peer: Option<SocketAddr>,
    /// The chain's clock when the hook was called.
    pub now: Instant,
}

/// Why a plugin refused a connection or a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    limit: &'static str,
    text: Cow<'static, str>,
}

impl Refusal {
    /// A refusal by the rule `limit` (a metrics label: `rate_limit`, `ip_filter`, ...);
    /// `text` is the error a refused request's client receives.
    pub fn new(limit: &'static str, text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            limit,
            text: text.into(),
        }
    }

    /// The rule that refused.
    pub fn limit(&self) -> &'static str {
        self.limit
    }

    /// The error text sent to the client of a refused request.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A request as `before_handle` sees it.
#[derive(Debug)]
pub struct Incoming<'a> {
    frame: &'a Frame,
    service_path: &'a str,
    service_method: &'a str,
    peer: Option<SocketAddr>,
    shard: usize,
    now: Instant,
    pub(crate) span: Option<tracing::Span>,
    pub(crate) delay_until: Option<Instant>,
}

impl<'a> Incoming<'a> {
    pub(crate) fn new(
        frame: &'a Frame,
        peer: Option<SocketAddr>,
        shard: usize,
        now: Instant,
    ) -> Self {
        Self {
            frame,
            service_path: frame.service_path(),
            service_method: frame.service_method(),
            peer,
            shard,
            now,
            span: None,
            delay_until: None,
        }
    }

    /// The request frame as received: a gzip payload is still compressed (it is inflated
    /// after the plugins, only for a request that will run).
    pub fn frame(&self) -> &Frame {
        self.frame
    }

    /// The service path the handler is looked up by (rewritten by an earlier plugin, or as
    /// received).
    pub fn service_path(&self) -> &'a str {
        self.service_path
    }

    /// The service method the handler is looked up by.
    pub fn service_method(&self) -> &'a str {
        self.service_method
    }

    /// The request's metadata.
    pub fn metadata(&self) -> Metadata<'a> {
        self.frame.metadata()
    }

    /// The client's address, if known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The shard serving the request.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// The chain's clock when `before_handle` started.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Looks the handler up under another name (rpcx-go's alias plugin). The handler's
    /// [`crate::Request`] still shows the frame as received.
    pub fn rewrite(&mut self, service_path: &'a str, service_method: &'a str) {
        self.service_path = service_path;
        self.service_method = service_method;
    }

    /// The span the request's handler runs in (instead of the engine's `req` span).
    pub fn set_span(&mut self, span: tracing::Span) {
        self.span = Some(span);
    }

    /// Holds the handler back until `at` (a rate limit that waits). The request counts as
    /// in flight meanwhile, and its `__ServerTimeout` still applies.
    pub fn delay_until(&mut self, at: Instant) {
        self.delay_until = Some(self.delay_until.map_or(at, |earlier| earlier.max(at)));
    }
}

/// How a request ended, as `after_handle` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The handler succeeded (a oneway request whose handler finished counts here).
    Ok,
    /// An error reply: the handler's error, or an unknown service, method or codec.
    Error,
    /// `__ServerTimeout` passed before the handler finished.
    Expired,
    /// A plugin's `before_handle` refused it, naming its rule.
    Refused(&'static str),
    /// The connection closed before the reply could be written.
    Dropped,
}

impl Status {
    /// A short label: `ok`, `error`, `expired`, `refused`, `dropped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Expired => "expired",
            Status::Refused(_) => "refused",
            Status::Dropped => "dropped",
        }
    }
}

/// A finished request, as `after_handle` sees it (path and method as received).
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled<'a> {
    /// The request frame as received.
    pub frame: &'a Frame,
    /// How it ended.
    pub status: Status,
    /// From `before_handle` to the reply (zero for a refused request).
    pub duration: Duration,
    /// The shard that served it.
    pub shard: usize,
}

/// What is about to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutgoingKind {
    /// The reply to a request.
    Reply,
    /// A server push (PROTOCOL.md §4.14).
    Push,
}

/// An encoded reply or push, as `before_write` sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outgoing<'a> {
    /// Reply or push.
    pub kind: OutgoingKind,
    /// The frame's seq (of the request it answers, for a reply).
    pub seq: u64,
    /// The encoded frame, header included; for a reply over HTTP (`http`), the whole HTTP
    /// answer.
    pub bytes: &'a [u8],
    /// A reply to an HTTP gateway or JSON-RPC request: `bytes` are HTTP, and added
    /// metadata goes into the gateway's `X-RPCX-Meta` header (JSON-RPC has no place for it).
    pub http: bool,
    /// The shard sending it.
    pub shard: usize,
    pub(crate) added: Vec<(String, String)>,
}

impl<'a> Outgoing<'a> {
    pub(crate) fn new(
        kind: OutgoingKind,
        seq: u64,
        bytes: &'a [u8],
        http: bool,
        shard: usize,
    ) -> Self {
        Self {
            kind,
            seq,
            bytes,
            http,
            shard,
            added: Vec::new(),
        }
    }

    /// Sets metadata `key` of the frame to `value` (replacing a pair of the same key, the
    /// handler's or an earlier plugin's). The frame is encoded again before it is sent:
    /// this costs an encode, only for frames a plugin changes.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.added.iter_mut().find(|(known, _)| *known == key) {
            Some((_, old)) => *old = value,
            None => self.added.push((key, value)),
        }
    }

    /// Metadata added by the plugins so far, in order.
    pub fn added_metadata(&self) -> &[(String, String)] {
        &self.added
    }
}

/// What the `before_write` hooks decided about one frame.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Send it as encoded.
    Send,
    /// Encode it again with these metadata pairs added (replacing same-key pairs).
    Edit(Vec<(String, String)>),
    /// Refused: a reply becomes an error reply with the refusal's text, a push is dropped.
    Refuse(Refusal),
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;
