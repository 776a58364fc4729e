//! Proves the per-connection in-flight cap: with `max_inflight_per_conn = 8`, 100 pipelined
//! slow requests never have more than 8 handlers running at once on that connection, and
//! every one of them is still answered (the connection pauses reading, it does not drop).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use crate::common;
use crate::common::{error_text, json, request, FrameClient, Gauge, SleepArgs};
use ringrpc_engine::SerializeType;

#[test]
fn no_more_than_the_cap_run_at_once() {
    let gauge = Gauge::default();
    let mut config = common::test_config(1);
    config.max_inflight_per_conn = 8;
    let server = common::start_with(config, gauge.clone(), None);
    let mut client = FrameClient::connect(server.local_addr());

    let mut batch = Vec::new();
    for seq in 0..100u64 {
        let payload = json(&SleepArgs { ms: 5 });
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
    let mut seen = HashSet::new();
    while seen.len() < 100 {
        let reply = client.recv();
        assert_eq!(error_text(&reply), None);
        assert!(seen.insert(reply.seq()));
    }
    let peak = gauge.peak.load(Ordering::SeqCst);
    assert!(peak <= 8, "{peak} handlers ran at once");
    assert!(peak >= 2, "requests did run concurrently (peak {peak})");
}
