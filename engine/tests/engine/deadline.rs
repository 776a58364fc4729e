//! Proves that `__ServerTimeout` is enforced (PROTOCOL.md §4.6, stricter than rpcx-go): a
//! handler still running at its deadline is dropped and the client gets the error reply
//! `context deadline exceeded` at about the deadline; a zero or negative timeout is refused
//! at once; a handler that finishes in time is answered normally; an unparsable value is
//! ignored.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, FrameClient, Gauge, SleepArgs};
use ringrpc_engine::SerializeType;

fn sleep_request(seq: u64, ms: u64, timeout: &str) -> Vec<u8> {
    let payload = json(&SleepArgs { ms });
    request(
        seq,
        SerializeType::Json,
        "Test",
        "Tracked",
        &[("__ServerTimeout", timeout)],
        &payload,
    )
}

#[test]
fn handler_past_its_deadline_is_dropped() {
    let gauge = Gauge::default();
    let server = common::start_with(common::test_config(1), gauge.clone(), None);
    let mut client = FrameClient::connect(server.local_addr());
    let started = Instant::now();
    let reply = client.call(&sleep_request(1, 5_000, "100"));
    let took = started.elapsed();
    assert_eq!(
        error_text(&reply).as_deref(),
        Some("context deadline exceeded")
    );
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // The handler was dropped, not left running: it never decremented `running`, and
    // nothing more arrives for that seq.
    assert_eq!(gauge.started.load(Ordering::SeqCst), 1);
    assert_eq!(
        gauge.running.load(Ordering::SeqCst),
        1,
        "dropped mid-sleep, never resumed"
    );
    client.expect_silence(Duration::from_millis(200));
    common::assert_serving(server.local_addr());
}

#[test]
fn zero_and_negative_timeouts_are_already_expired() {
    let gauge = Gauge::default();
    let server = common::start_with(common::test_config(1), gauge.clone(), None);
    let mut client = FrameClient::connect(server.local_addr());
    for (seq, timeout) in [(1, "0"), (2, "-5")] {
        let reply = client.call(&sleep_request(seq, 10, timeout));
        assert_eq!(
            error_text(&reply).as_deref(),
            Some("context deadline exceeded")
        );
    }
    assert_eq!(
        gauge.started.load(Ordering::SeqCst),
        0,
        "the handler never ran"
    );
}

#[test]
fn handler_within_its_deadline_and_bad_values() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&sleep_request(1, 10, "2000"));
    assert_eq!(error_text(&reply), None);
    assert_eq!(&reply.payload()[..], br#"{"Ms":10}"#);
    let reply = client.call(&sleep_request(2, 10, "soon"));
    assert_eq!(error_text(&reply), None, "an unparsable timeout is ignored");
}
