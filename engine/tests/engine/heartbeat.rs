//! Proves that heartbeats are echoed byte for byte with only the type bit set (PROTOCOL.md
//! §4.5, worked example (d)), that oneway and gzip'ed heartbeats are echoed too, and that
//! heartbeats skip auth.

use crate::common;
use crate::common::FrameClient;

/// Worked example (d): the Go client's heartbeat, seq 7, msgpack int64 payload.
const REQUEST: [u8; 41] = [
    0x08, 0x00, 0x40, 0x30, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x19, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, //
    0xd3, 0x17, 0x97, 0x9c, 0xfe, 0x36, 0x2a, 0x00, 0x00,
];

fn expected_reply(request: &[u8]) -> Vec<u8> {
    let mut reply = request.to_vec();
    reply[2] |= 0x80;
    reply
}

#[test]
fn heartbeat_is_echoed_byte_for_byte() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&REQUEST);
    assert_eq!(&reply.as_bytes()[..], &expected_reply(&REQUEST)[..]);
    assert_eq!(reply.as_bytes()[2], 0xc0);
}

#[test]
fn oneway_heartbeat_with_metadata_is_still_echoed() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let mut header = ringrpc_engine::codec::Header::request(9, ringrpc_engine::SerializeType::Json);
    header.set_heartbeat(true);
    header.set_oneway(true);
    let request = common::request_with(header, "Any", "Thing", &[("k", "v")], b"payload");
    let reply = client.call(&request);
    assert_eq!(&reply.as_bytes()[..], &expected_reply(&request)[..]);
}

#[test]
fn gzip_heartbeat_is_echoed_as_received() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let mut zipped = bytes::BytesMut::new();
    ringrpc_engine::codec::compress::gzip(&[7u8; 3000], &mut zipped).unwrap();
    let mut header = ringrpc_engine::codec::Header::request(3, ringrpc_engine::SerializeType::None);
    header.set_heartbeat(true);
    header.set_compress_type(ringrpc_engine::codec::CompressType::Gzip);
    let request = common::request_with(header, "", "", &[], &zipped);
    let reply = client.call(&request);
    assert_eq!(&reply.as_bytes()[..], &expected_reply(&request)[..]);
    assert_eq!(&reply.payload()[..], &[7u8; 3000][..]);
}

#[test]
fn heartbeats_skip_auth() {
    let config = common::test_config(1);
    let server = common::start_with(config, common::Gauge::default(), Some("secret"));
    let mut client = FrameClient::connect(server.local_addr());
    for _ in 0..3 {
        let reply = client.call(&REQUEST);
        assert_eq!(&reply.as_bytes()[..], &expected_reply(&REQUEST)[..]);
    }
}
