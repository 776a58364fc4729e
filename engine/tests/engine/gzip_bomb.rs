//! Proves the decompressed size limit: a gzip payload that inflates past
//! `limits.max_decompressed_bytes` closes its connection (no reply), with memory bounded by
//! the limit, while a compressed payload under the limit is served and other connections
//! keep working. Also with the default limits (16 MiB).

use std::time::Duration;

use crate::common;
use crate::common::{request_with, FrameClient};
use bytes::BytesMut;
use ringrpc_engine::codec::{compress::gzip, CompressType, Header};
use ringrpc_engine::{Limits, SerializeType};

fn gzip_request(seq: u64, plain: &[u8]) -> Vec<u8> {
    let mut zipped = BytesMut::new();
    gzip(plain, &mut zipped).unwrap();
    let mut header = Header::request(seq, SerializeType::None);
    header.set_compress_type(CompressType::Gzip);
    request_with(header, "Echo", "Echo", &[], &zipped)
}

#[test]
fn bomb_over_the_limit_closes_the_connection() {
    let mut config = common::test_config(1);
    config.limits = Limits::default().max_decompressed_bytes(1 << 20);
    let server = common::start(config);

    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&gzip_request(1, &vec![0u8; 512 << 10]));
    assert_eq!(
        reply.payload().len(),
        512 << 10,
        "under the limit: served (and re-gzip'ed)"
    );
    assert!(common::is_gzip(&reply));

    client.send(&gzip_request(2, &vec![0u8; 8 << 20]));
    let frames = client.expect_closed(Duration::from_secs(5));
    assert!(frames.is_empty(), "{frames:?}");
    common::assert_serving(server.local_addr());
}

#[test]
fn bomb_over_the_default_limit_closes_the_connection() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    client.send(&gzip_request(1, &vec![0u8; 24 << 20]));
    assert!(client.expect_closed(Duration::from_secs(10)).is_empty());
    common::assert_serving(server.local_addr());
}
