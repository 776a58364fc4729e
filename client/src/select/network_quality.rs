//! Network quality (rpcx `WeightedICMP`, 3): smooth weighted round robin on weights that
//! follow each server's round-trip time.
//!
//! rpcx-go pings every host 3 times with ICMP when the list changes and turns the average
//! RTT into a weight with its `CalculateWeight` table (PROTOCOL.md §11.2); ringrpc sends no
//! ICMP (it needs raw sockets, and a ping measures the host, not the service). Instead the
//! RTT is the moving average of the measured calls to the server, the first of which
//! includes dialling the connection; so it contains the server's handling time as well as
//! the network. The RTT → weight table is rpcx-go's ([`weight_of_rtt`]). A server not
//! measured yet gets the best weight, so it is tried; a call the server did not answer
//! counts as at least 1 s, which is weight 0: such a server is picked only when every
//! allowed server has weight 0.

use std::collections::HashMap;
use std::time::Duration;

use super::lowest_latency::LatencyAverages;
use super::weighted_round_robin::smooth_pick;
use super::{Instance, Pick, Select};

/// The weight rpcx-go's `CalculateWeight` gives an RTT of `rtt_ms` whole milliseconds:
/// ≤ 10 → 191, 11–200 → 201 − rtt, 201–999 → 1, ≥ 1000 → 0.
pub fn weight_of_rtt(rtt_ms: u64) -> u32 {
    match rtt_ms {
        0..=10 => 191,
        // 11..=200 fits: 201 - rtt is 1..=190.
        11..=200 => u32::try_from(201 - rtt_ms).unwrap_or(1),
        201..=999 => 1,
        _ => 0,
    }
}

/// Smooth weighted round robin on weights from measured round-trip times.
#[derive(Debug, Clone, Default)]
pub struct NetworkQuality {
    averages: LatencyAverages,
    current: HashMap<String, i64>,
}

impl NetworkQuality {
    /// The weight `server_key` has now (191 until it is measured).
    pub fn weight(&self, server_key: &str) -> u32 {
        self.averages
            .average(server_key)
            .map_or(191, |rtt| weight_of_rtt(whole_ms(rtt)))
    }
}

/// Whole milliseconds, as rpcx-go truncates `AvgRtt / 1e6`.
fn whole_ms(rtt: Duration) -> u64 {
    u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX)
}

impl Select for NetworkQuality {
    fn select(&mut self, pick: &Pick<'_>, _rng: &mut fastrand::Rng) -> Option<usize> {
        let weights: Vec<u32> = pick
            .instances
            .iter()
            .map(|i| self.weight(i.key()))
            .collect();
        smooth_pick(&mut self.current, pick, |i| weights[i])
    }

    fn update(&mut self, instances: &[Instance]) {
        self.averages.retain(instances);
        self.current
            .retain(|key, _| instances.iter().any(|i| i.key() == key));
    }

    fn observe(&mut self, server_key: &str, latency: Duration, answered: bool) {
        self.averages.observe(server_key, latency, answered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::{count_picks, instances};

    #[test]
    fn weights_follow_rpcx_table() {
        let table = [
            (0, 191),
            (10, 191),
            (11, 190),
            (100, 101),
            (200, 1),
            (201, 1),
            (999, 1),
            (1000, 0),
            (u64::MAX, 0),
        ];
        for (rtt, weight) in table {
            assert_eq!(weight_of_rtt(rtt), weight, "{rtt} ms");
        }
    }

    #[test]
    fn calls_split_by_rtt_weights() {
        let list = instances(&["", "", ""]);
        let mut select = NetworkQuality::default();
        // 5 ms → 191, 101 ms → 100, 180 ms → 21: a cycle of 312 picks.
        for (i, ms) in [5, 101, 180].into_iter().enumerate() {
            select.observe(list[i].key(), Duration::from_millis(ms), true);
        }
        let counts = count_picks(&mut select, &list, 312 * 10, |_| 0);
        assert_eq!(counts, vec![1910, 1000, 210]);
    }

    #[test]
    fn unmeasured_servers_are_tried_and_unanswered_ones_avoided() {
        let list = instances(&["", "", ""]);
        let mut select = NetworkQuality::default();
        assert_eq!(select.weight(list[0].key()), 191);
        select.observe(list[0].key(), Duration::from_millis(1), false);
        select.observe(list[1].key(), Duration::from_millis(3), true);
        assert_eq!(select.weight(list[0].key()), 0);
        let counts = count_picks(&mut select, &list, 1_000, |_| 0);
        // Server 1 (measured, fast) and server 2 (unmeasured) share; server 0 gets none.
        assert_eq!(counts, vec![0, 500, 500]);
    }

    #[test]
    fn all_failing_servers_are_still_picked_evenly() {
        let list = instances(&["", ""]);
        let mut select = NetworkQuality::default();
        for server in &list {
            select.observe(server.key(), Duration::from_secs(2), true);
        }
        assert_eq!(count_picks(&mut select, &list, 100, |_| 0), vec![50, 50]);
    }
}
