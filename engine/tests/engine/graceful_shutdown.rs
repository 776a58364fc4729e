//! Proves graceful shutdown: with requests in flight on several connections, `shutdown`
//! stops accepting, lets every received request finish and answers it (none lost), then
//! closes each connection (idle ones too); handlers that outlive the drain timeout are
//! dropped and their connections closed, so shutdown always ends.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, FrameClient, Gauge, SleepArgs};
use ringrpc_engine::SerializeType;

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn shutdown_within(server: ringrpc_engine::Server, limit: Duration) {
    let started = Instant::now();
    server.shutdown();
    let took = started.elapsed();
    assert!(took < limit, "shutdown took {took:?}");
}

#[test]
fn in_flight_requests_are_answered_before_close() {
    let gauge = Gauge::default();
    let server = common::start_with(common::test_config(2), gauge.clone(), None);
    let addr = server.local_addr();

    let mut clients: Vec<FrameClient> = (0..4).map(|_| FrameClient::connect(addr)).collect();
    for (c, client) in clients.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for i in 0..10u64 {
            let payload = json(&SleepArgs { ms: 300 + 10 * i });
            let seq = (c as u64) * 100 + i;
            batch.extend(request(
                seq,
                SerializeType::Json,
                "Test",
                "Tracked",
                &[],
                &payload,
            ));
        }
        client.send(&batch);
    }
    wait_until("all 40 handlers run", Duration::from_secs(5), || {
        gauge.started.load(Ordering::SeqCst) == 40
    });

    let started = Instant::now();
    let stopper = std::thread::spawn(move || server.shutdown());
    for (c, client) in clients.iter_mut().enumerate() {
        let frames = client.expect_closed(Duration::from_secs(5));
        let seqs: HashSet<u64> = frames.iter().map(|f| f.seq()).collect();
        let want: HashSet<u64> = (0..10).map(|i| (c as u64) * 100 + i).collect();
        assert_eq!(
            seqs, want,
            "connection {c}: every in-flight request answered"
        );
        assert!(frames.iter().all(|f| error_text(f).is_none()));
    }
    stopper.join().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "shutdown waited for handlers"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );
}

#[test]
fn drain_timeout_bounds_shutdown() {
    let gauge = Gauge::default();
    let mut config = common::test_config(1);
    config.drain_timeout = Duration::from_millis(200);
    let server = common::start_with(config, gauge.clone(), None);
    let mut client = FrameClient::connect(server.local_addr());
    let payload = json(&SleepArgs { ms: 30_000 });
    client.send(&request(
        1,
        SerializeType::Json,
        "Test",
        "Tracked",
        &[],
        &payload,
    ));
    wait_until("the handler runs", Duration::from_secs(5), || {
        gauge.started.load(Ordering::SeqCst) == 1
    });
    shutdown_within(server, Duration::from_secs(3));
    assert!(client.expect_closed(Duration::from_secs(2)).is_empty());
}

#[test]
fn idle_connections_on_every_shard_are_closed() {
    let server = common::start(common::test_config(2));
    let addr = server.local_addr();
    let mut clients: Vec<FrameClient> = (0..16).map(|_| FrameClient::connect(addr)).collect();
    // Each connection served one call, so each is accepted by some shard and then idle.
    for client in &mut clients {
        common::assert_serving_on(client);
    }
    let open: Vec<usize> = server.stats().iter().map(|s| s.connections_open).collect();
    assert_eq!(open.iter().sum::<usize>(), 16);
    // SO_REUSEPORT spreads connections by their ports: all 16 on one shard has odds of 2^-15.
    assert!(open.iter().all(|&n| n > 0), "open per shard: {open:?}");
    shutdown_within(server, Duration::from_secs(3));
    for (c, client) in clients.iter_mut().enumerate() {
        assert!(
            client.expect_closed(Duration::from_secs(2)).is_empty(),
            "connection {c}: closed with nothing more to read"
        );
    }
}
