//! [`RegistryWatch`]: a registrar's live state (registered, lost, re-registering, the lease,
//! the last error), written by the registrar's control-plane thread as things happen and
//! read by anyone, such as the admin endpoint's `/status` ([`crate::Server::show_registry`]).
//!
//! ```text
//!   Registering ──▶ Registered ──▶ Lost ──(backoff)──▶ Reregistering ──▶ Registered ...
//!        │                                                   │
//!        └──▶ Lost (etcd unreachable) ◀──────────────────────┘
//!   any ── deregister ──▶ Deregistered
//! ```
//!
//! Times are taken from the clock passed in, so the transitions are tested on virtual time.

// Written only by the etcd registrar.
#![cfg_attr(not(feature = "etcd"), allow(dead_code))]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RegistryPhase {
    /// The first registration is being written.
    #[default]
    Registering,
    /// Every key is written under a live lease.
    Registered,
    /// The registration may be gone (the registry unreachable, the lease lost); a new one
    /// is attempted after a back-off.
    Lost,
    /// Registering again after a loss.
    Reregistering,
    /// The node keys were deleted; the registrar has stopped.
    Deregistered,
}

impl RegistryPhase {
    /// A lower-case name: `registering`, `registered`, `lost`, `re-registering`,
    /// `deregistered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registering => "registering",
            Self::Registered => "registered",
            Self::Lost => "lost",
            Self::Reregistering => "re-registering",
            Self::Deregistered => "deregistered",
        }
    }
}

/// A registrar's state at one moment ([`RegistryWatch::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RegistryStatus {
    /// Where it stands.
    pub phase: RegistryPhase,
    /// The registry, e.g. `etcd://127.0.0.1:2379/rpcx_test`.
    pub registry: String,
    /// The address registered (`tcp@10.0.0.5:8972`).
    pub service_address: String,
    /// The lease the keys hang on, while registered.
    pub lease_id: Option<i64>,
    /// Its TTL as granted.
    pub lease_ttl: Option<Duration>,
    /// When the current registration was written.
    pub registered_at: Option<Instant>,
    /// When the registry last confirmed the lease (a keep-alive answer, or the
    /// registration itself).
    pub confirmed_at: Option<Instant>,
    /// Why the registration was last lost, and when.
    pub last_error: Option<(String, Instant)>,
    /// Registrations written since start (1 + re-registrations, once registered).
    pub registrations: u64,
}

/// A registrar's live state, shared with its thread (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct RegistryWatch(Arc<Mutex<RegistryStatus>>);

impl RegistryWatch {
    /// A registration of `service_address` in `registry`, about to be written.
    pub(crate) fn new(registry: String, service_address: String) -> Self {
        Self(Arc::new(Mutex::new(RegistryStatus {
            registry,
            service_address,
            ..RegistryStatus::default()
        })))
    }

    /// The state now.
    pub fn status(&self) -> RegistryStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut RegistryStatus)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A registration attempt starts (the first, or one after a loss).
    pub(crate) fn attempting(&self) {
        self.update(|s| {
            s.phase = match s.phase {
                RegistryPhase::Registering => RegistryPhase::Registering,
                _ => RegistryPhase::Reregistering,
            };
        });
    }

    /// Every key is written under `lease_id` (TTL `ttl`) at `now`.
    pub(crate) fn registered(&self, lease_id: i64, ttl: Duration, now: Instant) {
        self.update(|s| {
            s.phase = RegistryPhase::Registered;
            s.lease_id = Some(lease_id);
            s.lease_ttl = Some(ttl);
            s.registered_at = Some(now);
            s.confirmed_at = Some(now);
            s.registrations += 1;
        });
    }

    /// The registry confirmed the lease at `now`.
    pub(crate) fn confirmed(&self, now: Instant) {
        self.update(|s| s.confirmed_at = Some(now));
    }

    /// The registration may be gone, for `reason`, at `now`.
    pub(crate) fn lost(&self, reason: &str, now: Instant) {
        self.update(|s| {
            s.phase = RegistryPhase::Lost;
            s.lease_id = None;
            s.lease_ttl = None;
            s.registered_at = None;
            s.last_error = Some((reason.to_owned(), now));
        });
    }

    /// The node keys were deleted.
    pub(crate) fn deregistered(&self) {
        self.update(|s| {
            s.phase = RegistryPhase::Deregistered;
            s.lease_id = None;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_follows_registration_loss_and_recovery() {
        let t0 = Instant::now();
        let watch = RegistryWatch::new("etcd://h:1/x".into(), "tcp@h:2".into());
        assert_eq!(watch.status().phase, RegistryPhase::Registering);
        watch.attempting();
        watch.lost("connect refused", t0);
        let status = watch.status();
        assert_eq!(status.phase, RegistryPhase::Lost);
        assert_eq!(status.registrations, 0);
        watch.attempting();
        assert_eq!(watch.status().phase, RegistryPhase::Reregistering);
        watch.registered(7, Duration::from_secs(30), t0 + Duration::from_secs(1));
        watch.confirmed(t0 + Duration::from_secs(6));
        let status = watch.status();
        assert_eq!(
            (status.phase, status.lease_id, status.registrations),
            (RegistryPhase::Registered, Some(7), 1)
        );
        assert_eq!(status.confirmed_at, Some(t0 + Duration::from_secs(6)));
        assert_eq!(status.last_error, Some(("connect refused".to_owned(), t0)));
        watch.lost("lease 7 expired", t0 + Duration::from_secs(9));
        watch.attempting();
        watch.registered(8, Duration::from_secs(30), t0 + Duration::from_secs(10));
        let status = watch.status();
        assert_eq!((status.lease_id, status.registrations), (Some(8), 2));
        assert_eq!(
            status.last_error.map(|(e, _)| e).as_deref(),
            Some("lease 7 expired")
        );
        watch.deregistered();
        assert_eq!(watch.status().phase, RegistryPhase::Deregistered);
    }
}
