//! [`Snapshot`]: every shard's counters read at one moment, for the status page and
//! `/status`; quantiles estimated from the latency histogram as Prometheus's
//! `histogram_quantile` does (linear within a bucket).

use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use super::{MethodCounters, MetricsRegistry, ShardCounters, BUCKETS, LATENCY_BUCKETS_S, STATUSES};

/// Every shard's counters at one moment.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Snapshot {
    /// One entry per shard, in shard order.
    pub shards: Vec<ShardSnapshot>,
}

/// One shard's counters. Counts are totals since the shard started; a reader computes
/// rates from two snapshots.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShardSnapshot {
    /// The shard's index.
    pub shard: usize,
    /// Connections open now.
    pub connections_open: i64,
    /// Connections accepted (by every plugin) since start.
    pub connections_accepted: u64,
    /// Requests between `before_handle` and their reply now.
    pub inflight: i64,
    /// Request frame bytes received (heartbeats excluded).
    pub bytes_in: u64,
    /// Reply and push bytes (HTTP answers included) as first encoded, seen by
    /// `before_write`.
    pub bytes_out: u64,
    /// Pushes seen by `before_write` (refused ones included).
    pub pushes: u64,
    /// Requests that reached a handler or an error reply (not refused).
    pub requests: u64,
    /// Of those, error replies, expired deadlines and replies lost to a closed connection.
    pub errors: u64,
    /// Refusals (connections and requests) by rule.
    pub refusals: Vec<(String, u64)>,
    /// Non-cumulative latency histogram of every method (bounds: `LATENCY_BUCKETS_S`, then
    /// `+Inf`).
    pub latency_buckets: Vec<u64>,
    /// Per method.
    pub methods: Vec<MethodSnapshot>,
}

/// One service method's counters on one shard.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MethodSnapshot {
    /// `service_path` (or `other`).
    pub service_path: String,
    /// `service_method` (or `other`).
    pub service_method: String,
    /// By status: ok, error, expired, refused, dropped.
    pub status: [u64; STATUSES],
    /// Non-cumulative latency histogram.
    pub latency_buckets: Vec<u64>,
    /// Sum of latencies, in seconds.
    pub latency_sum_s: f64,
}

impl MetricsRegistry {
    /// Reads every shard's counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            shards: self
                .shards()
                .iter()
                .map(|shard| read_shard(shard))
                .collect(),
        }
    }
}

fn read_shard(shard: &ShardCounters) -> ShardSnapshot {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let methods: Vec<MethodSnapshot> = shard
        .methods
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|method| read_method(method))
        .collect();
    let mut latency_buckets = vec![0; BUCKETS];
    for method in &methods {
        for (total, n) in latency_buckets.iter_mut().zip(&method.latency_buckets) {
            *total += n;
        }
    }
    let refusals = shard
        .refusals
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(limit, count)| ((*limit).to_owned(), load(count)))
        .collect();
    let sum = |index: &[usize]| -> u64 {
        methods
            .iter()
            .map(|m| index.iter().map(|i| m.status[*i]).sum::<u64>())
            .sum()
    };
    ShardSnapshot {
        shard: shard.shard,
        connections_open: shard.connections_open.load(Ordering::Relaxed),
        connections_accepted: load(&shard.connections_accepted),
        inflight: shard.inflight.load(Ordering::Relaxed),
        bytes_in: load(&shard.bytes_in),
        bytes_out: load(&shard.bytes_out),
        pushes: load(&shard.pushes),
        requests: sum(&[0, 1, 2, 4]),
        errors: sum(&[1, 2, 4]),
        refusals,
        latency_buckets,
        methods,
    }
}

fn read_method(method: &MethodCounters) -> MethodSnapshot {
    MethodSnapshot {
        service_path: method.service_path.clone(),
        service_method: method.service_method.clone(),
        status: std::array::from_fn(|i| method.status[i].load(Ordering::Relaxed)),
        latency_buckets: method
            .buckets
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect(),
        latency_sum_s: method.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
    }
}

/// The `q` quantile (0..=1) of a non-cumulative histogram over `LATENCY_BUCKETS_S` (then
/// `+Inf`), in seconds, interpolated linearly inside its bucket as Prometheus's
/// `histogram_quantile` does; `None` without observations. A quantile in the `+Inf`
/// bucket is reported as the largest finite bound.
pub fn quantile(buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    for (i, count) in buckets.iter().enumerate() {
        let upto = below + count;
        if (upto as f64) >= rank && *count > 0 {
            let Some(&upper) = LATENCY_BUCKETS_S.get(i) else {
                return LATENCY_BUCKETS_S.last().copied();
            };
            let lower = if i == 0 {
                0.0
            } else {
                LATENCY_BUCKETS_S[i - 1]
            };
            let within = (rank - below as f64) / *count as f64;
            return Some(lower + (upper - lower) * within);
        }
        below = upto;
    }
    LATENCY_BUCKETS_S.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let mut buckets = vec![0; BUCKETS];
        assert_eq!(quantile(&buckets, 0.5), None);
        // 100 observations in (1 ms, 2.5 ms].
        buckets[6] = 100;
        let p50 = quantile(&buckets, 0.5).expect("observed");
        assert!((p50 - 1.75e-3).abs() < 1e-9, "{p50}");
        buckets[BUCKETS - 1] = 100;
        assert_eq!(
            quantile(&buckets, 0.99),
            Some(10.0),
            "+Inf reads as the last bound"
        );
    }
}
