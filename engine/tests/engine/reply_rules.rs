//! Proves how replies are derived from requests (PROTOCOL.md §4.8–4.12): header copied with
//! the type bit set, path and method echoed, request metadata not echoed unless the handler
//! copies it, handler metadata sent; gzip only when the request was gzip'ed and the reply is
//! over 1024 bytes; an error reply may carry the handler's reply payload (Go method
//! semantics).

use crate::common;
use crate::common::{error_text, json, request, request_with, Args, FrameClient};
use bytes::BytesMut;
use ringrpc_engine::codec::{compress::gzip, CompressType, Header};
use ringrpc_engine::SerializeType;

fn gzip_echo(seq: u64, plain: &[u8]) -> Vec<u8> {
    let mut zipped = BytesMut::new();
    gzip(plain, &mut zipped).unwrap();
    let mut header = Header::request(seq, SerializeType::None);
    header.set_compress_type(CompressType::Gzip);
    request_with(header, "Echo", "Echo", &[], &zipped)
}

#[test]
fn gzip_rule() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let big = vec![b'a'; 1025];
    let reply = client.call(&gzip_echo(1, &big));
    assert!(common::is_gzip(&reply));
    assert_eq!(&reply.payload()[..], &big[..]);
    let small = vec![b'a'; 1024];
    let reply = client.call(&gzip_echo(2, &small));
    assert!(!common::is_gzip(&reply), "1024 bytes: not compressed");
    assert_eq!(&reply.payload()[..], &small[..]);
    let reply = client.call(&request(3, SerializeType::None, "Echo", "Echo", &[], &big));
    assert!(!common::is_gzip(&reply), "plain request: plain reply");
}

#[test]
fn metadata_and_header() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let metadata = [("k", "v"), ("empty", "")];
    let frame = request(
        5,
        SerializeType::Json,
        "Arith",
        "Mul",
        &metadata,
        &json(&Args { a: 10, b: 20 }),
    );
    let reply = client.call(&frame);
    // Worked example (b): byte 2 0x80, serialize byte copied, path and method echoed.
    assert_eq!(&reply.as_bytes()[..4], &[0x08, 0x00, 0x80, 0x10]);
    assert_eq!(
        (reply.service_path(), reply.service_method()),
        ("Arith", "Mul")
    );
    assert!(
        reply.metadata().is_empty(),
        "request metadata is not echoed"
    );
    assert_eq!(&reply.payload()[..], br#"{"C":200}"#);

    let reply = client.call(&request(
        6,
        SerializeType::None,
        "Echo",
        "Echo",
        &metadata,
        b"x",
    ));
    assert_eq!(reply.metadata().get("k"), Some("v"));
    assert_eq!(reply.metadata().get("empty"), Some(""));
}

#[test]
fn error_reply_with_payload() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&request(
        7,
        SerializeType::Json,
        "Test",
        "FailWithReply",
        &[],
        b"{}",
    ));
    assert_eq!(error_text(&reply).as_deref(), Some("test failure"));
    assert_eq!(&reply.payload()[..], br#"{"C":0}"#);
}
