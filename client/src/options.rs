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
    /// Bytes the unread pushes may hold (each counted as its frame plus its inflated
    /// payload, in its own allocation); a push that does not fit is dropped (and counted),
    /// a gzip'ed one before it is inflated. Unused when a push handler is set. 4 MiB.
    pub push_queue_max_bytes: usize,
    /// Bytes of requests written into the send buffer and not yet taken by the socket
    /// (queued plus the write in flight). At the bound a call waits for the server to read
    /// (within its deadline: `Error::Timeout` once it passes, unsent), and a oneway request
    /// fails at once with the retryable `Error::SendBufferFull`. A request larger than the
    /// bound fails with `Error::RequestTooLarge`. A call without a deadline waits as long
    /// as the connection stays open. Heartbeats are not counted. 16 MiB, the largest frame
    /// a ringrpc server accepts by default.
    pub send_buffer_max_bytes: usize,
    /// Longest `close` (or dropping the last clone) spends writing what is still queued to
    /// a server that does not read; then the socket is dropped with it. 1 s. A duration too
    /// large to add to the clock (`Duration::MAX`) means no bound.
    pub close_timeout: Duration,
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
            push_queue_max_bytes: 4 << 20,
            send_buffer_max_bytes: 16 << 20,
            close_timeout: Duration::from_secs(1),
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

    /// Sets [`push_queue_max_bytes`](Self::push_queue_max_bytes).
    pub fn push_queue_max_bytes(mut self, bytes: usize) -> Self {
        self.push_queue_max_bytes = bytes;
        self
    }

    /// Sets [`send_buffer_max_bytes`](Self::send_buffer_max_bytes).
    pub fn send_buffer_max_bytes(mut self, bytes: usize) -> Self {
        self.send_buffer_max_bytes = bytes;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
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

    /// When a call sent at `now` gives up: its own deadline, else now + the default timeout
    /// (none if that is beyond the clock's range, as for `Duration::MAX`).
    pub(crate) fn deadline_of(&self, request: &Request<'_>, now: Instant) -> Option<Instant> {
        request
            .deadline
            .or_else(|| self.timeout.and_then(|t| now.checked_add(t)))
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

    /// The deadline of a call made at `now`: `deadline`, else `now + timeout` (none if that
    /// is beyond the clock's range, as for `Duration::MAX`).
    pub fn deadline_at(&self, now: Instant) -> Option<Instant> {
        self.deadline
            .or_else(|| self.timeout.and_then(|t| now.checked_add(t)))
    }
}
