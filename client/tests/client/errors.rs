//! Proves how failures are told apart: the server's own errors (a failing method, an
//! unknown method or service) come back with the server's exact text and are not
//! retryable, and the connection stays usable; a reply that does not decode into the
//! caller's type and arguments that cannot be encoded are local, non-retryable errors.

use crate::support;
use crate::support::types::{Args, ArithReply, PushArgs};
use crate::support::{Kind, TestServer};
use ringrpc_client::{CallOptions, Error, Proto, Serde, SerializeType};
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(errors(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(errors(Kind::Engine));
    }

    async fn errors(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let args = Serde(Args { a: 1, b: 2 });

        let cases = [
            ("Test", "Fail", "test failure: A=1 B=2"),
            ("Arith", "Div", "rpcx: can't find method Div"),
            ("Nope", "Mul", "rpcx: can't find service Nope"),
        ];
        for (service, method, text) in cases {
            let error = client.call::<_, Serde<ArithReply>>(service, method, &args).await.expect_err(text);
            assert_eq!(error.service_message(), Some(text), "{service}.{method}");
            assert!(error.is_service_error() && !error.is_retryable());
            assert_eq!(error.to_string(), text);
        }

        // A reply that is not what the caller expects.
        let error = client.call::<_, Serde<PushArgs>>("Arith", "Mul", &args).await.expect_err("wrong type");
        assert!(matches!(error, Error::Decode(_)) && !error.is_retryable(), "{error}");

        // Arguments the chosen serialize type cannot carry: nothing is sent.
        let seq_before = client.stats().seq_next;
        let protobuf = CallOptions::new().serialize_type(SerializeType::Protobuf);
        let error = client
            .call_with::<_, Serde<ArithReply>>("Arith", "Mul", &args, &protobuf)
            .await
            .expect_err("serde type as protobuf");
        assert!(matches!(error, Error::Encode(_)) && !error.is_retryable(), "{error}");
        let json = CallOptions::new().serialize_type(SerializeType::Json);
        let message = Proto(BenchmarkMessage::benchmark_request());
        let error = client
            .call_with::<_, Proto<BenchmarkMessage>>("Hello", "Say", &message, &json)
            .await
            .expect_err("protobuf type as JSON");
        assert!(matches!(error, Error::Encode(_)), "{error}");
        assert_eq!(client.stats().seq_next, seq_before);

        assert!(!client.is_closed(), "errors leave the connection up");
        let reply: Serde<ArithReply> = client.call("Arith", "Mul", &args).await.expect("call");
        assert_eq!(reply.0.c, 2);
    }
}
