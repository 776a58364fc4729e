//! Proves every error reply path: unknown service, unknown method, unknown codec, a payload
//! that does not decode, a handler error, a handler panic. Each is an rpcx error reply
//! (status Error plus `__rpcx_error__`, rpcx-go's texts, path and method echoed, empty
//! payload) and the connection keeps serving.

use crate::common;
use crate::common::{error_text, request, request_with, FrameClient};
use ringrpc_engine::codec::Header;
use ringrpc_engine::SerializeType;

fn assert_error(client: &mut FrameClient, frame: &[u8], seq: u64, text: &str) {
    let reply = client.call(frame);
    assert_eq!(reply.seq(), seq);
    assert_eq!(error_text(&reply).as_deref(), Some(text));
    assert!(reply.payload().is_empty(), "error replies carry no payload");
    common::assert_serving(client.stream().peer_addr().unwrap());
}

#[test]
fn unknown_service() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let frame = request(1, SerializeType::Json, "Nope", "Mul", &[], b"{}");
    assert_error(&mut client, &frame, 1, "rpcx: can't find service Nope");
    let reply = client.call(&frame);
    assert_eq!(reply.service_path(), "Nope");
    assert_eq!(reply.service_method(), "Mul");
}

#[test]
fn unknown_method_is_case_sensitive() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let frame = request(2, SerializeType::Json, "Arith", "mul", &[], b"{}");
    assert_error(&mut client, &frame, 2, "rpcx: can't find method mul");
}

#[test]
fn unknown_codec_after_the_lookup() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    // Serialize nibble 7: no codec. Byte 3 holds it in its high nibble.
    let mut frame = request(3, SerializeType::Json, "Arith", "Mul", &[], b"{}");
    frame[3] = 7 << 4;
    assert_error(&mut client, &frame, 3, "can not find codec for 7");
    // An unknown service is reported before an unknown codec, as rpcx-go does.
    let mut frame = request(4, SerializeType::Json, "Nope", "Mul", &[], b"{}");
    frame[3] = 7 << 4;
    assert_error(&mut client, &frame, 4, "rpcx: can't find service Nope");
}

#[test]
fn payload_that_does_not_decode() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&request(
        5,
        SerializeType::Json,
        "Arith",
        "Mul",
        &[],
        b"{\"A\":",
    ));
    let text = error_text(&reply).expect("an error reply");
    assert!(text.contains("EOF"), "{text}");
    let reply = client.call(&request(
        6,
        SerializeType::MsgPack,
        "Arith",
        "Mul",
        &[],
        &[0xc1],
    ));
    assert!(error_text(&reply).is_some());
    common::assert_serving(server.local_addr());
}

#[test]
fn handler_error_and_panic() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let frame = request(7, SerializeType::Json, "Test", "Fail", &[], b"");
    assert_error(&mut client, &frame, 7, "test failure");
    let frame = request(8, SerializeType::Json, "Test", "Panic", &[], b"");
    assert_error(&mut client, &frame, 8, "[service internal error]: boom");
}

#[test]
fn error_reply_copies_the_request_header() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let mut header = Header::request(9, SerializeType::MsgPack);
    header.set_compress_type(ringrpc_engine::codec::CompressType::None);
    let frame = request_with(header, "Nope", "X", &[("k", "v")], b"");
    let reply = client.call(&frame);
    // Worked example (c): byte 2 = Response | Error, byte 3 copied, metadata only the error.
    assert_eq!(reply.as_bytes()[2], 0x81);
    assert_eq!(reply.as_bytes()[3], frame[3]);
    assert_eq!(reply.metadata().iter().count(), 1);
}
