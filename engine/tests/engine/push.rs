//! Proves server push (PROTOCOL.md §4.14): a handler's pushes reach its connection before its
//! reply, as Request frames with oneway set, heartbeat clear, SerializeNone, compress None,
//! the given path/method/metadata/payload, and the shard's own seq counter starting at 1.

use crate::common;
use crate::common::{error_text, json, request, FrameClient, PushArgs};
use ringrpc_engine::codec::{CompressType, MessageType};
use ringrpc_engine::SerializeType;

#[test]
fn pushes_arrive_before_the_reply() {
    let server = common::start(common::test_config(1));
    let mut client = FrameClient::connect(server.local_addr());
    let args = json(&PushArgs {
        count: 5,
        payload: "hi".into(),
    });
    client.send(&request(1, SerializeType::Json, "Test", "Push", &[], &args));

    for i in 0..5u64 {
        let push = client.recv();
        let header = push.header();
        assert_eq!(header.message_type(), MessageType::Request);
        assert!(header.is_oneway() && !header.is_heartbeat());
        assert_eq!(header.serialize_bits(), 0);
        assert_eq!(header.compress_type(), Ok(CompressType::None));
        assert_eq!(push.seq(), i + 1, "the shard's push seq starts at 1");
        assert_eq!(
            (push.service_path(), push.service_method()),
            ("Test", "Push")
        );
        assert_eq!(push.metadata().get("n"), Some(i.to_string().as_str()));
        assert_eq!(&push.payload()[..], b"hi");
    }
    let reply = client.recv();
    assert_eq!(reply.seq(), 1);
    assert_eq!(error_text(&reply), None);
    assert_eq!(&reply.payload()[..], br#"{"C":5}"#);

    // The counter is per shard: another connection continues it.
    let mut other = FrameClient::connect(server.local_addr());
    let args = json(&PushArgs {
        count: 1,
        payload: String::new(),
    });
    other.send(&request(1, SerializeType::Json, "Test", "Push", &[], &args));
    assert_eq!(other.recv().seq(), 6);
}

#[test]
fn many_pushes_with_backpressure() {
    let mut config = common::test_config(1);
    config.push_buffer_max_bytes = 16 << 10;
    let server = common::start(config);
    let mut client = FrameClient::connect(server.local_addr());
    let args = json(&PushArgs {
        count: 2000,
        payload: "x".repeat(1000),
    });
    client.send(&request(1, SerializeType::Json, "Test", "Push", &[], &args));
    for i in 0..2000u64 {
        let push = client.recv();
        assert_eq!(push.metadata().get("n"), Some(i.to_string().as_str()));
    }
    assert_eq!(&client.recv().payload()[..], br#"{"C":2000}"#);
}
