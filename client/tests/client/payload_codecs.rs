//! Proves every payload codec interoperates: JSON and MsgPack (the default) for Arith,
//! protobuf for Hello.Say with the benchmark message, raw bytes for Echo.Echo, and raw bytes
//! sent under the FlatBuffers serialize type; the serialize type comes from the call, else
//! from the argument (`Proto` asks for protobuf), else from the client. Arguments need only
//! `Serialize` and replies only `Deserialize`.

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use bytes::Bytes;
use ringrpc_client::{CallOptions, ClientOptions, Proto, Serde, SerializeType};
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;
use serde::{Deserialize, Serialize};

/// Arith's arguments, only ever sent.
#[derive(Serialize)]
struct SendOnlyArgs {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

/// Arith's reply, only ever received.
#[derive(Deserialize)]
struct ReceiveOnlyReply {
    #[serde(rename = "C")]
    c: i64,
}

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(every_codec(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(every_codec(Kind::Engine));
    }

    async fn every_codec(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        assert_eq!(client.options().serialize_type, SerializeType::MsgPack, "rpcx-go's default");

        // MsgPack, the client default.
        let reply: Serde<ArithReply> = client.call("Arith", "Mul", &Serde(Args { a: 3, b: 4 })).await.expect("msgpack");
        assert_eq!(reply.0.c, 12);

        // JSON, chosen per call; the reply comes back as JSON too.
        let json = CallOptions::new().serialize_type(SerializeType::Json);
        let response = client
            .call_with::<_, Serde<ArithReply>>("Arith", "Add", &Serde(Args { a: 3, b: 4 }), &json)
            .await
            .expect("json");
        assert_eq!(response.0.c, 7);

        // Protobuf: the benchmark message through Hello.Say.
        let protobuf = CallOptions::new().serialize_type(SerializeType::Protobuf);
        let request = BenchmarkMessage::benchmark_request();
        let response = client
            .call_with::<_, Proto<BenchmarkMessage>>("Hello", "Say", &Proto(request.clone()), &protobuf)
            .await
            .expect("protobuf");
        assert_eq!(response.0, request.into_benchmark_reply());

        // Protobuf without a per-call option: `Proto` asks for it, over the client's MsgPack
        // (the reply can only decode as protobuf, so it came back as protobuf too).
        let request = BenchmarkMessage::benchmark_request();
        let reply: Proto<BenchmarkMessage> = client.call("Hello", "Say", &Proto(request.clone())).await.expect("protobuf");
        assert_eq!(reply.0, request.into_benchmark_reply());

        // A send-only argument type and a receive-only reply type.
        let reply: Serde<ReceiveOnlyReply> =
            client.call("Arith", "Mul", &Serde(SendOnlyArgs { a: 6, b: 7 })).await.expect("one-way types");
        assert_eq!(reply.0.c, 42);

        // Raw bytes, echoed as they were.
        let raw = CallOptions::new().serialize_type(SerializeType::None);
        let payload = Bytes::from_static(b"\x00\x01raw bytes\xff");
        let response = client.call_with::<_, Bytes>("Echo", "Echo", &payload, &raw).await.expect("raw");
        assert_eq!(response, payload);

        // JSON as the client's default.
        let options = ClientOptions::new().serialize_type(SerializeType::Json);
        let json_client = Client::connect_with(&server.addr, options).await.expect("connect");
        let reply: Serde<ArithReply> = json_client.call("Arith", "Mul", &Serde(Args { a: 5, b: 6 })).await.expect("json");
        assert_eq!(reply.0.c, 30);

        // FlatBuffers payloads are raw bytes under serialize type 10.
        let flatbuffers = CallOptions::new().serialize_type(SerializeType::FlatBuffers);
        match kind {
            Kind::RpcxGo => {
                // rpcx-go registers no codec for 10: a reflective method refuses it by name
                // (its raw Echo handler would fail to bind and send nothing at all).
                let result = client.call_with::<_, Bytes>("Arith", "Mul", &payload, &flatbuffers).await;
                let error = result.expect_err("rpcx-go has no codec 10");
                assert_eq!(error.service_message(), Some("can not find codec for 10"));
            }
            Kind::Engine => {
                // The engine's Echo takes the payload as bytes under any serialize type.
                let response = client.call_with::<_, Bytes>("Echo", "Echo", &payload, &flatbuffers).await;
                assert_eq!(response.expect("echo"), payload);
            }
        }
    }
}
