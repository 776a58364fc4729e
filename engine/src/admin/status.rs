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
use crate::registry::RegistryWatch;
use crate::runtime::ShardCounters;
use crate::services::ServicePaths;

/// What the application adds to the status: lines (`Server::set_status`, bounded by the
/// application's keys) and the registrar whose live state is shown
/// (`Server::show_registry`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Notes(Arc<Mutex<Shown>>);

#[derive(Debug, Default)]
struct Shown {
    lines: BTreeMap<String, String>,
    registry: Option<RegistryWatch>,
}

impl Notes {
    pub(crate) fn set(&self, key: &str, value: String) {
        let mut shown = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        shown.lines.insert(key.to_owned(), value);
    }

    pub(crate) fn set_registry(&self, watch: RegistryWatch) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .registry = Some(watch);
    }

    fn to_json(&self) -> (Value, Value) {
        let shown = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let registry = shown.registry.as_ref().map_or(Value::Null, |watch| {
            super::registry::to_json(&watch.status(), Instant::now())
        });
        (json!(shown.lines), registry)
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
        let (notes, registry) = self.notes.to_json();
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
            "notes": notes,
            "registry": registry,
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
    let (bytes, pushes) = (&counters.bytes, &counters.bytes.pushes);
    let ring = |value: usize| (ring_total > 0).then_some(value);
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
        "inflight_bytes": bytes.inflight_bytes.load(Ordering::Relaxed),
        "unsent_bytes": bytes.unsent_bytes.load(Ordering::Relaxed),
        "recv_buffer_bytes": bytes.recv_buffer_bytes.load(Ordering::Relaxed),
        "push_queued": pushes.queued.load(Ordering::Relaxed),
        "push_queued_bytes": pushes.queued_bytes.load(Ordering::Relaxed),
        "pushes_dropped": pushes.dropped.load(Ordering::Relaxed),
        "push_waits": pushes.waited.load(Ordering::Relaxed),
        "ring_buffers_total": ring(ring_total),
        "ring_buffers_free": ring(counters.ring_buffers_free.load(Ordering::Relaxed)),
        "ring_waiting_connections": ring(counters.ring_waiting.load(Ordering::Relaxed)),
        "ring_starved": (ring_total > 0).then(|| counters.ring_starved.load(Ordering::Relaxed)),
    })
}
