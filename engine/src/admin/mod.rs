//! The admin endpoint: `/metrics` (Prometheus, OpenMetrics text), `/status` (JSON) and
//! `/`, a status page that refreshes itself from `/status` (its HTML, CSS and script are
//! embedded in the binary: no CDN, no file to ship). The three answers are built in one
//! place ([`answer`]) and served two ways:
//!
//! - on an address of its own (`ServerConfig::admin`), off the shards, from a control-plane
//!   thread with a small tokio runtime and axum (hyper underneath): a scrape reads the
//!   shards' atomics and takes the metrics registry's lock, never a shard's time. Bounds:
//!   axum's own (one task per HTTP connection, header size limits).
//! - on the rpcx port too (`ServerConfig::admin_on_rpcx_port`, off by default), as an
//!   [`crate::HttpRoute`] of every shard (`route.rs`): the port's HTTP sniffing hands it
//!   the requests no gateway or JSON-RPC call claims. There a scrape runs on the shard
//!   that accepted it, inline, under the HTTP side's own limits.
//!
//! Each answer is built whole in memory, its size proportional to shards × methods
//! (methods bounded by `plugin::metrics::METHODS_MAX`). Once a second a thread of its own
//! computes each shard's calls/s and latency quantiles over the last second (`rates.rs`).
//!
//! What it never does: write anything a shard reads.

mod rates;
mod registry;
mod route;
mod status;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

pub(crate) use rates::Rates;
pub(crate) use route::{AdminRoute, SourceSlot};
pub(crate) use status::{Notes, StatusSource};

use crate::error::StartError;
use crate::plugin::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;

/// The status page: one file, its script and style inline.
const PAGE: &str = include_str!("page.html");

/// The admin endpoint's threads: the rates, and the HTTP server of its own address if it
/// has one. Dropping it stops them.
pub(crate) struct Admin {
    http: Option<AdminHttp>,
    _rates: rates::RatesThread,
}

impl Admin {
    /// Starts computing the rates of `source`, and serving at `addr` if given.
    pub(crate) fn start(
        addr: Option<SocketAddr>,
        source: StatusSource,
    ) -> Result<Self, StartError> {
        let rates = source.rates.start(source.metrics.clone()).map_err(|e| {
            StartError::Config(format!(
                "admin endpoint: cannot start its rates thread: {e}"
            ))
        })?;
        let http = addr
            .map(|addr| AdminHttp::start(addr, source))
            .transpose()?;
        Ok(Self {
            http,
            _rates: rates,
        })
    }

    /// The address of its own, if it has one.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|http| http.local_addr)
    }
}

/// The admin endpoint on an address of its own; dropping it stops the thread.
struct AdminHttp {
    local_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AdminHttp {
    /// Binds `addr` (on the caller's thread, so a bad address fails the start) and serves
    /// from a thread of its own.
    fn start(addr: SocketAddr, source: StatusSource) -> Result<Self, StartError> {
        let fail = |what: &str, e: std::io::Error| {
            StartError::Config(format!("admin endpoint {addr}: {what}: {e}"))
        };
        let listener = std::net::TcpListener::bind(addr).map_err(|e| fail("cannot bind", e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| fail("no local address", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| fail("cannot set non-blocking", e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail("cannot build its runtime", e))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ringrpc-admin".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let served = axum::serve(listener, router(source))
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(error) = served {
                        tracing::warn!(%error, "admin endpoint stopped");
                    }
                });
            })
            .map_err(|e| fail("cannot start its thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(fail("cannot register the listener", e)),
            Err(_) => {
                return Err(StartError::Config(format!(
                    "admin endpoint {addr}: its thread ended during start"
                )))
            }
        }
        tracing::info!(addr = %local_addr, "admin endpoint listening");
        Ok(Self {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for AdminHttp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The endpoint's routes over `source`.
fn router(source: StatusSource) -> Router {
    Router::new()
        .route("/", get(serve))
        .route("/metrics", get(serve))
        .route("/status", get(serve))
        .with_state(source)
}

async fn serve(
    State(source): State<StatusSource>,
    uri: axum::http::Uri,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let (content_type, body) =
        answer(&source, uri.path()).unwrap_or(("text/plain; charset=utf-8", String::new()));
    ([(CONTENT_TYPE, content_type)], body)
}

/// The answer to `GET path` (`/`, `/metrics` or `/status`): its content type and body.
pub(crate) fn answer(source: &StatusSource, path: &str) -> Option<(&'static str, String)> {
    match path {
        "/" => Some(("text/html; charset=utf-8", PAGE.to_owned())),
        "/metrics" => Some((METRICS_CONTENT_TYPE, source.metrics.encode())),
        "/status" => Some(("application/json", source.to_json())),
        _ => None,
    }
}
