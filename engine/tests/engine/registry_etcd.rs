//! Server registration in a real etcd, read back with a plain etcd client: rpcx-etcd's key
//! layout written at once under one lease, metadata updates and `state=inactive`,
//! deregistration deleting the node keys, and re-registration after the lease is lost.
//!
//! Needs etcd: set RINGRPC_ETCD (e.g. `http://127.0.0.1:2379`).
#![cfg(feature = "etcd")]

use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use ringrpc_engine::registry::{EtcdRegistrar, Registration, RegistryEvent};

pub fn etcd_endpoint() -> String {
    std::env::var("RINGRPC_ETCD").unwrap_or_else(|_| {
        panic!(
            "RINGRPC_ETCD is not set. Start etcd and point the tests at it, e.g.\n  \
             etcd --data-dir $(mktemp -d) --listen-client-urls http://127.0.0.1:2379 \
             --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 &\n  \
             RINGRPC_ETCD=http://127.0.0.1:2379 cargo test"
        )
    })
}

/// A plain etcd client on its own small runtime, to look at what the registrar wrote.
pub struct Inspector {
    pub runtime: tokio::runtime::Runtime,
    pub client: Client,
}

impl Inspector {
    pub fn new(endpoint: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime
            .block_on(Client::connect([endpoint], None))
            .expect("etcd reachable");
        Self { runtime, client }
    }

    /// `(key, value, lease)` of every key under `prefix`, sorted by key.
    fn list(&mut self, prefix: &str) -> Vec<(String, String, i64)> {
        let response = self
            .runtime
            .block_on(
                self.client
                    .get(prefix, Some(GetOptions::new().with_prefix())),
            )
            .unwrap();
        response
            .kvs()
            .iter()
            .map(|kv| {
                (
                    kv.key_str().unwrap().to_owned(),
                    kv.value_str().unwrap().to_owned(),
                    kv.lease(),
                )
            })
            .collect()
    }

    fn value(&mut self, key: &str) -> Option<String> {
        let response = self.runtime.block_on(self.client.get(key, None)).unwrap();
        response
            .kvs()
            .first()
            .map(|kv| kv.value_str().unwrap().to_owned())
    }

    /// Polls until `key` has value `want` (None: absent) or `timeout`.
    fn wait_value(&mut self, key: &str, want: Option<&str>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.value(key).as_deref() == want {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn unique_base(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/ringrpc_test_{name}_{nanos}")
}

fn start(base: &str, address: &str) -> EtcdRegistrar {
    let registration = Registration::new(base, address)
        .service("Arith", "weight=10&group=test")
        .service("Echo", "")
        .lease_ttl(Duration::from_secs(5))
        .check_interval(Duration::from_secs(1));
    let registrar = EtcdRegistrar::start(vec![etcd_endpoint()], registration).unwrap();
    assert!(
        registrar.wait_registered(Duration::from_secs(10)),
        "registered"
    );
    registrar
}

#[test]
fn all_keys_are_written_at_once_under_one_lease() {
    let base = unique_base("layout");
    let mut etcd = Inspector::new(&etcd_endpoint());
    let registrar = start(&base, "tcp@127.0.0.1:8972");
    let keys = etcd.list(&base);
    let expected = [
        (base.clone(), "rpcx_path"),
        (format!("{base}/Arith"), "Arith"),
        (
            format!("{base}/Arith/tcp@127.0.0.1:8972"),
            "weight=10&group=test",
        ),
        (format!("{base}/Echo"), "Echo"),
        (format!("{base}/Echo/tcp@127.0.0.1:8972"), ""),
    ];
    let got: Vec<(String, &str)> = keys
        .iter()
        .map(|(k, v, _)| (k.clone(), v.as_str()))
        .collect();
    assert_eq!(got, expected);
    let lease = keys[0].2;
    assert!(
        lease != 0 && keys.iter().all(|(_, _, l)| *l == lease),
        "one lease for all: {keys:?}"
    );
    registrar.deregister(Duration::from_secs(5)).unwrap();
}

#[test]
fn metadata_updates_and_inactive_state_are_written() {
    let base = unique_base("metadata");
    let mut etcd = Inspector::new(&etcd_endpoint());
    let registrar = start(&base, "tcp@127.0.0.1:8973");
    let node = format!("{base}/Arith/tcp@127.0.0.1:8973");

    registrar.set_metadata("Arith", "weight=3");
    assert!(etcd.wait_value(&node, Some("weight=3"), Duration::from_secs(5)));
    registrar.set_inactive(true);
    assert!(etcd.wait_value(
        &node,
        Some("weight=3&state=inactive"),
        Duration::from_secs(5)
    ));
    assert!(etcd.wait_value(
        &format!("{base}/Echo/tcp@127.0.0.1:8973"),
        Some("state=inactive"),
        Duration::from_secs(5)
    ));
    registrar.set_inactive(false);
    assert!(etcd.wait_value(&node, Some("weight=3"), Duration::from_secs(5)));
    registrar.deregister(Duration::from_secs(5)).unwrap();
}

#[test]
fn deregistration_deletes_the_node_keys() {
    let base = unique_base("deregister");
    let mut etcd = Inspector::new(&etcd_endpoint());
    let registrar = start(&base, "tcp@127.0.0.1:8974");
    registrar.deregister(Duration::from_secs(5)).unwrap();
    let left: Vec<String> = etcd.list(&base).into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(
        left,
        [
            base.clone(),
            format!("{base}/Arith"),
            format!("{base}/Echo")
        ],
        "only directory keys stay (until their lease expires)"
    );

    // Dropping a registrar deregisters too.
    let registrar = start(&base, "tcp@127.0.0.1:8975");
    assert!(etcd
        .value(&format!("{base}/Arith/tcp@127.0.0.1:8975"))
        .is_some());
    drop(registrar);
    assert_eq!(
        etcd.value(&format!("{base}/Arith/tcp@127.0.0.1:8975")),
        None
    );
}

#[test]
fn a_lost_lease_is_granted_again_and_keys_come_back() {
    let base = unique_base("lease");
    let mut etcd = Inspector::new(&etcd_endpoint());
    let registrar = start(&base, "tcp@127.0.0.1:8976");
    let node = format!("{base}/Arith/tcp@127.0.0.1:8976");
    let lease = etcd.list(&node)[0].2;

    let started = Instant::now();
    etcd.runtime
        .block_on(etcd.client.lease_revoke(lease))
        .unwrap();
    assert_eq!(
        etcd.value(&node),
        None,
        "revoking the lease deleted the keys"
    );
    assert!(
        etcd.wait_value(&node, Some("weight=10&group=test"), Duration::from_secs(10)),
        "re-registered"
    );
    let new_lease = etcd.list(&node)[0].2;
    assert_ne!(new_lease, lease);
    eprintln!(
        "re-registered {:?} after the lease was revoked",
        started.elapsed()
    );
    let events: Vec<RegistryEvent> = registrar.events().try_iter().collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RegistryEvent::Lost { .. })),
        "{events:?}"
    );

    // A node key deleted by someone else is rewritten by the periodic check.
    etcd.runtime
        .block_on(etcd.client.delete(node.as_str(), None))
        .unwrap();
    assert!(
        etcd.wait_value(&node, Some("weight=10&group=test"), Duration::from_secs(5)),
        "rewritten"
    );
    registrar.deregister(Duration::from_secs(5)).unwrap();
}
