//! Proves closing: `close` fails pending calls with a retryable error, still writes what
//! was queued before it (a oneway request reaches the server), refuses later calls
//! retryably, and dropping the last clone of a client closes its connection.

use std::time::Duration;

use crate::support;
use crate::support::fake::FakeServer;
use crate::support::types::Args;
use ringrpc_client::{CallOptions, Disconnect, Error, Serde};

for_each_driver! {
    #[test]
    fn close_and_drop() {
        block_on(async {
            let server = FakeServer::start(0, false); // never answers calls
            let client = Client::connect(&server.addr).await.expect("connect");
            let pending = async {
                client.call::<_, Serde<Args>>("Arith", "Mul", &Serde(Args { a: 1, b: 1 })).await
            };
            let closer = async {
                while client.stats().inflight_count == 0 {
                    sleep(Duration::from_millis(1)).await;
                }
                client.oneway("Log", "Bye", &Serde(Args { a: 0, b: 0 }), &CallOptions::new()).expect("queued");
                client.close().await;
            };
            let (result, ()) = futures_lite::future::zip(pending, closer).await;
            let error = result.expect_err("closed under the call");
            assert!(matches!(error, Error::Disconnected(Disconnect::Closed)) && error.is_retryable(), "{error}");
            assert!(client.is_closed());
            let later = client.call::<_, Serde<Args>>("Arith", "Mul", &Serde(Args { a: 1, b: 1 })).await;
            assert!(matches!(later, Err(Error::Disconnected(Disconnect::Closed))));

            wait_until(|| server.received().iter().any(|r| r.service_method == "Bye")).await;
            wait_until(|| server.connections_open() == 0).await;

            // Dropping the last clone closes the connection too.
            let client = Client::connect(&server.addr).await.expect("connect");
            let clone = client.clone();
            wait_until(|| server.connections_open() == 1).await;
            drop(client);
            sleep(Duration::from_millis(50)).await;
            assert_eq!(server.connections_open(), 1, "a clone still holds the connection");
            drop(clone);
            wait_until(|| server.connections_open() == 0).await;
        });
    }

    async fn wait_until(condition: impl Fn() -> bool) {
        for _ in 0..500 {
            if condition() {
                return;
            }
            sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not met within 5 s");
    }
}
