//! ringrpc's server engine: serves the rpcx wire protocol from one shard per core, each on a
//! glommio executor or on its own io_uring loop (`Driver`).
//!
//! What it owns: shards (one executor per core, each with its own SO_REUSEPORT listener and
//! its connections for life), the connection state machine, dispatch to handlers, limits and
//! graceful shutdown. What it never does: parse or build frames by hand (the codec does that),
//! share mutable state between shards on the request path, or let bytes from a peer panic it.
//!
//! Read in this order:
//! 1. [`Server`] and [`ServerConfig`]: starting shards, limits and their defaults.
//! 2. [`Services`], [`Request`], [`Response`]: how a handler is written and registered
//!    (`engine/examples/service.rs` is a whole program).
//! 3. `conn::Connection`: the sans-IO connection core (bytes in, calls and bytes out), with
//!    its states drawn in its doc comment. Any I/O driver can feed it.
//! 4. `runtime/`: the shard runtime both drivers share (plan, setup, policy: admission,
//!    back-off, idle sweep, drain and abort, linger; the timer queue), then `driver/`: the
//!    io_uring driver and the glommio driver, which only perform I/O.
//!
//! Module map:
//! - `config.rs`: [`ServerConfig`], every limit and default, set with chained setters.
//! - `error.rs`: [`StartError`], [`HandlerError`] and its [`HandlerErrorKind`],
//!   [`PushError`], why connections close ([`CloseCause`]).
//! - `handler.rs`: the [`Handler`] trait, [`Request`], [`Response`].
//! - `services.rs`: [`Services`], the per-shard table of handlers (one service at a time,
//!   [`Services::service`]) and the auth hook.
//! - `inflight.rs`: type-erased, pooled handler futures (no allocation per request).
//! - `conn/`: the sans-IO `Connection` and the `Link` handlers use to reach it. Public only
//!   for the engine's own benches and tests, hidden from these docs: not a stable API.
//! - `plugin/`: server plugins ([`plugin::Plugin`]: hooks at accept, close, before and
//!   after handling, before writing) and the built-ins (metrics, tracing, rate limits, IP
//!   filter, alias); the lifecycle order is in its module docs.
//! - `admin/`: the admin HTTP endpoint (`/metrics`, `/status`, the status page), off the
//!   shards (feature `admin`).
//! - `push.rs`: [`Pusher`], server-initiated messages (PROTOCOL.md §4.14).
//! - `http/`: the HTTP side of the rpcx port (PROTOCOL.md §7.2–§9): the gateway, JSON-RPC
//!   2.0, CORS, [`HttpRoute`]s, configured by [`HttpConfig`].
//! - `run_call.rs`: a handler call run to its end or its deadline, on either driver.
//! - `runtime/`: the driver-neutral shard runtime: shard plan and setup, control commands,
//!   listeners, the sans-IO shard policy, the timer queue, [`spawn`].
//! - `driver/`: [`Driver`], `driver/uring/` (one ring and one loop per shard) and
//!   `driver/glommio/` (one glommio executor per shard).
//! - `time.rs`: [`sleep`], a handler timer that works on either driver.
//! - `tls/`: [`TlsConfig`] and TLS on either driver, sans IO: `Transport` is the
//!   connection as drivers hold it (the core, behind rustls when the server has TLS).
//! - `registry/`: registration in etcd in rpcx-etcd's layout, on a control-plane thread.
//! - `server.rs`: [`Server`], the cross-thread handle (start, stats, shutdown).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(feature = "admin")]
mod admin;
mod config;
// Public only so the engine's benches (`benches/connection.rs`) and tests
// (`tests/engine/connection_core.rs`, the allocation tests) can drive the connection core
// without sockets; it is no part of the API and may change in any release.
#[doc(hidden)]
pub mod conn;
mod driver;
mod error;
mod handler;
mod http;
mod inflight;
pub mod plugin;
mod prefetch;
mod push;
pub mod registry;
mod run_call;
mod runtime;
mod server;
mod services;
mod time;
mod tls;

pub use config::ServerConfig;
pub use driver::{Driver, UringConfig};
pub use error::{CloseCause, HandlerError, HandlerErrorKind, PushError, StartError};
pub use handler::{Handler, Request, Response};
pub use http::{
    CorsOptions, HttpClose, HttpConfig, HttpReject, HttpRequest, HttpResponse, HttpRoute,
};
pub use push::Pusher;
pub use runtime::listen_addr::ListenAddr;
pub use runtime::spawn::spawn;
pub use runtime::FaultPolicy;
pub use server::{Server, ShardStats, ShutdownReport};
pub use services::{AuthFn, ServiceBuilder, Services};
pub use time::{sleep, Sleep};
/// Certificates made on the spot for TLS tests (feature `test-certs`). Not an API.
#[cfg(feature = "test-certs")]
#[doc(hidden)]
pub use tls::test_certs;
pub use tls::{TlsConfig, TlsError};

/// The codec, re-exported so handler authors name payload types from one place.
pub use ringrpc_codec as codec;
pub use ringrpc_codec::payload::{DecodePayload, EncodePayload, Payload, SerializeType};
pub use ringrpc_codec::{Limits, Metadata};
