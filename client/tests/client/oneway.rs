//! Proves oneway calls: they go out with the oneway bit, take a seq, leave no pending slot
//! and get no reply; the server still runs them (a oneway Test.Push still pushes).

use std::time::Duration;

use crate::support;
use crate::support::fake::FakeServer;
use crate::support::types::{Args, ArithReply, PushArgs};
use crate::support::{Kind, TestServer};
use ringrpc_client::{CallOptions, Serde};

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(oneway(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(oneway(Kind::Engine));
    }

    #[test]
    fn oneway_bit_on_the_wire() {
        block_on(async {
            let server = FakeServer::start(0, true);
            let client = Client::connect(&server.addr).await.expect("connect");
            client.oneway("Log", "Write", &Serde(Args { a: 1, b: 2 }), &CallOptions::new()).expect("queued");
            let echoed: Serde<Args> = client.call("Arith", "Mul", &Serde(Args { a: 3, b: 4 })).await.expect("call");
            assert_eq!(echoed.0, Args { a: 3, b: 4 });
            let received = server.received();
            let flags: Vec<(u64, bool, &str)> =
                received.iter().map(|r| (r.seq, r.oneway, r.service_path.as_str())).collect();
            assert_eq!(flags, [(0, true, "Log"), (1, false, "Arith")]);
        });
    }

    async fn oneway(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let args = Serde(PushArgs { count: 3, payload: "from a oneway call".into() });
        client.oneway("Test", "Push", &args, &CallOptions::new()).expect("queued");
        assert_eq!(client.stats().inflight_count, 0, "nothing waits for a reply");
        for n in 0..3 {
            let push = client.next_push().await.expect("the oneway call ran");
            assert_eq!(push.metadata().get("n"), Some(n.to_string().as_str()));
        }
        // No reply arrives for it: nothing is dropped as late either.
        sleep(Duration::from_millis(50)).await;
        let reply: Serde<ArithReply> = client.call("Arith", "Mul", &Serde(Args { a: 2, b: 2 })).await.expect("call");
        assert_eq!(reply.0.c, 4);
        let stats = client.stats();
        assert_eq!((stats.seq_next, stats.late_reply_count), (2, 0), "{stats:?}");
    }
}
