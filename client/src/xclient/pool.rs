//! The XClient's connections: one cached connection per server, the dials in progress (a
//! second call to a server being dialled waits for that dial instead of dialling too), and
//! the servers whose last dial failed, in back-off ([`Backoff`]). Plain state with time as
//! an argument; the XClient performs the dials.
//!
//! So one dial is in flight per server at most, and after a failed dial nobody dials that
//! server again until its back-off has passed: N callers after a failed dial make no new
//! dial; they fail at once (retryably) or, in failover, go to another server. Servers that
//! discovery dropped are forgotten ([`Pool::retain`]).

use std::collections::HashMap;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::backoff::{Backoff, BackoffConfig};

/// What a call finds for a server.
pub(super) enum Lookup<C> {
    /// A usable cached connection.
    Ready(C),
    /// No connection and no dial: the caller dials (it now owns the dial).
    Dial,
    /// Another call is dialling: wait for it.
    Wait,
    /// The last dial failed; no dial until this much time has passed.
    Backoff(Duration),
}

pub(super) struct Pool<C> {
    conns: HashMap<String, C>,
    /// Servers being dialled, with the calls waiting for the dial.
    dialing: HashMap<String, Vec<Waker>>,
    /// Servers whose last dial failed.
    failed: HashMap<String, Backoff>,
    backoff: BackoffConfig,
    rng: fastrand::Rng,
}

impl<C: Clone> Pool<C> {
    pub(super) fn new(backoff: BackoffConfig, rng: fastrand::Rng) -> Self {
        Self {
            conns: HashMap::new(),
            dialing: HashMap::new(),
            failed: HashMap::new(),
            backoff,
            rng,
        }
    }

    /// The connection to `key` if it is `usable` (an unusable one is dropped); otherwise
    /// whether to dial, wait for the dial in progress, or stay away for now.
    pub(super) fn lookup(
        &mut self,
        key: &str,
        usable: impl Fn(&C) -> bool,
        now: Instant,
    ) -> Lookup<C> {
        match self.conns.get(key) {
            Some(conn) if usable(conn) => return Lookup::Ready(conn.clone()),
            Some(_) => drop(self.conns.remove(key)),
            None => {}
        }
        if self.dialing.contains_key(key) {
            return Lookup::Wait;
        }
        if let Some(wait) = self.backoff_left(key, now) {
            return Lookup::Backoff(wait);
        }
        self.dialing.insert(key.to_owned(), Vec::new());
        Lookup::Dial
    }

    /// How long `key` stays in back-off after `now`, if it is.
    pub(super) fn backoff_left(&self, key: &str, now: Instant) -> Option<Duration> {
        self.failed.get(key).and_then(|b| b.wait_at(now))
    }

    /// Parks `waker` on the dial to `key`; `false` if that dial is over.
    pub(super) fn wait_dial(&mut self, key: &str, waker: &Waker) -> bool {
        match self.dialing.get_mut(key) {
            Some(waiters) => {
                if !waiters.iter().any(|w| w.will_wake(waker)) {
                    waiters.push(waker.clone());
                }
                true
            }
            None => false,
        }
    }

    /// The dial to `key` is over: `failed` at `now` (back-off grows), succeeded (back-off
    /// forgotten) or was abandoned (`None`: nothing learnt). Returns the calls waiting for
    /// it, to wake.
    pub(super) fn end_dial(&mut self, key: &str, failed: Option<bool>, now: Instant) -> Vec<Waker> {
        match failed {
            Some(true) => {
                let previous = self.failed.get(key).copied();
                let backoff = Backoff::after_failure(previous, self.backoff, now, self.rng.f64());
                self.failed.insert(key.to_owned(), backoff);
            }
            Some(false) => drop(self.failed.remove(key)),
            None => {}
        }
        self.dialing.remove(key).unwrap_or_default()
    }

    pub(super) fn insert(&mut self, key: &str, conn: C) {
        self.conns.insert(key.to_owned(), conn);
    }

    /// Drops the connection to `key` (it failed): the next call dials again.
    pub(super) fn remove(&mut self, key: &str) {
        self.conns.remove(key);
    }

    /// Forgets every server `listed` rejects: its connection (closed once the calls still
    /// on it end) and its back-off. Dials in flight end by themselves.
    pub(super) fn retain(&mut self, listed: impl Fn(&str) -> bool) {
        self.conns.retain(|key, _| listed(key));
        self.failed.retain(|key, _| listed(key));
    }

    /// Servers with a cached connection, and servers remembered in back-off.
    pub(super) fn sizes(&self) -> (usize, usize) {
        (self.conns.len(), self.failed.len())
    }
}
