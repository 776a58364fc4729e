//! Proves 4 MiB payloads go through in both directions, as they are and gzip'ed, and that
//! small calls pipelined with them still match.

use crate::support;
use crate::support::types::{Args, ArithReply};
use crate::support::{Kind, TestServer};
use bytes::Bytes;
use ringrpc_client::{CallOptions, Serde, SerializeType};

const LEN: usize = 4 << 20;

/// Bytes that do not compress (a xorshift stream).
fn noise(len: usize) -> Bytes {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

for_each_driver! {
    #[test]
    fn rpcx_go() {
        block_on(four_mib(Kind::RpcxGo));
    }

    #[test]
    fn engine() {
        block_on(four_mib(Kind::Engine));
    }

    async fn four_mib(kind: Kind) {
        let server = TestServer::start(kind);
        let client = Client::connect(&server.addr).await.expect("connect");
        let raw = CallOptions::new().serialize_type(SerializeType::None);
        let noise = noise(LEN);
        let text: Bytes = b"0123456789abcdef".iter().copied().cycle().take(LEN).collect();
        let big = async {
            let response = client.call_with::<_, Bytes>("Echo", "Echo", &noise, &raw).await.expect("4 MiB");
            assert!(response == noise, "4 MiB echo differs");
            let gzip = raw.clone().compress(true);
            let response = client.call_with::<_, Bytes>("Echo", "Echo", &text, &gzip).await.expect("4 MiB gzip");
            assert!(response == text, "4 MiB gzip echo differs");
        };
        let small = async {
            for a in 0..20 {
                let reply: Serde<ArithReply> =
                    client.call("Arith", "Mul", &Serde(Args { a, b: 2 })).await.expect("small");
                assert_eq!(reply.0.c, a * 2);
            }
        };
        futures_lite::future::zip(big, small).await;
        assert_eq!(client.stats().inflight_count, 0);
    }
}
