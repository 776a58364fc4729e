//! Keeps a [`Registration`] in etcd, in rpcx-etcd's layout, on a control-plane thread.
//!
//! ```text
//!            connect, grant lease, put all keys
//!   Down ──────────────────────────────────────▶ Registered { lease }
//!    ▲  backoff 100 ms .. 5 s                       │  keep-alive every ttl/6,
//!    │                                              │  node keys checked every check_interval
//!    └──────────── etcd error, keep-alive stream ───┘
//!                  ended, lease expired (ttl 0), no
//!                  keep-alive answered for 2/3 of the ttl
//!
//!   any state ── deregister ──▶ node keys deleted, thread ends
//! ```
//!
//! Every key (both directory keys and every node key) hangs on one lease, written at once at
//! start (rpcx-etcd's newest versions write the first service's node key only on the first
//! update tick; this does not). After an outage or a lost lease a new lease is granted and all
//! keys are written again; the old lease is revoked if it still exists. A lease whose
//! keep-alives go unanswered (a silent partition produces no error) counts as lost after
//! 2/3 of its TTL ([`super::lease`]), while etcd still keeps the old keys for the last third:
//! the new registration races the expiry instead of following it. Deregistration
//! deletes the node keys (as rpcx-etcd's `Unregister`) and leaves the directory keys to
//! expire with the lease.

use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, unbounded, Receiver, Sender};
use etcd_client::{Client, ConnectOptions, PutOptions};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::lease::{lease_ttl_secs, Answer, LeaseWatch};
use super::{with_state, Registration, RegistryUrl, RegistryWatch};

/// What the registrar reports, in order, on [`EtcdRegistrar::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// All keys are written under this lease.
    Registered {
        /// etcd's id of the lease.
        lease_id: i64,
    },
    /// The registration may be gone (etcd unreachable, lease lost); re-registering.
    Lost {
        /// What happened.
        reason: String,
    },
    /// A metadata change was written.
    Updated {
        /// The service whose metadata changed.
        service_path: String,
    },
    /// The node keys were deleted; the registrar has stopped.
    Deregistered,
}

enum Command {
    SetMetadata {
        service_path: String,
        metadata: String,
    },
    SetInactive(bool),
    Deregister {
        done: Sender<Result<(), String>>,
    },
}

/// Why deregistration did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeregisterError {
    /// etcd answered with an error.
    #[error("etcd refused the deregistration: {0}")]
    Etcd(String),
    /// No answer in time; the lease expires the keys later.
    #[error("deregistration did not finish within {timeout_ms} ms")]
    Timeout {
        /// The time waited.
        timeout_ms: u64,
    },
}

/// A server's registration in etcd, kept alive by a control-plane thread until
/// [`Self::deregister`] or drop.
#[derive(Debug)]
pub struct EtcdRegistrar {
    commands: UnboundedSender<Command>,
    events: Receiver<RegistryEvent>,
    watch: RegistryWatch,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::SetMetadata { .. } => "SetMetadata",
            Command::SetInactive(_) => "SetInactive",
            Command::Deregister { .. } => "Deregister",
        })
    }
}

impl EtcdRegistrar {
    /// Starts the control-plane thread, which connects and registers in the background
    /// (see [`Self::wait_registered`]) and keeps retrying while etcd is unreachable.
    pub fn start(endpoints: Vec<String>, registration: Registration) -> io::Result<Self> {
        if endpoints.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no etcd endpoint",
            ));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (commands, rx) = unbounded_channel();
        let (events_tx, events) = unbounded();
        let url = RegistryUrl {
            endpoints: endpoints.clone(),
            base_path: registration.base_path.clone(),
        };
        let watch = RegistryWatch::new(url.to_string(), registration.service_address.clone());
        let task_watch = watch.clone();
        let thread = std::thread::Builder::new()
            .name("ringrpc-registry".into())
            .spawn(move || {
                let mut task = Task {
                    endpoints,
                    registration,
                    commands: rx,
                    events: events_tx,
                    watch: task_watch,
                };
                runtime.block_on(task.run());
            })?;
        Ok(Self {
            commands,
            events,
            watch,
            thread: Some(thread),
        })
    }

    /// The registration's live state (what the status page shows:
    /// [`crate::Server::show_registry`]).
    pub fn watch(&self) -> RegistryWatch {
        self.watch.clone()
    }

    /// Events, for logs and tests. Nobody has to read them.
    pub fn events(&self) -> &Receiver<RegistryEvent> {
        &self.events
    }

    /// Blocks until the next `Registered` event or `timeout` (a timeout beyond the clock's
    /// range waits as long as it takes); returns whether it came.
    pub fn wait_registered(&self, timeout: Duration) -> bool {
        let next = |events: &Receiver<RegistryEvent>| match Instant::now().checked_add(timeout) {
            Some(deadline) => events.recv_deadline(deadline).ok(),
            None => events.recv().ok(),
        };
        while let Some(event) = next(&self.events) {
            if matches!(event, RegistryEvent::Registered { .. }) {
                return true;
            }
        }
        false
    }

    /// Replaces a service's metadata (e.g. `weight=5&group=b`); written at once if etcd is
    /// reachable, else at the next registration.
    pub fn set_metadata(&self, service_path: impl Into<String>, metadata: impl Into<String>) {
        let command = Command::SetMetadata {
            service_path: service_path.into(),
            metadata: metadata.into(),
        };
        let _ = self.commands.send(command);
    }

    /// Marks every service `state=inactive` (clients stop selecting this server) or active.
    pub fn set_inactive(&self, inactive: bool) {
        let _ = self.commands.send(Command::SetInactive(inactive));
    }

    /// Deletes the node keys and stops. Call it at the start of a graceful shutdown, before
    /// draining, so clients stop selecting this server first (PROTOCOL.md §4.17).
    pub fn deregister(mut self, timeout: Duration) -> Result<(), DeregisterError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), DeregisterError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let (done, result) = bounded(1);
        let _ = self.commands.send(Command::Deregister { done });
        let outcome = match result.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DeregisterError::Etcd(e)),
            Err(_) => Err(DeregisterError::Timeout {
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        };
        if outcome.is_ok() {
            let _ = thread.join();
        }
        // On error the thread is left to finish by itself: it never outlives the process.
        outcome
    }
}

impl Drop for EtcdRegistrar {
    fn drop(&mut self) {
        if let Err(error) = self.stop(Duration::from_secs(2)) {
            tracing::warn!(%error, "etcd registrar dropped without deregistering");
        }
    }
}

/// How a session ended.
enum End {
    /// Deregistered (or the handle is gone): stop.
    Stop,
    /// Registration may be gone: back off and register again.
    Lost(String),
}

impl From<etcd_client::Error> for End {
    fn from(e: etcd_client::Error) -> Self {
        End::Lost(e.to_string())
    }
}

struct Task {
    endpoints: Vec<String>,
    registration: Registration,
    commands: UnboundedReceiver<Command>,
    events: Sender<RegistryEvent>,
    watch: RegistryWatch,
}

impl Task {
    async fn run(&mut self) {
        let mut backoff = Duration::from_millis(100);
        let mut old_lease = None;
        loop {
            let started = Instant::now();
            self.watch.attempting();
            let reason = match self.session(&mut old_lease).await {
                End::Stop => return,
                End::Lost(reason) => reason,
            };
            self.watch.lost(&reason, Instant::now());
            tracing::warn!(%reason, "etcd registration lost; registering again");
            let _ = self.events.send(RegistryEvent::Lost { reason });
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = self.commands.recv() => match command {
                        Some(Command::Deregister { done }) => {
                            let result = self.deregister_once().await;
                            let _ = done.send(result);
                            return;
                        }
                        None => return,
                        Some(other) => drop(self.apply(other)),
                    },
                }
            }
        }
    }

    /// Applies a metadata command to the registration; returns the services it changed.
    fn apply(&mut self, command: Command) -> Vec<String> {
        match command {
            Command::SetMetadata {
                service_path,
                metadata,
            } => {
                match self
                    .registration
                    .services
                    .iter_mut()
                    .find(|(s, _)| *s == service_path)
                {
                    Some((_, m)) => *m = metadata,
                    None => self
                        .registration
                        .services
                        .push((service_path.clone(), metadata)),
                }
                vec![service_path]
            }
            Command::SetInactive(inactive) => self
                .registration
                .services
                .iter_mut()
                .map(|(s, m)| {
                    *m = with_state(m, inactive);
                    s.clone()
                })
                .collect(),
            Command::Deregister { .. } => Vec::new(),
        }
    }

    async fn session(&mut self, old_lease: &mut Option<i64>) -> End {
        let mut client = match connect(&self.endpoints).await {
            Ok(client) => client,
            Err(e) => return e.into(),
        };
        let ttl = lease_ttl_secs(self.registration.lease_ttl);
        let (lease, ttl) = match client.lease_grant(ttl, None).await {
            Ok(grant) => (grant.id(), grant.ttl()),
            Err(e) => return e.into(),
        };
        if let Err(e) = self.put_all(&mut client, lease).await {
            return e.into();
        }
        if let Some(old) = old_lease.replace(lease).filter(|&old| old != lease) {
            // Keys are on the new lease now; the old one only holds a stale copy, if any.
            let _ = client.lease_revoke(old).await;
        }
        let granted = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
        self.watch.registered(lease, granted, Instant::now());
        let _ = self
            .events
            .send(RegistryEvent::Registered { lease_id: lease });
        tracing::info!(lease, address = %self.registration.service_address, "registered in etcd");
        match self.keep(&mut client, lease, ttl).await {
            Ok(end) | Err(end) => end,
        }
    }

    /// Keeps the lease alive and serves commands until the session ends. Every wait is
    /// bounded by the lease's loss deadline (2/3 of the TTL after the last answer).
    async fn keep(&mut self, client: &mut Client, lease: i64, ttl: i64) -> Result<End, End> {
        let (mut keeper, mut stream) = client.lease_keep_alive(lease).await?;
        let ttl = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
        let mut watch = LeaseWatch::new(ttl, Instant::now());
        let mut keep_alive = tokio::time::interval(watch.keep_alive_every());
        let check_interval = self.registration.check_interval;
        let mut next_check = Instant::now().checked_add(check_interval);
        let lost = || End::Lost(format!("no keep-alive answered for 2/3 of the {ttl:?} TTL"));
        loop {
            let lost_at = watch.lost_at();
            tokio::select! {
                () = sleep_until(lost_at) => return Err(lost()),
                _ = keep_alive.tick() => within(lost_at, keeper.keep_alive()).await.ok_or_else(lost)??,
                message = stream.message() => match message? {
                    Some(response) => {
                        if watch.handle_answer(response.ttl(), Instant::now()) == Answer::Expired {
                            return Err(End::Lost(format!("lease {lease:x} expired")));
                        }
                        self.watch.confirmed(Instant::now());
                    }
                    None => return Err(End::Lost("keep-alive stream ended".into())),
                },
                () = sleep_until(next_check) => {
                    next_check = Instant::now().checked_add(check_interval);
                    within(lost_at, self.rewrite_missing(client, lease)).await.ok_or_else(lost)??;
                }
                command = self.commands.recv() => match command {
                    Some(Command::Deregister { done }) => {
                        let result = self.delete_nodes(client).await.map_err(|e| e.to_string());
                        let _ = done.send(result);
                        return Ok(End::Stop);
                    }
                    None => {
                        let _ = self.delete_nodes(client).await;
                        return Ok(End::Stop);
                    }
                    Some(command) => {
                        for service_path in self.apply(command) {
                            self.put_node(client, lease, &service_path).await?;
                            let _ = self.events.send(RegistryEvent::Updated { service_path });
                        }
                    }
                },
            }
        }
    }

    async fn put_all(&self, client: &mut Client, lease: i64) -> Result<(), etcd_client::Error> {
        let options = || Some(PutOptions::new().with_lease(lease));
        client
            .put(self.registration.base_path.as_str(), "rpcx_path", options())
            .await?;
        for (service_path, _) in &self.registration.services {
            client
                .put(
                    self.registration.service_key(service_path),
                    service_path.as_str(),
                    options(),
                )
                .await?;
            self.put_node(client, lease, service_path).await?;
        }
        Ok(())
    }

    async fn put_node(
        &self,
        client: &mut Client,
        lease: i64,
        service_path: &str,
    ) -> Result<(), etcd_client::Error> {
        let metadata = self
            .registration
            .services
            .iter()
            .find(|(s, _)| s == service_path);
        let metadata = metadata.map_or("", |(_, m)| m.as_str());
        let options = Some(PutOptions::new().with_lease(lease));
        client
            .put(self.registration.node_key(service_path), metadata, options)
            .await?;
        Ok(())
    }

    async fn rewrite_missing(
        &self,
        client: &mut Client,
        lease: i64,
    ) -> Result<(), etcd_client::Error> {
        for (service_path, _) in &self.registration.services {
            let found = client
                .get(self.registration.node_key(service_path), None)
                .await?;
            if found.kvs().is_empty() {
                tracing::warn!(%service_path, "node key vanished from etcd; writing it again");
                self.put_node(client, lease, service_path).await?;
            }
        }
        Ok(())
    }

    async fn delete_nodes(&self, client: &mut Client) -> Result<(), etcd_client::Error> {
        for (service_path, _) in &self.registration.services {
            client
                .delete(self.registration.node_key(service_path), None)
                .await?;
        }
        self.watch.deregistered();
        let _ = self.events.send(RegistryEvent::Deregistered);
        tracing::info!(address = %self.registration.service_address, "deregistered from etcd");
        Ok(())
    }

    /// Deregistration while no session is up: one connection attempt.
    async fn deregister_once(&self) -> Result<(), String> {
        let mut client = connect(&self.endpoints).await.map_err(|e| e.to_string())?;
        self.delete_nodes(&mut client)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Sleeps until `at`; forever if there is no such instant.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// `future`'s output, or `None` if `deadline` comes first.
async fn within<T>(
    deadline: Option<Instant>,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at.into(), future).await.ok(),
        None => Some(future.await),
    }
}

/// Connects with short timeouts and HTTP/2 keep-alive, so a dead etcd is noticed in seconds.
async fn connect(endpoints: &[String]) -> Result<Client, etcd_client::Error> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
        .with_keep_alive_while_idle(true);
    Client::connect(endpoints, Some(options)).await
}
