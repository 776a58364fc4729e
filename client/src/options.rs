//! Per-client and per-call settings. Defaults follow rpcx-go's `client.DefaultOption`
//! (PROTOCOL.md §6.8) where it has one.

use std::time::{Duration, Instant};

use ringrpc_codec::{Limits, SerializeType};

use crate::message::Request;
use crate::plugin::{ClientPlugin, Plugins};
use crate::tls::TlsOptions;

/// Settings of one client connection. Built with [`ClientOptions::new`] and its setters
/// (`ClientOptions::new().timeout(..).max_in_flight(..)`), or by changing the fields of
/// the default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Serialize type of calls that do not choose one. MsgPack, as rpcx-go.
    pub serialize_type: SerializeType,
    /// Gzip request payloads over 1 KiB (rpcx's rule). Off, as rpcx-go.
    pub compress: bool,
    /// Sent as `__AUTH` on every call (rpcx-go's `XClient.Auth`).
    pub auth: Option<String>,
    /// Longest wait for the connection to open. 1 s, as rpcx-go.
    pub connect_timeout: Duration,
    /// TCP_NODELAY: on, so a lone request is not held back by Nagle.
    pub nodelay: bool,
    /// Deadline of calls that set none. None: wait until the reply or the connection ends.
    pub timeout: Option<Duration>,
    /// Send a heartbeat this often. None (off), as rpcx-go.
    pub heartbeat_interval: Option<Duration>,
    /// Fail the connection when this many heartbeats in a row got no reply by the time the
    /// next one was due (so failure is noticed within `interval * heartbeat_misses_max`).
    pub heartbeat_misses_max: u32,
    /// Bounds on what the server may send (frame and decompressed payload sizes).
    pub limits: Limits,
    /// Server pushes kept until read; further pushes are dropped (and counted), as rpcx-go
    /// drops them when its channel is full. Unused when a push handler is set.
    pub push_queue_max: usize,
    /// Most calls waiting for their reply at once; further calls wait for one to finish
    /// before they are sent, and that wait counts against their deadline. Bounds what a
    /// server that stops answering (or reading) costs the client. None (no limit), as
    /// rpcx-go.
    pub max_in_flight: Option<usize>,
    /// TLS on the connection (rpcx-go's `Option.TLSConfig`). None: plain TCP, as rpcx-go.
    pub tls: Option<TlsOptions>,
    /// Hooks run around every call and connection (and, on an XClient over
    /// `ClientTransport`, around node selection); none by default.
    pub plugins: Plugins,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            serialize_type: SerializeType::MsgPack,
            compress: false,
            auth: None,
            connect_timeout: Duration::from_secs(1),
            nodelay: true,
            timeout: None,
            heartbeat_interval: None,
            heartbeat_misses_max: 3,
            limits: Limits::default(),
            push_queue_max: 1024,
            max_in_flight: None,
            tls: None,
            plugins: Plugins::new(),
        }
    }
}

impl ClientOptions {
    /// The defaults (rpcx-go's where it has one).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`serialize_type`](Self::serialize_type).
    pub fn serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = serialize_type;
        self
    }

    /// Sets [`tls`](Self::tls): every connection opens with a TLS handshake.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`compress`](Self::compress).
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// Sends `token` as `__AUTH` on every call.
    pub fn auth(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(token.into());
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`nodelay`](Self::nodelay).
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// Sets the deadline of calls that set none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends a heartbeat every `interval`.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = Some(interval);
        self
    }

    /// Sets [`heartbeat_misses_max`](Self::heartbeat_misses_max).
    pub fn heartbeat_misses_max(mut self, misses: u32) -> Self {
        self.heartbeat_misses_max = misses;
        self
    }

    /// Sets [`limits`](Self::limits).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`push_queue_max`](Self::push_queue_max).
    pub fn push_queue_max(mut self, pushes: usize) -> Self {
        self.push_queue_max = pushes;
        self
    }

    /// Caps the calls waiting for their reply at once (see the field).
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        self.max_in_flight = Some(calls);
        self
    }

    /// Registers `plugin` after the ones already registered.
    pub fn plugin(mut self, plugin: impl ClientPlugin) -> Self {
        self.plugins = self.plugins.with(plugin);
        self
    }

    /// Sets [`plugins`](Self::plugins).
    pub fn plugins(mut self, plugins: Plugins) -> Self {
        self.plugins = plugins;
        self
    }

    /// When a call sent at `now` gives up: its own deadline, else now + the default timeout.
    pub(crate) fn deadline_of(&self, request: &Request<'_>, now: Instant) -> Option<Instant> {
        request.deadline.or_else(|| self.timeout.map(|t| now + t))
    }
}

/// Settings of one call; anything left unset comes from [`ClientOptions`] (or, for the
/// serialize type, from the argument's preference first). Built with
/// `CallOptions::new().timeout(..)`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Serialize type of this call's payload; wins over the argument's preference and the
    /// client's default.
    pub serialize_type: Option<SerializeType>,
    /// How long to wait for the reply; sent to the server as `__ServerTimeout`.
    pub timeout: Option<Duration>,
    /// An absolute deadline (wins over `timeout`): lets retries share one budget.
    pub deadline: Option<Instant>,
    /// Request metadata, in order.
    pub metadata: Vec<(String, String)>,
    /// Gzip this call's payload if it is over 1 KiB.
    pub compress: Option<bool>,
}

impl CallOptions {
    /// No per-call settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`serialize_type`](Self::serialize_type).
    pub fn serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = Some(serialize_type);
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`deadline`](Self::deadline).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Adds one metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Sets [`compress`](Self::compress).
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = Some(on);
        self
    }

    /// The deadline of a call made at `now`: `deadline`, else `now + timeout`.
    pub fn deadline_at(&self, now: Instant) -> Option<Instant> {
        self.deadline.or_else(|| self.timeout.map(|t| now + t))
    }
}
