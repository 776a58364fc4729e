//! Proves the per-shard connection limit: with `max_conns_per_shard = 2`, a third
//! connection is closed at once and counted as rejected, while the first two are served;
//! once one closes, a new connection is served again.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::FrameClient;

#[test]
fn connections_over_the_limit_are_closed() {
    let mut config = common::test_config(1);
    config.max_conns_per_shard = 2;
    let server = common::start(config);
    let addr = server.local_addr();

    let first = FrameClient::connect(addr);
    let mut second = FrameClient::connect(addr);
    common::assert_serving_on(&mut second);
    let mut third = FrameClient::connect(addr);
    assert!(third.expect_closed(Duration::from_secs(5)).is_empty());
    assert_eq!(server.stats()[0].connections_rejected, 1);

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats()[0].connections_open > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut fourth = FrameClient::connect(addr);
    common::assert_serving_on(&mut fourth);
}
