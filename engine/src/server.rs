//! [`Server`]: starts the shards, reports their counters, shuts them down.
//!
//! ```no_run
//! use ringrpc_engine::{HandlerError, Request, Response, Server, ServerConfig};
//!
//! async fn echo(request: Request) -> Result<Response, HandlerError> {
//!     Ok(Response::new(request.into_payload()))
//! }
//!
//! let config = ServerConfig::default().listen(([127, 0, 0, 1], 8972)).shards(2);
//! let server = Server::start(config, |services| {
//!     services.service("Echo").method("Echo", echo);
//! })
//! .expect("server starts");
//! println!("listening on {}", server.local_addr());
//! server.shutdown();
//! ```

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::driver::{self, Driver};
use crate::error::StartError;
use crate::plugin::MetricsRegistry;
use crate::registry::RegistryWatch;
use crate::runtime::listen_addr::ListenAddr;
use crate::runtime::listener::SocketFile;
use crate::runtime::policy::ABORT_GRACE;
use crate::runtime::{self, Command, ControlSender, Setup, ShardCounters, ShardPlan};
use crate::services::{ServicePaths, Services};
use crate::tls::{TlsError, TlsShared};

mod stats;

pub use stats::ShardStats;

/// Where the admin routes on the rpcx port find the status (`admin::route`).
#[cfg(feature = "admin")]
use crate::admin::SourceSlot;
#[cfg(not(feature = "admin"))]
type SourceSlot = ();

/// How much longer than `drain_timeout` plus the abort grace a shutdown waits for a shard
/// thread to end before it gives up on it (a handler that never yields holds its thread).
const JOIN_SLACK: Duration = Duration::from_secs(2);

/// A running server: its shard threads and the means to stop them. Dropping it shuts the
/// server down gracefully, like [`Server::shutdown`].
pub struct Server {
    listen_addr: ListenAddr,
    driver: Driver,
    shards: Vec<ShardHandle>,
    controls: Arc<Vec<ControlSender>>,
    ticker: Option<Ticker>,
    service_paths: ServicePaths,
    tls: Option<TlsShared>,
    /// A Unix listener's socket file, removed once the shards have stopped.
    socket_file: Option<SocketFile>,
    metrics: Option<MetricsRegistry>,
    #[cfg(feature = "admin")]
    admin: Option<crate::admin::Admin>,
    #[cfg(feature = "admin")]
    notes: crate::admin::Notes,
    join_timeout: Duration,
}

struct ShardHandle {
    cpu: usize,
    counters: Arc<ShardCounters>,
    thread: Option<JoinHandle<()>>,
}

/// The thread that asks every shard for a sweep (idle, frame and send timeouts) once per
/// `policy::sweep_period`.
struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// What [`Server::shutdown`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Shards whose thread had not ended when shutdown gave up waiting (`drain_timeout`
    /// plus 3 s): a handler that never yields holds it. They are left running (detached);
    /// the process can still exit.
    pub stuck_shards: Vec<usize>,
}

impl ShutdownReport {
    /// Whether every shard thread ended.
    pub fn is_clean(&self) -> bool {
        self.stuck_shards.is_empty()
    }
}

impl Server {
    /// Binds one listener per shard, starts the shards and runs `setup` once on each shard
    /// thread to register its handlers. Returns once every shard accepts connections.
    ///
    /// With [`Driver::Auto`] (the default) the shards run on io_uring if it can start here;
    /// if not, one warning names the cause and the glommio driver runs them instead.
    pub fn start<F>(config: ServerConfig, setup: F) -> Result<Server, StartError>
    where
        F: Fn(&mut Services) + Send + Sync + 'static,
    {
        let service_paths = ServicePaths::default();
        let admin = config.admin.is_some() || config.admin_on_rpcx_port;
        let metrics = (config.metrics || admin).then(MetricsRegistry::new);
        #[cfg(feature = "admin")]
        let slot = config.admin_on_rpcx_port.then(SourceSlot::default);
        #[cfg(not(feature = "admin"))]
        let slot: Option<SourceSlot> = None;
        let setup = with_observability(metrics.clone(), slot.clone(), setup);
        let setup: Setup = Arc::new(service_paths.recording(setup));
        let tls = config.tls.as_ref().map(TlsShared::load).transpose()?;
        let start_on = |driver| {
            let mut server =
                Self::start_on(driver, &config, &setup, service_paths.clone(), tls.clone())?;
            if let Some(metrics) = &metrics {
                let shards = server.shards.iter().map(|h| h.counters.clone()).collect();
                metrics.attach_engine(shards);
            }
            server.metrics = metrics.clone();
            server.start_admin(&config, slot.as_ref())?;
            Ok(server)
        };
        match config.driver {
            Driver::Auto => match start_on(Driver::Uring) {
                Err(StartError::Uring { reason, fix, .. }) => {
                    tracing::warn!(
                        %reason,
                        %fix,
                        "the io_uring driver cannot start; falling back to the glommio driver"
                    );
                    start_on(Driver::Glommio)
                }
                started => started,
            },
            driver => start_on(driver),
        }
    }

    /// Starts every shard on `driver` (not `Auto`). On an error the shards already started
    /// are stopped (dropping the partial server) and their listeners closed.
    fn start_on(
        driver: Driver,
        config: &ServerConfig,
        setup: &Setup,
        service_paths: ServicePaths,
        tls: Option<TlsShared>,
    ) -> Result<Self, StartError> {
        if config.shards == 0 {
            return Err(StartError::Config("shards must be at least 1".to_owned()));
        }
        let cpus = shard_cpus(config)?;
        let bound = runtime::bind_all(&config.listen, config.shards, config.backlog)?;
        let listeners = bound.sockets;
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..config.shards {
            let (sender, receiver) = runtime::control_channel()
                .map_err(|e| StartError::Config(format!("cannot create a control channel: {e}")))?;
            senders.push(sender);
            receivers.push(receiver);
        }
        let controls = Arc::new(senders);
        let mut server = Server {
            listen_addr: bound.local,
            driver,
            shards: Vec::new(),
            controls: controls.clone(),
            ticker: None,
            service_paths,
            tls: tls.clone(),
            join_timeout: config.drain_timeout + ABORT_GRACE + JOIN_SLACK,
            socket_file: bound.file,
            metrics: None,
            #[cfg(feature = "admin")]
            admin: None,
            #[cfg(feature = "admin")]
            notes: Default::default(),
        };
        let plans = listeners.into_iter().zip(cpus).zip(receivers);
        for (id, ((listener, cpu), control)) in plans.enumerate() {
            let counters = Arc::new(ShardCounters::default());
            let plan = ShardPlan {
                id,
                cpu,
                listener,
                config: config.clone(),
                setup: setup.clone(),
                control,
                counters: counters.clone(),
                tls: tls.clone(),
            };
            let (ready_tx, ready_rx) = mpsc::channel();
            let spawned = driver::spawn_shard(driver, plan, ready_tx);
            let thread = spawned.map_err(|e| StartError::Shard {
                shard: id,
                reason: e.to_string(),
            })?;
            server.shards.push(ShardHandle {
                cpu,
                counters,
                thread: Some(thread),
            });
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(StartError::Shard {
                        shard: id,
                        reason: "the shard thread ended during setup (did setup panic?)".into(),
                    })
                }
            }
        }
        if let Some(period) = runtime::watch::sweep_period(config) {
            server.ticker = Some(Ticker::start(period, controls)?);
        }
        let addr = &server.listen_addr;
        tracing::info!(%addr, shards = config.shards, ?driver, "ringrpc listening");
        Ok(server)
    }

    /// The TCP address the shards listen on (with the port chosen if the config said 0).
    /// A server on a Unix socket has none and returns the unspecified `0.0.0.0:0`: use
    /// [`Server::listen_addr`] there.
    pub fn local_addr(&self) -> SocketAddr {
        self.listen_addr
            .as_tcp()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Where the shards listen, TCP or Unix (a TCP port 0 replaced by the port chosen);
    /// its `Display` is the address an rpcx client dials (`tcp@127.0.0.1:8972`,
    /// `unix@/run/app.sock`).
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.listen_addr
    }

    /// The driver the shards run on: [`Driver::Uring`] or [`Driver::Glommio`] (what
    /// [`Driver::Auto`] chose).
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The service paths the shards registered, sorted: what a registry announces (the
    /// example server builds its etcd `Registration` from them).
    pub fn service_paths(&self) -> Vec<String> {
        self.service_paths.to_vec()
    }

    /// Reads the TLS certificate, key and client CA files again: connections accepted from
    /// now on use them, connections already open keep theirs. On an error (a file that does
    /// not parse, a key that does not match) nothing changes. The example server calls it
    /// on SIGHUP.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let tls = self.tls.as_ref().ok_or(TlsError::NotConfigured)?;
        tls.reload()?;
        for (shard, control) in self.controls.iter().enumerate() {
            control
                .send(Command::ReloadTls)
                .map_err(|e| TlsError::Shard {
                    shard,
                    reason: e.to_string(),
                })?;
        }
        tracing::info!("TLS configuration reloaded");
        Ok(())
    }

    /// The metrics of every shard, when `ServerConfig::metrics` or `admin` is set: scrape
    /// them with [`MetricsRegistry::encode`] or [`MetricsRegistry::snapshot`].
    pub fn metrics(&self) -> Option<&MetricsRegistry> {
        self.metrics.as_ref()
    }

    /// The address the admin endpoint listens on, if `ServerConfig::admin` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "admin")]
        return self
            .admin
            .as_ref()
            .and_then(crate::admin::Admin::local_addr);
        #[cfg(not(feature = "admin"))]
        None
    }

    /// Shows `key: value` under the status page's table and in `/status` (`notes`), e.g.
    /// a build version. Does nothing without the admin endpoint.
    pub fn set_status(&self, key: &str, value: impl Into<String>) {
        #[cfg(feature = "admin")]
        self.notes.set(key, value.into());
        #[cfg(not(feature = "admin"))]
        let _ = (key, value.into());
    }

    /// Shows a registrar's live state (registered, lost, re-registering, its lease, the
    /// last error) in `/status` and on the status page, read whenever they are. Does
    /// nothing without the admin endpoint.
    ///
    /// ```no_run
    /// # fn show(server: &ringrpc_engine::Server, registrar: &ringrpc_engine::registry::EtcdRegistrar) {
    /// server.show_registry(registrar.watch());
    /// # }
    /// ```
    pub fn show_registry(&self, watch: RegistryWatch) {
        #[cfg(feature = "admin")]
        self.notes.set_registry(watch);
        #[cfg(not(feature = "admin"))]
        let _ = watch;
    }

    /// Starts the admin endpoint: its rates thread, its own address if configured, and
    /// the routes of the rpcx port (through `slot`) if they are on.
    #[cfg(feature = "admin")]
    fn start_admin(
        &mut self,
        config: &ServerConfig,
        slot: Option<&SourceSlot>,
    ) -> Result<(), StartError> {
        if config.admin.is_none() && slot.is_none() {
            return Ok(());
        }
        let Some(metrics) = self.metrics.clone() else {
            return Ok(());
        };
        let source = crate::admin::StatusSource {
            metrics,
            shards: self
                .shards
                .iter()
                .map(|handle| (handle.cpu, handle.counters.clone()))
                .collect(),
            listen: match &self.listen_addr {
                ListenAddr::Tcp(addr) => addr.to_string(),
                other => other.to_string(),
            },
            driver: self.driver,
            started: std::time::Instant::now(),
            services: self.service_paths.clone(),
            notes: self.notes.clone(),
            rates: Default::default(),
        };
        if let Some(slot) = slot {
            // Set once: a server starts its admin endpoint once.
            let _ = slot.set(source.clone());
        }
        self.admin = Some(crate::admin::Admin::start(config.admin, source)?);
        Ok(())
    }

    #[cfg(not(feature = "admin"))]
    fn start_admin(
        &mut self,
        config: &ServerConfig,
        _: Option<&SourceSlot>,
    ) -> Result<(), StartError> {
        match (config.admin, config.admin_on_rpcx_port) {
            (Some(addr), _) => Err(StartError::Config(format!(
                "admin endpoint {addr}: built without the `admin` feature"
            ))),
            (None, true) => Err(StartError::Config(
                "admin_on_rpcx_port: built without the `admin` feature".to_owned(),
            )),
            (None, false) => Ok(()),
        }
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish (bounded by
    /// `drain_timeout`), flush and close every connection, then join the shard threads.
    ///
    /// Bounded: a shard thread still running `drain_timeout` + 3 s after the stop (a
    /// handler that never yields holds it) is left behind, logged, and named in the report.
    /// Dropping the server does the same.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> ShutdownReport {
        #[cfg(feature = "admin")]
        drop(self.admin.take());
        if let Some(ticker) = self.ticker.take() {
            drop(ticker.stop);
            let _ = ticker.thread.join();
        }
        for control in self.controls.iter() {
            // A shard whose channel is gone has stopped already.
            let _ = control.send(Command::Stop);
        }
        let deadline = Instant::now() + self.join_timeout;
        let mut report = ShutdownReport::default();
        for (shard, handle) in self.shards.iter_mut().enumerate() {
            let Some(thread) = handle.thread.take() else {
                continue;
            };
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if !thread.is_finished() {
                tracing::error!(
                    shard,
                    waited_s = self.join_timeout.as_secs_f64(),
                    "a shard did not stop (a handler that never yields?); left running"
                );
                report.stuck_shards.push(shard);
            } else if thread.join().is_err() {
                tracing::error!(shard, cpu = handle.cpu, "a shard thread panicked");
            }
        }
        // The shards that stopped closed their listeners: the socket file can go.
        self.socket_file = None;
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen_addr", &self.listen_addr)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl Ticker {
    fn start(period: Duration, controls: Arc<Vec<ControlSender>>) -> Result<Self, StartError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ringrpc-idle".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    for control in controls.iter() {
                        let _ = control.send(Command::SweepIdle);
                    }
                }
            })
            .map_err(|e| StartError::Config(format!("cannot start the idle ticker: {e}")))?;
        Ok(Self { stop, thread })
    }
}

/// `setup`, with the metrics plugin registered first on every shard when `metrics` is set
/// (so it sees every request, refused ones included), and the admin routes of the rpcx
/// port after the application's routes when `slot` is set.
fn with_observability<F>(
    metrics: Option<MetricsRegistry>,
    slot: Option<SourceSlot>,
    setup: F,
) -> impl Fn(&mut Services) + Send + Sync + 'static
where
    F: Fn(&mut Services) + Send + Sync + 'static,
{
    move |services: &mut Services| {
        if let Some(metrics) = &metrics {
            services.plugin(metrics.plugin(services.shard()));
        }
        setup(services);
        #[cfg(feature = "admin")]
        if let Some(slot) = &slot {
            services.add_http_route(crate::admin::AdminRoute(slot.clone()));
        }
        #[cfg(not(feature = "admin"))]
        let _ = &slot;
    }
}

/// The CPU of each shard: the configured list, or the online CPUs in order, wrapping.
fn shard_cpus(config: &ServerConfig) -> Result<Vec<usize>, StartError> {
    if !config.cpus.is_empty() {
        if config.cpus.len() != config.shards {
            return Err(StartError::Config(format!(
                "{} CPUs given for {} shards",
                config.cpus.len(),
                config.shards
            )));
        }
        return Ok(config.cpus.clone());
    }
    let mut online: Vec<usize> = glommio::CpuSet::online()
        .map(|set| set.iter().map(|location| location.cpu).collect())
        .unwrap_or_default();
    online.sort_unstable();
    if online.is_empty() {
        online.push(0);
    }
    Ok((0..config.shards)
        .map(|i| online[i % online.len()])
        .collect())
}
