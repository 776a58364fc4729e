//! Proves `ringrpc call --http` speaks what rpcx-go's HTTP gateway speaks: the stock rpcx-go
//! server (which serves the gateway on its rpcx port) answers its requests for every codec,
//! with metadata, auth, oneway and errors mapped back to the same output and exit codes as
//! a call over rpcx.

use serde_json::json;

use crate::support::{
    assert_benchmark_reply, assert_metadata_round_trip, benchmark_request_hex, json, run, Kind,
    TestServer,
};

#[test]
fn codecs_through_rpcx_go_gateway() {
    let server = TestServer::start(Kind::RpcxGo);
    let call = format!("call --http --server {}", server.addr);
    for codec in ["json", "msgpack"] {
        let out = run(
            &format!("{call} --service Arith --method Mul --codec {codec}"),
            &[r#"{"A":6,"B":7}"#],
        );
        assert_eq!(
            (out.code, json(&out.stdout)),
            (0, json!({"C": 42})),
            "{codec}: {out:?}"
        );
    }
    let command = format!("{call} --service Hello --method Say --codec protobuf --hex");
    let out = run(&command, &[&benchmark_request_hex()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_benchmark_reply(&out.stdout);
}

#[test]
fn metadata_auth_and_oneway_through_the_gateway() {
    let server = TestServer::start_with_auth(Kind::RpcxGo, Some("tok"));
    let call = format!("call --http --server {}", server.addr);
    assert_metadata_round_trip(&format!("{call} --auth tok"));

    let wrong = run(
        &format!("{call} --auth bad --service Arith --method Mul"),
        &["{}"],
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("auth: invalid token"), "{wrong:?}");

    let command = format!("{call} --auth tok --oneway --service Arith --method Mul");
    let oneway = run(&command, &[r#"{"A":1,"B":1}"#]);
    assert_eq!((oneway.code, oneway.stdout.as_str()), (0, ""), "{oneway:?}");
}

#[test]
fn gateway_errors_exit_1_and_failures_exit_2() {
    let server = TestServer::start(Kind::RpcxGo);
    let call = format!("call --http --server {}", server.addr);
    for (service_method, error) in [
        ("--service Test --method Fail", "test failure: A=1 B=2"),
        (
            "--service Arith --method Div",
            "rpcx: can't find method Div",
        ),
        ("--service Nope --method Div", "can't find service Nope"),
    ] {
        let out = run(&format!("{call} {service_method}"), &[r#"{"A":1,"B":2}"#]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains(error), "{out:?}");
    }

    let mul = format!("{call} --service Arith --method Mul");
    let over = run(&format!("{mul} --reply-max-bytes 4"), &[r#"{"A":6,"B":7}"#]);
    assert_eq!(over.code, 2, "{over:?}");
    assert!(over.stderr.contains("at most 4 bytes"), "{over:?}");
    let sleep = format!("{call} --service Test --method Sleep --timeout-ms 100");
    let slow = run(&sleep, &[r#"{"Ms":3000}"#]);
    assert_eq!(slow.code, 2, "{slow:?}");
    assert!(slow.stderr.contains("no answer within 100 ms"), "{slow:?}");
    let unix = run(
        "call --http --server unix@/nonexistent.sock --service A --method B",
        &[],
    );
    assert_eq!(unix.code, 2, "{unix:?}");
    assert!(unix.stderr.contains("--http goes over TCP"), "{unix:?}");
    let gzip = run(&format!("{mul} --gzip"), &[]);
    assert_eq!(gzip.code, 2, "clap refuses --http with --gzip: {gzip:?}");
}
