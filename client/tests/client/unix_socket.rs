//! Proves the unix-socket transport (`unix@/path`, rpcx's `unix` network): calls over a
//! unix socket (a proxy in front of the TCP server) work and pipeline like TCP.

use crate::support;
use crate::support::proxy::Proxy;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use ringrpc_client::Serde;

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(over_unix_socket(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(over_unix_socket(Kind::Engine));
    }

    async fn over_unix_socket(kind: Kind) {
        let server = TestServer::start(kind);
        let proxy = Proxy::unix(server.host_port());
        assert!(proxy.addr.starts_with("unix@/"));
        let client = Client::connect(&proxy.addr).await.expect("connect");
        assert_eq!(client.server_addr().to_string(), proxy.addr);
        let calls = (0..500i64).map(|a| {
            let client = &client;
            async move {
                let reply: Serde<ArithReply> = client.call("Arith", "Mul", &Serde(Args { a, b: 3 })).await.expect("call");
                assert_eq!(reply.0.c, a * 3);
            }
        });
        support::join_all(calls.collect()).await;
    }
}
