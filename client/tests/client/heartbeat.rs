//! Proves heartbeats: a server that answers them (rpcx-go echoes the Go-shaped heartbeat)
//! keeps the connection up with no misses; a server that stops answering them gets the
//! connection failed after the configured misses, and the calls pending on it fail with a
//! retryable error.

use std::time::{Duration, Instant};

use crate::support;
use crate::support::fake::FakeServer;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use ringrpc_client::{ClientOptions, Disconnect, Error, Serde};

const INTERVAL: Duration = Duration::from_millis(20);

fn options() -> ClientOptions {
    ClientOptions::new()
        .heartbeat_interval(INTERVAL)
        .heartbeat_misses_max(3)
}

for_each_driver! {
    #[test]
    fn rpcx_go_answers_heartbeats() {
        block_on(answered(Kind::RpcxGo));
    }

    #[test]
    fn engine_answers_heartbeats() {
        block_on(answered(Kind::Engine));
    }

    #[test]
    fn unanswered_heartbeats_fail_the_connection() {
        block_on(async {
            // Answers calls, and the first two heartbeats only.
            let server = FakeServer::start(2, true);
            let client = Client::connect_with(&server.addr, options()).await.expect("connect");
            // The fake server echoes the arguments.
            let echoed: Serde<Args> =
                client.call("Arith", "Mul", &Serde(Args { a: 1, b: 2 })).await.expect("call");
            assert_eq!(echoed.0, Args { a: 1, b: 2 });

            // A call the server will never answer: only the heartbeat failure can end it.
            server.behaviour.answer_calls.store(false, std::sync::atomic::Ordering::SeqCst);
            let started = Instant::now();
            let error = client
                .call::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 1, b: 2 }))
                .await
                .expect_err("the connection is declared dead");
            let elapsed = started.elapsed();
            assert!(error.is_retryable(), "{error}");
            assert!(
                matches!(error, Error::Disconnected(Disconnect::HeartbeatMissed { misses: 3 })),
                "{error}"
            );
            // Two answered beats, then three intervals of misses (plus scheduling slack).
            assert!(elapsed < INTERVAL * 20, "noticed after {elapsed:?}");
            assert!(client.is_closed());

            let beats: Vec<_> = server.received().into_iter().filter(|r| r.heartbeat).collect();
            assert!(beats.len() >= 3, "{} heartbeats sent", beats.len());
            for beat in &beats {
                assert_eq!((beat.service_path.as_str(), beat.service_method.as_str()), ("", ""));
                assert_eq!(beat.payload.len(), 9);
                assert_eq!(beat.payload[0], 0xd3, "MsgPack int64 nanoseconds");
                assert!(!beat.oneway);
            }
        });
    }

    async fn answered(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect_with(&server.addr, options()).await.expect("connect");
        sleep(INTERVAL * 15).await;
        let stats = client.stats();
        assert!(stats.heartbeat_sent_count >= 5, "{stats:?}");
        assert!(stats.heartbeat_answered_count + 1 >= stats.heartbeat_sent_count, "{stats:?}");
        assert_eq!(stats.heartbeat_misses, 0, "{stats:?}");
        let reply: Serde<ArithReply> =
            client.call("Arith", "Add", &Serde(Args { a: 2, b: 3 })).await.expect("call");
        assert_eq!(reply.0.c, 5);
        assert!(!client.is_closed());
    }
}
