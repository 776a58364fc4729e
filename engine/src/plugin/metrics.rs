//! Prometheus metrics: [`Metrics`], one plugin per shard counting into that shard's own
//! atomics, and [`MetricsRegistry`], which merges every shard's counters when scraped and
//! writes them with the `prometheus-client` crate (OpenMetrics text).
//!
//! On the request path a shard only adds to atomics that no other thread writes (relaxed,
//! uncontended) after two hash lookups by `&str`; a lock is taken only the first time a
//! shard sees a service method or a refusal rule, to publish its counters to the scraper.
//! Label sets are bounded: after [`METHODS_MAX`] distinct methods per shard, further ones
//! are counted under `service="other", method="other"` (clients choose these names).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{ConnInfo, Handled, Incoming, Outgoing, OutgoingKind, Plugin, Refusal, Status};

mod encode;
mod engine;
mod snapshot;

pub use encode::CONTENT_TYPE;
pub use snapshot::{quantile, MethodSnapshot, ShardSnapshot, Snapshot};

/// Distinct (service, method) label pairs one shard keeps before folding the rest into
/// `other`.
pub const METHODS_MAX: usize = 256;
/// Upper bounds of the latency histogram's buckets, in seconds (a last `+Inf` bucket
/// follows).
pub const LATENCY_BUCKETS_S: [f64; 18] = [
    25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3,
    500e-3, 1.0, 2.5, 5.0, 10.0,
];
const BUCKETS: usize = LATENCY_BUCKETS_S.len() + 1;
const STATUSES: usize = 5;
const OTHER: &str = "other";

/// Counters of one service method on one shard: written by that shard only.
#[derive(Debug)]
pub(crate) struct MethodCounters {
    pub(crate) service_path: String,
    pub(crate) service_method: String,
    /// By [`Status`]: ok, error, expired, refused, dropped.
    pub(crate) status: [AtomicU64; STATUSES],
    /// Non-cumulative counts of handled requests by latency bucket.
    pub(crate) buckets: [AtomicU64; BUCKETS],
    pub(crate) latency_sum_ns: AtomicU64,
}

impl MethodCounters {
    fn new(service_path: &str, service_method: &str) -> Self {
        Self {
            service_path: service_path.to_owned(),
            service_method: service_method.to_owned(),
            status: Default::default(),
            buckets: Default::default(),
            latency_sum_ns: AtomicU64::new(0),
        }
    }
}

/// One shard's counters, written by that shard only and read by the scraper.
#[derive(Debug, Default)]
pub(crate) struct ShardCounters {
    pub(crate) shard: usize,
    pub(crate) connections_open: AtomicI64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) inflight: AtomicI64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) pushes: AtomicU64,
    /// Published once per method, when the shard first sees it.
    pub(crate) methods: Mutex<Vec<Arc<MethodCounters>>>,
    /// Refusals by rule, published once per rule.
    pub(crate) refusals: Mutex<Vec<(&'static str, Arc<AtomicU64>)>>,
}

/// The metrics of every shard of a server: hand [`MetricsRegistry::plugin`] to each shard's
/// setup, then scrape with [`MetricsRegistry::encode`] (Prometheus) or
/// [`MetricsRegistry::snapshot`] (the status page), from any thread.
#[derive(Debug, Clone, Default)]
pub struct MetricsRegistry {
    shards: Arc<Mutex<Vec<Arc<ShardCounters>>>>,
    /// The engine's own counters of each shard (connections rejected, the io_uring buffer
    /// ring), once a server runs with this registry.
    engine: Arc<Mutex<Vec<Arc<crate::runtime::ShardCounters>>>>,
}

impl MetricsRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metrics plugin of shard `shard`: register it first
    /// (`services.plugin(registry.plugin(services.shard()))`) so it sees every request,
    /// refused ones included. A shard set up again (a restarted start) replaces its counters.
    pub fn plugin(&self, shard: usize) -> Metrics {
        let counters = Arc::new(ShardCounters {
            shard,
            ..ShardCounters::default()
        });
        let mut shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        shards.retain(|known| known.shard != shard);
        shards.push(counters.clone());
        shards.sort_by_key(|known| known.shard);
        Metrics {
            counters,
            methods: RefCell::new(HashMap::new()),
            method_count: Cell::new(0),
            refusals: RefCell::new(Vec::new()),
        }
    }

    /// Reports the engine's counters of the server's shards too (`Server::start`).
    pub(crate) fn attach_engine(&self, shards: Vec<Arc<crate::runtime::ShardCounters>>) {
        *self.engine.lock().unwrap_or_else(PoisonError::into_inner) = shards;
    }

    pub(crate) fn engine(&self) -> Vec<Arc<crate::runtime::ShardCounters>> {
        self.engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn shards(&self) -> Vec<Arc<ShardCounters>> {
        self.shards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The metrics plugin of one shard (from [`MetricsRegistry::plugin`]).
#[derive(Debug)]
pub struct Metrics {
    counters: Arc<ShardCounters>,
    methods: RefCell<HashMap<String, HashMap<String, Arc<MethodCounters>>>>,
    method_count: Cell<usize>,
    refusals: RefCell<Vec<(&'static str, Arc<AtomicU64>)>>,
}

impl Metrics {
    /// Runs `f` on the counters of `service_path.service_method`, created (and published
    /// to the scraper) on first sight.
    fn with_method(
        &self,
        service_path: &str,
        service_method: &str,
        f: impl FnOnce(&MethodCounters),
    ) {
        if let Some(found) = self
            .methods
            .borrow()
            .get(service_path)
            .and_then(|methods| methods.get(service_method))
        {
            return f(found);
        }
        let (path, method) = if self.method_count.get() < METHODS_MAX {
            (service_path, service_method)
        } else {
            (OTHER, OTHER)
        };
        let mut methods = self.methods.borrow_mut();
        let counters = methods
            .entry(path.to_owned())
            .or_default()
            .entry(method.to_owned())
            .or_insert_with(|| {
                self.method_count.set(self.method_count.get() + 1);
                let counters = Arc::new(MethodCounters::new(path, method));
                self.counters
                    .methods
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(counters.clone());
                counters
            });
        f(counters);
    }

    fn refused(&self, limit: &'static str) {
        let mut refusals = self.refusals.borrow_mut();
        if let Some((_, count)) = refusals.iter().find(|(known, _)| *known == limit) {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let count = Arc::new(AtomicU64::new(1));
        refusals.push((limit, count.clone()));
        self.counters
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((limit, count));
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Plugin for Metrics {
    fn on_accept(&self, _: &ConnInfo) -> Result<(), Refusal> {
        add(&self.counters.connections_accepted, 1);
        self.counters
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_close(&self, _: &ConnInfo, refused: Option<&Refusal>) {
        self.counters
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
        if let Some(refusal) = refused {
            self.refused(refusal.limit());
        }
    }

    fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
        self.counters.inflight.fetch_add(1, Ordering::Relaxed);
        add(
            &self.counters.bytes_in,
            request.frame().as_bytes().len() as u64,
        );
        Ok(())
    }

    fn after_handle(&self, handled: &Handled<'_>) {
        self.counters.inflight.fetch_sub(1, Ordering::Relaxed);
        let index = status_index(handled.status);
        if let Status::Refused(limit) = handled.status {
            self.refused(limit);
        }
        let frame = handled.frame;
        self.with_method(frame.service_path(), frame.service_method(), |method| {
            add(&method.status[index], 1);
            if !matches!(handled.status, Status::Refused(_)) {
                let seconds = handled.duration.as_secs_f64();
                let bucket = LATENCY_BUCKETS_S
                    .iter()
                    .position(|bound| seconds <= *bound)
                    .unwrap_or(LATENCY_BUCKETS_S.len());
                add(&method.buckets[bucket], 1);
                let nanos = u64::try_from(handled.duration.as_nanos()).unwrap_or(u64::MAX);
                add(&method.latency_sum_ns, nanos);
            }
        });
    }

    fn before_write(&self, outgoing: &mut Outgoing<'_>) -> Result<(), Refusal> {
        add(&self.counters.bytes_out, outgoing.bytes.len() as u64);
        if outgoing.kind == OutgoingKind::Push {
            add(&self.counters.pushes, 1);
        }
        Ok(())
    }
}

/// The index of `status` in [`MethodCounters::status`] and [`STATUS_LABELS`].
fn status_index(status: Status) -> usize {
    match status {
        Status::Ok => 0,
        Status::Error => 1,
        Status::Expired => 2,
        Status::Refused(_) => 3,
        Status::Dropped => 4,
    }
}

/// The `status` label of each entry of [`MethodCounters::status`].
pub(crate) const STATUS_LABELS: [&str; STATUSES] = ["ok", "error", "expired", "refused", "dropped"];
