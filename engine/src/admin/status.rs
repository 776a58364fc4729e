//! `/status`: the server's state as JSON, read from the shards' counters and the metrics
//! registry (what the status page draws).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde_json::{json, Value};

use crate::driver::Driver;
use crate::plugin::metrics::{quantile, ShardSnapshot, LATENCY_BUCKETS_S};
use crate::plugin::MetricsRegistry;
use crate::runtime::ShardCounters;
use crate::services::ServicePaths;

/// Lines the application adds to the status (`Server::set_status`), such as the
/// registry's state. Bounded by the application's keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notes(Arc<Mutex<BTreeMap<String, String>>>);

impl Notes {
    pub(crate) fn set(&self, key: &str, value: String) {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        notes.insert(key.to_owned(), value);
    }

    fn to_json(&self) -> Value {
        let notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        json!(*notes)
    }
}

/// Everything `/status` and `/metrics` read.
#[derive(Clone)]
pub(crate) struct StatusSource {
    pub(crate) metrics: MetricsRegistry,
    pub(crate) shards: Vec<(usize, Arc<ShardCounters>)>,
    /// Where the shards listen (`127.0.0.1:8972`, `unix@/run/app.sock`).
    pub(crate) listen: String,
    pub(crate) driver: Driver,
    pub(crate) started: Instant,
    pub(crate) services: ServicePaths,
    pub(crate) notes: Notes,
    pub(crate) rates: super::Rates,
}

impl StatusSource {
    pub(crate) fn to_json(&self) -> String {
        let snapshot = self.metrics.snapshot();
        let shards: Vec<Value> = self
            .shards
            .iter()
            .enumerate()
            .map(|(id, (cpu, counters))| {
                let metrics = snapshot.shards.iter().find(|s| s.shard == id);
                shard_json(id, *cpu, counters, metrics, self.rates.shard(id))
            })
            .collect();
        let total = self.rates.total();
        let status = json!({
            "listen": self.listen,
            "driver": format!("{:?}", self.driver),
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "services": self.services.to_vec(),
            "latency_bounds_s": LATENCY_BUCKETS_S,
            "shards": shards,
            "history_calls_per_s": self.rates.history(),
            "total": {
                "calls_per_s": total.calls_per_s,
                "errors_per_s": total.errors_per_s,
                "p50_last_s": total.p50_s,
                "p99_last_s": total.p99_s,
            },
            "notes": self.notes.to_json(),
        });
        status.to_string()
    }
}

fn shard_json(
    id: usize,
    cpu: usize,
    counters: &ShardCounters,
    metrics: Option<&ShardSnapshot>,
    rates: super::rates::ShardRates,
) -> Value {
    let default = ShardSnapshot::default();
    let m = metrics.unwrap_or(&default);
    let refusals: BTreeMap<&str, u64> = m
        .refusals
        .iter()
        .map(|(limit, n)| (limit.as_str(), *n))
        .collect();
    let ring_total = counters.ring_buffers_total.load(Ordering::Relaxed);
    json!({
        "shard": id,
        "cpu": cpu,
        "connections_open": counters.open.load(Ordering::Relaxed),
        "connections_accepted": counters.accepted.load(Ordering::Relaxed),
        "connections_rejected": counters.rejected.load(Ordering::Relaxed),
        "requests": m.requests,
        "errors": m.errors,
        "inflight": m.inflight,
        "bytes_in": m.bytes_in,
        "bytes_out": m.bytes_out,
        "pushes": m.pushes,
        "refusals": refusals,
        "p50_s": quantile(&m.latency_buckets, 0.5),
        "p99_s": quantile(&m.latency_buckets, 0.99),
        "calls_per_s": rates.calls_per_s,
        "errors_per_s": rates.errors_per_s,
        "p50_last_s": rates.p50_s,
        "p99_last_s": rates.p99_s,
        "latency_buckets": m.latency_buckets,
        "ring_buffers_total": (ring_total > 0).then_some(ring_total),
        "ring_buffers_free": (ring_total > 0)
            .then(|| counters.ring_buffers_free.load(Ordering::Relaxed)),
    })
}
