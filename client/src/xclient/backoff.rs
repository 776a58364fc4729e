//! Dial back-off: after a failed dial a server is not dialled again until a jittered delay
//! has passed, and the delay doubles with each failure in a row up to a cap. Plain state
//! with time as an argument; the pool keeps one per server that failed.
//!
//! The n-th failure in a row waits a delay drawn uniformly from `[d/2, d]`, where
//! `d = min(max, min * 2^(n-1))`: never more than `max`, and callers of many clients that
//! saw the same failure spread their next dials over half the delay.

use std::time::{Duration, Instant};

/// The delays; from `XClientOptions::dial_backoff_min` and `dial_backoff_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BackoffConfig {
    pub min: Duration,
    pub max: Duration,
}

/// One server's failed dials in a row and when it may be dialled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backoff {
    failures: u32,
    /// `None`: the delay is beyond the clock's range; no dial until the list changes.
    retry_at: Option<Instant>,
}

impl Backoff {
    /// After one more failed dial at `now` (`previous`: the failures before it). `unit` is a
    /// random number in `[0, 1)`, for the jitter.
    pub fn after_failure(
        previous: Option<Backoff>,
        config: BackoffConfig,
        now: Instant,
        unit: f64,
    ) -> Self {
        let failures = previous.map_or(0, |b| b.failures).saturating_add(1);
        let doublings = failures.saturating_sub(1).min(32);
        let delay = config
            .min
            .saturating_mul(1u32 << doublings.min(31))
            .min(config.max);
        let factor = 0.5 + 0.5 * unit.clamp(0.0, 1.0);
        let jittered = Duration::try_from_secs_f64(delay.as_secs_f64() * factor)
            .unwrap_or(delay)
            .min(config.max);
        Self {
            failures,
            retry_at: now.checked_add(jittered),
        }
    }

    /// Whether a dial must wait at `now`; `Some(time left)` if so.
    pub fn wait_at(&self, now: Instant) -> Option<Duration> {
        match self.retry_at {
            Some(at) => (now < at).then(|| at - now),
            None => Some(Duration::MAX),
        }
    }

    /// Failed dials in a row.
    #[cfg(test)]
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: BackoffConfig = BackoffConfig {
        min: Duration::from_millis(100),
        max: Duration::from_secs(5),
    };

    #[test]
    fn the_delay_doubles_with_jitter_and_is_capped() {
        let t0 = Instant::now();
        let mut backoff = None;
        let mut seen = Vec::new();
        for n in 1..=12u32 {
            let unit = f64::from(n % 4) / 4.0;
            let b = Backoff::after_failure(backoff, CONFIG, t0, unit);
            let wait = b.wait_at(t0).unwrap();
            let full = (CONFIG.min * 2u32.pow(n - 1)).min(CONFIG.max);
            assert!(
                wait >= full / 2 && wait <= full,
                "{n}: {wait:?} of {full:?}"
            );
            assert_eq!(b.failures(), n);
            seen.push(wait);
            backoff = Some(b);
        }
        assert!(seen.iter().all(|w| *w <= CONFIG.max));
        let last = backoff.unwrap();
        assert_eq!(last.wait_at(t0 + CONFIG.max), None);
        let huge = BackoffConfig {
            min: Duration::MAX,
            max: Duration::MAX,
        };
        let b = Backoff::after_failure(Some(last), huge, t0, 0.99);
        assert!(b.wait_at(t0).is_some(), "Duration::MAX does not panic");
    }
}
