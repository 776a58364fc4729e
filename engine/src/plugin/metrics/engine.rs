//! The engine's own per-shard state in the Prometheus exposition, read from the shards'
//! counters at scrape time (no plugin involved): connections it rejected, the buffers it
//! holds (requests in flight, unsent output, receive buffers), the io_uring driver's
//! provided-buffer ring and the push queues. Every family but the first is labelled by
//! `shard`; the ring's are absent on the glommio driver.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::runtime::ShardCounters;

/// One per-shard family: name, help, gauge or counter, and how to read it.
type Family = (
    &'static str,
    &'static str,
    MetricType,
    fn(&ShardCounters) -> u64,
);

fn n(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// Per-shard families of every driver.
const SHARD_FAMILIES: [Family; 9] = [
    (
        "ringrpc_inflight_bytes",
        "Request bytes held by running requests (frames as received and inflated payloads)",
        MetricType::Gauge,
        |s| n(s.bytes.inflight_bytes.load(Relaxed)),
    ),
    (
        "ringrpc_unsent_bytes",
        "Output bytes (replies, pushes) the kernel has not taken yet",
        MetricType::Gauge,
        |s| n(s.bytes.unsent_bytes.load(Relaxed)),
    ),
    (
        "ringrpc_recv_buffer_bytes",
        "Capacity of the connections' own receive buffers",
        MetricType::Gauge,
        |s| n(s.bytes.recv_buffer_bytes.load(Relaxed)),
    ),
    (
        "ringrpc_push_queued",
        "Pushes queued in their connections' mailboxes, not yet in their output",
        MetricType::Gauge,
        |s| n(s.bytes.pushes.queued.load(Relaxed)),
    ),
    (
        "ringrpc_push_queued_bytes",
        "Bytes of the queued pushes",
        MetricType::Gauge,
        |s| n(s.bytes.pushes.queued_bytes.load(Relaxed)),
    ),
    (
        "ringrpc_pushes_queued",
        "Pushes queued since start",
        MetricType::Counter,
        |s| s.bytes.pushes.queued_total.load(Relaxed),
    ),
    (
        "ringrpc_push_waits",
        "Pushes that waited for room (unsent output at push_buffer_max_bytes)",
        MetricType::Counter,
        |s| s.bytes.pushes.waited.load(Relaxed),
    ),
    (
        "ringrpc_pushes_dropped",
        "Queued pushes discarded because their connection closed first",
        MetricType::Counter,
        |s| s.bytes.pushes.dropped.load(Relaxed),
    ),
    (
        "ringrpc_pushes_failed",
        "Pushes not queued: connection closed or HTTP, encode error, refused by a plugin",
        MetricType::Counter,
        |s| s.bytes.pushes.failed.load(Relaxed),
    ),
];

/// Per-shard families of the io_uring driver's provided-buffer ring.
const RING_FAMILIES: [Family; 4] = [
    (
        "ringrpc_ring_buffers",
        "Receive buffers of the io_uring driver's provided-buffer ring",
        MetricType::Gauge,
        |s| n(s.ring_buffers_total.load(Relaxed)),
    ),
    (
        "ringrpc_ring_buffers_free",
        "Of those, how many the kernel could fill at the shard's last loop turn",
        MetricType::Gauge,
        |s| n(s.ring_buffers_free.load(Relaxed)),
    ),
    (
        "ringrpc_ring_waiting_connections",
        "Connections whose receive waits for a free ring buffer, at the last loop turn",
        MetricType::Gauge,
        |s| n(s.ring_waiting.load(Relaxed)),
    ),
    (
        "ringrpc_ring_starved",
        "Receives that found the ring empty (ENOBUFS) and were re-armed later",
        MetricType::Counter,
        |s| s.ring_starved.load(Relaxed),
    ),
];

/// Writes the engine's families for `shards`.
pub(super) fn encode(
    shards: &[Arc<ShardCounters>],
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let rejected: u64 = shards.iter().map(|s| s.rejected.load(Relaxed)).sum();
    let metric = ConstCounter::new(rejected);
    metric.encode(encoder.encode_descriptor(
        "ringrpc_connections_rejected",
        "Connections closed at once by the engine or a plugin (max_conns_per_shard, on_accept)",
        None,
        metric.metric_type(),
    )?)?;
    let uring = |s: &&Arc<ShardCounters>| s.ring_buffers_total.load(Relaxed) > 0;
    let ring_shards: Vec<(usize, &Arc<ShardCounters>)> = shards
        .iter()
        .enumerate()
        .filter(|(_, s)| uring(s))
        .collect();
    let all: Vec<(usize, &Arc<ShardCounters>)> = shards.iter().enumerate().collect();
    for (families, shards) in [
        (&SHARD_FAMILIES[..], &all),
        (&RING_FAMILIES[..], &ring_shards),
    ] {
        for (name, help, metric_type, read) in families {
            let mut family = encoder.encode_descriptor(name, help, None, *metric_type)?;
            for (shard, counters) in shards {
                let shard = shard.to_string();
                let labels = [("shard", shard.as_str())];
                let value = read(counters);
                let metric = family.encode_family(&labels)?;
                match metric_type {
                    MetricType::Counter => ConstCounter::new(value).encode(metric)?,
                    _ => {
                        ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?
                    }
                }
            }
        }
    }
    Ok(())
}
