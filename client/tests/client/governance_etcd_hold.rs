//! The empty-listing hold of etcd discovery (`EtcdDiscoveryOptions::empty_hold`), against the
//! shared etcd behind a proxy the test can cut: the discovery loses its watch, the server key
//! is deleted while it is away, and its first listing after the reconnect is empty. That
//! listing is held for the hold and then published; a change seen during the hold is
//! published at once; a zero hold publishes the empty listing at once.
#![cfg(all(feature = "etcd", feature = "tokio"))]

use std::time::{Duration, Instant};

use ringrpc_client::discovery::{
    Discovery, EtcdControlPlane, EtcdDiscovery, EtcdDiscoveryOptions, ServerWatch,
};

use crate::governance_support::{etcd_endpoint, unique_base};
use crate::support::proxy::Proxy;

const FIRST: &str = "tcp@127.0.0.1:1";

/// One discovery of service `Arith` under a fresh base path, reaching etcd through a proxy,
/// with a plain etcd client beside it that writes keys directly.
struct Held {
    watch: ServerWatch,
    _discovery: EtcdDiscovery,
    _control: EtcdControlPlane,
    proxy: Proxy,
    etcd: etcd_client::Client,
    runtime: tokio::runtime::Runtime,
    prefix: String,
}

impl Held {
    /// Registers `FIRST`, starts the discovery with `hold` and waits until it lists it.
    fn start(hold: Duration) -> Self {
        let endpoint = etcd_endpoint();
        let proxy = Proxy::tcp(endpoint.trim_start_matches("http://"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut etcd = runtime
            .block_on(etcd_client::Client::connect([endpoint.as_str()], None))
            .unwrap();
        let base = unique_base("hold");
        let prefix = format!("{base}/Arith/");
        runtime
            .block_on(etcd.put(format!("{prefix}{FIRST}"), "", None))
            .unwrap();
        let control =
            EtcdControlPlane::start([proxy.addr.trim_start_matches("tcp@").to_owned()]).unwrap();
        let options = EtcdDiscoveryOptions::new().empty_hold(hold);
        let discovery = EtcdDiscovery::with_options(&control, &base, "Arith", options);
        let mut watch = discovery.watch();
        assert!(
            watch.wait_until(Duration::from_secs(10), |list| list.len() == 1),
            "never listed: {:?}",
            watch.current()
        );
        Self {
            watch,
            _discovery: discovery,
            _control: control,
            proxy,
            etcd,
            runtime,
            prefix,
        }
    }

    /// Cuts the discovery's connection to etcd, then deletes `FIRST` directly, before the
    /// discovery reconnects (its first retry waits 100 ms): the watch never sees the delete.
    fn cut_and_delete(&mut self) -> Instant {
        self.proxy.cut();
        let cut = Instant::now();
        let key = format!("{}{FIRST}", self.prefix);
        self.runtime.block_on(self.etcd.delete(key, None)).unwrap();
        cut
    }

    fn put(&mut self, server: &str) {
        let key = format!("{}{server}", self.prefix);
        self.runtime.block_on(self.etcd.put(key, "", None)).unwrap();
    }

    fn keys(&self) -> Vec<String> {
        self.watch
            .current()
            .iter()
            .map(|i| i.key().to_owned())
            .collect()
    }
}

#[test]
fn an_empty_listing_after_a_reconnect_is_held_then_published() {
    let hold = Duration::from_secs(2);
    let mut held = Held::start(hold);
    let cut = held.cut_and_delete();
    // Reconnected (100 ms retry) and listed nothing, but the last list stays.
    std::thread::sleep(Duration::from_secs(1));
    held.watch.refresh();
    assert_eq!(held.keys(), [FIRST], "published before the hold ended");
    assert!(
        held.watch
            .wait_until(Duration::from_secs(15), |list| list.is_empty()),
        "the empty listing was never published: {:?}",
        held.keys()
    );
    let after = cut.elapsed();
    assert!(
        after >= hold,
        "published {after:?} after the cut, hold {hold:?}"
    );
}

#[test]
fn a_change_during_the_hold_is_published_at_once() {
    let mut held = Held::start(Duration::from_secs(120));
    held.cut_and_delete();
    std::thread::sleep(Duration::from_secs(1));
    held.watch.refresh();
    assert_eq!(held.keys(), [FIRST]);
    held.put("tcp@127.0.0.1:2");
    assert!(
        held.watch.wait_until(Duration::from_secs(10), |list| {
            list.len() == 1 && list[0].key() == "tcp@127.0.0.1:2"
        }),
        "the change was not published: {:?}",
        held.keys()
    );
}

#[test]
fn a_zero_hold_publishes_the_empty_listing_at_once() {
    let mut held = Held::start(Duration::ZERO);
    let cut = held.cut_and_delete();
    assert!(
        held.watch
            .wait_until(Duration::from_secs(10), |list| list.is_empty()),
        "the empty listing was not published: {:?}",
        held.keys()
    );
    eprintln!("published {:?} after the cut", cut.elapsed());
}
