//! The servers an XClient may call: the list from discovery, the selector that picks one
//! per attempt, and a breaker per server. Plain state with time as an argument; the
//! XClient holds it under its lock.
//!
//! Only listed servers are remembered: when discovery drops a server its breaker goes, and
//! outcomes of calls still running on it teach nothing. Outcomes carry the breaker
//! generation their call started under (see [`crate::breaker`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::XClientOptions;
use crate::breaker::{Breaker, BreakerConfig};
use crate::discovery::{ServerList, ServerWatch};
use crate::plugin::{Candidates, Plugins};
use crate::select::{Instance, Pick, Select};

/// How an attempt ended, as the breaker and the selector see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The server answered (maybe with an error).
    Answered,
    /// The server did not answer: dial error, broken connection, timeout.
    Failed,
}

/// Why no server could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoPick {
    /// Discovery lists none, or every listed one is excluded.
    NoServer,
    /// Every listed server is behind an open breaker.
    BreakerOpen,
    /// Every listed server is unusable (not all by their breaker) and some are in dial
    /// back-off: the soonest is dialled again after this long.
    Backoff(Duration),
}

pub(super) struct Servers {
    watch: ServerWatch,
    list: ServerList,
    selector: Box<dyn Select + Send>,
    rng: fastrand::Rng,
    breaker: Option<BreakerConfig>,
    breakers: HashMap<String, Breaker>,
    /// Node selection hooks.
    plugins: Plugins,
}

impl Servers {
    pub(super) fn new(watch: ServerWatch, options: &XClientOptions, plugins: Plugins) -> Self {
        let mut selector = options.select.selector_at(options.position);
        let list = watch.current().clone();
        selector.update(&list);
        let rng = options
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Self {
            watch,
            list,
            selector,
            rng,
            breaker: options.breaker,
            breakers: HashMap::new(),
            plugins,
        }
    }

    /// Takes the latest list from discovery (never blocks); returns whether it changed.
    /// Breakers of servers no longer listed are dropped.
    pub(super) fn refresh(&mut self) -> bool {
        if !self.watch.refresh() {
            return false;
        }
        self.list = self.watch.current().clone();
        self.selector.update(&self.list);
        let list = &self.list;
        self.breakers
            .retain(|key, _| list.iter().any(|s| s.key() == key));
        true
    }

    /// The current list.
    pub(super) fn list(&self) -> &ServerList {
        &self.list
    }

    /// Whether discovery lists `key`.
    pub(super) fn is_listed(&self, key: &str) -> bool {
        self.list.iter().any(|s| s.key() == key)
    }

    /// Servers with a breaker.
    pub(super) fn breaker_count(&self) -> usize {
        self.breakers.len()
    }

    /// The breaker generation a call to `key` starting now reports its outcome with.
    pub(super) fn generation(&self, key: &str) -> u64 {
        self.breakers.get(key).map_or(0, Breaker::generation)
    }

    /// The listed server with `key`, or a bare one if discovery dropped it meanwhile.
    pub(super) fn instance(&self, key: &str) -> Instance {
        self.list
            .iter()
            .find(|s| s.key() == key)
            .cloned()
            .unwrap_or_else(|| Instance::new(key, ""))
    }

    /// Picks a server for an attempt at `now`: not in `avoid`, not behind an open
    /// breaker, not in dial back-off (`backoff_left`), not excluded by a plugin. The pick
    /// becomes the breaker's probe if it was open. The caller refreshed the list.
    pub(super) fn pick(
        &mut self,
        service_path: &str,
        avoid: &[String],
        hash: u64,
        now: Instant,
        backoff_left: impl Fn(&str) -> Option<Duration>,
    ) -> Result<String, NoPick> {
        let servers = self.list.clone();
        if servers.is_empty() {
            return Err(NoPick::NoServer);
        }
        let breakers = &self.breakers;
        let open = |s: &Instance| breakers.get(s.key()).is_some_and(|b| !b.ready(now));
        let blocked = |s: &Instance| open(s) || backoff_left(s.key()).is_some();
        let mut excluded: Vec<bool> = servers
            .iter()
            .map(|s| avoid.iter().any(|a| a == s.key()) || blocked(s))
            .collect();
        let picked = if self.plugins.is_empty() {
            let pick = Pick {
                instances: &servers,
                excluded: &excluded,
                key: hash,
            };
            self.selector.select(&pick, &mut self.rng)
        } else {
            let mut candidates = Candidates::new(service_path, &servers, &mut excluded, hash);
            self.plugins.before_select(&mut candidates);
            let pick = Pick {
                instances: &servers,
                excluded: candidates.excluded(),
                key: hash,
            };
            let picked = self.selector.select(&pick, &mut self.rng);
            picked.map(|index| self.plugins.after_select(&candidates, index))
        };
        let Some(index) = picked else {
            let soonest = servers.iter().filter_map(|s| backoff_left(s.key())).min();
            return Err(match soonest {
                _ if servers.iter().all(open) => NoPick::BreakerOpen,
                Some(wait) if servers.iter().all(blocked) => NoPick::Backoff(wait),
                _ => NoPick::NoServer,
            });
        };
        let key = servers[index].key().to_owned();
        if let Some(config) = self.breaker {
            self.breakers
                .entry(key.clone())
                .or_insert_with(|| Breaker::new(config))
                .handle_attempt(now);
        }
        Ok(key)
    }

    /// What an attempt on `key` that took `latency` and started under breaker `generation`
    /// teaches the selector and the breaker (nothing, if discovery dropped `key` since).
    pub(super) fn record(
        &mut self,
        key: &str,
        latency: Duration,
        outcome: Outcome,
        generation: u64,
        now: Instant,
    ) {
        if !self.is_listed(key) {
            return;
        }
        self.selector
            .observe(key, latency, outcome != Outcome::Failed);
        if let Some(breaker) = self.breakers.get_mut(key) {
            match outcome {
                Outcome::Failed => breaker.handle_failure(generation, now),
                Outcome::Answered => breaker.handle_success(generation),
            }
        }
    }
}
