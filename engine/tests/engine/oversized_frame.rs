//! Proves the frame size limit: a frame declaring more than `limits.max_frame_bytes` bytes
//! closes its connection as soon as its 16-byte fixed part arrives (no reply, no body
//! buffered), and other connections keep working.

use std::time::Duration;

use crate::common;
use crate::common::{request, FrameClient};
use ringrpc_engine::{Limits, SerializeType};

#[test]
fn oversized_frame_closes_the_connection() {
    let mut config = common::test_config(1);
    config.limits = Limits::default().max_frame_bytes(64 << 10);
    let server = common::start(config);

    let mut client = FrameClient::connect(server.local_addr());
    // Only the fixed part, declaring a 1 MiB body: the server must not wait for it.
    let mut head = request(1, SerializeType::None, "Echo", "Echo", &[], b"").split_off(0);
    head.truncate(16);
    head[12..16].copy_from_slice(&(1u32 << 20).to_be_bytes());
    client.send(&head);
    let frames = client.expect_closed(Duration::from_secs(5));
    assert!(frames.is_empty(), "{frames:?}");

    // A whole frame just over the limit is refused too; one at the limit is served.
    let mut client = FrameClient::connect(server.local_addr());
    let overhead = request(2, SerializeType::None, "Echo", "Echo", &[], b"").len();
    let fits = vec![1u8; (64 << 10) - overhead];
    let reply = client.call(&request(2, SerializeType::None, "Echo", "Echo", &[], &fits));
    assert_eq!(reply.payload().len(), fits.len());
    let too_big = vec![1u8; (64 << 10) - overhead + 1];
    let _ = client.try_send(&request(
        3,
        SerializeType::None,
        "Echo",
        "Echo",
        &[],
        &too_big,
    ));
    assert!(client.expect_closed(Duration::from_secs(5)).is_empty());

    common::assert_serving(server.local_addr());
}
