//! ALPN between the ringrpc client and a ringrpc TLS server offering `rpcx`, on each client
//! runtime: a client offering `rpcx` gets it; a client offering only other protocols is
//! refused during the handshake with a clear, final `Error::Tls` naming
//! `NoApplicationProtocol`; a client offering none is served (as rpcx-go's clients are).

use ringrpc_client::{ClientOptions, Error, Serde, TlsOptions};
use ringrpc_engine::Driver;

use crate::support::types::{Args, ArithReply};
use crate::support::{self, TestServer};
use crate::tls::{pki, server_tls};

fn offering(protocols: &[&str]) -> ClientOptions {
    let pki = pki();
    ClientOptions::new().tls(
        TlsOptions::new()
            .ca_path(&pki.ca)
            .server_name("localhost")
            .alpn_protocols(protocols),
    )
}

for_each_driver! {
    async fn mul(addr: &str, options: ClientOptions) -> Result<i64, Error> {
        let client = Client::connect_with(addr, options).await?;
        let reply: Serde<ArithReply> = client.call("Arith", "Mul", &Serde(Args { a: 6, b: 7 })).await?;
        client.close().await;
        Ok(reply.0.c)
    }

    #[test]
    fn alpn_matching_refused_or_absent() {
        let server = TestServer::engine_tls(
            Driver::Auto,
            server_tls(pki()).alpn_protocols(["rpcx"]),
        );
        block_on(async {
            assert_eq!(mul(&server.addr, offering(&["h2", "rpcx"])).await.unwrap(), 42);
            assert_eq!(mul(&server.addr, offering(&[])).await.unwrap(), 42, "no ALPN offered");
            let error = mul(&server.addr, offering(&["h2"])).await.unwrap_err();
            assert!(matches!(error, Error::Tls { .. }) && !error.is_retryable(), "{error}");
            assert!(error.to_string().contains("NoApplicationProtocol"), "{error}");
        });
    }
}
