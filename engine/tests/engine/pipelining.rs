//! Proves that one connection carries many requests at once: 1000 requests written in one
//! go, with handlers finishing in a different order than they were sent, all come back,
//! each exactly once, matched by seq, with the right reply.

use std::collections::HashMap;

use crate::common;
use crate::common::{error_text, json, request, Args, FrameClient, SleepArgs};
use ringrpc_engine::SerializeType;

#[test]
fn a_thousand_requests_in_flight_on_one_connection() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());

    let mut batch = Vec::new();
    let mut expected = HashMap::new();
    for seq in 0..1000u64 {
        if seq % 3 == 0 {
            // Sleeps of 0..=29 ms: these finish out of order, after the instant ones.
            let ms = (seq * 7) % 30;
            let payload = json(&SleepArgs { ms });
            batch.extend(request(
                seq,
                SerializeType::Json,
                "Test",
                "Sleep",
                &[],
                &payload,
            ));
            expected.insert(seq, format!(r#"{{"Ms":{ms}}}"#));
        } else {
            let args = Args {
                a: seq as i64,
                b: 3,
            };
            batch.extend(request(
                seq,
                SerializeType::Json,
                "Arith",
                "Mul",
                &[],
                &json(&args),
            ));
            expected.insert(seq, format!(r#"{{"C":{}}}"#, seq * 3));
        }
    }
    client.send(&batch);

    let mut order = Vec::new();
    while !expected.is_empty() {
        let reply = client.recv();
        assert_eq!(error_text(&reply), None, "seq {}", reply.seq());
        let want = expected
            .remove(&reply.seq())
            .expect("a reply to a pending seq, once");
        assert_eq!(std::str::from_utf8(reply.payload()).unwrap(), want);
        order.push(reply.seq());
    }
    assert!(
        order.windows(2).any(|w| w[0] > w[1]),
        "replies came back in completion order, not send order"
    );
    client.expect_silence(std::time::Duration::from_millis(100));
}
