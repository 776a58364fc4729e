//! Proves one client serves many concurrent callers: 1000 tasks sharing clones of one
//! client (on tokio, spread over two worker threads) each get their own answer.

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use ringrpc_client::Serde;

const TASKS: i64 = 1000;

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(thousand_tasks(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(thousand_tasks(Kind::Engine));
    }

    async fn thousand_tasks(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let client = client.clone();
                spawn(async move {
                    let mut sum = 0;
                    for j in 0..3 {
                        let args = Serde(Args { a: i, b: j });
                        let reply: Serde<ArithReply> = client.call("Arith", "Add", &args).await.expect("call");
                        assert_eq!(reply.0.c, i + j, "task {i} got another task's reply");
                        sum += reply.0.c;
                    }
                    sum
                })
            })
            .collect();
        let sums = support::join_all(tasks).await;
        for (i, sum) in sums.into_iter().enumerate() {
            assert_eq!(sum, 3 * i as i64 + 3);
        }
        assert_eq!(client.stats().inflight_count, 0);
        assert_eq!(client.stats().seq_next, (TASKS * 3) as u64);
    }
}
