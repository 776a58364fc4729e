//! Proves the auth token goes out as `__AUTH` on every call: a server that requires it
//! serves a client with the right token call after call, and answers a wrong or missing
//! token with its error text (the server's error, not retryable) before closing the
//! connection (after which calls fail retryably).

use std::time::Duration;

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use ringrpc_client::{ClientOptions, Error, Serde};

const TOKEN: &str = "s3cret";

fn with_token(token: Option<&str>) -> ClientOptions {
    match token {
        Some(token) => ClientOptions::new().auth(token),
        None => ClientOptions::new(),
    }
}

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(auth(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(auth(Kind::Engine));
    }

    async fn auth(kind: Kind) {
        let server = TestServer::start_with_auth(kind, Some(TOKEN));
        let good = Client::connect_with(&server.addr, with_token(Some(TOKEN))).await.expect("connect");
        for a in 0..3 {
            let reply: Serde<ArithReply> =
                good.call("Arith", "Mul", &Serde(Args { a, b: 10 })).await.expect("authorised");
            assert_eq!(reply.0.c, a * 10);
        }

        for token in [Some("wrong"), None] {
            let bad = Client::connect_with(&server.addr, with_token(token)).await.expect("connect");
            let error = bad
                .call::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 1, b: 1 }))
                .await
                .expect_err("refused");
            assert_eq!(error.service_message(), Some("auth: invalid token"), "{token:?}: {error}");
            assert!(!error.is_retryable());
            // The server closes the connection after refusing.
            for _ in 0..100 {
                if bad.is_closed() {
                    break;
                }
                sleep(Duration::from_millis(10)).await;
            }
            assert!(bad.is_closed(), "the server closes the connection");
            let error = bad
                .call::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 1, b: 1 }))
                .await
                .expect_err("closed");
            assert!(matches!(error, Error::Disconnected(_)) && error.is_retryable(), "{error}");
        }
        let reply: Serde<ArithReply> =
            good.call("Arith", "Add", &Serde(Args { a: 1, b: 1 })).await.expect("still fine");
        assert_eq!(reply.0.c, 2);
    }
}
