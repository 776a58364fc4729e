//! Proves that oneway requests never get a reply, not even an error (PROTOCOL.md §4.10),
//! that their handlers still run, and that the connection keeps serving afterwards.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, oneway, request, FrameClient, Gauge, SleepArgs};
use ringrpc_engine::SerializeType;

#[test]
fn oneway_requests_get_no_reply() {
    let gauge = Gauge::default();
    let server = common::start_with(common::test_config(1), gauge.clone(), None);
    let mut client = FrameClient::connect(server.local_addr());

    let mut batch = Vec::new();
    batch.extend(oneway(1, "Test", "Tracked", &json(&SleepArgs { ms: 0 })));
    batch.extend(oneway(2, "Arith", "NoSuchMethod", b"{}"));
    batch.extend(oneway(3, "NoSuchService", "Mul", b"{}"));
    batch.extend(oneway(4, "Test", "Fail", b""));
    batch.extend(oneway(5, "Arith", "Mul", b"not json"));
    batch.extend(request(
        6,
        SerializeType::Json,
        "Echo",
        "Echo",
        &[],
        b"after",
    ));
    client.send(&batch);

    let reply = client.recv();
    assert_eq!(
        reply.seq(),
        6,
        "the first frame back answers the first non-oneway request"
    );
    assert_eq!(error_text(&reply), None);
    assert_eq!(&reply.payload()[..], b"after");
    client.expect_silence(Duration::from_millis(200));

    let deadline = Instant::now() + Duration::from_secs(5);
    while gauge.started.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        gauge.started.load(Ordering::SeqCst),
        1,
        "the oneway handler ran"
    );
}
