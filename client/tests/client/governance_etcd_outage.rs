//! etcd goes away and comes back, under load. Runs its own etcd process (the shared one is
//! never disturbed). Proves: while etcd is down, servers keep serving and clients keep calling
//! on the last good server list with zero failed calls; after etcd restarts, registrations
//! are written again under a fresh lease, and discovery resumes its watch (a change made after
//! the restart reaches the client).
#![cfg(all(feature = "etcd", feature = "tokio"))]

use std::time::{Duration, Instant};

use crate::governance_support::{mul, unique_base, wait_servers, Discovered, Node, OwnEtcd};
use etcd_client::GetOptions;
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::SelectMode;
use ringrpc_client::xclient::XClientOptions;
use ringrpc_engine::registry::RegistryEvent;

/// `(key, lease)` of the node keys under `prefix`, read with a plain etcd client.
fn node_keys(endpoint: &str, prefix: &str) -> Result<Vec<(String, i64)>, etcd_client::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = etcd_client::Client::connect([endpoint], None).await?;
        let response = client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await?;
        Ok(response
            .kvs()
            .iter()
            .map(|kv| (kv.key_str().unwrap().to_owned(), kv.lease()))
            .collect())
    })
}

/// Runs `n` calls; returns how many failed.
fn calls(d: &Discovered, rt: &tokio::runtime::Runtime, n: i64) -> usize {
    rt.block_on(async {
        let mut failed = 0;
        for a in 0..n {
            if let Err(e) = mul(&d.xclient, a, None).await {
                eprintln!("call failed: {e}");
                failed += 1;
            }
        }
        failed
    })
}

#[test]
fn servers_and_clients_ride_out_an_etcd_outage() {
    let mut etcd = OwnEtcd::start();
    let endpoint = etcd.endpoint();
    let base = unique_base("outage");
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&endpoint, &base, "")).collect();
    for node in &nodes {
        assert!(node.registrar().wait_registered(Duration::from_secs(10)));
    }
    let options = XClientOptions::new()
        .select(SelectMode::RoundRobin)
        .fail(FailPolicy::new(FailMode::Failover))
        .timeout(Duration::from_secs(5));
    let d = Discovered::new(&endpoint, &base, 3, options);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("{base}/Arith/");
    let leases_before: Vec<i64> = node_keys(&endpoint, &prefix)
        .unwrap()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(leases_before.len(), 3);
    assert_eq!(calls(&d, &rt, 30), 0);

    etcd.stop();
    let down = Instant::now();
    for node in &nodes {
        let lost = node
            .registrar()
            .events()
            .recv_timeout(Duration::from_secs(10));
        assert!(matches!(lost, Ok(RegistryEvent::Lost { .. })), "{lost:?}");
    }
    let mut failed = 0;
    while down.elapsed() < Duration::from_secs(3) {
        failed += calls(&d, &rt, 30);
    }
    assert_eq!(
        failed, 0,
        "servers serve and clients call while etcd is down"
    );
    assert_eq!(d.xclient.servers().len(), 3, "the last good list is kept");
    assert!(nodes.iter().all(|n| n.calls() > 30));

    etcd.restart();
    let restarted = Instant::now();
    for node in &nodes {
        assert!(
            node.registrar().wait_registered(Duration::from_secs(15)),
            "registered again"
        );
    }
    eprintln!(
        "all three registered again {:?} after etcd restarted",
        restarted.elapsed()
    );
    let after = node_keys(&endpoint, &prefix).unwrap();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after
            .iter()
            .all(|(_, lease)| !leases_before.contains(lease)),
        "fresh leases: {after:?}"
    );

    // The watch resumed: a change made after the restart reaches the client.
    nodes[0].registrar().set_inactive(true);
    let seen = wait_servers(&d.xclient, Duration::from_secs(15), |keys| {
        keys.len() == 2 && !keys.contains(&nodes[0].key)
    });
    eprintln!("client saw a post-restart change after {seen:?}");
    assert!(seen.is_some(), "discovery resumed watching");
    assert_eq!(calls(&d, &rt, 30), 0);
}
