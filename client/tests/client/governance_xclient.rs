//! The XClient's governance with no network: an in-memory transport whose servers refuse,
//! drop, stall or answer with errors on cue. Proves that fail modes act on retryability,
//! that breakers open on consecutive failures and close after a half-open probe, that
//! connections are reused, that discovery updates (removal, `state=inactive`) steer traffic,
//! and that deadlines bound retries. Every test runs on tokio's paused clock, which the
//! transport's `now` reads: breaker periods, latencies and deadlines pass in virtual time,
//! without waiting.

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant as VirtualInstant;

use crate::support::memory::{Behaviour, Memory, Servers};

use ringrpc_client::breaker::BreakerConfig;
use ringrpc_client::discovery::{Discovery, MultipleDiscovery};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::{Instance, SelectMode};
use ringrpc_client::xclient::{XClient, XClientOptions, XError};
use ringrpc_client::{CallOptions, Error};

const A: &str = "tcp@10.0.0.1:8972";
const B: &str = "tcp@10.0.0.2:8972";
const C: &str = "tcp@10.0.0.3:8972";

fn three(metadata: [&str; 3]) -> MultipleDiscovery {
    MultipleDiscovery::from_pairs([(A, metadata[0]), (B, metadata[1]), (C, metadata[2])])
}

fn xclient(
    discovery: &MultipleDiscovery,
    options: XClientOptions,
) -> (XClient<Memory>, Rc<Servers>) {
    let memory = Memory::default();
    let servers = memory.0.clone();
    let options = options.seed(11);
    (
        XClient::new("Arith", discovery.watch(), memory, options),
        servers,
    )
}

/// Dial back-off is off here: these tests count the dials and attempts the fail modes and
/// breakers make (`hostile_xclient.rs` tests the back-off).
fn options(select: SelectMode, fail: FailMode) -> XClientOptions {
    XClientOptions::new()
        .select(select)
        .fail(FailPolicy::new(fail))
        .dial_backoff(Duration::ZERO, Duration::ZERO)
}

async fn call(x: &XClient<Memory>) -> Result<String, XError<Error>> {
    x.send("Mul", b"{}", &CallOptions::default(), None).await
}

#[tokio::test(start_paused = true)]
async fn failover_hides_a_dead_server_and_connections_are_reused() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::RoundRobin, FailMode::Failover),
    );
    servers.set(B, Behaviour::Down);
    for _ in 0..300 {
        let server = call(&x).await.expect("failover hides the dead server");
        assert_ne!(server, B);
    }
    assert_eq!(servers.connects(A), 1, "one connection per server, reused");
    assert_eq!(servers.connects(C), 1);
    assert!(servers.calls(A) >= 140 && servers.calls(C) >= 140);
}

#[tokio::test(start_paused = true)]
async fn failfast_reports_transport_errors_and_nothing_retries_service_errors() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::RoundRobin, FailMode::Failfast),
    );
    servers.set(A, Behaviour::Down);
    let err = call(&x).await.expect_err("A is first in round robin");
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(&err, XError::Server { server, .. } if server == A));

    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::RoundRobin, FailMode::Failover),
    );
    servers.set(A, Behaviour::ServiceError);
    let err = call(&x).await.expect_err("a service error is final");
    assert_eq!(
        err.server_error().and_then(Error::service_message),
        Some("rpcx: can't find method")
    );
    assert_eq!(
        servers.calls(A) + servers.calls(B) + servers.calls(C),
        1,
        "not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn failover_gives_up_after_retries_plus_one_attempts() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(&discovery, options(SelectMode::Random, FailMode::Failover));
    for key in [A, B, C] {
        servers.set(key, Behaviour::Down);
    }
    let err = call(&x).await.expect_err("everything is down");
    assert!(err.is_retryable());
    let attempts: usize = [A, B, C].iter().map(|k| servers.connects(k)).sum();
    assert_eq!(attempts, 4, "Retries = 3 -> 4 attempts, each a failed dial");
    assert!(
        [A, B, C].iter().all(|k| servers.connects(k) >= 1),
        "every server tried before any twice"
    );
}

#[tokio::test(start_paused = true)]
async fn failtry_stays_on_its_server() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::RoundRobin, FailMode::Failtry),
    );
    servers.set(A, Behaviour::Down);
    assert!(call(&x).await.is_err());
    assert_eq!(servers.connects(A), 4, "4 attempts, all on A");
    assert_eq!(servers.connects(B) + servers.connects(C), 0);
}

#[tokio::test(start_paused = true)]
async fn failbackup_answers_while_one_server_stalls() {
    let discovery = three(["", "", ""]);
    let mut opts = options(SelectMode::RoundRobin, FailMode::Failbackup);
    opts.fail.backup_latency = Duration::from_millis(20);
    let (x, servers) = xclient(&discovery, opts);
    servers.set(A, Behaviour::Stall);
    let started = VirtualInstant::now();
    for _ in 0..30 {
        let server = call(&x).await.expect("the backup answers");
        assert_ne!(server, A);
    }
    assert!(
        servers.calls(A) >= 9,
        "A was picked first in its turns and stalled"
    );
    let stalled = u32::try_from(servers.calls(A)).unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(20) * stalled,
        "each call that stalled on A waited exactly the backup latency, the others not at all"
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_on_consecutive_failures_and_a_probe_closes_it() {
    let discovery = three(["", "", ""]);
    let mut opts = options(SelectMode::RoundRobin, FailMode::Failover);
    opts.breaker = Some(BreakerConfig::new(3, Duration::from_millis(300)));
    let (x, servers) = xclient(&discovery, opts);
    servers.set(A, Behaviour::Down);
    for _ in 0..60 {
        call(&x).await.expect("failover");
    }
    assert_eq!(
        servers.connects(A),
        3,
        "the breaker opened after 3 failed dials"
    );

    servers.set(A, Behaviour::Answer);
    for _ in 0..30 {
        call(&x).await.expect("failover");
    }
    assert_eq!(servers.calls(A), 0, "still open");
    tokio::time::advance(Duration::from_millis(299)).await;
    for _ in 0..30 {
        call(&x).await.expect("failover");
    }
    assert_eq!(servers.calls(A), 0, "open until open_for has passed");
    tokio::time::advance(Duration::from_millis(1)).await;
    let before = servers.calls(A);
    for _ in 0..30 {
        call(&x).await.expect("closed again");
    }
    assert!(
        servers.calls(A) - before >= 9,
        "the probe succeeded and A is back in rotation"
    );
}

#[tokio::test(start_paused = true)]
async fn all_breakers_open_is_reported() {
    let discovery = MultipleDiscovery::from_pairs([(A, "")]);
    let mut opts = options(SelectMode::Random, FailMode::Failfast);
    opts.breaker = Some(BreakerConfig::new(1, Duration::from_secs(60)));
    let (x, servers) = xclient(&discovery, opts);
    servers.set(A, Behaviour::Down);
    assert!(matches!(call(&x).await, Err(XError::Server { .. })));
    assert!(matches!(call(&x).await, Err(XError::BreakerOpen { .. })));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_all_attempts() {
    let discovery = three(["", "", ""]);
    let mut opts = options(SelectMode::Random, FailMode::Failover);
    opts.timeout = Some(Duration::from_millis(100));
    let (x, servers) = xclient(&discovery, opts);
    for key in [A, B, C] {
        servers.set(key, Behaviour::Stall);
    }
    let started = VirtualInstant::now();
    let err = call(&x).await.expect_err("stalled");
    assert!(matches!(err, XError::Timeout { timeout_ms: 100 }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(started.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn discovery_updates_and_inactive_servers_steer_traffic() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(&discovery, options(SelectMode::Random, FailMode::Failfast));
    discovery.update(vec![
        Instance::new(A, ""),
        Instance::new(B, "state=inactive"),
        Instance::new(C, ""),
    ]);
    for _ in 0..100 {
        assert_ne!(call(&x).await.unwrap(), B);
    }
    discovery.update(vec![Instance::new(C, "")]);
    let c_before = servers.calls(C);
    for _ in 0..20 {
        assert_eq!(call(&x).await.unwrap(), C);
    }
    assert_eq!(servers.calls(C) - c_before, 20);
    discovery.update(Vec::new());
    assert!(matches!(call(&x).await, Err(XError::NoServer { .. })));
}

#[tokio::test(start_paused = true)]
async fn weighted_round_robin_and_consistent_hash_through_the_xclient() {
    let discovery = three(["weight=3", "weight=1", "weight=1"]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::WeightedRoundRobin, FailMode::Failfast),
    );
    for _ in 0..500 {
        call(&x).await.unwrap();
    }
    assert_eq!(
        (servers.calls(A), servers.calls(B), servers.calls(C)),
        (300, 100, 100)
    );

    let (x, _) = xclient(
        &discovery,
        options(SelectMode::ConsistentHash, FailMode::Failfast),
    );
    for user in 0..50u32 {
        let key = format!("user-{user}");
        let first = x
            .send("Mul", b"{}", &CallOptions::default(), Some(key.as_bytes()))
            .await
            .unwrap();
        for _ in 0..5 {
            let again = x
                .send("Mul", b"{}", &CallOptions::default(), Some(key.as_bytes()))
                .await
                .unwrap();
            assert_eq!(again, first, "key {key} moved");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn lowest_latency_prefers_the_fast_server() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::LowestLatency, FailMode::Failfast),
    );
    servers.set(A, Behaviour::Slow(Duration::from_millis(8)));
    servers.set(B, Behaviour::Slow(Duration::from_millis(1)));
    servers.set(C, Behaviour::Slow(Duration::from_millis(8)));
    for _ in 0..200 {
        call(&x).await.unwrap();
    }
    assert!(
        servers.calls(B) > 170,
        "B {} A {} C {}",
        servers.calls(B),
        servers.calls(A),
        servers.calls(C)
    );
}

#[tokio::test(start_paused = true)]
async fn closest_follows_the_clients_position_and_fails_over_to_the_next() {
    // Beijing, Shanghai, New York; the client is in Hangzhou.
    let discovery = three([
        "latitude=39.90&longitude=116.41",
        "latitude=31.23&longitude=121.47",
        "latitude=40.71&longitude=-74.01",
    ]);
    let options = options(SelectMode::Closest, FailMode::Failover).position(30.27, 120.15);
    let (x, servers) = xclient(&discovery, options);
    for _ in 0..20 {
        call(&x).await.unwrap();
    }
    assert_eq!((servers.calls(A), servers.calls(B)), (0, 20));
    servers.set(B, Behaviour::Down);
    call(&x).await.unwrap();
    assert_eq!((servers.calls(A), servers.calls(C)), (1, 0), "next nearest");
}

#[tokio::test(start_paused = true)]
async fn network_quality_weights_servers_by_measured_rtt() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::NetworkQuality, FailMode::Failfast),
    );
    // rpcx-go's weights: 150 ms → 51, 2 ms → 191, 1 s → 0 (used only if alone).
    servers.set(A, Behaviour::Slow(Duration::from_millis(150)));
    servers.set(B, Behaviour::Slow(Duration::from_millis(2)));
    servers.set(C, Behaviour::Slow(Duration::from_secs(1)));
    for _ in 0..(242 * 4) {
        call(&x).await.unwrap();
    }
    let (a, b, c) = (servers.calls(A), servers.calls(B), servers.calls(C));
    // C's first answer drops its weight to 0; the credit it had built up before that
    // (smooth round robin's current weight) may still win it one more call.
    assert!(c <= 2, "C {c}");
    assert!(
        (190..=215).contains(&a) && (750..=780).contains(&b),
        "A {a} B {b}"
    );
}

#[tokio::test(start_paused = true)]
async fn broadcast_needs_all_and_fork_needs_one() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(&discovery, options(SelectMode::Random, FailMode::Failfast));
    x.broadcast("Mul", b"{}", &CallOptions::default())
        .await
        .expect("all answer");
    assert_eq!(
        (servers.calls(A), servers.calls(B), servers.calls(C)),
        (1, 1, 1)
    );

    servers.set(B, Behaviour::ServiceError);
    assert!(x
        .broadcast("Mul", b"{}", &CallOptions::default())
        .await
        .is_err());
    let won = x
        .fork("Mul", b"{}", &CallOptions::default())
        .await
        .expect("A and C answer");
    assert_ne!(won, B);

    for key in [A, B, C] {
        servers.set(key, Behaviour::Down);
    }
    assert!(x.fork("Mul", b"{}", &CallOptions::default()).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_calls_share_one_dial_per_server() {
    let discovery = three(["", "", ""]);
    let (x, servers) = xclient(
        &discovery,
        options(SelectMode::RoundRobin, FailMode::Failfast),
    );
    let x = Rc::new(x);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let calls: Vec<_> = (0..30)
                .map(|_| {
                    let x = x.clone();
                    tokio::task::spawn_local(async move { call(&x).await })
                })
                .collect();
            for c in calls {
                c.await.unwrap().expect("call");
            }
        })
        .await;
    assert_eq!(
        [
            servers.connects(A),
            servers.connects(B),
            servers.connects(C)
        ],
        [1, 1, 1]
    );
    assert_eq!(servers.calls(A) + servers.calls(B) + servers.calls(C), 30);
}
