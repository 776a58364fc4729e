//! The XClient: calls to a *service* rather than to a server. It follows discovery, keeps one
//! connection per server, selects a server per call, retries by fail mode, and keeps a
//! circuit breaker per server (PROTOCOL.md §11).
//!
//! A call goes: refresh the server list from the [`ServerWatch`] (never blocks) → exclude
//! servers behind an open breaker (and, on Failover, those that already failed this call) →
//! [`Select`] picks one → its cached connection, dialled once if missing → the fail mode
//! decides what a failure means ([`crate::fail`]). Every outcome feeds that server's breaker
//! and the selector (lowest-latency measures this way). A connection that failed is dropped
//! from the cache and redialled on next use. The whole call, retries included, is bounded by
//! the call's deadline.
//!
//! The XClient is generic over [`Transport`]: the tokio and glommio clients implement it, and
//! tests implement it in memory to fail on cue. An XClient is used from one thread (it holds
//! `!Send` connections on glommio); make one per executor.

mod attempt;
mod drivers;

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use self::attempt::{refresh, Call, Prepared};
use crate::breaker::{Breaker, BreakerConfig};
use crate::discovery::{ServerList, ServerWatch};
use crate::fail::{self, Attempts, FailPolicy, Retryable};
use crate::select::{fnv1a_64, Instance, Select, SelectMode};
use crate::{CallOptions, Request, SerializeType};

#[cfg(feature = "glommio")]
pub use drivers::GlommioTransport;
#[cfg(feature = "tokio")]
pub use drivers::TokioTransport;

/// How an XClient reaches one server.
pub trait Transport {
    /// A connection, cloned out of the cache for each call (a cheap handle).
    type Conn: Clone;
    type Reply;
    type Error: Retryable + std::error::Error;

    /// Opens a connection to `server`.
    fn connect(&self, server: &Instance) -> impl Future<Output = Result<Self::Conn, Self::Error>>;
    /// One call on `conn`.
    fn send(
        &self,
        conn: &Self::Conn,
        request: &Request<'_>,
    ) -> impl Future<Output = Result<Self::Reply, Self::Error>>;
    /// Whether a cached connection can still carry calls.
    fn is_usable(&self, conn: &Self::Conn) -> bool;
    /// A timer of the runtime the connections live on.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// Settings of an XClient. Defaults follow rpcx-go's where it has one.
#[derive(Debug, Clone)]
pub struct XClientOptions {
    /// Random, as rpcx-go's examples.
    pub select: SelectMode,
    /// Failover with 3 retries, as rpcx-go.
    pub fail: FailPolicy,
    /// Per-server circuit breaker; `None` (off), as rpcx-go.
    pub breaker: Option<BreakerConfig>,
    /// Deadline of calls whose options set none; covers all attempts. `None`: no deadline.
    pub timeout: Option<Duration>,
    /// Serialize type of typed calls whose options set none. MsgPack, as rpcx-go.
    pub serialize_type: SerializeType,
    /// Seed of the selection RNG; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for XClientOptions {
    fn default() -> Self {
        Self {
            select: SelectMode::Random,
            fail: FailPolicy::default(),
            breaker: None,
            timeout: None,
            serialize_type: SerializeType::MsgPack,
            seed: None,
        }
    }
}

/// An XClient call's error.
#[derive(Debug, thiserror::Error)]
pub enum XError<E> {
    /// Discovery lists no usable server (rpcx-go: `can not found any server`).
    #[error("can not found any server of {service_path}")]
    NoServer { service_path: String },
    /// Every usable server is behind an open breaker (rpcx-go: `breaker open`).
    #[error("breaker open for every server of {service_path}")]
    BreakerOpen { service_path: String },
    /// The call's deadline passed, retries included.
    #[error("call timed out after {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// Encoding the arguments or decoding the reply failed (nothing to retry).
    #[error("{0}")]
    Local(#[source] E),
    /// The last attempt's error, with the server it came from.
    #[error("{server}: {source}")]
    Server {
        server: String,
        #[source]
        source: E,
    },
}

impl<E: Retryable> Retryable for XError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            XError::NoServer { .. } | XError::BreakerOpen { .. } => true,
            XError::Timeout { .. } | XError::Local(_) => false,
            XError::Server { source, .. } => source.is_retryable(),
        }
    }

    fn is_answer(&self) -> bool {
        matches!(self, XError::Server { source, .. } if source.is_answer())
    }
}

impl<E: Retryable> XError<E> {
    /// See [`Retryable::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        Retryable::is_retryable(self)
    }

    /// The server's own error, if the last attempt reached one.
    pub fn server_error(&self) -> Option<&E> {
        match self {
            XError::Server { source, .. } => Some(source),
            _ => None,
        }
    }
}

struct State<C> {
    watch: ServerWatch,
    servers: ServerList,
    selector: Box<dyn Select + Send>,
    rng: fastrand::Rng,
    breakers: HashMap<String, Breaker>,
    conns: HashMap<String, C>,
    dialing: HashMap<String, Vec<Waker>>,
}

/// Calls one service on whichever of its servers discovery lists.
pub struct XClient<T: Transport> {
    service_path: String,
    transport: T,
    options: XClientOptions,
    state: Mutex<State<T::Conn>>,
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
        let mut selector = options.select.selector();
        let servers = watch.current().clone();
        selector.update(&servers);
        let rng = options
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let state = State {
            watch,
            servers,
            selector,
            rng,
            breakers: HashMap::new(),
            conns: HashMap::new(),
            dialing: HashMap::new(),
        };
        Self {
            service_path: service_path.into(),
            transport,
            options,
            state: Mutex::new(state),
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
        let mut state = self.lock();
        refresh(&mut state);
        state.servers.clone()
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
        let (mut prepared, deadline) = self.prepare(service_method, payload, options, hash_key);
        prepared.serialize_type = serialize_type;
        let request = prepared.request(&deadline);
        let call = Call {
            client: self,
            request,
            hash: prepared.hash,
        };
        self.bounded(deadline, fail::run(&self.options.fail, &call))
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
        let (prepared, deadline) = self.prepare(service_method, payload, options, None);
        let request = prepared.request(&deadline);
        let call = Call {
            client: self,
            request,
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
        self.bounded(deadline, run).await
    }

    fn prepare<'a>(
        &self,
        method: &'a str,
        payload: &'a [u8],
        options: &'a CallOptions,
        key: Option<&[u8]>,
    ) -> (Prepared<'a>, Option<Instant>) {
        let deadline = options.deadline.or_else(|| {
            options
                .timeout
                .or(self.options.timeout)
                .map(|t| Instant::now() + t)
        });
        let hash = match key {
            Some(key) => fnv1a_64(key),
            None => {
                let mut bytes = format!("/{}/{method}/", self.service_path).into_bytes();
                bytes.extend_from_slice(payload);
                fnv1a_64(&bytes)
            }
        };
        let serialize_type = options.serialize_type;
        (
            Prepared {
                service_path: self.service_path.clone(),
                method,
                payload,
                options,
                serialize_type,
                hash,
            },
            deadline,
        )
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
        let budget = deadline.saturating_duration_since(Instant::now());
        let mut call = pin!(call);
        let mut timer = pin!(self.transport.sleep(budget));
        poll_fn(|cx| {
            if let Poll::Ready(result) = call.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(XError::Timeout {
                    timeout_ms: budget.as_micros().div_ceil(1000) as u64,
                })),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}
