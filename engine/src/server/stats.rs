//! [`ShardStats`]: one shard's counters as [`Server::stats`] reads them (connections,
//! buffered bytes, the io_uring ring, handler tasks, push queues, faults), from any thread;
//! [`Server::is_healthy`] from the same counters.

use std::sync::atomic::Ordering;

use super::Server;

/// A snapshot of one shard's connection counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardStats {
    /// The shard's index.
    pub shard: usize,
    /// The CPU it runs on.
    pub cpu: usize,
    /// Connections accepted and served since start.
    pub connections_accepted: u64,
    /// Connections accepted and closed at once (over `max_conns_per_shard`).
    pub connections_rejected: u64,
    /// Connections open now.
    pub connections_open: usize,
    /// Request bytes held by running requests now (`max_inflight_bytes_per_shard`).
    pub inflight_bytes: usize,
    /// The most `inflight_bytes` ever was.
    pub inflight_bytes_peak: usize,
    /// Output bytes the kernel has not taken yet, over all connections, now.
    pub unsent_bytes: usize,
    /// The most `unsent_bytes` ever was.
    pub unsent_bytes_peak: usize,
    /// Capacity of the connections' own receive buffers now.
    pub recv_buffer_bytes: usize,
    /// The most `recv_buffer_bytes` ever was.
    pub recv_buffer_bytes_peak: usize,
    /// The io_uring driver's receive buffers (0 on the glommio driver).
    pub ring_buffers_total: usize,
    /// Of those, how many were in the ring (free for the kernel) at the shard's last loop
    /// turn.
    pub ring_buffers_free: usize,
    /// Connections whose receive waited for a free ring buffer at the shard's last loop
    /// turn (io_uring driver).
    pub ring_waiting_connections: usize,
    /// Receives that found the ring empty (ENOBUFS) since start (io_uring driver).
    pub ring_starved: u64,
    /// Handler tasks running now (calls that did not finish on their first poll), at most
    /// about `max_handler_tasks_per_shard`.
    pub handler_tasks: usize,
    /// Running handlers dropped because their connection closed.
    pub handlers_cancelled: u64,
    /// Pushes queued in their connections' mailboxes now (not yet in their output).
    pub push_queued: usize,
    /// Their bytes.
    pub push_queued_bytes: usize,
    /// Queued pushes discarded because their connection closed first, since start.
    pub pushes_dropped: u64,
    /// Pushes that waited for room (`push_buffer_max_bytes`) before they were queued.
    pub push_waits: u64,
    /// Panics of handler code outside a handler's future (a hand-written `Handler::call`,
    /// the auth hook, a spawned task), each of which closed its connection or ended its
    /// task. Under the default `FaultPolicy::Exit` the first one ends the process.
    pub handler_panics: u64,
    /// The shard stopped serving on a fault (a fatal io_uring error, a panic that escaped
    /// its loop), under `FaultPolicy::Contain`.
    pub failed: bool,
}

impl Server {
    /// Connection counters of every shard, in shard order.
    pub fn stats(&self) -> Vec<ShardStats> {
        self.shards
            .iter()
            .enumerate()
            .map(|(shard, handle)| {
                let bytes = &handle.counters.bytes;
                let load =
                    |counter: &std::sync::atomic::AtomicUsize| counter.load(Ordering::Relaxed);
                ShardStats {
                    shard,
                    cpu: handle.cpu,
                    connections_accepted: handle.counters.accepted.load(Ordering::Relaxed),
                    connections_rejected: handle.counters.rejected.load(Ordering::Relaxed),
                    connections_open: handle.counters.open.load(Ordering::Relaxed),
                    inflight_bytes: load(&bytes.inflight_bytes),
                    inflight_bytes_peak: load(&bytes.inflight_bytes_peak),
                    unsent_bytes: load(&bytes.unsent_bytes),
                    unsent_bytes_peak: load(&bytes.unsent_bytes_peak),
                    recv_buffer_bytes: load(&bytes.recv_buffer_bytes),
                    recv_buffer_bytes_peak: load(&bytes.recv_buffer_bytes_peak),
                    ring_buffers_total: load(&handle.counters.ring_buffers_total),
                    ring_buffers_free: load(&handle.counters.ring_buffers_free),
                    ring_waiting_connections: load(&handle.counters.ring_waiting),
                    ring_starved: handle.counters.ring_starved.load(Ordering::Relaxed),
                    handler_tasks: load(&handle.counters.handler_tasks),
                    handlers_cancelled: handle.counters.handlers_cancelled.load(Ordering::Relaxed),
                    push_queued: load(&bytes.pushes.queued),
                    push_queued_bytes: load(&bytes.pushes.queued_bytes),
                    pushes_dropped: bytes.pushes.dropped.load(Ordering::Relaxed),
                    push_waits: bytes.pushes.waited.load(Ordering::Relaxed),
                    handler_panics: handle.counters.handler_panics.load(Ordering::Relaxed),
                    failed: handle.counters.failed.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Whether every shard is serving: none stopped on a fault (see
    /// [`ShardStats::failed`]). Handler panics that were contained do not count; read them
    /// in [`Server::stats`].
    pub fn is_healthy(&self) -> bool {
        self.shards
            .iter()
            .all(|handle| !handle.counters.failed.load(Ordering::Relaxed))
    }
}
