//! Discovery: which servers serve a service, now and after every change.
//!
//! Every kind of discovery — one fixed peer ([`PeerDiscovery`]), a static list
//! ([`MultipleDiscovery`]), etcd in rpcx-etcd's layout (`EtcdDiscovery`, feature `etcd`) —
//! implements [`Discovery`]: it hands out [`ServerWatch`]es, each a receiver of complete
//! server lists. A publisher (the etcd control-plane thread, or a caller of
//! [`MultipleDiscovery::update`]) sends every subscriber the whole new list over a crossbeam
//! channel; a client calls [`ServerWatch::refresh`] before it selects, which never blocks, so
//! nothing on the request path waits for discovery.
//!
//! A watch filters what it delivers the way rpcx-go's XClient does (PROTOCOL.md §10.6):
//! servers whose metadata says `state=inactive` are dropped, and with
//! [`ServerWatch::group`] set, so are servers not listing that group. Lists are sorted by key,
//! so every client sees the same order.

#[cfg(feature = "etcd")]
mod control_plane;
#[cfg(feature = "etcd")]
mod etcd;
mod etcd_url;
mod multiple;
mod peer;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};

#[cfg(feature = "etcd")]
pub use control_plane::EtcdControlPlane;
#[cfg(feature = "etcd")]
pub use etcd::{EtcdDiscovery, EtcdDiscoveryOptions};
pub use etcd_url::{EtcdUrl, EtcdUrlError};
pub use multiple::MultipleDiscovery;
pub use peer::PeerDiscovery;

use crate::select::Instance;

/// A complete server list, sorted by key.
pub type ServerList = Arc<[Instance]>;

/// A source of server lists for one service.
pub trait Discovery {
    /// Subscribes: the watch starts with the current list and receives every later one.
    fn watch(&self) -> ServerWatch;
}

/// One subscriber's view: the newest list received, filtered.
#[derive(Debug)]
pub struct ServerWatch {
    rx: Receiver<ServerList>,
    raw: ServerList,
    current: ServerList,
    group: Option<String>,
}

impl ServerWatch {
    fn new(rx: Receiver<ServerList>, raw: ServerList) -> Self {
        let current = usable(&raw, None);
        Self {
            rx,
            raw,
            current,
            group: None,
        }
    }

    /// Keeps only servers whose metadata lists `group=<group>` (rpcx-go's `Option.Group`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self.current = usable(&self.raw, self.group.as_deref());
        self
    }

    /// The usable servers as of the last [`Self::refresh`].
    pub fn current(&self) -> &ServerList {
        &self.current
    }

    /// Takes the newest list published since the last call, without blocking. Returns
    /// whether the usable list changed.
    pub fn refresh(&mut self) -> bool {
        let Some(newest) = self.rx.try_iter().last() else {
            return false;
        };
        self.adopt(newest)
    }

    /// Blocks until the usable list satisfies `ready` or `timeout` passes; returns whether it
    /// does. For startup and tests, never for the request path.
    /// A timeout beyond the clock's range waits as long as it takes.
    pub fn wait_until(&mut self, timeout: Duration, ready: impl Fn(&[Instance]) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        self.refresh();
        while !ready(&self.current) {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            match self.rx.recv_timeout(left) {
                Ok(list) => {
                    self.adopt(list);
                    self.refresh();
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
        true
    }

    fn adopt(&mut self, raw: ServerList) -> bool {
        let usable = usable(&raw, self.group.as_deref());
        self.raw = raw;
        let changed = usable != self.current;
        self.current = usable;
        changed
    }
}

/// The servers a client may use: not `state=inactive`, and in `group` if one is set.
pub fn usable(instances: &[Instance], group: Option<&str>) -> ServerList {
    instances
        .iter()
        .filter(|i| !i.is_inactive() && group.is_none_or(|g| i.in_group(g)))
        .cloned()
        .collect()
}

/// Fans server lists out to subscribers. Shared by the publisher and the discovery handle;
/// its lock is taken only to subscribe and to publish, never on the request path.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    inner: Mutex<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    current: ServerList,
    subscribers: Vec<Sender<ServerList>>,
}

impl Default for HubInner {
    fn default() -> Self {
        Self {
            current: Arc::from(Vec::new()),
            subscribers: Vec::new(),
        }
    }
}

impl Hub {
    pub(crate) fn new(list: Vec<Instance>) -> Arc<Self> {
        let hub = Arc::new(Self::default());
        hub.publish(list);
        hub
    }

    /// Sorts `list` by key (dropping duplicate keys) and sends it to every live subscriber.
    pub(crate) fn publish(&self, mut list: Vec<Instance>) {
        list.sort_by(|a, b| a.key().cmp(b.key()));
        list.dedup_by(|a, b| a.key() == b.key());
        let list: ServerList = list.into();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.subscribers.retain(|tx| tx.send(list.clone()).is_ok());
        inner.current = list;
    }

    /// Whether the last published list has no server.
    #[cfg(feature = "etcd")]
    pub(crate) fn is_empty(&self) -> bool {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.current.is_empty()
    }

    pub(crate) fn subscribe(&self) -> ServerWatch {
        let (tx, rx) = unbounded();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.subscribers.push(tx);
        ServerWatch::new(rx, inner.current.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[Instance]) -> Vec<&str> {
        list.iter().map(Instance::key).collect()
    }

    #[test]
    fn watches_get_every_published_list_sorted_and_filtered() {
        let hub = Hub::new(vec![
            Instance::new("tcp@b:1", ""),
            Instance::new("tcp@a:1", ""),
        ]);
        let mut watch = hub.subscribe();
        let mut grouped = hub.subscribe().group("g");
        assert_eq!(keys(watch.current()), ["tcp@a:1", "tcp@b:1"]);
        assert!(grouped.current().is_empty());

        hub.publish(vec![
            Instance::new("tcp@c:1", "group=g"),
            Instance::new("tcp@a:1", "state=inactive"),
            Instance::new("tcp@b:1", "group=h&group=g"),
        ]);
        assert!(watch.refresh());
        assert_eq!(keys(watch.current()), ["tcp@b:1", "tcp@c:1"]);
        assert!(!watch.refresh(), "nothing new");
        assert!(grouped.wait_until(Duration::from_secs(1), |l| l.len() == 2));
        assert_eq!(keys(grouped.current()), ["tcp@b:1", "tcp@c:1"]);
    }

    #[test]
    fn dropped_watches_are_forgotten() {
        let hub = Hub::new(Vec::new());
        drop(hub.subscribe());
        hub.publish(vec![Instance::new("tcp@a:1", "")]);
        assert!(hub.inner.lock().unwrap().subscribers.is_empty());
    }
}
