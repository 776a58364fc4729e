//! Proves that a reply the peer does not read never stalls the shard for anyone else. On the
//! io_uring driver a send that nothing waits behind is "quiet": the shard does not wake for
//! its completion. A reply larger than the socket's buffers cannot complete at once, so a
//! single later event (here: a new connection's accept) would not be enough to wake the
//! shard on its own; the wait is bounded (`QUIET_SEND_WAIT`), and the new connection is
//! served. (On the glommio driver the same scenario simply passes.)

use crate::common;
use crate::common::{request, FrameClient};
use ringrpc_engine::SerializeType;

#[test]
fn a_reply_nobody_reads_does_not_keep_a_new_connection_waiting() {
    // No idle, frame or send timeouts: no periodic sweep wakes the shard in its place.
    let config = common::test_config(1)
        .idle_timeout(None)
        .frame_timeout(None)
        .send_timeout(None);
    let server = common::start(config);
    // 15 MiB echoed to a peer that never reads: far more than loopback socket buffers hold.
    let mut stuck = FrameClient::connect(server.local_addr());
    let big = request(
        1,
        SerializeType::None,
        "Echo",
        "Echo",
        &[],
        &vec![5u8; 15 << 20],
    );
    stuck.send(&big);
    // The reply has started (its first bytes are here, left unread): the shard is past it.
    let mut head = [0u8; 16];
    assert_eq!(stuck.stream().peek(&mut head).unwrap(), 16);
    for _ in 0..5 {
        common::assert_serving(server.local_addr());
    }
    drop(stuck);
    server.shutdown();
}
