//! The admin HTTP endpoint (`ServerConfig::admin`): `/metrics` (Prometheus, OpenMetrics
//! text), `/status` (JSON) and `/`, a status page that refreshes itself from `/status`
//! (its HTML, CSS and script are embedded in the binary: no CDN, no file to ship).
//!
//! It runs off the shards, on a control-plane thread of its own with a small tokio
//! runtime and axum (hyper underneath): a scrape reads the shards' atomics and takes the
//! registry's lock, never a shard's time. Once a second the same thread computes each
//! shard's calls/s and latency quantiles over the last second (`rates.rs`). Bounds: axum's own (one task per HTTP
//! connection, header size limits); each answer is built whole in memory, its size
//! proportional to shards × methods (methods bounded by `plugin::metrics::METHODS_MAX`).
//!
//! Serving it on the main rpcx port too (as rpcx-go's cmux does) needs the connection
//! path's protocol sniffing: once a connection is recognised as HTTP there, it can be
//! handed to the same `Router` ([`router`]) with `hyper_util`'s connection builder over
//! that socket.
//!
//! What it never does: run on a shard thread, or write anything a shard reads.

mod rates;
mod status;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

pub(crate) use rates::Rates;
pub(crate) use status::{Notes, StatusSource};

use crate::error::StartError;
use crate::plugin::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;

/// The status page: one file, its script and style inline.
const PAGE: &str = include_str!("page.html");

/// The running admin endpoint; dropping it stops the thread.
pub(crate) struct Admin {
    local_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Admin {
    /// Binds `addr` (on the caller's thread, so a bad address fails the start) and serves
    /// from a thread of its own.
    pub(crate) fn start(addr: SocketAddr, source: StatusSource) -> Result<Self, StartError> {
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
                    tokio::spawn(source.rates.clone().run(source.metrics.clone()));
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

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Admin {
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
pub(crate) fn router(source: StatusSource) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(source)
}

async fn page() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

async fn metrics(
    State(source): State<StatusSource>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        source.metrics.encode(),
    )
}

async fn status(
    State(source): State<StatusSource>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(CONTENT_TYPE, "application/json")], source.to_json())
}
