//! Proves that losing the connection mid-flight fails every pending call promptly with a
//! retryable error (nothing hangs), and that later calls fail at once, also retryably: by
//! killing the rpcx-go server process, and by cutting the TCP connection in a proxy (for
//! both servers).

use std::time::{Duration, Instant};

use crate::support;
use crate::support::proxy::Proxy;
use crate::support::types::{Args, ArithReply, SleepArgs};
use crate::support::{Kind, TestServer};
use ringrpc_client::{Disconnect, Error, Serde};

/// Calls in flight when the connection dies.
const PENDING: usize = 200;

for_each_driver! {
    #[test]
    fn rpcx_go_server_killed() {
        block_on(async {
            let mut server = TestServer::start(Kind::RpcxGo);
            let client = Client::connect(&server.addr).await.expect("connect");
            all_pending_calls_fail(&client, || server.kill()).await;
        });
    }

    #[test]
    fn rpcx_go_connection_cut() {
        block_on(async {
            let server = TestServer::start(Kind::RpcxGo);
            let proxy = Proxy::tcp(server.host_port());
            let client = Client::connect(&proxy.addr).await.expect("connect");
            all_pending_calls_fail(&client, || proxy.cut()).await;
        });
    }

    #[test]
    fn engine_connection_cut() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let proxy = Proxy::tcp(server.host_port());
            let client = Client::connect(&proxy.addr).await.expect("connect");
            all_pending_calls_fail(&client, || proxy.cut()).await;
        });
    }

    /// Puts `PENDING` slow calls in flight, runs `kill`, and checks how they end.
    async fn all_pending_calls_fail(client: &Client, kill: impl FnOnce()) {
        // The connection works before the loss.
        let reply: Serde<ArithReply> =
            client.call("Arith", "Mul", &Serde(Args { a: 2, b: 3 })).await.expect("call");
        assert_eq!(reply.0.c, 6);

        let calls = (0..PENDING).map(|_| async {
            let result = client
                .call::<_, Serde<SleepArgs>>("Test", "Sleep", &Serde(SleepArgs { ms: 20_000 }))
                .await;
            (result, Instant::now())
        });
        let killer = async {
            // Let every request reach the server first.
            while client.stats().transmit_count < 2 || client.stats().inflight_count < PENDING {
                sleep(Duration::from_millis(5)).await;
            }
            sleep(Duration::from_millis(100)).await;
            let killed_at = Instant::now();
            kill();
            killed_at
        };
        let (results, killed_at) = futures_lite::future::zip(support::join_all(calls.collect()), killer).await;
        for (result, failed_at) in results {
            let error = result.expect_err("the connection died under the call");
            assert!(error.is_retryable(), "{error}");
            assert!(matches!(error, Error::Disconnected(_)), "{error}");
            let after = failed_at.duration_since(killed_at);
            assert!(after < Duration::from_secs(2), "failed {after:?} after the loss");
        }
        assert!(client.is_closed());
        assert!(matches!(client.close_reason(), Some(Disconnect::Eof | Disconnect::Io(_))));

        let started = Instant::now();
        let later = client.call::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 1, b: 1 })).await;
        let error = later.expect_err("no connection any more");
        assert!(error.is_retryable() && matches!(error, Error::Disconnected(_)), "{error}");
        assert!(started.elapsed() < Duration::from_millis(50), "a later call must fail at once");
    }
}
