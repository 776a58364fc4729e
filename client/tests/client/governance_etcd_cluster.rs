//! Three ringrpc servers register in etcd; XClients discover them and call `Arith.Mul`.
//! Proves, over real connections: select-mode distributions (within stated tolerances,
//! weights from metadata respected, consistent hash stable per key, lowest latency finds the
//! fast server), zero failed calls under Failover when a server stops mid-load, an inactive
//! server leaving rotation within the watch delay, Failbackup answering while a server
//! stalls, and broadcast/fork reaching every server.
//!
//! Needs etcd: set RINGRPC_ETCD (e.g. `http://127.0.0.1:2379`).
#![cfg(all(feature = "etcd", feature = "tokio"))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::governance_support;
use crate::governance_support::{
    etcd_endpoint, mul, unique_base, wait_servers, Args, Discovered, Node,
};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::SelectMode;
use ringrpc_client::xclient::XClientOptions;
use ringrpc_client::{CallOptions, Serde};

fn options(select: SelectMode, fail: FailMode) -> XClientOptions {
    XClientOptions::new()
        .select(select)
        .fail(FailPolicy::new(fail))
        .seed(5)
        // Bounds every call: a server that never answers fails the test instead of hanging it.
        .timeout(Duration::from_secs(5))
}

fn three(base: &str, metadata: [&str; 3]) -> Vec<Node> {
    let endpoint = etcd_endpoint();
    metadata
        .iter()
        .map(|m| Node::start(&endpoint, base, m))
        .collect()
}

/// Calls `n` times in sequence; returns calls per server key.
async fn spread(d: &Discovered, n: i64) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for a in 0..n {
        *counts
            .entry(mul(&d.xclient, a, None).await.expect("call"))
            .or_default() += 1;
    }
    counts
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn select_modes_spread_calls_as_stated() {
    let base = unique_base("select");
    let nodes = three(&base, ["weight=3", "weight=2", "weight=1"]);
    let endpoint = etcd_endpoint();
    let rt = runtime();
    let key = |i: usize| nodes[i].key.clone();

    // Random: 600 calls, each server within 200 ± 50 (over 4 standard deviations).
    let d = Discovered::new(
        &endpoint,
        &base,
        3,
        options(SelectMode::Random, FailMode::Failfast),
    );
    let counts = rt.block_on(spread(&d, 600));
    for i in 0..3 {
        let c = counts.get(&key(i)).copied().unwrap_or(0);
        assert!((150..=250).contains(&c), "random: {counts:?}");
    }

    // Round robin: exact.
    let d = Discovered::new(
        &endpoint,
        &base,
        3,
        options(SelectMode::RoundRobin, FailMode::Failfast),
    );
    let counts = rt.block_on(spread(&d, 600));
    assert!(
        (0..3).all(|i| counts[&key(i)] == 200),
        "round robin: {counts:?}"
    );

    // Smooth weighted round robin: exactly proportional to the metadata weights.
    let d = Discovered::new(
        &endpoint,
        &base,
        3,
        options(SelectMode::WeightedRoundRobin, FailMode::Failfast),
    );
    let counts = rt.block_on(spread(&d, 600));
    assert_eq!(
        [counts[&key(0)], counts[&key(1)], counts[&key(2)]],
        [300, 200, 100],
        "{counts:?}"
    );

    // Consistent hash: every key always lands on the same server, and keys spread out.
    let d = Discovered::new(
        &endpoint,
        &base,
        3,
        options(SelectMode::ConsistentHash, FailMode::Failfast),
    );
    let placement: HashMap<String, String> = rt.block_on(async {
        let mut placement = HashMap::new();
        for user in 0..60 {
            let hash_key = format!("user-{user}");
            let first = mul(&d.xclient, user, Some(hash_key.as_bytes()))
                .await
                .unwrap();
            for round in 0..4 {
                let again = mul(&d.xclient, round, Some(hash_key.as_bytes()))
                    .await
                    .unwrap();
                assert_eq!(again, first, "{hash_key} moved");
            }
            placement.insert(hash_key, first);
        }
        placement
    });
    let used: std::collections::HashSet<_> = placement.values().collect();
    assert_eq!(used.len(), 3, "60 keys use all three servers");
    // A second client places every key the same way.
    let d2 = Discovered::new(
        &endpoint,
        &base,
        3,
        options(SelectMode::ConsistentHash, FailMode::Failfast),
    );
    rt.block_on(async {
        for (hash_key, server) in &placement {
            assert_eq!(
                &mul(&d2.xclient, 1, Some(hash_key.as_bytes()))
                    .await
                    .unwrap(),
                server
            );
        }
    });

    // Lowest latency: measured, not configured; two servers answer 15 ms late.
    nodes[0].delay_ms.store(15, Ordering::Relaxed);
    nodes[1].delay_ms.store(15, Ordering::Relaxed);
    let d = Discovered::new(
        &endpoint,
        &base,
        3,
        options(SelectMode::LowestLatency, FailMode::Failfast),
    );
    let counts = rt.block_on(spread(&d, 200));
    assert!(counts[&key(2)] >= 170, "lowest latency: {counts:?}");
}

#[test]
fn failover_hides_a_server_that_stops_mid_load() {
    let base = unique_base("failover");
    let mut nodes = three(&base, ["", "", ""]);
    let d = Arc::new(Discovered::new(
        &etcd_endpoint(),
        &base,
        3,
        options(SelectMode::RoundRobin, FailMode::Failover),
    ));
    let rt = runtime();
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (d, ok, failed, stop) = (d.clone(), ok.clone(), failed.clone(), stop.clone());
            rt.spawn(async move {
                let mut a = w * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    match mul(&d.xclient, a, None).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("call failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    a += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before_stop = ok.load(Ordering::Relaxed);
    // The server stops while staying registered (as a crashed server until its lease ends).
    nodes[1].stop_serving();
    std::thread::sleep(Duration::from_millis(1_000));
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for w in workers {
            w.await.unwrap();
        }
    });
    let total = ok.load(Ordering::Relaxed);
    eprintln!(
        "{total} calls ({before_stop} before the stop), {} on the stopped server",
        nodes[1].calls()
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failover hid the stopped server"
    );
    assert!(
        total > before_stop + 100,
        "calls went on after the stop: {before_stop} -> {total}"
    );
}

#[test]
fn an_inactive_server_leaves_rotation_within_the_watch_delay() {
    let base = unique_base("inactive");
    let nodes = three(&base, ["weight=1", "weight=1", "weight=1"]);
    let d = Discovered::new(
        &etcd_endpoint(),
        &base,
        3,
        options(SelectMode::RoundRobin, FailMode::Failfast),
    );
    let rt = runtime();
    rt.block_on(spread(&d, 30));

    let marked = Instant::now();
    nodes[0].registrar().set_inactive(true);
    let gone = wait_servers(&d.xclient, Duration::from_secs(5), |keys| {
        !keys.contains(&nodes[0].key)
    });
    let delay = gone.expect("the inactive server left the list");
    eprintln!("inactive server left the client's list {delay:?} after the metadata change (registrar+etcd+watch)");
    assert!(
        marked.elapsed() < Duration::from_secs(2),
        "watch delay {:?}",
        marked.elapsed()
    );
    let before = nodes[0].calls();
    let counts = rt.block_on(spread(&d, 100));
    assert_eq!(
        nodes[0].calls(),
        before,
        "no traffic to the inactive server: {counts:?}"
    );

    nodes[0].registrar().set_inactive(false);
    wait_servers(&d.xclient, Duration::from_secs(5), |keys| keys.len() == 3).expect("active again");
    rt.block_on(spread(&d, 30));
    assert!(nodes[0].calls() >= before + 10);
}

#[test]
fn failbackup_answers_while_one_server_stalls() {
    let base = unique_base("backup");
    let nodes = three(&base, ["", "", ""]);
    let mut opts = options(SelectMode::RoundRobin, FailMode::Failbackup);
    opts.fail.backup_latency = Duration::from_millis(30);
    let d = Discovered::new(&etcd_endpoint(), &base, 3, opts);
    nodes[0].stall.store(true, Ordering::Relaxed);
    let rt = runtime();
    let slowest = rt.block_on(async {
        let mut slowest = Duration::ZERO;
        for a in 0..30 {
            let started = Instant::now();
            let server = mul(&d.xclient, a, None).await.expect("the backup answers");
            assert_ne!(server, nodes[0].key);
            slowest = slowest.max(started.elapsed());
        }
        slowest
    });
    eprintln!(
        "slowest call {slowest:?}; stalled server got {} calls",
        nodes[0].calls()
    );
    assert!(
        nodes[0].calls() >= 10,
        "the stalled server was picked first in its turns"
    );
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
}

#[test]
fn broadcast_reaches_all_and_fork_needs_one() {
    let base = unique_base("fanout");
    let mut nodes = three(&base, ["", "", ""]);
    let d = Discovered::new(
        &etcd_endpoint(),
        &base,
        3,
        options(SelectMode::Random, FailMode::Failfast),
    );
    let rt = runtime();
    let args = rmp_serde::to_vec_named(&Args { a: 6, b: 7 }).unwrap();
    rt.block_on(d.xclient.broadcast("Mul", &args, &CallOptions::default()))
        .expect("all answer");
    assert!(nodes.iter().all(|n| n.calls() == 1));

    nodes[2].stop_serving();
    assert!(rt
        .block_on(d.xclient.broadcast("Mul", &args, &CallOptions::default()))
        .is_err());
    let reply = rt
        .block_on(d.xclient.fork("Mul", &args, &CallOptions::default()))
        .expect("two still answer");
    let Serde(reply): Serde<governance_support::Reply> = reply.decode().unwrap();
    assert_eq!(reply.c, 42);
}
