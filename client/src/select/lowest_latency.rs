//! Lowest measured latency: each server's latency is an exponentially weighted moving
//! average of its observed calls, and the allowed server with the lowest average wins.
//!
//! Nothing is configured: a server never measured is tried first, and one pick in
//! [`EXPLORE_ONE_IN`] goes to a random allowed server so that averages of servers that are
//! not winning stay fresh (a server that was slow once is not starved forever). A call the
//! server did not answer (transport error, timeout) counts as at least [`FAILURE_PENALTY`],
//! so a server that fails fast does not look fast.

use std::collections::HashMap;
use std::time::Duration;

use super::{Instance, Pick, Select};

/// One pick in this many explores a random allowed server.
pub const EXPLORE_ONE_IN: usize = 50;
/// The latency a call the server did not answer counts as, at least.
pub const FAILURE_PENALTY: Duration = Duration::from_secs(1);
/// Weight of the newest sample in the moving average.
const ALPHA: f64 = 0.3;

/// Picks the allowed server with the lowest moving-average latency.
#[derive(Debug, Clone, Default)]
pub struct LowestLatency {
    averages: LatencyAverages,
}

impl LowestLatency {
    /// The current average of `server_key`, if it was measured.
    pub fn average(&self, server_key: &str) -> Option<Duration> {
        self.averages.average(server_key)
    }
}

/// Moving averages of observed call latencies by server key; a call the server did not
/// answer counts as at least [`FAILURE_PENALTY`]. Shared by the latency-driven modes.
#[derive(Debug, Clone, Default)]
pub(super) struct LatencyAverages {
    average_ns: HashMap<String, f64>,
}

impl LatencyAverages {
    /// The average of `server_key` in nanoseconds, if it was measured.
    pub(super) fn average_ns(&self, server_key: &str) -> Option<f64> {
        self.average_ns.get(server_key).copied()
    }

    /// The average of `server_key`, if it was measured.
    pub(super) fn average(&self, server_key: &str) -> Option<Duration> {
        self.average_ns(server_key)
            .map(|ns| Duration::from_nanos(ns as u64))
    }

    /// Forgets servers no longer listed.
    pub(super) fn retain(&mut self, instances: &[Instance]) {
        self.average_ns
            .retain(|key, _| instances.iter().any(|i| i.key() == key));
    }

    /// Adds one observation.
    pub(super) fn observe(&mut self, server_key: &str, latency: Duration, answered: bool) {
        let latency = if answered {
            latency
        } else {
            latency.max(FAILURE_PENALTY)
        };
        let sample = latency.as_nanos() as f64;
        self.average_ns
            .entry(server_key.to_owned())
            .and_modify(|avg| *avg += ALPHA * (sample - *avg))
            .or_insert(sample);
    }
}

impl Select for LowestLatency {
    fn select(&mut self, pick: &Pick<'_>, rng: &mut fastrand::Rng) -> Option<usize> {
        let allowed: Vec<usize> = pick.allowed_indices().collect();
        if allowed.is_empty() {
            return None;
        }
        let average = |i: usize| self.averages.average_ns(pick.instances[i].key());
        let unmeasured: Vec<usize> = allowed
            .iter()
            .copied()
            .filter(|&i| average(i).is_none())
            .collect();
        if !unmeasured.is_empty() {
            return Some(unmeasured[rng.usize(..unmeasured.len())]);
        }
        if rng.usize(..EXPLORE_ONE_IN) == 0 {
            return Some(allowed[rng.usize(..allowed.len())]);
        }
        allowed.into_iter().min_by(|&a, &b| {
            average(a)
                .partial_cmp(&average(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }

    fn update(&mut self, instances: &[Instance]) {
        self.averages.retain(instances);
    }

    fn observe(&mut self, server_key: &str, latency: Duration, answered: bool) {
        self.averages.observe(server_key, latency, answered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::instances;

    /// Runs `n` picks, feeding back `latency_ms(index, pick_number)`; returns counts per index.
    fn simulate(
        select: &mut LowestLatency,
        list: &[Instance],
        range: std::ops::Range<usize>,
        latency_ms: impl Fn(usize, usize) -> u64,
    ) -> Vec<usize> {
        let excluded = vec![false; list.len()];
        let mut rng = fastrand::Rng::with_seed(3);
        let mut counts = vec![0; list.len()];
        for n in range {
            let pick = Pick {
                instances: list,
                excluded: &excluded,
                key: 0,
            };
            let i = select.select(&pick, &mut rng).unwrap();
            counts[i] += 1;
            select.observe(list[i].key(), Duration::from_millis(latency_ms(i, n)), true);
        }
        counts
    }

    #[test]
    fn fastest_server_gets_most_calls_and_others_stay_measured() {
        let list = instances(&["", "", ""]);
        let mut select = LowestLatency::default();
        let counts = simulate(&mut select, &list, 0..10_000, |i, _| [1, 3, 9][i]);
        assert!(counts[0] > 9_500, "{counts:?}");
        assert!(counts[1] > 20 && counts[2] > 20, "{counts:?}");
    }

    #[test]
    fn traffic_moves_when_the_fastest_server_slows_down() {
        let list = instances(&["", "", ""]);
        let mut select = LowestLatency::default();
        let slow_after = |i: usize, n: usize| {
            if i == 0 && n >= 1_000 {
                20
            } else {
                [1, 3, 9][i]
            }
        };
        simulate(&mut select, &list, 0..1_000, slow_after);
        let later = simulate(&mut select, &list, 1_000..3_000, slow_after);
        assert!(later[1] > 1_800, "{later:?}");
    }

    #[test]
    fn unanswered_calls_count_as_slow() {
        let mut select = LowestLatency::default();
        select.observe("tcp@a:1", Duration::from_micros(50), false);
        assert!(select.average("tcp@a:1").unwrap() >= FAILURE_PENALTY);
    }
}
