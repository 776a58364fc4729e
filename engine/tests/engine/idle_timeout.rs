//! Proves the idle timeout: a connection that sends nothing is closed after between one and
//! two idle periods, while a connection waiting on a slow handler is not closed for being
//! quiet.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, FrameClient, SleepArgs};
use ringrpc_engine::SerializeType;

#[test]
fn idle_connections_are_closed() {
    let mut config = common::test_config(1);
    config.idle_timeout = Some(Duration::from_millis(200));
    let server = common::start(config);

    let mut idle = FrameClient::connect(server.local_addr());
    let mut busy = FrameClient::connect(server.local_addr());
    let payload = json(&SleepArgs { ms: 700 });
    busy.send(&request(
        1,
        SerializeType::Json,
        "Test",
        "Sleep",
        &[],
        &payload,
    ));

    let started = Instant::now();
    assert!(idle.expect_closed(Duration::from_secs(3)).is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1500),
        "{took:?}"
    );

    let reply = busy.recv();
    assert_eq!(
        error_text(&reply),
        None,
        "the busy connection survived its quiet wait"
    );
}
