//! Proves that several shards serve one port: with 2 shards, 32 connections are spread by
//! SO_REUSEPORT over both (per-shard counters show it), and every connection is served.

use crate::common;
use crate::common::FrameClient;

#[test]
fn connections_spread_over_shards() {
    let server = common::start(common::test_config(2));
    let mut clients: Vec<FrameClient> = (0..32)
        .map(|_| FrameClient::connect(server.local_addr()))
        .collect();
    for client in &mut clients {
        common::assert_serving_on(client);
    }
    let stats = server.stats();
    assert_eq!(stats.len(), 2);
    let accepted: Vec<u64> = stats.iter().map(|s| s.connections_accepted).collect();
    assert_eq!(accepted.iter().sum::<u64>(), 32, "{stats:?}");
    assert!(
        accepted.iter().all(|&n| n > 0),
        "both shards accepted connections: {stats:?}"
    );
    assert_eq!(stats.iter().map(|s| s.connections_open).sum::<usize>(), 32);
}
