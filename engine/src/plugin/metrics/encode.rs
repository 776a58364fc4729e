//! The Prometheus exposition of a [`MetricsRegistry`]: a `prometheus-client` collector that
//! merges every shard's counters at scrape time (see the metrics reference in
//! `docs/readme/plugins.md`).

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::snapshot::ShardSnapshot;
use super::{MetricsRegistry, BUCKETS, LATENCY_BUCKETS_S, STATUS_LABELS};

/// The content type of [`MetricsRegistry::encode`]'s text (OpenMetrics, which Prometheus
/// scrapes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl MetricsRegistry {
    /// Every shard's counters merged, as OpenMetrics text (serve it with
    /// [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            registry: self.clone(),
        }));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

#[derive(Debug)]
struct Scrape {
    registry: MetricsRegistry,
}

/// Per (service, method): counts by status, latency buckets, latency sum, merged over shards.
#[derive(Default)]
struct Merged {
    status: [u64; 5],
    buckets: [u64; BUCKETS],
    sum_s: f64,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let shards = self.registry.snapshot().shards;
        let total = |f: fn(&ShardSnapshot) -> i64| shards.iter().map(f).sum::<i64>();
        let mut methods: BTreeMap<(String, String), Merged> = BTreeMap::new();
        let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
        for shard in &shards {
            for method in &shard.methods {
                let key = (method.service_path.clone(), method.service_method.clone());
                let merged = methods.entry(key).or_default();
                for (a, b) in merged.status.iter_mut().zip(method.status) {
                    *a += b;
                }
                for (a, b) in merged.buckets.iter_mut().zip(&method.latency_buckets) {
                    *a += b;
                }
                merged.sum_s += method.latency_sum_s;
            }
            for (limit, count) in &shard.refusals {
                *refusals.entry(limit.clone()).or_default() += count;
            }
        }

        let mut requests = encoder.encode_descriptor(
            "ringrpc_requests",
            "Requests by service, method and how they ended",
            None,
            MetricType::Counter,
        )?;
        for ((service, method), merged) in &methods {
            for (status, count) in STATUS_LABELS.iter().zip(merged.status) {
                let labels = [
                    ("service", service.as_str()),
                    ("method", method.as_str()),
                    ("status", status),
                ];
                ConstCounter::new(count).encode(requests.encode_family(&labels)?)?;
            }
        }

        let mut latency = encoder.encode_descriptor(
            "ringrpc_request_duration_seconds",
            "Time from before_handle to the reply, by service and method",
            None,
            MetricType::Histogram,
        )?;
        let bounds: Vec<f64> = LATENCY_BUCKETS_S
            .iter()
            .copied()
            .chain([f64::MAX])
            .collect();
        for ((service, method), merged) in &methods {
            let labels = [("service", service.as_str()), ("method", method.as_str())];
            let buckets: Vec<(f64, u64)> = bounds.iter().copied().zip(merged.buckets).collect();
            let count = merged.buckets.iter().sum();
            requests_histogram(
                latency.encode_family(&labels)?,
                merged.sum_s,
                count,
                &buckets,
            )?;
        }

        // Unlabelled totals: (name, help, gauge or counter, value summed over shards).
        let totals: [(&str, &str, MetricType, i64); 6] = [
            (
                "ringrpc_requests_in_flight",
                "Requests between before_handle and their reply",
                MetricType::Gauge,
                total(|s| s.inflight),
            ),
            (
                "ringrpc_connections_open",
                "Connections open",
                MetricType::Gauge,
                total(|s| s.connections_open),
            ),
            (
                "ringrpc_connections_accepted",
                "Connections accepted",
                MetricType::Counter,
                total(|s| as_i64(s.connections_accepted)),
            ),
            (
                "ringrpc_received_bytes",
                "Request frame bytes received (heartbeats excluded)",
                MetricType::Counter,
                total(|s| as_i64(s.bytes_in)),
            ),
            (
                "ringrpc_sent_bytes",
                "Reply and push bytes (HTTP answers included) as first encoded",
                MetricType::Counter,
                total(|s| as_i64(s.bytes_out)),
            ),
            (
                "ringrpc_pushes",
                "Server pushes encoded (refused ones included)",
                MetricType::Counter,
                total(|s| as_i64(s.pushes)),
            ),
        ];
        for (name, help, metric_type, value) in totals {
            let metric = encoder.encode_descriptor(name, help, None, metric_type)?;
            match metric_type {
                MetricType::Counter => {
                    ConstCounter::new(u64::try_from(value).unwrap_or(0)).encode(metric)?
                }
                _ => ConstGauge::new(value).encode(metric)?,
            }
        }

        super::engine::encode(&self.registry.engine(), &mut encoder)?;

        let mut refused = encoder.encode_descriptor(
            "ringrpc_refused",
            "Connections and requests refused, by the rule that refused them",
            None,
            MetricType::Counter,
        )?;
        for (limit, count) in &refusals {
            let labels = [("limit", limit.as_str())];
            ConstCounter::new(*count).encode(refused.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn requests_histogram(
    mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    sum: f64,
    count: u64,
    buckets: &[(f64, u64)],
) -> Result<(), std::fmt::Error> {
    encoder.encode_histogram::<()>(sum, count, buckets, None)
}
