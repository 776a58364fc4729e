//! Hostile peers, handlers of closed connections and the handler-task cap: a peer that
//! starts many slow calls and resets its connection must not leave them running (their
//! replies could never be sent), and no number of slow calls may run more handler tasks on
//! a shard than `max_handler_tasks_per_shard`; calls over the cap wait (none is lost).
//! Asserted from outside through `Server::stats` and the test handler's gauge, on both
//! drivers.
//!
//! (A peer that only sends FIN may still read: its received requests are answered, as the
//! connection core's drain does. If it is in fact gone, the first reply meets a reset, the
//! connection closes, and its other handlers are dropped then.)

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, FrameClient, Gauge, SleepArgs};
use ringrpc_engine::{Driver, SerializeType, Server};

const DRIVERS: [Driver; 2] = [Driver::Glommio, Driver::Uring];

fn wait_until(what: &str, server: &Server, mut done: impl FnMut(&Server) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(server) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {:?}",
            server.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tracked(seq: u64, ms: u64) -> Vec<u8> {
    request(
        seq,
        SerializeType::Json,
        "Test",
        "Tracked",
        &[],
        &json(&SleepArgs { ms }),
    )
}

#[test]
fn handlers_of_a_closed_connection_are_dropped_at_once() {
    const CALLS: u64 = 50;
    for driver in DRIVERS {
        let gauge = Gauge::default();
        let config = common::test_config(1).driver(driver);
        let server = common::start_with(config, gauge.clone(), None);
        let mut client = FrameClient::connect(server.local_addr());
        // Calls that would run for a minute each.
        let batch: Vec<u8> = (0..CALLS).flat_map(|seq| tracked(seq, 60_000)).collect();
        client.send(&batch);
        wait_until("every handler runs", &server, |_| {
            gauge.started.load(Ordering::SeqCst) == CALLS as usize
        });
        assert_eq!(server.stats()[0].handler_tasks, CALLS as usize);
        // A reset, not a FIN: the peer is gone for good.
        socket2::SockRef::from(client.stream())
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        let closed_at = Instant::now();
        drop(client);
        wait_until("the handlers are dropped", &server, |server| {
            let stats = server.stats()[0];
            stats.handler_tasks == 0 && stats.connections_open == 0
        });
        let stats = server.stats()[0];
        println!(
            "{driver:?}: {} handlers dropped {:?} after their connection closed",
            stats.handlers_cancelled,
            closed_at.elapsed()
        );
        assert_eq!(stats.handlers_cancelled, CALLS, "{driver:?}");
        common::assert_serving(server.local_addr());
    }
}

#[test]
fn handler_tasks_never_exceed_the_shard_cap_and_none_is_lost() {
    const CAP: usize = 4;
    const CALLS: u64 = 24;
    for driver in DRIVERS {
        let gauge = Gauge::default();
        let config = common::test_config(1)
            .driver(driver)
            .max_handler_tasks_per_shard(CAP);
        let server = common::start_with(config, gauge.clone(), None);
        // Three connections, eight slow calls each, all sent at once.
        let mut clients: Vec<FrameClient> = (0..3)
            .map(|_| FrameClient::connect(server.local_addr()))
            .collect();
        for (c, client) in clients.iter_mut().enumerate() {
            let batch: Vec<u8> = (0..CALLS / 3)
                .flat_map(|i| tracked(c as u64 * 100 + i, 30))
                .collect();
            client.send(&batch);
        }
        wait_until("the cap is reached", &server, |_| {
            gauge.running.load(Ordering::SeqCst) == CAP
        });
        let at_cap = server.stats()[0].handler_tasks;
        for client in &mut clients {
            for _ in 0..CALLS / 3 {
                let reply = client.recv();
                assert_eq!(error_text(&reply), None, "{driver:?}");
            }
        }
        let peak = gauge.peak.load(Ordering::SeqCst);
        println!("{driver:?}: cap {CAP}: at most {peak} handlers ran at once, {CALLS} answered");
        assert_eq!(peak, CAP, "{driver:?}: the cap is reached and never passed");
        assert!(at_cap <= CAP, "{driver:?}: {at_cap} tasks at the cap");
        assert_eq!(gauge.started.load(Ordering::SeqCst), CALLS as usize);
        assert_eq!(server.stats()[0].handler_tasks, 0);
    }
}
