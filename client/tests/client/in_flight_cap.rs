//! Proves `ClientOptions::max_in_flight`: calls over the cap wait for a slot before they are
//! sent, so the server never has more than the cap; every call still gets its reply; and a
//! call's wait for a slot counts against its deadline (it times out unsent).

use std::time::{Duration, Instant};

use crate::support;
use crate::support::fake::FakeServer;
use crate::support::types::{Args, ArithReply, SleepArgs};
use crate::support::{Kind, TestServer};
use ringrpc_client::{CallOptions, ClientOptions, Error, Serde};

fn capped(max_in_flight: usize) -> ClientOptions {
    ClientOptions::new().max_in_flight(max_in_flight)
}

for_each_driver! {
    /// Six 100 ms calls through a cap of 2 take three rounds, and all are answered.
    #[test]
    fn calls_over_the_cap_wait_for_a_slot() {
        block_on(async {
            let server = TestServer::start(Kind::Engine);
            let client = Client::connect_with(&server.addr, capped(2)).await.expect("connect");
            let client = &client;
            let started = Instant::now();
            let calls = (0..6).map(|_| async move {
                let args = Serde(SleepArgs { ms: 100 });
                client.call::<_, Serde<SleepArgs>>("Test", "Sleep", &args).await
            });
            for reply in support::join_all(calls.collect()).await {
                reply.expect("answered");
            }
            let elapsed = started.elapsed();
            assert!(elapsed >= Duration::from_millis(300), "2 at a time took only {elapsed:?}");
            assert_eq!(client.stats().inflight_count, 0);
        });
    }

    /// With the one slot taken by a call nobody answers, a second call times out on its own
    /// deadline without ever being sent.
    #[test]
    fn waiting_for_a_slot_counts_against_the_deadline() {
        block_on(async {
            let server = FakeServer::start(0, false);
            let client = Client::connect_with(&server.addr, capped(1)).await.expect("connect");
            let args = Serde(Args { a: 1, b: 2 });
            let long = CallOptions::new().timeout(Duration::from_millis(400));
            let short = CallOptions::new().timeout(Duration::from_millis(100));
            let first = client.call_with::<_, Serde<ArithReply>>("Arith", "Mul", &args, &long);
            let second = async {
                let started = Instant::now();
                let result = client
                    .call_with::<_, Serde<ArithReply>>("Arith", "Mul", &args, &short)
                    .await;
                (result, started.elapsed())
            };
            // `zip` polls `first` first, so it takes the slot.
            let (first, (second, waited)) = futures_lite::future::zip(first, second).await;
            assert!(matches!(second, Err(Error::Timeout { timeout_ms: 100 })), "{second:?}");
            assert!(waited < Duration::from_millis(350), "{waited:?}");
            assert!(matches!(first, Err(Error::Timeout { .. })), "{first:?}");
            assert_eq!(server.received().len(), 1, "the waiting call was never sent");
        });
    }
}
