//! Proves the auth hook on `__AUTH` (PROTOCOL.md §4.3): a good token is served on every
//! request; a bad or missing token gets an error reply and then the connection is closed;
//! a oneway request with a bad token gets no reply but the connection is closed anyway.
//! Other connections are unaffected.

use std::time::Duration;

use crate::common;
use crate::common::{error_text, json, oneway, request, Args, FrameClient, Gauge};
use ringrpc_engine::SerializeType;

fn server() -> ringrpc_engine::Server {
    common::start_with(common::test_config(1), Gauge::default(), Some("secret"))
}

fn mul(seq: u64, metadata: &[(&str, &str)]) -> Vec<u8> {
    request(
        seq,
        SerializeType::Json,
        "Arith",
        "Mul",
        metadata,
        &json(&Args { a: 2, b: 3 }),
    )
}

#[test]
fn good_token_is_checked_on_every_request() {
    let server = server();
    let mut client = FrameClient::connect(server.local_addr());
    for seq in 0..5 {
        let reply = client.call(&mul(seq, &[("__AUTH", "secret")]));
        assert_eq!(error_text(&reply), None);
        assert_eq!(&reply.payload()[..], br#"{"C":6}"#);
    }
    let reply = client.call(&mul(9, &[]));
    assert_eq!(error_text(&reply).as_deref(), Some("auth: invalid token"));
    client.expect_closed(Duration::from_secs(5));
}

#[test]
fn bad_token_gets_an_error_then_the_connection_closes() {
    let server = server();
    let mut bystander = FrameClient::connect(server.local_addr());
    for token in ["wrong", ""] {
        let mut client = FrameClient::connect(server.local_addr());
        // Pipelined: the request after the bad one is never served.
        let mut batch = mul(1, &[("__AUTH", token)]);
        batch.extend(mul(2, &[("__AUTH", "secret")]));
        client.send(&batch);
        let frames = client.expect_closed(Duration::from_secs(5));
        assert_eq!(frames.len(), 1, "only the error reply: {frames:?}");
        assert_eq!(frames[0].seq(), 1);
        assert_eq!(
            error_text(&frames[0]).as_deref(),
            Some("auth: invalid token")
        );
    }
    let reply = bystander.call(&mul(3, &[("__AUTH", "secret")]));
    assert_eq!(error_text(&reply), None);
}

#[test]
fn oneway_with_bad_token_closes_without_reply() {
    let server = server();
    let mut client = FrameClient::connect(server.local_addr());
    client.send(&oneway(1, "Arith", "Mul", b"{}"));
    let frames = client.expect_closed(Duration::from_secs(5));
    assert!(frames.is_empty(), "{frames:?}");
}
