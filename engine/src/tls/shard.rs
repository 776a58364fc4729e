//! TLS as one shard sees it ([`ShardTls`]): the configuration new connections get, the
//! count of connections still in their handshake, their handshake timers; and the one
//! value all shards share ([`TlsShared`]), which a reload replaces.
//!
//! A reload (`Server::reload_tls`) reads the PEM files into a new rustls configuration,
//! puts it in [`TlsShared`] and sends each shard a `ReloadTls` command; the shard copies the
//! new `Arc` into its own cell. Accepting a connection only reads the shard's cell (no lock,
//! no atomic); connections already open keep the configuration they started with.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

use rustls::ServerConnection;

use super::config::{TlsConfig, TlsError};
use super::session::{Handshake, Session};
use crate::conn::{Connection, Link};
use crate::error::CloseCause;

/// Size of the shard's read buffer for drivers that read into a buffer of ours: one full
/// TLS record and its header and tag, twice.
const SCRATCH_BYTES: usize = 2 * (16 << 10) + 1024;

/// The server's TLS configuration as every shard shares it: the settings (to read the files
/// again) and the rustls configuration new connections get.
#[derive(Clone)]
pub(crate) struct TlsShared {
    config: TlsConfig,
    current: Arc<Mutex<Arc<rustls::ServerConfig>>>,
}

impl TlsShared {
    /// Reads the PEM files once.
    pub(crate) fn load(config: &TlsConfig) -> Result<Self, TlsError> {
        Ok(Self {
            current: Arc::new(Mutex::new(config.load()?)),
            config: config.clone(),
        })
    }

    /// Reads the PEM files again; on success, new connections of every shard get the new
    /// configuration once their shard took it (`ShardTls::reload`).
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let fresh = self.config.load()?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for TlsShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsShared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One shard's TLS. See the module docs.
pub(crate) struct ShardTls {
    shared: TlsShared,
    current: RefCell<Arc<rustls::ServerConfig>>,
    handshakes: Rc<Cell<usize>>,
    scratch: Rc<RefCell<Box<[u8]>>>,
}

impl ShardTls {
    pub(crate) fn new(shared: TlsShared) -> Self {
        Self {
            current: RefCell::new(shared.current()),
            shared,
            handshakes: Rc::new(Cell::new(0)),
            scratch: Rc::new(RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice())),
        }
    }

    /// Takes the configuration the last reload made: connections accepted from now on
    /// use it.
    pub(crate) fn reload(&self, shard: usize) {
        *self.current.borrow_mut() = self.shared.current();
        tracing::info!(shard, "TLS configuration reloaded");
    }

    /// Starts TLS on a connection just accepted, with its handshake timer (`arm_timer`
    /// runs the timer task; the shard passes one that spawns it on the shard). Over the
    /// handshake cap, or if rustls refuses, the connection is closed at once.
    pub(crate) fn accept(
        &self,
        core: &mut Connection,
        arm_timer: impl FnOnce(std::time::Duration, Weak<Link>, Rc<Cell<bool>>),
    ) -> Option<Session> {
        let limits = &self.shared.config;
        if self.handshakes.get() >= limits.max_handshakes_per_shard {
            let max = limits.max_handshakes_per_shard;
            return Session::refuse(core, CloseCause::TooManyHandshakes { max });
        }
        let tls = match ServerConnection::new(self.current.borrow().clone()) {
            Ok(tls) => tls,
            Err(e) => return Session::refuse(core, CloseCause::Tls(e.to_string())),
        };
        self.handshakes.set(self.handshakes.get() + 1);
        let expired = Rc::new(Cell::new(false));
        let timeout = limits.handshake_timeout;
        arm_timer(timeout, Rc::downgrade(core.link()), expired.clone());
        let handshake = Handshake {
            count: self.handshakes.clone(),
            expired,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        Some(Session::new(
            tls,
            core.link().clone(),
            handshake,
            self.scratch.clone(),
            limits.out_buffer_max_bytes.max(1),
        ))
    }
}

/// The handshake timer of a connection on a running shard: when `timeout` has passed, the
/// connection (if it is still there) is told, and checks whether its handshake finished.
pub(crate) fn spawn_handshake_timer(
    timeout: std::time::Duration,
    link: Weak<Link>,
    expired: Rc<Cell<bool>>,
) {
    crate::spawn(async move {
        crate::sleep(timeout).await;
        if let Some(link) = link.upgrade() {
            expired.set(true);
            link.wake();
        }
    });
}
