//! [`Rates`]: calls/s, errors/s and latency quantiles over the last second, per shard,
//! computed on a thread of their own from two snapshots one second apart, so the status
//! page shows the server's own rates whatever its browser's timers do.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::plugin::metrics::{quantile, Snapshot};
use crate::plugin::MetricsRegistry;

/// How often the rates are recomputed (and the window they cover).
pub(crate) const TICK: Duration = Duration::from_secs(1);
/// How many past windows' total calls/s are kept for the page's chart.
pub(crate) const HISTORY_LEN: usize = 120;

/// One shard's rates over the last window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShardRates {
    pub(crate) calls_per_s: f64,
    pub(crate) errors_per_s: f64,
    pub(crate) p50_s: Option<f64>,
    pub(crate) p99_s: Option<f64>,
}

/// Every shard's rates over one window, and the whole server's.
#[derive(Debug, Clone, Default)]
struct Window {
    shards: Vec<ShardRates>,
    total: ShardRates,
    /// Total calls/s of the last [`HISTORY_LEN`] windows, oldest first.
    history: VecDeque<f64>,
}

/// The latest rates (shared with the HTTP handlers; one small lock, off the shards).
#[derive(Debug, Clone, Default)]
pub(crate) struct Rates(Arc<Mutex<Window>>);

impl Rates {
    /// Rates of shard `shard` (zero before the first full window).
    pub(crate) fn shard(&self, shard: usize) -> ShardRates {
        let window = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        window.shards.get(shard).copied().unwrap_or_default()
    }

    /// Rates of the whole server (every shard's calls, quantiles of all their latencies).
    pub(crate) fn total(&self) -> ShardRates {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).total
    }

    /// Total calls/s of the last windows, oldest first (at most [`HISTORY_LEN`]).
    pub(crate) fn history(&self) -> Vec<f64> {
        let window = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        window.history.iter().copied().collect()
    }

    /// Recomputes the rates every [`TICK`] on a thread of its own, until the returned
    /// handle is dropped.
    pub(crate) fn start(&self, metrics: MetricsRegistry) -> std::io::Result<RatesThread> {
        let (stop, stopped) = mpsc::channel::<()>();
        let rates = self.clone();
        let thread = std::thread::Builder::new()
            .name("ringrpc-rates".to_owned())
            .spawn(move || {
                let mut previous = (Instant::now(), metrics.snapshot());
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    let now = (Instant::now(), metrics.snapshot());
                    rates.record(between(&previous.1, &now.1, now.0 - previous.0));
                    previous = now;
                }
            })?;
        Ok(RatesThread {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn record(&self, next: Window) {
        let mut window = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if window.history.len() == HISTORY_LEN {
            window.history.pop_front();
        }
        window.history.push_back(next.total.calls_per_s);
        window.shards = next.shards;
        window.total = next.total;
    }
}

/// The thread computing [`Rates`]; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct RatesThread {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for RatesThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Each shard's rates from `before` to `after`, `elapsed` apart, and their sum.
fn between(before: &Snapshot, after: &Snapshot, elapsed: Duration) -> Window {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let mut all = Vec::new();
    let mut calls = 0;
    let mut errors = 0;
    let rates = |calls: u64, errors: u64, buckets: &[u64]| ShardRates {
        calls_per_s: calls as f64 / seconds,
        errors_per_s: errors as f64 / seconds,
        p50_s: quantile(buckets, 0.5),
        p99_s: quantile(buckets, 0.99),
    };
    let shards = after
        .shards
        .iter()
        .map(|shard| {
            let Some(old) = before.shards.iter().find(|s| s.shard == shard.shard) else {
                return ShardRates::default();
            };
            let window: Vec<u64> = shard
                .latency_buckets
                .iter()
                .zip(&old.latency_buckets)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect();
            all.resize(window.len(), 0);
            all.iter_mut().zip(&window).for_each(|(sum, n)| *sum += n);
            let shard_calls = shard.requests.saturating_sub(old.requests);
            let shard_errors = shard.errors.saturating_sub(old.errors);
            calls += shard_calls;
            errors += shard_errors;
            rates(shard_calls, shard_errors, &window)
        })
        .collect();
    Window {
        shards,
        total: rates(calls, errors, &all),
        history: VecDeque::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::metrics::ShardSnapshot;

    fn shard(id: usize, requests: u64, errors: u64, bucket_6: u64) -> ShardSnapshot {
        let mut latency_buckets = vec![0; 19];
        latency_buckets[6] = bucket_6;
        ShardSnapshot {
            shard: id,
            requests,
            errors,
            latency_buckets,
            ..ShardSnapshot::default()
        }
    }

    #[test]
    fn rates_and_quantiles_cover_only_the_window() {
        let mut before = Snapshot::default();
        before.shards.push(shard(0, 1000, 10, 1000));
        before.shards.push(shard(1, 0, 0, 0));
        let mut after = Snapshot::default();
        after.shards.push(shard(0, 1500, 20, 1500));
        after.shards.push(shard(1, 500, 0, 500));
        let window = between(&before, &after, Duration::from_millis(500));
        assert_eq!(window.shards[0].calls_per_s, 1000.0);
        assert_eq!(window.shards[0].errors_per_s, 20.0);
        assert_eq!(window.total.calls_per_s, 2000.0);
        let p50 = window.shards[0].p50_s.expect("observations in the window");
        assert!((p50 - 1.75e-3).abs() < 1e-9, "{p50}");
        let idle = between(&after, &after, Duration::from_secs(1));
        assert_eq!((idle.total.calls_per_s, idle.total.p99_s), (0.0, None));
    }
}
