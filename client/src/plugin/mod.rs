//! Client plugins: code that runs at fixed points of a client's life, as rpcx-go's client
//! plugins do (`PreCall`, `PostCall`, `ConnCreated`, `ConnCreateFailed`,
//! `ClientConnectionClose`, `SelectNode`), written once for both runtimes and the XClient.
//!
//! What it owns: the [`ClientPlugin`] trait (one method per hook, each with a no-op
//! default), the ordered set [`Plugins`] that `ClientOptions::plugin` fills, and what each
//! hook sees ([`OutgoingCall`], [`CallOutcome`], [`Candidates`]). The built-in [`Tracing`]
//! plugin lives in `tracing.rs`, the W3C trace context it writes in [`trace_context`].
//! What it never does: I/O, or any work at all when no plugin is registered: the client
//! then checks one empty list per call and allocates nothing for plugins.
//!
//! Lifecycle, in the order the hooks run (plugins run in registration order at every
//! hook, as rpcx-go's):
//! 1. [`ClientPlugin::before_select`], [`ClientPlugin::after_select`]: XClient only, once
//!    per attempt; may exclude candidates, or override the pick.
//! 2. [`ClientPlugin::conn_failed`] when dialling fails, else
//!    [`ClientPlugin::conn_opened`] (may refuse: the connection is dropped).
//! 3. [`ClientPlugin::call_span`] (the first plugin that returns a span wins; the hooks
//!    below and the call run inside it), then [`ClientPlugin::before_call`]: may refuse,
//!    rewrite the service path or method, or set metadata.
//! 4. [`ClientPlugin::after_call`]: status, duration, reply or error (also for a refused
//!    call and for oneway requests, which end when queued).
//! 5. [`ClientPlugin::conn_closed`] once, when the connection's writer has stopped.
//!
//! Plugins are `Send + Sync` on both runtimes, so one set serves a tokio client, a
//! glommio client and an XClient alike.
//!
//! ```no_run
//! use ringrpc_client::plugin::{CallOutcome, ClientPlugin, OutgoingCall, Refusal, Tracing};
//! use ringrpc_client::tokio::Client;
//! use ringrpc_client::{ClientOptions, Serde};
//!
//! /// Tags every call with a tenant and logs how it went.
//! struct Tenant(&'static str);
//!
//! impl ClientPlugin for Tenant {
//!     fn before_call(&self, call: &mut OutgoingCall<'_>) -> Result<(), Refusal> {
//!         call.set_metadata("tenant", self.0);
//!         Ok(())
//!     }
//!
//!     fn after_call(&self, call: &OutgoingCall<'_>, outcome: &CallOutcome<'_>) {
//!         let micros = outcome.duration().as_micros();
//!         tracing::debug!(method = call.service_method(), status = ?outcome.status(), micros, "call");
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), ringrpc_client::Error> {
//!     // Tracing first: the tenant's hooks then run inside the call's span.
//!     let options = ClientOptions::new().plugin(Tracing).plugin(Tenant("blue"));
//!     let client = Client::connect_with("tcp@127.0.0.1:8972", options).await?;
//!     let Serde(product): Serde<i64> = client.call("Arith", "Mul", &Serde([6, 7])).await?;
//!     println!("{product}");
//!     Ok(())
//! }
//! ```

mod call;
mod otel;
mod select;
pub mod trace_context;
mod tracing;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Disconnect, Error};
use crate::message::{Reply, Request};
use crate::ServerAddr;
pub use select::Candidates;
pub use tracing::Tracing;

/// A client plugin. Every hook has a no-op default; implement the ones you need.
pub trait ClientPlugin: Send + Sync + 'static {
    /// The plugin's name, for `Debug` output and logs.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Before the select mode picks a server for an XClient attempt: may exclude
    /// candidates ([`Candidates::exclude`]). Excluding every one fails the attempt with
    /// "no server".
    fn before_select(&self, _candidates: &mut Candidates<'_>) {}

    /// After the select mode picked `picked` (an index of the candidates): may set it to
    /// another allowed candidate. An override that names an excluded or unknown index is
    /// ignored (and logged): the select mode's pick stands.
    fn after_select(&self, _candidates: &Candidates<'_>, _picked: &mut usize) {}

    /// A connection to `server` is open. An `Err` drops it: connecting fails with
    /// [`Error::Refused`].
    fn conn_opened(&self, _server: &ServerAddr) -> Result<(), Refusal> {
        Ok(())
    }

    /// Dialling `server` failed with `error` (refused, timed out, bad address).
    fn conn_failed(&self, _server: &str, _error: &Error) {}

    /// The connection to `server` has stopped, for `reason`; its calls are over.
    fn conn_closed(&self, _server: &ServerAddr, _reason: &Disconnect) {}

    /// A `tracing` span to run this call in (see [`Tracing`]).
    fn call_span(&self, _call: &OutgoingCall<'_>) -> Option<::tracing::Span> {
        None
    }

    /// Before the call is sent: may refuse it (it fails with [`Error::Refused`], not
    /// retried), rewrite it, or set metadata.
    fn before_call(&self, _call: &mut OutgoingCall<'_>) -> Result<(), Refusal> {
        Ok(())
    }

    /// After the call: what it was sent as, and how it ended.
    fn after_call(&self, _call: &OutgoingCall<'_>, _outcome: &CallOutcome<'_>) {}
}

/// Why a plugin refused a call or a connection; the error says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    /// A refusal with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The plugins of a client, in registration order. Cheap to clone (one `Arc` per plugin).
#[derive(Clone, Default)]
pub struct Plugins {
    list: Vec<Arc<dyn ClientPlugin>>,
}

impl Plugins {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `plugin` after the ones already registered.
    pub fn with(mut self, plugin: impl ClientPlugin) -> Self {
        self.list.push(Arc::new(plugin));
        self
    }

    /// Adds a plugin that is shared with other code (e.g. one that counts).
    pub fn with_shared(mut self, plugin: Arc<dyn ClientPlugin>) -> Self {
        self.list.push(plugin);
        self
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The plugins in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn ClientPlugin> {
        self.list.iter().map(|p| &**p)
    }

    /// Runs `conn_opened` of every plugin; the first refusal wins.
    pub(crate) fn conn_opened(&self, server: &ServerAddr) -> Result<(), Error> {
        self.iter()
            .try_for_each(|p| p.conn_opened(server))
            .map_err(Error::refused)
    }

    /// Runs `conn_failed` of every plugin.
    pub(crate) fn conn_failed(&self, server: &str, error: &Error) {
        self.iter().for_each(|p| p.conn_failed(server, error));
    }

    /// Runs `conn_closed` of every plugin.
    pub(crate) fn conn_closed(&self, server: &ServerAddr, reason: &Disconnect) {
        self.iter().for_each(|p| p.conn_closed(server, reason));
    }
}

impl fmt::Debug for Plugins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|p| p.name()))
            .finish()
    }
}

/// A call as `before_call` may change it and `after_call` sees it.
#[derive(Debug)]
pub struct OutgoingCall<'a> {
    server: &'a ServerAddr,
    service_path: Cow<'a, str>,
    service_method: Cow<'a, str>,
    metadata: Vec<(String, String)>,
    oneway: bool,
}

impl<'a> OutgoingCall<'a> {
    pub(crate) fn new(server: &'a ServerAddr, request: &Request<'a>, oneway: bool) -> Self {
        Self {
            server,
            service_path: Cow::Borrowed(request.service_path),
            service_method: Cow::Borrowed(request.service_method),
            metadata: request.metadata.to_vec(),
            oneway,
        }
    }

    /// The request as it goes out: `request` with this call's path, method and metadata.
    pub(crate) fn request<'b>(&'b self, request: &Request<'b>) -> Request<'b> {
        Request {
            service_path: &self.service_path,
            service_method: &self.service_method,
            metadata: &self.metadata,
            ..*request
        }
    }

    /// The server the call goes to.
    pub fn server(&self) -> &ServerAddr {
        self.server
    }

    /// The service, e.g. `Arith`.
    pub fn service_path(&self) -> &str {
        &self.service_path
    }

    /// The method, e.g. `Mul`.
    pub fn service_method(&self) -> &str {
        &self.service_method
    }

    /// Sends the call to another service.
    pub fn set_service_path(&mut self, service_path: impl Into<String>) {
        self.service_path = Cow::Owned(service_path.into());
    }

    /// Sends the call to another method.
    pub fn set_service_method(&mut self, service_method: impl Into<String>) {
        self.service_method = Cow::Owned(service_method.into());
    }

    /// The request metadata, in order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The value of metadata `key`, if set.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets metadata `key` to `value`, replacing a value it had.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key, value)),
        }
    }

    /// Removes metadata `key`.
    pub fn remove_metadata(&mut self, key: &str) {
        self.metadata.retain(|(k, _)| k != key);
    }

    /// Whether this is a oneway request (no reply expected).
    pub fn is_oneway(&self) -> bool {
        self.oneway
    }
}

/// How a call ended, in rpcx's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallStatus {
    /// The server answered without an error (or a oneway request was queued).
    Ok,
    /// The server answered with an error (`__rpcx_error__`), or its reply could not be
    /// decoded.
    ServiceError,
    /// No answer: refused by a plugin, connection lost, timed out, cannot be encoded.
    Failed,
}

/// What `after_call` sees of a finished call.
#[derive(Debug, Clone, Copy)]
pub struct CallOutcome<'a> {
    result: Result<Option<&'a Reply>, &'a Error>,
    duration: Duration,
}

impl<'a> CallOutcome<'a> {
    pub(crate) fn new(result: Result<Option<&'a Reply>, &'a Error>, duration: Duration) -> Self {
        Self { result, duration }
    }

    /// How the call ended.
    pub fn status(&self) -> CallStatus {
        match self.result {
            Ok(_) => CallStatus::Ok,
            Err(Error::Service { .. } | Error::Decode(_)) => CallStatus::ServiceError,
            Err(_) => CallStatus::Failed,
        }
    }

    /// The reply (`None` for oneway requests and failures).
    pub fn reply(&self) -> Option<&'a Reply> {
        self.result.ok().flatten()
    }

    /// The error, if the call failed.
    pub fn error(&self) -> Option<&'a Error> {
        self.result.err()
    }

    /// From the start of the call (before `before_call`) to its end, on the runtime's
    /// clock.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}
