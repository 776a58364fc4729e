//! The shard runtime: everything a shard is and does that does not depend on its I/O driver.
//! Both drivers (`driver/glommio/`, `driver/uring/`) build on it; it imports neither.
//!
//! What it owns:
//! - [`ShardPlan`]: what a shard thread is started with (listener, config, setup, control
//!   channel, counters), and [`spawn_thread`], the thread itself;
//! - [`ShardCore`]: a running shard's driver-neutral state (its `Services` built by the
//!   setup function, connection config, push seq, counters) and the steps every accepted
//!   connection goes through (admission, opening, closing);
//! - `policy.rs`: the sans-IO rules (admission, accept back-off, drain and abort
//!   deadlines, linger, close logging), each written once; `watch.rs`: the sweep's
//!   per-connection timeouts (idle, frame completion, send progress);
//! - `control.rs`: the server's commands to a shard over a Unix socket pair;
//! - `listener.rs`: binding every shard's listener (TCP with SO_REUSEPORT, or one shared
//!   Unix socket), [`listen_addr::ListenAddr`] in `listen_addr.rs`;
//! - `timers.rs`: the shard's timer queue behind [`crate::sleep`]; `spawn.rs`: the task
//!   hook behind [`crate::spawn`];
//! - `dispatch.rs`: one dispatch step of a connection (inline polls, handler tasks);
//!   `handler_tasks.rs`: the per-shard cap on handler tasks and the hangup that drops the
//!   handlers of a closed connection;
//! - `fault.rs`: panics of handler code and failed shards, counted and handled by
//!   [`FaultPolicy`];
//! - `memlock.rs`: reading RLIMIT_MEMLOCK for startup errors.
//!
//! What it never does: perform I/O on a connection, poll a socket, or park a thread; those
//! are the drivers' (each only moves bytes and performs the steps this module returns).
//!
//! Read first: `policy.rs`, then [`ShardCore`].

pub(crate) mod control;
pub(crate) mod dispatch;
pub(crate) mod fault;
pub(crate) mod handler_tasks;
pub(crate) mod listen_addr;
pub(crate) mod listener;
pub(crate) mod memlock;
pub(crate) mod policy;
pub(crate) mod spawn;
pub(crate) mod timers;
pub(crate) mod watch;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use socket2::Socket;

use crate::config::{ConnConfig, ServerConfig};
use crate::conn::{ByteStats, Connection, Link, ShardBounds, Timeouts};
use crate::error::CloseCause;
use crate::plugin::Refusal;
use crate::services::Services;
use crate::tls::{ShardTls, TlsShared, Transport};
pub(crate) use control::{channel as control_channel, Command, ControlReceiver, ControlSender};
pub use fault::FaultPolicy;
use fault::Faults;
use handler_tasks::{HandlerTasks, Hangup};
pub(crate) use listener::bind_all;

/// The setup function the server runs once on every shard.
pub(crate) type Setup = Arc<dyn Fn(&mut Services) + Send + Sync>;

/// Per-shard counters readable from any thread, never updated per request. The connection
/// counts are updated per connection, the handler-task and fault counts per task and per
/// fault; the byte counts (`ShardBounds`) when a connection's bytes change; the ring state
/// once per io_uring loop turn.
#[derive(Debug, Default)]
pub(crate) struct ShardCounters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub open: AtomicUsize,
    /// Handler tasks running now (`handler_tasks.rs`).
    pub handler_tasks: AtomicUsize,
    /// Handlers dropped because their connection closed.
    pub handlers_cancelled: AtomicU64,
    /// Panics of handler code outside a handler's future (`fault.rs`).
    pub handler_panics: AtomicU64,
    /// The shard stopped on a fault (fatal ring error, a panic that escaped its loop).
    pub failed: AtomicBool,
    pub bytes: Arc<ByteStats>,
    /// The io_uring driver's provided buffers: how many, and how many are in the ring now
    /// (published once per loop turn; 0 on the glommio driver).
    pub ring_buffers_total: AtomicUsize,
    pub ring_buffers_free: AtomicUsize,
    /// Connections whose receive waits for a free ring buffer now, and how many receives
    /// found the ring empty (ENOBUFS) since start.
    pub ring_waiting: AtomicUsize,
    pub ring_starved: AtomicU64,
}

/// Everything a shard thread needs to start.
pub(crate) struct ShardPlan {
    pub id: usize,
    pub cpu: usize,
    pub listener: Socket,
    pub config: ServerConfig,
    pub setup: Setup,
    pub control: ControlReceiver,
    pub counters: Arc<ShardCounters>,
    /// The server's TLS, if it has any.
    pub tls: Option<TlsShared>,
}

/// Starts a shard's thread, named after the shard. A panic that escapes `run` (a bug in
/// a driver, not handler code, which is contained closer to it) is a fault of the shard:
/// counted in `counters` and handled as `policy` says, not a silently lost core.
pub(crate) fn spawn_thread(
    id: usize,
    policy: FaultPolicy,
    counters: Arc<ShardCounters>,
    run: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("ringrpc-shard-{id}"))
        .spawn(move || {
            if let Err(panic) = fault::contain(run) {
                let text = fault::panic_text(panic.as_ref());
                Faults::new(id, policy, counters).shard_failed(&format!("it panicked: {text}"));
            }
        })
}

/// A running shard's driver-neutral state, on its own thread (never shared across threads
/// except through its counters).
pub(crate) struct ShardCore {
    pub id: usize,
    pub services: Rc<Services>,
    pub conn_config: Rc<ConnConfig>,
    /// The running handler tasks and their cap.
    pub tasks: Rc<HandlerTasks>,
    /// Where faults are counted and handled.
    pub faults: Rc<Faults>,
    bounds: Rc<ShardBounds>,
    push_seq: Rc<Cell<u64>>,
    counters: Arc<ShardCounters>,
    max_conns: usize,
    tls: Option<ShardTls>,
}

/// A connection just accepted: its core, its tracing span, its peer as logged, and the
/// hangup its driver fires when it closes (dropping its running handlers).
pub(crate) struct Opened {
    pub conn: Transport,
    pub span: tracing::Span,
    pub peer: String,
    pub hangup: Rc<Hangup>,
}

impl ShardCore {
    /// Builds the shard's `Services` with the server's setup function (on the shard thread,
    /// so handler state may be `!Send`), and installs the shard's fault reporter for this
    /// thread (until the core is dropped).
    pub(crate) fn new(
        id: usize,
        config: &ServerConfig,
        setup: &Setup,
        counters: Arc<ShardCounters>,
        tls: Option<TlsShared>,
    ) -> Self {
        let faults = Rc::new(Faults::new(id, config.fault_policy, counters.clone()));
        Faults::install(Some(faults.clone()));
        let mut services = Services::for_shard(id);
        setup(&mut services);
        let tasks = HandlerTasks::new(config.max_handler_tasks_per_shard, counters.clone());
        Self {
            id,
            services: Rc::new(services),
            conn_config: Rc::new(ConnConfig::from_server(config)),
            tasks: Rc::new(tasks),
            faults,
            bounds: Rc::new(ShardBounds::new(
                config.max_inflight_bytes_per_shard,
                config.push_buffer_max_bytes,
                Timeouts {
                    idle: config.idle_timeout,
                    frame: config.frame_timeout,
                    send: config.send_timeout,
                },
                counters.bytes.clone(),
            )),
            push_seq: Rc::new(Cell::new(1)),
            counters,
            max_conns: config.max_conns_per_shard,
            tls: tls.map(ShardTls::new),
        }
    }

    /// The server reloaded its TLS configuration: connections accepted from now on use it.
    pub(crate) fn reload_tls(&self) {
        if let Some(tls) = &self.tls {
            tls.reload(self.id);
        }
    }

    /// Whether a connection from `peer` may join the `open` ones: the plugins' `on_accept`
    /// first, then the max-connections rule. A rejection is counted and logged here (the
    /// driver then just closes the socket).
    pub(crate) fn admit(&self, open: usize, peer: Option<SocketAddr>) -> bool {
        let plugins = self.services.plugins();
        if !plugins.is_empty() {
            if let Err(refusal) = plugins.accept(peer) {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    shard = self.id,
                    ?peer,
                    limit = refusal.limit(),
                    "connection refused by a plugin"
                );
                return false;
            }
        }
        if policy::admits(open, self.max_conns) {
            return true;
        }
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        let cause = CloseCause::TooManyConnections {
            max: self.max_conns,
        };
        tracing::warn!(shard = self.id, ?peer, %cause, "connection dropped");
        if !plugins.is_empty() {
            plugins.close(peer, Some(&Refusal::new("max_conns", cause.to_string())));
        }
        false
    }

    /// Counts an admitted connection and builds its core, link and span.
    pub(crate) fn open(&self, peer: Option<SocketAddr>) -> Opened {
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        let link = Link::new(peer, self.push_seq.clone(), self.bounds.clone());
        let link = Rc::new(link.observed_by(&self.services));
        let peer = peer.map_or_else(|| "unknown".to_owned(), |peer| peer.to_string());
        let span = tracing::info_span!("conn", shard = self.id, peer = %peer);
        span.in_scope(|| tracing::debug!("accepted"));
        let mut conn = Connection::new(self.services.clone(), self.conn_config.clone(), link);
        let conn = match &self.tls {
            None => Transport::plain(conn),
            Some(tls) => {
                let session = tls.accept(&mut conn, crate::tls::spawn_handshake_timer);
                Transport::secured(conn, session)
            }
        };
        let hangup = Rc::default();
        Opened {
            conn,
            span,
            peer,
            hangup,
        }
    }

    /// Publishes the state of the driver's receive buffer ring: `free` of `total` buffers,
    /// `waiting` connections whose receive waits for one.
    pub(crate) fn publish_ring(&self, free: usize, total: usize, waiting: usize) {
        let counters = &self.counters;
        counters.ring_buffers_total.store(total, Ordering::Relaxed);
        counters.ring_buffers_free.store(free, Ordering::Relaxed);
        counters.ring_waiting.store(waiting, Ordering::Relaxed);
    }

    /// A receive found the driver's buffer ring empty (ENOBUFS).
    pub(crate) fn count_ring_starved(&self) {
        self.counters.ring_starved.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection opened with [`ShardCore::open`] is gone (its socket closed); the
    /// plugins hear it (`on_close`).
    pub(crate) fn closed(&self, peer: Option<SocketAddr>) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
        let plugins = self.services.plugins();
        if !plugins.is_empty() {
            plugins.close(peer, None);
        }
    }
}

impl Drop for ShardCore {
    fn drop(&mut self) {
        Faults::install(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(max_conns: usize) -> (ShardCore, Arc<ShardCounters>) {
        let counters = Arc::new(ShardCounters::default());
        let config = ServerConfig {
            max_conns_per_shard: max_conns,
            ..ServerConfig::default()
        };
        let setup: Setup = Arc::new(|services: &mut Services| {
            services.register("Echo", "Echo", |request: crate::Request| async move {
                Ok::<_, crate::HandlerError>(crate::Response::new(request.into_payload()))
            });
        });
        (
            ShardCore::new(3, &config, &setup, counters.clone(), None),
            counters,
        )
    }

    #[test]
    fn admission_counts_rejections_and_open_connections() {
        let (core, counters) = core(2);
        assert_eq!(core.services.shard(), 3, "setup ran for this shard");
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 9)));
        assert!(core.admit(0, peer));
        let opened = core.open(peer);
        assert_eq!(opened.peer, "127.0.0.1:9");
        assert_eq!(opened.conn.link().peer_addr(), peer);
        assert!(!opened.conn.is_closed());
        assert!(core.admit(1, peer));
        assert!(!core.admit(2, peer));
        assert_eq!(counters.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(counters.accepted.load(Ordering::Relaxed), 1);
        assert_eq!(counters.open.load(Ordering::Relaxed), 1);
        core.closed(peer);
        assert_eq!(counters.open.load(Ordering::Relaxed), 0);
    }
}
