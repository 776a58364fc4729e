//! Shards: one thread, one glommio executor pinned to one CPU, one listener, and the
//! connections it accepts, for their whole life.
//!
//! A shard shares nothing with other shards on the request path. The only cross-thread
//! state is its [`ShardCounters`] (touched per connection, never per request) and its
//! control channel (`control.rs`), on which the server sends idle sweeps and stop.
//!
//! Tasks of a shard: the accept loop, the control loop (idle sweeps until stop, then
//! drain), one task per connection (`conn_task.rs`), and one task per handler that did not
//! finish on its first poll (with its deadline). In steady state a shard has no timer
//! registered at all.

mod conn_task;
mod control;
mod listener;
mod table;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use socket2::Socket;

use crate::config::{ConnConfig, ServerConfig};
use crate::conn::{Control, Link};
use crate::error::StartError;
use crate::services::Services;

pub(crate) use control::{channel as control_channel, Command, ControlReceiver, ControlSender};
pub(crate) use listener::bind_all;
use table::ConnTable;

/// After the drain timeout, how long aborted connections get to close.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// The setup function the server runs once on every shard.
pub(crate) type Setup = Arc<dyn Fn(&mut Services) + Send + Sync>;

/// Per-shard counters readable from any thread. Updated per connection only.
#[derive(Debug, Default)]
pub(crate) struct ShardCounters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub open: AtomicUsize,
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
}

/// The state of a running shard, shared by its tasks (never across threads).
pub(crate) struct ShardCtx {
    pub id: usize,
    pub services: Rc<Services>,
    pub conn_config: Rc<ConnConfig>,
    push_seq: Rc<Cell<u64>>,
    conns: RefCell<ConnTable>,
    counters: Arc<ShardCounters>,
    max_conns: usize,
}

impl ShardCtx {
    fn add_conn(&self, link: Rc<Link>) -> usize {
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        self.conns.borrow_mut().insert(link)
    }

    fn remove_conn(&self, key: usize) {
        self.conns.borrow_mut().remove(key);
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }

    fn open_conns(&self) -> usize {
        self.conns.borrow().len()
    }
}

/// Starts the shard's thread. Its executor is created on that thread; the outcome is
/// reported on `ready` before any connection is accepted.
pub(crate) fn spawn(
    plan: ShardPlan,
    ready: mpsc::Sender<Result<(), StartError>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("ringrpc-shard-{}", plan.id))
        .spawn(move || {
            let executor = LocalExecutorBuilder::new(Placement::Fixed(plan.cpu))
                .name(&format!("ringrpc-shard-{}", plan.id))
                .io_memory(plan.config.io_memory_bytes)
                .make();
            match executor {
                Ok(executor) => executor.run(run(plan, ready)),
                Err(e) => {
                    let _ = ready.send(Err(StartError::Executor {
                        shard: plan.id,
                        cpu: plan.cpu,
                        reason: e.to_string(),
                        memlock: memlock_limit(),
                        io_memory_kib: plan.config.io_memory_bytes.div_ceil(1024),
                    }));
                }
            }
        })
}

async fn run(plan: ShardPlan, ready: mpsc::Sender<Result<(), StartError>>) {
    let ShardPlan {
        id,
        cpu,
        listener,
        config,
        setup,
        control,
        counters,
    } = plan;
    let listener = listener::into_glommio(listener);
    let mut control = control.attach();
    let mut services = Services::for_shard(id);
    setup(&mut services);
    let shard = Rc::new(ShardCtx {
        id,
        services: Rc::new(services),
        conn_config: Rc::new(ConnConfig::from_server(&config)),
        push_seq: Rc::new(Cell::new(1)),
        conns: RefCell::new(ConnTable::default()),
        counters,
        max_conns: config.max_conns_per_shard,
    });
    tracing::debug!(shard = id, cpu, "shard started");
    let _ = ready.send(Ok(()));

    let accept = glommio::spawn_local(accept_loop(shard.clone(), listener));
    while control.recv().await == Command::SweepIdle {
        shard.conns.borrow_mut().sweep_idle();
    }
    accept.cancel().await;
    drain(&shard, config.drain_timeout).await;
    tracing::debug!(shard = id, "shard stopped");
}

async fn accept_loop(shard: Rc<ShardCtx>, listener: TcpListener) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                // rpcx-go backs off 5 ms doubling to 1 s on accept errors (PROTOCOL.md §4.1).
                tracing::warn!(shard = shard.id, error = %e, "accept failed");
                glommio::timer::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(5);
        let peer = stream.peer_addr().ok();
        if shard.open_conns() >= shard.max_conns {
            shard.counters.rejected.fetch_add(1, Ordering::Relaxed);
            let cause = crate::CloseCause::TooManyConnections {
                max: shard.max_conns,
            };
            tracing::warn!(shard = shard.id, ?peer, %cause, "connection dropped");
            continue;
        }
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(shard = shard.id, ?peer, error = %e, "TCP_NODELAY not set");
        }
        let link = Rc::new(Link::new(
            peer,
            shard.push_seq.clone(),
            shard.conn_config.push_buffer_max_bytes,
        ));
        let key = shard.add_conn(link.clone());
        glommio::spawn_local(conn_task::serve(shard.clone(), stream, link, key)).detach();
    }
}

/// Graceful shutdown of a shard: the listener is already closed; every connection stops
/// reading, finishes what it received, flushes and closes. Whatever is left after
/// `drain_timeout` is aborted.
async fn drain(shard: &ShardCtx, drain_timeout: Duration) {
    let links = shard.conns.borrow().links();
    tracing::debug!(shard = shard.id, connections = links.len(), "draining");
    links.iter().for_each(|link| link.request(Control::Drain));
    let deadline = Instant::now() + drain_timeout;
    while shard.open_conns() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    if shard.open_conns() == 0 {
        return;
    }
    shard
        .conns
        .borrow()
        .links()
        .iter()
        .for_each(|link| link.request(Control::Abort));
    let deadline = Instant::now() + ABORT_GRACE;
    while shard.open_conns() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// RLIMIT_MEMLOCK as the kernel reports it, for the startup error message.
fn memlock_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max locked memory"))
                .map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    match fields.as_slice() {
                        [.., soft, _hard, unit] => format!("{soft} {unit}"),
                        _ => line.to_owned(),
                    }
                })
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
