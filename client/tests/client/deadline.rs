//! Proves per-call deadlines: a call whose reply is late fails on time with an error that
//! is not retryable (our own timeout, enforced locally even if the server never answers),
//! frees its slot, and its late reply is dropped without disturbing the calls after it; the
//! remaining time reaches the server as `__ServerTimeout`.

use std::time::{Duration, Instant};

use crate::support;
use crate::support::fake::FakeServer;
use crate::support::types::{Args, ArithReply, SleepArgs};
use crate::support::{Kind, TestServer};
use ringrpc_client::{CallOptions, ClientOptions, Error, Serde};

/// The error of a call whose deadline passed: our own timeout, or (the engine enforces
/// `__ServerTimeout` itself, rpcx-go does not) the server's deadline error if it came first.
fn deadline_error(kind: Kind, error: &Error) -> bool {
    match kind {
        Kind::RpcxGo => error.is_timeout(),
        Kind::Engine => {
            error.is_timeout() || error.service_message() == Some("context deadline exceeded")
        }
    }
}

for_each_driver! {
    /// A call with a 100 ms deadline to a server that does not answer it: its error, and
    /// how long it took.
    async fn unanswered_call(client: &Client) -> (Error, Duration) {
        let options = CallOptions::new().timeout(Duration::from_millis(100));
        let started = Instant::now();
        let error = client
            .call_with::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 1, b: 1 }), &options)
            .await
            .expect_err("nobody answers");
        (error, started.elapsed())
    }

    #[test]
    fn enforced_locally_when_the_server_never_answers() {
        block_on(async {
            let server = FakeServer::start(0, false);
            let client = Client::connect(&server.addr).await.expect("connect");
            let (error, elapsed) = unanswered_call(&client).await;
            assert!(matches!(error, Error::Timeout { .. }) && !error.is_retryable(), "{error}");
            assert!(elapsed >= Duration::from_millis(100) && elapsed < Duration::from_millis(400), "{elapsed:?}");
            assert_eq!(client.stats().inflight_count, 0);
            let sent = server.received();
            let ms: u64 = sent[0].metadata["__ServerTimeout"].parse().expect("decimal ms");
            assert!((90..=100).contains(&ms), "__ServerTimeout = {ms}");
        });
    }

    /// The reader's socket never runs dry (the server floods it with replies nobody waits
    /// for), so the deadline must fire between reads, not only when the socket is idle.
    #[test]
    fn enforced_while_the_socket_never_runs_dry() {
        block_on(async {
            let server = FakeServer::start(0, false);
            server.behaviour.flood_replies.store(true, std::sync::atomic::Ordering::SeqCst);
            let client = Client::connect(&server.addr).await.expect("connect");
            let (error, elapsed) = unanswered_call(&client).await;
            assert!(matches!(error, Error::Timeout { .. }), "{error}");
            // The flood lasts 3 s: a deadline that waited for a quiet socket fires after it.
            assert!(elapsed < Duration::from_millis(1500), "deadline fired after {elapsed:?}");
            assert!(client.stats().late_reply_count > 0, "the flood reached the client");
        });
    }

    #[test]
    fn rpcx_go_expiry() {
        block_on(expiry(Kind::RpcxGo));
    }

    #[test]
    fn engine_expiry() {
        block_on(expiry(Kind::Engine));
    }

    #[test]
    fn rpcx_go_server_timeout_metadata() {
        block_on(server_timeout_metadata(Kind::RpcxGo));
    }

    #[test]
    fn engine_server_timeout_metadata() {
        block_on(server_timeout_metadata(Kind::Engine));
    }

    #[test]
    fn rpcx_go_client_default_timeout() {
        block_on(client_default_timeout(Kind::RpcxGo));
    }

    #[test]
    fn engine_client_default_timeout() {
        block_on(client_default_timeout(Kind::Engine));
    }

    async fn expiry(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let started = Instant::now();
        let options = CallOptions::new().timeout(Duration::from_millis(100));
        let slow = client
            .call_with::<_, Serde<SleepArgs>>("Test", "Sleep", &Serde(SleepArgs { ms: 600 }), &options)
            .await;
        let elapsed = started.elapsed();
        let error = slow.expect_err("the reply comes after the deadline");
        assert!(deadline_error(kind, &error), "{error}");
        assert!(!error.is_retryable(), "{error}");
        // The engine enforces the `__ServerTimeout` it receives (whole milliseconds, rounded
        // down), so its error reply may beat the local timer by up to a millisecond or so.
        assert!(elapsed >= Duration::from_millis(95), "failed early: {elapsed:?}");
        assert!(elapsed < Duration::from_millis(500), "failed late: {elapsed:?}");
        assert_eq!(client.stats().inflight_count, 0, "the slot is free at once");

        // Calls keep working while the late reply is still on its way, and after it came.
        for round in 0..2 {
            let reply: Serde<ArithReply> =
                client.call("Arith", "Mul", &Serde(Args { a: 6, b: 7 })).await.expect("call");
            assert_eq!(reply.0.c, 42);
            if round == 0 {
                sleep(Duration::from_millis(700)).await;
            }
        }
        let stats = client.stats();
        assert_eq!(stats.late_reply_count, stats.timeout_count, "each expired call's reply was dropped: {stats:?}");
        if kind == Kind::RpcxGo {
            assert_eq!(stats.timeout_count, 1, "rpcx-go never gives up by itself: {stats:?}");
        }
        assert!(!client.is_closed());
    }

    #[test]
    fn rpcx_go_expiry_under_load() {
        block_on(expiry_under_load(Kind::RpcxGo));
    }

    #[test]
    fn engine_expiry_under_load() {
        block_on(expiry_under_load(Kind::Engine));
    }

    /// The deadline fires on time even while replies to other calls stream in.
    async fn expiry_under_load(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let done = std::cell::Cell::new(false);
        let client = &client;
        let load = async {
            while !done.get() {
                let calls = (0..200).map(|a| async move {
                    let args = Serde(Args { a, b: 1 });
                    client.call::<_, Serde<ArithReply>>("Arith", "Add", &args).await
                });
                for reply in support::join_all(calls.collect()).await {
                    reply.expect("load call");
                }
            }
        };
        let slow = async {
            let options = CallOptions::new().timeout(Duration::from_millis(100));
            let started = Instant::now();
            let result = client
                .call_with::<_, Serde<SleepArgs>>("Test", "Sleep", &Serde(SleepArgs { ms: 2000 }), &options)
                .await;
            done.set(true);
            (result, started.elapsed())
        };
        let ((result, elapsed), ()) = futures_lite::future::zip(slow, load).await;
        let error = result.expect_err("times out");
        assert!(deadline_error(kind, &error), "{error}");
        assert!(elapsed < Duration::from_millis(400), "deadline fired after {elapsed:?}");
    }

    async fn server_timeout_metadata(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let options = CallOptions::new().timeout(Duration::from_secs(5));
        // Test.Meta copies the request metadata into the response metadata.
        let response = client
            .call_response::<_, Serde<ArithReply>>("Test", "Meta", &Serde(Args { a: 1, b: 1 }), &options)
            .await
            .expect("call");
        let ms: u64 = response.metadata["__ServerTimeout"].parse().expect("decimal ms");
        assert!((4000..=5000).contains(&ms), "__ServerTimeout = {ms}");

        let response = client
            .call_response::<_, Serde<ArithReply>>("Test", "Meta", &Serde(Args { a: 1, b: 1 }), &CallOptions::new())
            .await
            .expect("call");
        assert!(!response.metadata.contains_key("__ServerTimeout"), "no deadline, no header");
    }

    async fn client_default_timeout(kind: Kind) {
        let server = TestServer::start(kind);
        let options = ClientOptions::new().timeout(Duration::from_millis(50));
        let client = Client::connect_with(&server.addr, options).await.expect("connect");
        let error = client
            .call::<_, Serde<SleepArgs>>("Test", "Sleep", &Serde(SleepArgs { ms: 300 }))
            .await
            .expect_err("times out");
        assert!(deadline_error(kind, &error), "{error}");
    }
}
