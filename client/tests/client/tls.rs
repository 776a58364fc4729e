//! Proves TLS interoperates both ways, with certificates made by the test (rcgen):
//! - the ringrpc client (tokio and glommio) ↔ the ringrpc server on each driver, and ↔
//!   rpcx-go serving `server.WithTLSConfig`; with mTLS; a wrong CA and an expired server
//!   certificate (of either server) fail with a clear, final `Error::Tls`; a client without
//!   a certificate is refused by an mTLS server; a call's deadline expires over TLS as
//!   without it, and the connection goes on; ALPN matching, refused and absent;
//! - rpcx-go's own client (`Option.TLSConfig`, the interop checker) ↔ the ringrpc server on
//!   each driver, plain TLS and mTLS; its wrong CA and an expired server certificate (each
//!   driver) and a missing client certificate fail with Go's clear errors.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringrpc_client::{CallOptions, ClientOptions, Error, Serde, TlsOptions};
use ringrpc_engine::test_certs::TestPki;
use ringrpc_engine::{Driver, TlsConfig};

use crate::support::server::go_bin;
use crate::support::types::{Args, ArithReply, SleepArgs};
use crate::support::{self, TestServer};

/// One PKI for the whole test binary.
fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ringrpc-client-tls-{}", std::process::id()));
        TestPki::generate(&dir).expect("test certificates")
    })
}

fn server_tls(pki: &TestPki) -> TlsConfig {
    TlsConfig::from_pem_files(&pki.server_cert, &pki.server_key)
}

fn trusting(ca: &Path) -> ClientOptions {
    ClientOptions::new().tls(TlsOptions::new().ca_path(ca).server_name("localhost"))
}

fn with_cert(pki: &TestPki) -> ClientOptions {
    ClientOptions::new().tls(
        TlsOptions::new()
            .ca_path(&pki.ca)
            .client_cert(&pki.client_cert, &pki.client_key),
    )
}

/// `-tls-cert`, `-tls-key` and, for mTLS, `-tls-client-ca` of the rpcx-go server.
fn go_server_args<'a>(cert: &'a Path, key: &'a Path, client_ca: Option<&'a Path>) -> Vec<&'a str> {
    let text = |path: &'a Path| path.to_str().expect("a UTF-8 temporary path");
    let mut args = vec!["-tls-cert", text(cert), "-tls-key", text(key)];
    if let Some(ca) = client_ca {
        args.extend(["-tls-client-ca", text(ca)]);
    }
    args
}

for_each_driver! {
    async fn mul(addr: &str, options: ClientOptions) -> Result<i64, Error> {
        let client = Client::connect_with(addr, options).await?;
        let reply: Serde<ArithReply> = client.call("Arith", "Mul", &Serde(Args { a: 6, b: 7 })).await?;
        client.close().await;
        Ok(reply.0.c)
    }

    #[test]
    fn calls_a_ringrpc_tls_server_on_each_driver() {
        let pki = pki();
        for driver in [Driver::Uring, Driver::Glommio] {
            let server = TestServer::engine_tls(driver, server_tls(pki));
            block_on(async {
                assert_eq!(mul(&server.addr, trusting(&pki.ca)).await.unwrap(), 42, "{driver:?}");
            });
        }
    }

    #[test]
    fn calls_an_rpcx_go_tls_server() {
        let pki = pki();
        let server = TestServer::rpcx_go_tls(&go_server_args(&pki.server_cert, &pki.server_key, None));
        block_on(async {
            assert_eq!(mul(&server.addr, trusting(&pki.ca)).await.unwrap(), 42);
        });
    }

    #[test]
    fn mtls_with_either_server_needs_the_client_certificate() {
        let pki = pki();
        let engine = TestServer::engine_tls(Driver::Auto, server_tls(pki).client_ca_path(&pki.ca));
        let go = TestServer::rpcx_go_tls(&go_server_args(
            &pki.server_cert,
            &pki.server_key,
            Some(&pki.ca),
        ));
        block_on(async {
            for server in [&engine, &go] {
                assert_eq!(mul(&server.addr, with_cert(pki)).await.unwrap(), 42, "{}", server.addr);
                // TLS 1.3: the refusal may arrive with the first call instead of the handshake.
                let refused = mul(&server.addr, trusting(&pki.ca)).await.unwrap_err();
                let text = refused.to_string();
                assert!(
                    text.contains("CertificateRequired") || text.contains("certificate")
                        || matches!(refused, Error::Disconnected(_)),
                    "{}: {text}",
                    server.addr
                );
            }
        });
    }

    #[test]
    fn a_wrong_ca_or_an_expired_certificate_is_a_clear_final_error() {
        let pki = pki();
        let engine = TestServer::engine_tls(Driver::Auto, server_tls(pki));
        let go = TestServer::rpcx_go_tls(&go_server_args(&pki.server_cert, &pki.server_key, None));
        let expired_engine = TestServer::engine_tls(
            Driver::Auto,
            TlsConfig::from_pem_files(&pki.expired_cert, &pki.expired_key),
        );
        let expired_go =
            TestServer::rpcx_go_tls(&go_server_args(&pki.expired_cert, &pki.expired_key, None));
        block_on(async {
            for server in [&engine, &go] {
                let error = mul(&server.addr, trusting(&pki.other_ca)).await.unwrap_err();
                assert!(matches!(error, Error::Tls { .. }) && !error.is_retryable(), "{error}");
                assert!(error.to_string().contains("UnknownIssuer"), "{}: {error}", server.addr);
            }
            for server in [&expired_engine, &expired_go] {
                let error = mul(&server.addr, trusting(&pki.ca)).await.unwrap_err();
                assert!(matches!(error, Error::Tls { .. }), "{error}");
                assert!(error.to_string().contains("expired"), "{}: {error}", server.addr);
            }
        });
    }

    /// ALPN with a ringrpc server offering `rpcx`: a client offering it gets it; one
    /// offering only other protocols is refused during the handshake with a clear, final
    /// `Error::Tls` naming `NoApplicationProtocol`; one offering none is served (as
    /// rpcx-go's clients are).
    #[test]
    fn alpn_matching_refused_or_absent() {
        let pki = pki();
        let server = TestServer::engine_tls(Driver::Auto, server_tls(pki).alpn_protocols(["rpcx"]));
        let offering = |protocols: &[&str]| {
            ClientOptions::new().tls(
                TlsOptions::new().ca_path(&pki.ca).server_name("localhost").alpn_protocols(protocols),
            )
        };
        block_on(async {
            assert_eq!(mul(&server.addr, offering(&["h2", "rpcx"])).await.unwrap(), 42);
            assert_eq!(mul(&server.addr, offering(&[])).await.unwrap(), 42, "no ALPN offered");
            let error = mul(&server.addr, offering(&["h2"])).await.unwrap_err();
            assert!(matches!(error, Error::Tls { .. }) && !error.is_retryable(), "{error}");
            assert!(error.to_string().contains("NoApplicationProtocol"), "{error}");
        });
    }

    #[test]
    fn a_call_deadline_expires_over_tls_and_the_connection_goes_on() {
        let pki = pki();
        let engine = TestServer::engine_tls(Driver::Auto, server_tls(pki));
        let go = TestServer::rpcx_go_tls(&go_server_args(&pki.server_cert, &pki.server_key, None));
        block_on(async {
            for server in [&engine, &go] {
                let client = Client::connect_with(&server.addr, trusting(&pki.ca)).await.unwrap();
                let options = CallOptions::new().timeout(Duration::from_millis(100));
                let started = Instant::now();
                let error = client
                    .call_with::<_, Serde<SleepArgs>>("Test", "Sleep", &Serde(SleepArgs { ms: 600 }), &options)
                    .await
                    .unwrap_err();
                let elapsed = started.elapsed();
                assert!(
                    error.is_timeout() || error.service_message() == Some("context deadline exceeded"),
                    "{}: {error}",
                    server.addr
                );
                assert!(elapsed >= Duration::from_millis(95), "failed early: {elapsed:?}");
                assert!(elapsed < Duration::from_millis(500), "failed late: {elapsed:?}");
                let reply: Serde<ArithReply> =
                    client.call("Arith", "Mul", &Serde(Args { a: 6, b: 7 })).await.unwrap();
                assert_eq!(reply.0.c, 42, "the TLS connection goes on");
                client.close().await;
            }
        });
    }
}

/// Runs rpcx-go's interop checker over TLS against `addr`; its stdout, and whether it passed.
fn go_interop(addr: &str, extra: &[&OsStr]) -> (String, bool) {
    let output = Command::new(go_bin("interop"))
        .args(["-addr", addr.strip_prefix("tcp@").unwrap_or(addr)])
        // The 4 MiB payload and the 1000-call concurrency checks run in the plain interop
        // stage; here they would only make the run longer.
        .args(["-skip", "large_payload_4mib,concurrency"])
        .args(extra)
        .output()
        .expect("run the interop checker");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (stdout, output.status.success())
}

#[test]
fn rpcx_go_clients_pass_the_interop_checks_over_tls_on_each_driver() {
    let pki = pki();
    for driver in [Driver::Uring, Driver::Glommio] {
        let server = TestServer::engine_tls(driver, server_tls(pki));
        let (stdout, passed) =
            go_interop(&server.addr, &[OsStr::new("-tls-ca"), pki.ca.as_os_str()]);
        assert!(
            passed && stdout.contains("over TLS"),
            "{driver:?}:\n{stdout}"
        );
        assert!(stdout.contains(" 0 failed"), "{driver:?}:\n{stdout}");
    }
}

#[test]
fn rpcx_go_clients_with_mtls_and_their_failures() {
    let pki = pki();
    let mtls = TestServer::engine_tls(Driver::Auto, server_tls(pki).client_ca_path(&pki.ca));
    let ca = [OsStr::new("-tls-ca"), pki.ca.as_os_str()];
    let cert = [
        OsStr::new("-tls-cert"),
        pki.client_cert.as_os_str(),
        OsStr::new("-tls-key"),
        pki.client_key.as_os_str(),
    ];
    let (stdout, passed) = go_interop(&mtls.addr, &[&ca[..], &cert[..]].concat());
    assert!(passed, "with a client certificate:\n{stdout}");
    let (stdout, passed) = go_interop(&mtls.addr, &ca);
    assert!(!passed, "without one the server refuses:\n{stdout}");
    assert!(
        stdout.contains("certificate required") || stdout.contains("certificate"),
        "{stdout}"
    );

    for driver in [Driver::Uring, Driver::Glommio] {
        let plain = TestServer::engine_tls(driver, server_tls(pki));
        let (stdout, passed) = go_interop(
            &plain.addr,
            &[OsStr::new("-tls-ca"), pki.other_ca.as_os_str()],
        );
        assert!(!passed, "{driver:?}");
        assert!(
            stdout.contains("certificate signed by unknown authority"),
            "{driver:?}: {stdout}"
        );

        let expired = TestServer::engine_tls(
            driver,
            TlsConfig::from_pem_files(&pki.expired_cert, &pki.expired_key),
        );
        let (stdout, passed) = go_interop(&expired.addr, &ca);
        assert!(!passed, "{driver:?}");
        assert!(stdout.contains("expired"), "{driver:?}: {stdout}");
    }
}

#[test]
fn plain_rpcx_to_a_tls_port_fails_fast() {
    let pki = pki();
    let server = TestServer::engine_tls(Driver::Auto, server_tls(pki));
    support::tokio_block_on(async {
        let started = std::time::Instant::now();
        let client = ringrpc_client::tokio::Client::connect(&server.addr)
            .await
            .unwrap();
        let error = client
            .call::<_, Serde<ArithReply>>("Arith", "Mul", &Serde(Args { a: 1, b: 2 }))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Disconnected(_)), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    });
}
