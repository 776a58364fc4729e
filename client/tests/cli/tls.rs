//! Proves `ringrpc call` over TLS against the engine serving TLS (certificates made by the
//! test): a `tls@` address with `--tls-ca`, mTLS with `--tls-cert`/`--tls-key`, and a server
//! the CA did not sign (exit 2, rustls's reason on stderr).

use ringrpc_engine::test_certs::TestPki;
use ringrpc_engine::{Driver, TlsConfig};
use serde_json::json;

use crate::support::{json, run, TestServer};

#[test]
fn calls_over_tls_and_mtls_and_refuses_an_unknown_ca() {
    let dir = std::env::temp_dir().join(format!("ringrpc-cli-tls-{}", std::process::id()));
    let pki = TestPki::generate(&dir).expect("test certificates");
    let tls = TlsConfig::from_pem_files(&pki.server_cert, &pki.server_key);
    let server = TestServer::engine_tls(Driver::Auto, tls.clone());
    let mtls = TestServer::engine_tls(Driver::Auto, tls.client_ca_path(&pki.ca));
    let host_port = |server: &TestServer| server.host_port().to_owned();
    let ca = pki.ca.display().to_string();

    let command = format!(
        "call --server tls@{} --tls-ca {ca} --tls-server-name localhost --service Arith --method Mul",
        host_port(&server)
    );
    let out = run(&command, &[r#"{"A":6,"B":7}"#]);
    assert_eq!(
        (out.code, json(&out.stdout)),
        (0, json!({"C": 42})),
        "{out:?}"
    );

    let command = format!(
        "call --server {} --tls-ca {ca} --tls-cert {} --tls-key {} --service Arith --method Mul",
        mtls.addr,
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let out = run(&command, &[r#"{"A":2,"B":3}"#]);
    assert_eq!(
        (out.code, json(&out.stdout)),
        (0, json!({"C": 6})),
        "{out:?}"
    );

    let command = format!(
        "call --server tls@{} --tls-ca {} --service Arith --method Mul",
        host_port(&server),
        pki.other_ca.display()
    );
    let out = run(&command, &[r#"{"A":1,"B":1}"#]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("UnknownIssuer"), "{out:?}");
}
