//! The glommio driver (`Driver::Glommio`): one thread, one glommio executor pinned to one
//! CPU, one listener, and the connections it accepts, for their whole life.
//!
//! It only performs I/O and waits; every rule it follows comes from the shard runtime
//! (`crate::runtime`: admission, accept back-off, idle sweep, drain and abort deadlines,
//! linger, close logging) and the connection core (`crate::conn`). It imports nothing from
//! the io_uring driver.
//!
//! Tasks of a shard: the accept loop, the control loop (idle sweeps until stop, then drain),
//! the timer task firing the shard's timer queue (`timers.rs`), one task per connection
//! (`conn_task.rs`), and one task per handler that did not finish on its first poll (with
//! its deadline). In steady state a shard has no glommio timer registered at all.

mod conn_task;
mod table;
mod timers;
mod vectored;

use std::cell::RefCell;
use std::future::poll_fn;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Instant;

use futures_lite::future::or;
use futures_lite::AsyncReadExt;
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

use crate::conn::Control;
use crate::error::StartError;
use crate::runtime::policy::{AcceptBackoff, Stop, StopStep};
use crate::runtime::{self, memlock, spawn, Command, ShardCore, ShardPlan};
use table::ConnTable;

/// The state of a running shard, shared by its tasks (never across threads).
pub(super) struct ShardCtx {
    core: ShardCore,
    conns: RefCell<ConnTable>,
}

impl ShardCtx {
    fn remove_conn(&self, key: usize, peer: Option<std::net::SocketAddr>) {
        self.conns.borrow_mut().remove(key);
        self.core.closed(peer);
    }

    fn open_conns(&self) -> usize {
        self.conns.borrow().len()
    }

    fn request_all(&self, control: Control) {
        self.conns
            .borrow()
            .links()
            .iter()
            .for_each(|link| link.request(control));
    }
}

/// Starts the shard's thread. Its executor is created on that thread; the outcome is
/// reported on `ready` before any connection is accepted.
pub(crate) fn spawn(
    plan: ShardPlan,
    ready: mpsc::Sender<Result<(), StartError>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (policy, counters) = (plan.config.fault_policy, plan.counters.clone());
    runtime::spawn_thread(plan.id, policy, counters, move || {
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
                    memlock: memlock::describe(memlock::limit_bytes()),
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
        tls,
    } = plan;
    // glommio's accept first tries a non-blocking accept(2) by setting O_NONBLOCK on the
    // listening socket and then restoring the flags it read. A Unix listener is one open
    // file shared by every shard, so two shards doing that at once can leave it blocking,
    // and the next accept(2) then blocks the whole shard thread until another client
    // connects. Non-blocking from the start, every restore writes non-blocking back.
    if let Err(e) = listener.set_nonblocking(true) {
        let _ = ready.send(Err(StartError::Shard {
            shard: id,
            reason: format!("cannot make the listener non-blocking: {e}"),
        }));
        return;
    }
    // SAFETY: `into_raw_fd` gave up the socket's ownership of this open, bound, listening
    // socket (TCP, or Unix: glommio's accept and stream calls are plain socket calls);
    // glommio's listener takes it over and closes it when dropped.
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
    let mut control = attach(control.into_fd());
    runtime::timers::set_driven(true);
    spawn::set_spawner(Some(Box::new(|task| {
        glommio::spawn_local(task).detach();
    })));
    let timers = glommio::spawn_local(timers::fire_until_stopped());
    let shard = Rc::new(ShardCtx {
        core: ShardCore::new(id, &config, &setup, counters, tls),
        conns: RefCell::new(ConnTable::default()),
    });
    tracing::debug!(shard = id, cpu, "shard started");
    let _ = ready.send(Ok(()));

    let accept = glommio::spawn_local(accept_loop(shard.clone(), listener));
    loop {
        match next_command(&mut control).await {
            Command::SweepIdle => shard.conns.borrow_mut().sweep(Instant::now()),
            Command::ReloadTls => shard.core.reload_tls(),
            Command::Stop => break,
        }
    }
    accept.cancel().await;
    drain(&shard, config.drain_timeout).await;
    timers.cancel().await;
    spawn::set_spawner(None);
    runtime::timers::set_driven(false);
    tracing::debug!(shard = id, "shard stopped");
}

/// The control channel's descriptor on this shard's reactor (glommio reads any connected
/// stream socket through its `TcpStream`).
fn attach(fd: OwnedFd) -> TcpStream {
    // SAFETY: `into_raw_fd` gave up the only ownership of this open, connected Unix stream
    // socket; the glommio stream takes it over and closes it when dropped.
    unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) }
}

/// The next command; a closed or failed channel means [`Command::Stop`].
async fn next_command(control: &mut TcpStream) -> Command {
    let mut byte = [0u8; 1];
    match control.read(&mut byte).await {
        Ok(1) => Command::from_byte(byte[0]),
        _ => Command::Stop,
    }
}

async fn accept_loop(shard: Rc<ShardCtx>, listener: TcpListener) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                let now = Instant::now();
                let retry_at = backoff.failed(now, shard.core.id, &e);
                glommio::timer::sleep(retry_at - now).await;
                continue;
            }
        };
        backoff.succeeded();
        let peer = stream.peer_addr().ok();
        if !shard.core.admit(shard.open_conns(), peer) {
            continue;
        }
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(shard = shard.core.id, ?peer, error = %e, "TCP_NODELAY not set");
        }
        let opened = shard.core.open(peer);
        let key = shard.conns.borrow_mut().insert(opened.conn.link().clone());
        glommio::spawn_local(conn_task::serve(shard.clone(), stream, opened, key)).detach();
    }
}

/// Graceful shutdown of a shard, as the runtime's [`Stop`] decides: the listener is already
/// closed; every connection stops reading, finishes what it received, flushes and closes.
/// Whatever is left after `drain_timeout` is aborted, and after the abort grace, left.
async fn drain(shard: &ShardCtx, drain_timeout: std::time::Duration) {
    let mut stop = Stop::default();
    stop.begin(
        Instant::now(),
        drain_timeout,
        shard.core.id,
        shard.open_conns(),
    );
    shard.request_all(Control::Drain);
    loop {
        let now = Instant::now();
        match stop.poll(now, shard.open_conns()) {
            StopStep::Abort => shard.request_all(Control::Abort),
            StopStep::Wait { until } => {
                let removed = poll_fn(|cx| shard.conns.borrow_mut().poll_removed(cx));
                or(removed, glommio::timer::sleep(until - now)).await;
            }
            StopStep::Done | StopStep::Serve => return,
        }
    }
}
