//! The XClient against failing and churning servers. Asserts its bounds from outside, by
//! counting what its transport is asked to do, and prints the figures:
//! - N callers after a failed dial make one dial, not one per attempt (both runtimes, real
//!   sockets to a port that refuses);
//! - a server that stays down is dialled on a jittered, doubling, capped back-off (virtual
//!   time);
//! - servers discovery drops leave no connection, breaker or back-off behind (virtual time);
//! - a call that started before a breaker opened cannot close it by answering late.

use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as VirtualInstant;

use crate::support;
use crate::support::memory::{Behaviour, Memory, Servers};
use ringrpc_client::breaker::BreakerConfig;
use ringrpc_client::discovery::{Discovery, MultipleDiscovery};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::runtime::Runtime;
use ringrpc_client::select::{Instance, SelectMode};
use ringrpc_client::xclient::{ClientTransport, Transport, XClient, XClientOptions, XError};
use ringrpc_client::{CallOptions, Request};

/// A transport that counts the dials it is asked for, around a real one.
struct Counting<T> {
    inner: T,
    dials: Arc<AtomicUsize>,
}

impl<T: Transport> Transport for Counting<T> {
    type Conn = T::Conn;
    type Reply = T::Reply;
    type Error = T::Error;

    async fn connect(&self, server: &Instance) -> Result<T::Conn, T::Error> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        self.inner.connect(server).await
    }
    async fn send(&self, conn: &T::Conn, request: &Request<'_>) -> Result<T::Reply, T::Error> {
        self.inner.send(conn, request).await
    }
    fn is_usable(&self, conn: &T::Conn) -> bool {
        self.inner.is_usable(conn)
    }
    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await;
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
}

/// The real transport of the runtime `Client` is for.
fn real_transport<R: Runtime>(_: PhantomData<ringrpc_client::Client<R>>) -> ClientTransport<R> {
    ClientTransport::new(Default::default())
}

/// `tcp@127.0.0.1:PORT` where nothing listens.
fn refusing_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("tcp@{addr}")
}

for_each_driver! {
    #[test]
    fn callers_after_a_failed_dial_make_one_dial() {
        block_on(async {
            let addr = refusing_addr();
            let discovery = MultipleDiscovery::from_pairs([(addr.as_str(), "")]);
            let dials = Arc::new(AtomicUsize::new(0));
            let transport = Counting { inner: real_transport(PhantomData::<Client>), dials: dials.clone() };
            let options = XClientOptions::new()
                .fail(FailPolicy::new(FailMode::Failtry)) // 3 retries: 4 attempts each
                .dial_backoff(Duration::from_secs(30), Duration::from_secs(60));
            let x = XClient::new("Arith", discovery.watch(), transport, options);
            let callers = 100;
            let call_options = CallOptions::new();
            let calls = (0..callers).map(|_| x.send("Mul", b"{}", &call_options, None)).collect();
            let results = support::join_all(calls).await;
            for result in &results {
                let error = result.as_ref().expect_err("nothing listens");
                assert!(error.is_retryable(), "{error}");
            }
            let dialled = dials.load(Ordering::SeqCst);
            assert_eq!(dialled, 1, "one dial for {callers} callers");
            let backoffs = results.iter().filter(|r| matches!(r, Err(XError::Backoff { .. }))).count();
            println!("{callers} callers x 4 attempts at a refusing server: {dialled} dial, {backoffs} refused by back-off");
            assert_eq!(x.remembered().backoff_count, 1);
        });
    }
}

fn memory_xclient(
    discovery: &MultipleDiscovery,
    options: XClientOptions,
) -> (XClient<Memory>, Rc<Servers>) {
    let memory = Memory::default();
    let servers = memory.0.clone();
    (
        XClient::new("Arith", discovery.watch(), memory, options.seed(7)),
        servers,
    )
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stays_down_is_dialled_on_a_capped_jittered_back_off() {
    const A: &str = "tcp@10.0.0.1:8972";
    let discovery = MultipleDiscovery::from_pairs([(A, "")]);
    let options = XClientOptions::new().fail(FailPolicy::new(FailMode::Failfast));
    let (x, servers) = memory_xclient(&discovery, options);
    servers.set(A, Behaviour::Down);
    let minute = Duration::from_secs(60);
    let started = VirtualInstant::now();
    let mut calls = 0;
    while started.elapsed() < minute {
        assert!(x
            .send("Mul", b"{}", &CallOptions::new(), None)
            .await
            .is_err());
        calls += 1;
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    let dials = servers.connects(A);
    // Delays of at least 50, 100, .. 1600 ms, then at least 2.5 s each (max 5 s, jittered
    // down to half): at most 6 + 57 / 2.5 dials in the minute; at least 60 / 5.
    assert!((12..=30).contains(&dials), "{dials} dials");
    println!("{calls} calls in a virtual minute at a server that stays down: {dials} dials");

    servers.set(A, Behaviour::Answer);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        x.send("Mul", b"{}", &CallOptions::new(), None)
            .await
            .unwrap(),
        A
    );
    assert_eq!(
        x.remembered().backoff_count,
        0,
        "a good dial forgets the back-off"
    );
}

#[tokio::test(start_paused = true)]
async fn servers_discovery_drops_are_forgotten() {
    let discovery = MultipleDiscovery::from_pairs(Vec::<(String, String)>::new());
    let options = XClientOptions::new()
        .select(SelectMode::RoundRobin)
        .fail(FailPolicy::new(FailMode::Failover))
        .breaker(BreakerConfig::new(1, Duration::from_secs(60)));
    let (x, servers) = memory_xclient(&discovery, options);
    let rounds = 500;
    let mut most = (0, 0, 0);
    for round in 0..rounds {
        let keys: Vec<String> = (0..3)
            .map(|i| format!("tcp@10.{}.{}.{i}:8972", round / 256, round % 256))
            .collect();
        // One of the three is down: it gets a back-off and an open breaker.
        servers.set(&keys[0], Behaviour::Down);
        discovery.update(keys.iter().map(|k| Instance::new(k.as_str(), "")).collect());
        for _ in 0..6 {
            x.send("Mul", b"{}", &CallOptions::new(), None)
                .await
                .expect("failover");
        }
        let r = x.remembered();
        most = (
            most.0.max(r.conn_count),
            most.1.max(r.backoff_count),
            most.2.max(r.breaker_count),
        );
    }
    assert!(most.0 <= 3 && most.1 <= 3 && most.2 <= 3, "{most:?}");
    assert!(
        servers.live_conns.get() <= 3,
        "{} connections alive",
        servers.live_conns.get()
    );
    discovery.update(Vec::new());
    let r = x.remembered();
    assert_eq!((r.conn_count, r.backoff_count, r.breaker_count), (0, 0, 0));
    assert_eq!(servers.live_conns.get(), 0, "every connection closed");
    println!(
        "{} servers churned through discovery: at most {} connections, {} back-offs, {} breakers remembered",
        rounds * 3, most.0, most.1, most.2
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_from_before_the_breaker_opened_cannot_close_it() {
    const A: &str = "tcp@10.0.0.1:8972";
    const B: &str = "tcp@10.0.0.2:8972";
    let discovery = MultipleDiscovery::from_pairs([(A, ""), (B, "")]);
    let options = XClientOptions::new()
        .select(SelectMode::RoundRobin)
        .fail(FailPolicy::new(FailMode::Failfast))
        .breaker(BreakerConfig::new(1, Duration::from_secs(60)));
    let (x, servers) = memory_xclient(&discovery, options);
    let x = &x;
    // A slow call starts on A while its breaker is closed (round robin: A first) ...
    servers.set(A, Behaviour::Slow(Duration::from_secs(1)));
    let slow = async move { x.send("Mul", b"{}", &CallOptions::new(), None).await };
    let breaker_trips = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        servers.set(A, Behaviour::Down);
        // ... B, then A fails: A's breaker opens.
        let _ = x.send("Mul", b"{}", &CallOptions::new(), None).await;
        let failed = x.send("Mul", b"{}", &CallOptions::new(), None).await;
        assert!(
            matches!(&failed, Err(XError::Server { server, .. }) if server == A),
            "{failed:?}"
        );
        servers.set(A, Behaviour::Answer);
    };
    let (slow, ()) = tokio::join!(slow, breaker_trips);
    assert_eq!(slow.expect("the slow call answered"), A);
    // The late success is from before the opening: A stays out for the open period.
    let calls_before = servers.calls_total();
    for _ in 0..10 {
        assert_eq!(
            x.send("Mul", b"{}", &CallOptions::new(), None)
                .await
                .unwrap(),
            B
        );
    }
    assert_eq!(servers.calls_total() - calls_before, 10);
    println!(
        "a success that started before the breaker opened left it open: 10 of 10 calls avoided A"
    );
}
