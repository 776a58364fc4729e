//! The etcd control plane of a process: one thread running a current-thread tokio runtime,
//! on which etcd-client (tokio-based) does all its work.
//!
//! Discovery watches run as tasks here and publish server lists over crossbeam channels
//! ([`super::Hub`]); executors and clients never wait on this thread. Dropping the
//! [`EtcdControlPlane`] stops the runtime, which cancels every task, and joins the thread.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The thread that talks to etcd. Create one per process and share it by reference.
#[derive(Debug)]
pub struct EtcdControlPlane {
    endpoints: Arc<[String]>,
    tasks: Option<UnboundedSender<Task>>,
    thread: Option<JoinHandle<()>>,
}

impl EtcdControlPlane {
    /// Starts the thread. `endpoints` are etcd client URLs (`http://127.0.0.1:2379`) or
    /// `host:port`; nothing connects until a watch starts.
    pub fn start<E: Into<String>>(endpoints: impl IntoIterator<Item = E>) -> io::Result<Self> {
        let endpoints: Arc<[String]> = endpoints.into_iter().map(Into::into).collect();
        if endpoints.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no etcd endpoint",
            ));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, mut rx) = unbounded_channel::<Task>();
        let thread = std::thread::Builder::new()
            .name("ringrpc-etcd".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(task) = rx.recv().await {
                        tokio::spawn(task);
                    }
                });
            })?;
        Ok(Self {
            endpoints,
            tasks: Some(tx),
            thread: Some(thread),
        })
    }

    /// The etcd endpoints.
    pub fn endpoints(&self) -> &Arc<[String]> {
        &self.endpoints
    }

    /// Runs `task` on the control-plane thread.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(tasks) = &self.tasks {
            // Fails only if the thread is gone, and then there is nobody to run it.
            let _ = tasks.send(Box::pin(task));
        }
    }
}

impl Drop for EtcdControlPlane {
    fn drop(&mut self) {
        drop(self.tasks.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connects to etcd with short timeouts and HTTP/2 keep-alive, so that a dead etcd is
/// noticed within seconds and the caller's retry loop takes over.
pub(crate) async fn connect(
    endpoints: &[String],
) -> Result<etcd_client::Client, etcd_client::Error> {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
        .with_keep_alive_while_idle(true);
    etcd_client::Client::connect(endpoints, Some(options)).await
}

/// Exponential backoff between reconnect attempts: 100 ms doubling to 5 s.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }
}
