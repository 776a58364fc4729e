//! Proves that a slow handler does not hold up fast ones on the same connection: while a
//! 1.5 s sleep is in flight, later requests are answered at once, and the slow reply
//! arrives last.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, Args, FrameClient, SleepArgs};
use ringrpc_engine::SerializeType;

#[test]
fn fast_requests_overtake_a_slow_one() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());

    let slow = json(&SleepArgs { ms: 1500 });
    client.send(&request(
        1,
        SerializeType::Json,
        "Test",
        "Sleep",
        &[],
        &slow,
    ));
    let started = Instant::now();
    for seq in 2..=11 {
        let args = json(&Args {
            a: seq as i64,
            b: 2,
        });
        let reply = client.call(&request(
            seq,
            SerializeType::Json,
            "Arith",
            "Mul",
            &[],
            &args,
        ));
        assert_eq!(reply.seq(), seq);
        assert_eq!(error_text(&reply), None);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "fast calls took {:?} behind a 1.5 s handler",
        started.elapsed()
    );
    let last = client.recv();
    assert_eq!(last.seq(), 1);
    assert_eq!(&last.payload()[..], br#"{"Ms":1500}"#);
    assert!(started.elapsed() >= Duration::from_millis(1400));
}
