//! Proves server pushes (rpcx's bidirectional mode) reach the client: Test.Push makes the
//! server send Count oneway requests on the caller's connection before replying; they come
//! out of `next_push` in order with their metadata and payload, or go to a push handler,
//! and never disturb the call that triggered them.

use std::sync::{Arc, Mutex};

use crate::support;
use crate::support::types::{ArithReply, PushArgs};
use crate::support::{Kind, TestServer};
use ringrpc_client::Serde;

const COUNT: i64 = 100;

fn push_args() -> Serde<PushArgs> {
    Serde(PushArgs {
        count: COUNT,
        payload: "pushed".into(),
    })
}

for_each_driver! {
    #[test]
    fn rpcx_go_next_push() {
        block_on(next_push(Kind::RpcxGo));
    }

    #[test]
    fn engine_next_push() {
        block_on(next_push(Kind::Engine));
    }

    #[test]
    fn rpcx_go_push_handler() {
        block_on(push_handler(Kind::RpcxGo));
    }

    #[test]
    fn engine_push_handler() {
        block_on(push_handler(Kind::Engine));
    }

    async fn next_push(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let reply: Serde<ArithReply> = client.call("Test", "Push", &push_args()).await.expect("call");
        assert_eq!(reply.0.c, COUNT);
        for n in 0..COUNT {
            let push = client.next_push().await.expect("a push");
            assert_eq!((push.service_path(), push.service_method()), ("Test", "Push"));
            assert_eq!(push.metadata().get("n"), Some(n.to_string().as_str()));
            assert_eq!(&push.payload()[..], b"pushed");
        }
        let stats = client.stats();
        assert_eq!((stats.push_count, stats.push_dropped_count), (COUNT as u64, 0));
        client.close().await;
        assert!(client.next_push().await.is_none(), "no pushes after close");
    }

    async fn push_handler(kind: Kind) {
        let server = TestServer::start(kind);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let client = Client::builder(&server.addr)
            .on_push(move |push| {
                let n = push.metadata().get("n").unwrap_or_default().to_owned();
                sink.lock().unwrap().push(n);
            })
            .connect()
            .await
            .expect("connect");
        let reply: Serde<ArithReply> = client.call("Test", "Push", &push_args()).await.expect("call");
        assert_eq!(reply.0.c, COUNT);
        // The server writes every push before the reply, on the same connection.
        let seen = seen.lock().unwrap().clone();
        let expected: Vec<String> = (0..COUNT).map(|n| n.to_string()).collect();
        assert_eq!(seen, expected);
    }
}
