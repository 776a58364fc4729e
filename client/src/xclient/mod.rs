//! The XClient: calls to a *service* rather than to a server. It follows discovery, keeps one
//! connection per server, selects a server per call, retries by fail mode, and keeps a
//! circuit breaker per server (PROTOCOL.md §11).
//!
//! A call goes: refresh the server list from the [`ServerWatch`] (never blocks) → exclude
//! servers behind an open breaker (and, on Failover, those that already failed this call) →
//! [`Select`](crate::select::Select) picks one → its cached connection, dialled once if
//! missing (the transport's plugins see the candidates and the pick) → the fail mode decides what a failure means ([`crate::fail`]). Every outcome
//! feeds that server's breaker and the selector (lowest-latency measures this way). A
//! connection that failed is dropped from the cache and redialled on next use. The whole
//! call, retries included, is bounded by the call's deadline; each attempt, optionally, by
//! `XClientOptions::attempt_timeout`, so a silent server costs one attempt, not the call.
//!
//! Against servers that fail: one dial in flight per server; after a failed dial the server
//! is in back-off (jittered, doubling, capped: `XClientOptions::dial_backoff_min/max`), so
//! callers skip it (or fail at once with the retryable [`XError::Backoff`]) instead of
//! dialling again. A server discovery drops is forgotten: its connection leaves the cache
//! (and closes once the calls on it end), its breaker and back-off go. An outcome only
//! moves the breaker generation its call started under.
//!
//! The XClient is generic over [`Transport`]: [`ClientTransport`] (a [`crate::Client`] per
//! server, on tokio or glommio) implements it, and tests implement it in memory to fail on
//! cue. Time comes from the transport's clock ([`Transport::now`]), so tests can run it on
//! virtual time. An XClient is used from one thread (it holds `!Send` connections on
//! glommio); make one per executor.
//!
//! Files: [`XClient`] and its calls here; the server list, selection and breakers in
//! `servers.rs`; the connection cache in `pool.rs`; one attempt (its connection, its
//! timeout, what its outcome teaches) in `attempt.rs`; one call as the fail loops drive it
//! in `call.rs`; typed calls in `typed.rs`; the transports in `transport.rs`.

mod attempt;
mod backoff;
mod call;
mod error;
mod options;
mod pool;
mod servers;
mod transport;
mod typed;

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use self::backoff::BackoffConfig;
use self::call::{Call, Prepared};
use self::pool::Pool;
use self::servers::{NoPick, Servers};
use crate::discovery::{ServerList, ServerWatch};
use crate::fail::{self, Attempts};
use crate::race::{race, Either};
use crate::select::fnv1a_64;
use crate::{CallOptions, SerializeType};
pub use error::XError;
pub use options::XClientOptions;
#[cfg(feature = "glommio")]
pub use transport::GlommioTransport;
#[cfg(feature = "tokio")]
pub use transport::TokioTransport;
pub use transport::{ClientTransport, Transport};

/// What the XClient's lock guards.
struct Inner<C> {
    servers: Servers,
    pool: Pool<C>,
}

impl<C: Clone> Inner<C> {
    /// Takes the latest server list; servers it no longer has are forgotten.
    fn refresh(&mut self) -> &ServerList {
        if self.servers.refresh() {
            let servers = &self.servers;
            self.pool.retain(|key| servers.is_listed(key));
        }
        self.servers.list()
    }
}

/// How many servers an XClient remembers something about, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Remembered {
    /// Servers with a cached connection.
    pub conn_count: usize,
    /// Servers in dial back-off.
    pub backoff_count: usize,
    /// Servers with a breaker.
    pub breaker_count: usize,
}

/// Calls one service on whichever of its servers discovery lists.
pub struct XClient<T: Transport> {
    service_path: String,
    transport: T,
    options: XClientOptions,
    inner: Mutex<Inner<T::Conn>>,
}

impl<T: Transport> std::fmt::Debug for XClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XClient")
            .field("service_path", &self.service_path)
            .field("options", &self.options)
            .finish()
    }
}

impl<T: Transport> XClient<T> {
    /// An XClient for `service_path` over the servers `watch` reports.
    pub fn new(
        service_path: impl Into<String>,
        watch: ServerWatch,
        transport: T,
        options: XClientOptions,
    ) -> Self {
        let backoff = BackoffConfig {
            min: options.dial_backoff_min,
            max: options.dial_backoff_max,
        };
        // Jitter from its own stream, so a seed gives the same picks with or without dials.
        let rng = options.seed.map_or_else(fastrand::Rng::new, |seed| {
            fastrand::Rng::with_seed(seed ^ 0x9E37_79B9_7F4A_7C15)
        });
        let inner = Inner {
            servers: Servers::new(watch, &options, transport.plugins()),
            pool: Pool::new(backoff, rng),
        };
        Self {
            service_path: service_path.into(),
            transport,
            options,
            inner: Mutex::new(inner),
        }
    }

    /// The service this client calls.
    pub fn service_path(&self) -> &str {
        &self.service_path
    }

    /// The options.
    pub fn options(&self) -> &XClientOptions {
        &self.options
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The usable servers as of now (refreshes from discovery).
    pub fn servers(&self) -> ServerList {
        self.lock().refresh().clone()
    }

    /// How many servers this client remembers a connection, a back-off or a breaker for
    /// (after refreshing from discovery): never more than discovery lists.
    pub fn remembered(&self) -> Remembered {
        let mut inner = self.lock();
        inner.refresh();
        let (conn_count, backoff_count) = inner.pool.sizes();
        Remembered {
            conn_count,
            backoff_count,
            breaker_count: inner.servers.breaker_count(),
        }
    }

    /// Calls `service_method` with an already serialized `payload` under the fail mode.
    /// `hash_key` feeds consistent hashing; without one the key is the FNV-1a hash of
    /// `/<service_path>/<service_method>/<payload>` (rpcx-go hashes the arguments likewise).
    pub async fn send(
        &self,
        service_method: &str,
        payload: &[u8],
        options: &CallOptions,
        hash_key: Option<&[u8]>,
    ) -> Result<T::Reply, XError<T::Error>> {
        self.send_as(
            service_method,
            payload,
            options,
            options.serialize_type,
            hash_key,
        )
        .await
    }

    /// [`Self::send`] with the serialize type `payload` was written with.
    async fn send_as(
        &self,
        service_method: &str,
        payload: &[u8],
        options: &CallOptions,
        serialize_type: Option<SerializeType>,
        hash_key: Option<&[u8]>,
    ) -> Result<T::Reply, XError<T::Error>> {
        let mut prepared = self.prepare(service_method, payload, options, hash_key);
        prepared.serialize_type = serialize_type;
        let call = Call {
            client: self,
            request: prepared.request(),
            hash: prepared.hash,
        };
        self.bounded(prepared.deadline, fail::run(&self.options.fail, &call))
            .await
    }

    /// Sends the call to every usable server at once; succeeds only if all succeed, and
    /// fails at the first failure (rpcx-go's `Broadcast`). The reply is the first success.
    pub async fn broadcast(
        &self,
        service_method: &str,
        payload: &[u8],
        options: &CallOptions,
    ) -> Result<T::Reply, XError<T::Error>> {
        self.fan_out(service_method, payload, options, true).await
    }

    /// Sends the call to every usable server at once; the first success wins (rpcx-go's
    /// `Fork`). Fails only if every server fails.
    pub async fn fork(
        &self,
        service_method: &str,
        payload: &[u8],
        options: &CallOptions,
    ) -> Result<T::Reply, XError<T::Error>> {
        self.fan_out(service_method, payload, options, false).await
    }

    async fn fan_out(
        &self,
        service_method: &str,
        payload: &[u8],
        options: &CallOptions,
        all: bool,
    ) -> Result<T::Reply, XError<T::Error>> {
        let prepared = self.prepare(service_method, payload, options, None);
        let call = Call {
            client: self,
            request: prepared.request(),
            hash: 0,
        };
        let servers = self.servers();
        if servers.is_empty() {
            return Err(XError::NoServer {
                service_path: self.service_path.clone(),
            });
        }
        let calls: Vec<_> = servers
            .iter()
            .map(|s| call.attempt(s.key().to_owned()))
            .collect();
        let run = async {
            if all {
                fail::broadcast(calls).await
            } else {
                fail::fork(calls).await
            }
        };
        self.bounded(prepared.deadline, run).await
    }

    fn prepare<'a>(
        &'a self,
        method: &'a str,
        payload: &'a [u8],
        options: &'a CallOptions,
        key: Option<&[u8]>,
    ) -> Prepared<'a> {
        let now = self.transport.now();
        let deadline = options.deadline.or_else(|| {
            options
                .timeout
                .or(self.options.timeout)
                .and_then(|t| now.checked_add(t))
        });
        let hash = match key {
            Some(key) => fnv1a_64(key),
            None => {
                let mut bytes = format!("/{}/{method}/", self.service_path).into_bytes();
                bytes.extend_from_slice(payload);
                fnv1a_64(&bytes)
            }
        };
        Prepared {
            service_path: &self.service_path,
            method,
            payload,
            options,
            serialize_type: options.serialize_type,
            hash,
            deadline,
        }
    }

    /// Runs `call`, failing with `Timeout` when `deadline` passes first.
    async fn bounded<R>(
        &self,
        deadline: Option<Instant>,
        call: impl Future<Output = Result<R, XError<T::Error>>>,
    ) -> Result<R, XError<T::Error>> {
        let Some(deadline) = deadline else {
            return call.await;
        };
        let budget = deadline.saturating_duration_since(self.transport.now());
        match race(call, self.transport.sleep(budget)).await {
            Either::Left(result) => result,
            Either::Right(()) => Err(XError::Timeout {
                timeout_ms: millis_ceil(budget),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T::Conn>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Picks the server of the next attempt, avoiding `avoid`.
    fn pick(&self, avoid: &[String], hash: u64) -> Result<String, XError<T::Error>> {
        let now = self.transport.now();
        let service_path = self.service_path.clone();
        let mut inner = self.lock();
        inner.refresh();
        let Inner { servers, pool } = &mut *inner;
        let backoff_left = |key: &str| pool.backoff_left(key, now);
        match servers.pick(&self.service_path, avoid, hash, now, backoff_left) {
            Ok(key) => Ok(key),
            Err(NoPick::NoServer) => Err(XError::NoServer { service_path }),
            Err(NoPick::BreakerOpen) => Err(XError::BreakerOpen { service_path }),
            Err(NoPick::Backoff(wait)) => Err(XError::Backoff {
                service_path,
                retry_in_ms: millis_ceil(wait),
            }),
        }
    }
}

/// Whole milliseconds in `duration`, rounded up.
fn millis_ceil(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
}
