//! Per-client and per-call settings. Defaults follow rpcx-go's `client.DefaultOption`
//! (PROTOCOL.md §6.8) where it has one.

use std::time::{Duration, Instant};

use ringrpc_codec::{Limits, SerializeType};

use crate::message::Request;

/// Settings of one client connection.
#[derive(Debug, Clone)]
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
    /// Bounds on what the server may send.
    pub limits: Limits,
    /// Server pushes kept until read; further pushes are dropped (and counted), as rpcx-go
    /// drops them when its channel is full. Unused when a push handler is set.
    pub push_queue_max: usize,
    /// Most calls waiting for their reply at once; further calls wait for one to finish
    /// before they are sent, and that wait counts against their deadline. Bounds what a
    /// server that stops answering (or reading) costs the client. None (no limit), as
    /// rpcx-go.
    pub max_in_flight: Option<usize>,
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
        }
    }
}

impl ClientOptions {
    /// When a call sent at `now` gives up: its own deadline, else now + the default timeout.
    pub(crate) fn deadline_of(&self, request: &Request<'_>, now: Instant) -> Option<Instant> {
        request.deadline.or_else(|| self.timeout.map(|t| now + t))
    }
}

/// Settings of one call; anything left unset comes from [`ClientOptions`].
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Serialize type of this call's payload.
    pub serialize_type: Option<SerializeType>,
    /// How long to wait for the reply; sent to the server as `__ServerTimeout`.
    pub timeout: Option<Duration>,
    /// An absolute deadline (wins over `timeout`): lets retries share one budget.
    pub deadline: Option<Instant>,
    /// Request metadata.
    pub metadata: Vec<(String, String)>,
    /// Gzip this call's payload if it is over 1 KiB.
    pub compress: Option<bool>,
}

impl CallOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = Some(serialize_type);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    pub fn compress(mut self, on: bool) -> Self {
        self.compress = Some(on);
        self
    }

    /// The deadline of a call made at `now`: `deadline`, else `now + timeout`.
    pub fn deadline_at(&self, now: Instant) -> Option<Instant> {
        self.deadline.or_else(|| self.timeout.map(|t| now + t))
    }
}
