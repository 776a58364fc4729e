//! `XClientOptions::attempt_timeout` on tokio's paused clock, against in-memory servers that
//! go silent (a partition: dials never complete, calls never answer). Proves: Failover moves
//! a call off a silent server after one attempt timeout and the call succeeds (without the
//! option it is lost at its deadline); Failtry retries the same server and the call's
//! deadline still bounds the whole; a dial cut short counts as a failed dial (back-off), so
//! later calls skip the server; a call waiting for another's dial is bounded too; and the
//! breaker counts timed-out attempts as failures.

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant as VirtualInstant;

use crate::support::memory::{Behaviour, Memory, Servers};

use ringrpc_client::breaker::BreakerConfig;
use ringrpc_client::discovery::{Discovery, MultipleDiscovery};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::SelectMode;
use ringrpc_client::xclient::{XClient, XClientOptions, XError};
use ringrpc_client::{CallOptions, Error};

const A: &str = "tcp@10.0.0.1:8972";
const B: &str = "tcp@10.0.0.2:8972";
const C: &str = "tcp@10.0.0.3:8972";
const ATTEMPT: Duration = Duration::from_millis(200);

fn xclient(keys: &[&str], options: XClientOptions) -> (XClient<Memory>, Rc<Servers>) {
    let discovery = MultipleDiscovery::from_pairs(keys.iter().map(|k| (*k, "")));
    let memory = Memory::default();
    let servers = memory.0.clone();
    let x = XClient::new("Arith", discovery.watch(), memory, options.seed(5));
    (x, servers)
}

fn options(fail: FailMode) -> XClientOptions {
    XClientOptions::new()
        .select(SelectMode::RoundRobin)
        .fail(FailPolicy::new(fail))
        .timeout(Duration::from_secs(1))
}

async fn call(x: &XClient<Memory>) -> Result<String, XError<Error>> {
    x.send("Mul", b"{}", &CallOptions::default(), None).await
}

/// Warms a connection to each of `n` servers, then silences A; returns A's dials and calls
/// so far.
async fn warm_then_silence_a(x: &XClient<Memory>, servers: &Servers, n: usize) -> (usize, usize) {
    for _ in 0..n {
        call(x).await.expect("every server answers");
    }
    servers.set(A, Behaviour::Silent);
    (servers.connects(A), servers.calls(A))
}

#[tokio::test(start_paused = true)]
async fn failover_moves_a_call_off_a_silent_server_after_one_attempt_timeout() {
    let (x, servers) = xclient(
        &[A, B, C],
        options(FailMode::Failover).attempt_timeout(ATTEMPT),
    );
    let (connects_before, calls_before) = warm_then_silence_a(&x, &servers, 3).await;
    let mut slow = 0;
    for _ in 0..60 {
        let started = VirtualInstant::now();
        let server = call(&x)
            .await
            .expect("failover answers within the deadline");
        assert_ne!(server, A);
        match started.elapsed() {
            Duration::ZERO => {}
            ATTEMPT => slow += 1,
            other => panic!("a call took {other:?}: neither at once nor one attempt timeout"),
        }
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    // Each attempt on A (the stale connection's call, then each dial) costs exactly one
    // attempt timeout; the dial back-off keeps it to a few in 60 calls (20, one in three,
    // without it).
    let attempts_on_a = (servers.connects(A) - connects_before) + (servers.calls(A) - calls_before);
    assert_eq!(slow, attempts_on_a);
    assert!((2..=8).contains(&slow), "{slow} calls tried A");
    println!("60 calls with A silent: 0 failed, {slow} took one attempt timeout, the rest none");
}

#[tokio::test(start_paused = true)]
async fn without_an_attempt_timeout_a_silent_server_holds_the_call_to_its_deadline() {
    let (x, servers) = xclient(&[A, B, C], options(FailMode::Failover));
    warm_then_silence_a(&x, &servers, 3).await;
    let started = VirtualInstant::now();
    let err = call(&x).await.expect_err("A never answers");
    assert!(matches!(err, XError::Timeout { timeout_ms: 1000 }), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn failtry_retries_the_same_server_within_the_call_deadline() {
    let no_backoff = |o: XClientOptions| {
        o.attempt_timeout(ATTEMPT)
            .dial_backoff(Duration::ZERO, Duration::ZERO)
    };
    let (x, servers) = xclient(&[A], no_backoff(options(FailMode::Failtry)));
    servers.set(A, Behaviour::Silent);
    let started = VirtualInstant::now();
    let err = call(&x).await.expect_err("A is silent");
    assert!(
        matches!(&err, XError::AttemptTimeout { server, timeout_ms: 200 } if server == A),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(started.elapsed(), ATTEMPT * 4, "1 attempt + 3 retries");
    assert_eq!(servers.connects(A), 4);

    // The call's deadline still bounds the retries.
    let short = no_backoff(options(FailMode::Failtry)).timeout(Duration::from_millis(500));
    let (x, servers) = xclient(&[A], short);
    servers.set(A, Behaviour::Silent);
    let started = VirtualInstant::now();
    let err = call(&x).await.expect_err("A is silent");
    assert!(matches!(err, XError::Timeout { timeout_ms: 500 }), "{err}");
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    assert_eq!(
        servers.connects(A),
        3,
        "the third attempt was cut by the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dial_cut_short_puts_the_server_in_back_off_and_waiters_are_bounded_too() {
    let (x, servers) = xclient(&[A], options(FailMode::Failfast).attempt_timeout(ATTEMPT));
    servers.set(A, Behaviour::Silent);
    let started = VirtualInstant::now();
    // Two calls at once: one dials, the other waits for that dial; both end at the timeout
    // (the waiter with the timeout, or with the back-off the failed dial left).
    let (first, second) = tokio::join!(call(&x), call(&x));
    let first = first.expect_err("A is silent");
    assert!(matches!(first, XError::AttemptTimeout { .. }), "{first}");
    let second = second.expect_err("A is silent");
    assert!(
        matches!(
            second,
            XError::AttemptTimeout { .. } | XError::Backoff { .. }
        ),
        "{second}"
    );
    assert_eq!(started.elapsed(), ATTEMPT);
    assert_eq!(servers.connects(A), 1, "one dial for both calls");
    assert_eq!(x.remembered().backoff_count, 1);
    let err = call(&x).await.expect_err("in back-off");
    assert!(matches!(err, XError::Backoff { .. }), "{err}");
    assert_eq!(servers.connects(A), 1, "no dial during the back-off");
}

#[tokio::test(start_paused = true)]
async fn the_breaker_counts_timed_out_attempts_as_failures() {
    let options = options(FailMode::Failfast)
        .attempt_timeout(ATTEMPT)
        .breaker(BreakerConfig::new(2, Duration::from_secs(60)));
    let (x, servers) = xclient(&[A], options);
    call(&x).await.expect("A answers");
    servers.set(A, Behaviour::Stall);
    for _ in 0..2 {
        let err = call(&x).await.expect_err("A stalls");
        assert!(matches!(err, XError::AttemptTimeout { .. }), "{err}");
    }
    let err = call(&x).await.expect_err("breaker open");
    assert!(matches!(err, XError::BreakerOpen { .. }), "{err}");
}
