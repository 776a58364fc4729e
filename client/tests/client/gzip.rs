//! Proves gzip both ways with rpcx's 1 KiB rule: with compression on, a request payload over
//! 1024 bytes leaves gzip'ed (the fake server sees the compress bits) and one of 1024 bytes
//! does not; a gzip'ed reply (rpcx-go compresses replies over 1 KiB to compressed requests)
//! is decompressed transparently.

use crate::support;
use crate::support::fake::FakeServer;
use crate::support::{Kind, TestServer};
use bytes::Bytes;
use ringrpc_client::{CallOptions, ClientOptions, Request, SerializeType};
use ringrpc_codec::CompressType;

fn text(len: usize) -> Bytes {
    b"the quick brown fox jumps over the lazy dog. "
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

for_each_driver! {
    #[test]
    fn rpcx_go_replies_gzip() {
        block_on(replies(Kind::RpcxGo));
    }

    #[test]
    fn engine_replies_gzip() {
        block_on(replies(Kind::Engine));
    }

    #[test]
    fn requests_leave_gzipped_over_one_kib() {
        block_on(async {
            let server = FakeServer::start(0, true);
            let options = ClientOptions::new().compress(true);
            let client = Client::connect_with(&server.addr, options).await.expect("connect");
            let raw = CallOptions::new().serialize_type(SerializeType::None);
            for len in [1024, 1025, 64 << 10] {
                let payload = text(len);
                let response = client.call_with::<_, Bytes>("Echo", "Echo", &payload, &raw).await.expect("call");
                assert_eq!(response, payload);
            }
            // Per call, compression can be turned off again.
            let plain = raw.clone().compress(false);
            client.call_with::<_, Bytes>("Echo", "Echo", &text(4096), &plain).await.expect("call");
            let gzip: Vec<(usize, bool)> = server.received().iter().map(|r| (r.payload.len(), r.gzip)).collect();
            assert_eq!(gzip, [(1024, false), (1025, true), (64 << 10, true), (4096, false)]);
        });
    }

    async fn replies(kind: Kind) {
        let server = TestServer::start(kind);
        let options = ClientOptions::new().compress(true);
        let client = Client::connect_with(&server.addr, options).await.expect("connect");
        for (len, gzip_expected) in [(100, false), (64 << 10, true)] {
            let payload = text(len);
            let request = Request::new("Echo", "Echo", &payload).serialize_type(SerializeType::None);
            let reply = client.send(&request).await.expect("send");
            assert_eq!(reply.payload(), &payload, "decompressed to the original");
            let compress = reply.frame().header().compress_type().expect("known compressor");
            assert_eq!(compress == CompressType::Gzip, gzip_expected, "{len} bytes: {compress:?}");
            if gzip_expected {
                assert!(reply.frame().wire_payload().len() < len / 4, "it really was compressed");
            }
        }
    }
}
