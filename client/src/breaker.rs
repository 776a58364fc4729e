//! A circuit breaker per server: consecutive failures open it, a half-open probe closes it.
//!
//! ```text
//!            failures >= failure_threshold
//!   Closed ───────────────────────────────▶ Open { since }
//!     ▲                                      │ open_for elapsed: the next attempt is a probe
//!     │ probe answered                       ▼
//!     └──────────────────────────────── HalfOpen { probe_since }
//!                                            │ probe failed
//!                                            └──────────────▶ Open { since: now }
//! ```
//!
//! "Failure" means the server did not answer: dial error, broken connection, timeout. An
//! error response from the service is an answer and counts as success, so a service that
//! rejects bad input is not cut off. This differs from rpcx-go, whose breaker counts only
//! dial failures and is never told about successes (PROTOCOL.md §11.6).
//!
//! The breaker reads no clock: callers pass `now`, so tests step time by hand. A probe whose
//! outcome never arrives (its call was dropped) is considered lost after `open_for`, and the
//! next attempt probes again.
//!
//! Every state change starts a new *generation*. A call takes the generation when it starts
//! ([`Breaker::generation`]) and reports its outcome with it; an outcome from an older
//! generation is ignored. So a slow call that began before the breaker opened cannot close
//! it by succeeding late, and one that began before a probe closed it cannot count against
//! the fresh state: only calls made under the current state move it.

use std::time::{Duration, Instant};

/// When a breaker opens and for how long. Built with [`BreakerConfig::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting one probe through.
    pub open_for: Duration,
}

impl BreakerConfig {
    /// Opens after `failure_threshold` consecutive failures, for `open_for`.
    pub const fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            failure_threshold,
            open_for,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(1),
        }
    }
}

/// Where a breaker is; see the module docs for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls flow; `failures` consecutive failures so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// Calls are refused until `since + open_for`.
    Open {
        /// When it opened.
        since: Instant,
    },
    /// One probe call is out since `probe_since`; others are refused.
    HalfOpen {
        /// When the probe started.
        probe_since: Instant,
    },
}

/// One server's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    generation: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed { failures: 0 },
            generation: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The current generation: a call takes it when it starts and reports with it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn set(&mut self, state: BreakerState) {
        self.state = state;
        self.generation += 1;
    }

    /// Whether an attempt may start now. Does not change state; see [`Self::handle_attempt`].
    pub fn ready(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { since } => {
                now.saturating_duration_since(since) >= self.config.open_for
            }
            BreakerState::HalfOpen { probe_since } => {
                now.saturating_duration_since(probe_since) >= self.config.open_for
            }
        }
    }

    /// An attempt starts now (the caller checked [`Self::ready`]); from Open or HalfOpen it
    /// becomes the probe. Returns the generation the attempt reports its outcome with.
    pub fn handle_attempt(&mut self, now: Instant) -> u64 {
        if !matches!(self.state, BreakerState::Closed { .. }) {
            self.set(BreakerState::HalfOpen { probe_since: now });
        }
        self.generation
    }

    /// The server answered a call of `generation`; ignored if the state changed since.
    pub fn handle_success(&mut self, generation: u64) {
        if generation != self.generation {
            return;
        }
        match self.state {
            BreakerState::Closed { failures: 0 } => {}
            // Failures count consecutively within one closed state.
            BreakerState::Closed { .. } => self.state = BreakerState::Closed { failures: 0 },
            _ => self.set(BreakerState::Closed { failures: 0 }),
        }
    }

    /// The server did not answer a call of `generation`; ignored if the state changed
    /// since.
    pub fn handle_failure(&mut self, generation: u64, now: Instant) {
        if generation != self.generation {
            return;
        }
        match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.config.failure_threshold => {
                self.state = BreakerState::Closed {
                    failures: failures + 1,
                };
            }
            _ => self.set(BreakerState::Open { since: now }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: BreakerConfig = BreakerConfig {
        failure_threshold: 3,
        open_for: Duration::from_millis(100),
    };

    #[test]
    fn consecutive_failures_open_it_and_a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(CONFIG);
        let g = b.generation();
        b.handle_failure(g, t0);
        b.handle_failure(g, t0);
        b.handle_success(g);
        b.handle_failure(g, t0);
        b.handle_failure(g, t0);
        assert!(b.ready(t0), "2 consecutive failures keep it closed");
        b.handle_failure(g, t0);
        assert_eq!(b.state(), BreakerState::Open { since: t0 });
        assert!(!b.ready(t0 + Duration::from_millis(99)));
    }

    #[test]
    fn half_open_probe_closes_it_on_success() {
        let t0 = Instant::now();
        let mut b = Breaker::new(CONFIG);
        (0..3).for_each(|_| b.handle_failure(0, t0));
        let t1 = t0 + CONFIG.open_for;
        assert!(b.ready(t1));
        let probe = b.handle_attempt(t1);
        assert_eq!(b.state(), BreakerState::HalfOpen { probe_since: t1 });
        assert!(!b.ready(t1), "only one probe at a time");
        b.handle_success(probe);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn failed_probe_reopens_it_and_a_lost_probe_is_retried() {
        let t0 = Instant::now();
        let mut b = Breaker::new(CONFIG);
        (0..3).for_each(|_| b.handle_failure(0, t0));
        let t1 = t0 + CONFIG.open_for;
        let probe = b.handle_attempt(t1);
        b.handle_failure(probe, t1);
        assert_eq!(b.state(), BreakerState::Open { since: t1 });
        let t2 = t1 + CONFIG.open_for;
        b.handle_attempt(t2);
        assert!(!b.ready(t2 + Duration::from_millis(50)));
        assert!(
            b.ready(t2 + CONFIG.open_for),
            "a probe that never reports is retried"
        );
    }

    #[test]
    fn calls_from_an_older_generation_cannot_flip_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(CONFIG);
        let before = b.handle_attempt(t0); // a slow call starts while closed
        (0..3).for_each(|_| b.handle_failure(b.generation(), t0));
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        b.handle_success(before);
        assert!(
            matches!(b.state(), BreakerState::Open { .. }),
            "a late success from before the opening does not close it"
        );

        let t1 = t0 + CONFIG.open_for;
        let probe = b.handle_attempt(t1);
        b.handle_success(probe);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        let closed = b.generation();
        b.handle_failure(probe - 1, t1); // from the open generation
        b.handle_failure(before, t1);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        assert_eq!(b.generation(), closed);
    }
}
