//! Proves metadata travels both ways: request metadata reaches the handler (Echo.Echo and
//! Test.Meta copy it into the response metadata), and response metadata comes back with
//! the typed reply and with the raw `Reply`.

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use bytes::Bytes;
use ringrpc_client::{CallOptions, Request, Serde, SerializeType};

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(both_ways(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(both_ways(Kind::Engine));
    }

    async fn both_ways(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let options = CallOptions::new()
            .metadata("trace-id", "abc-123")
            .metadata("empty", "")
            .metadata("unicode", "许多往事");
        let response = client
            .call_response::<_, Serde<ArithReply>>("Test", "Meta", &Serde(Args { a: 1, b: 2 }), &options)
            .await
            .expect("call");
        assert_eq!(response.value.0.c, 1);
        assert_eq!(response.metadata.get("trace-id").map(String::as_str), Some("abc-123"));
        assert_eq!(response.metadata.get("empty").map(String::as_str), Some(""));
        assert_eq!(response.metadata.get("unicode").map(String::as_str), Some("许多往事"));

        // The byte-level API: the metadata is a view into the received frame.
        let metadata = [("k".to_owned(), "v".to_owned())];
        let request = Request::new("Echo", "Echo", b"hi").metadata(&metadata).serialize_type(SerializeType::None);
        let reply = client.send(&request).await.expect("send");
        assert_eq!(reply.metadata().get("k"), Some("v"));
        assert_eq!(reply.payload(), &Bytes::from_static(b"hi"));

        // No metadata in, none out.
        let response = client
            .call_response::<_, Serde<ArithReply>>("Test", "Meta", &Serde(Args { a: 1, b: 2 }), &CallOptions::new())
            .await
            .expect("call");
        assert!(response.metadata.is_empty(), "{:?}", response.metadata);
    }
}
