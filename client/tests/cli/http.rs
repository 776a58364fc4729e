//! Proves `ringrpc call --http` speaks what rpcx-go's HTTP gateway speaks: the stock rpcx-go
//! server (which serves the gateway on its rpcx port) answers its requests for every codec,
//! with metadata, auth, oneway and errors mapped back to the same output and exit codes as
//! a call over rpcx.

use prost::Message;
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;

use crate::support::{ringrpc, Kind, Outcome, TestServer};

fn http_call(server: &TestServer, extra: &[&str]) -> Outcome {
    let mut args = vec!["call", "--http", "--server", &server.addr];
    args.extend_from_slice(extra);
    ringrpc(&args)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

#[test]
fn codecs_through_rpcx_go_gateway() {
    let server = TestServer::start(Kind::RpcxGo);
    for codec in ["json", "msgpack"] {
        let out = http_call(
            &server,
            &[
                "--service",
                "Arith",
                "--method",
                "Mul",
                "--codec",
                codec,
                r#"{"A":6,"B":7}"#,
            ],
        );
        assert_eq!(out.code, 0, "{codec}: {out:?}");
        assert_eq!(json(&out.stdout), serde_json::json!({"C": 42}), "{codec}");
    }
    let request = BenchmarkMessage::benchmark_request().encode_to_vec();
    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
    let out = http_call(
        &server,
        &[
            "--service",
            "Hello",
            "--method",
            "Say",
            "--codec",
            "protobuf",
            "--hex",
            &hex,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let digits = out.stdout.trim();
    let bytes: Vec<u8> = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect();
    let reply = BenchmarkMessage::decode(&*bytes).expect("protobuf reply");
    assert_eq!((reply.field1.as_str(), reply.field2), ("OK", 100));
}

#[test]
fn metadata_auth_and_oneway_through_the_gateway() {
    let server = TestServer::start_with_auth(Kind::RpcxGo, Some("tok"));
    let out = http_call(
        &server,
        &[
            "--auth",
            "tok",
            "--service",
            "Test",
            "--method",
            "Meta",
            "--meta",
            "k=v",
            "--meta",
            "x=a b&c",
            r#"{"A":1,"B":2}"#,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.contains(&"k: v") && lines.contains(&"x: a b&c"),
        "{out:?}"
    );

    let wrong = http_call(
        &server,
        &[
            "--auth",
            "bad",
            "--service",
            "Arith",
            "--method",
            "Mul",
            "{}",
        ],
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("auth: invalid token"), "{wrong:?}");

    let oneway = http_call(
        &server,
        &[
            "--auth",
            "tok",
            "--oneway",
            "--service",
            "Arith",
            "--method",
            "Mul",
            r#"{"A":1,"B":1}"#,
        ],
    );
    assert_eq!((oneway.code, oneway.stdout.as_str()), (0, ""), "{oneway:?}");
}

#[test]
fn gateway_errors_exit_1_and_failures_exit_2() {
    let server = TestServer::start(Kind::RpcxGo);
    let out = http_call(
        &server,
        &["--service", "Test", "--method", "Fail", r#"{"A":1,"B":2}"#],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("test failure: A=1 B=2"), "{out:?}");
    let out = http_call(&server, &["--service", "Arith", "--method", "Div", "{}"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("rpcx: can't find method Div"),
        "{out:?}"
    );
    let out = http_call(&server, &["--service", "Nope", "--method", "Div", "{}"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("can't find service Nope"), "{out:?}");

    let over = http_call(
        &server,
        &[
            "--reply-max-bytes",
            "4",
            "--service",
            "Arith",
            "--method",
            "Mul",
            r#"{"A":6,"B":7}"#,
        ],
    );
    assert_eq!(over.code, 2, "{over:?}");
    assert!(over.stderr.contains("at most 4 bytes"), "{over:?}");
    let slow = http_call(
        &server,
        &[
            "--timeout-ms",
            "100",
            "--service",
            "Test",
            "--method",
            "Sleep",
            r#"{"Ms":3000}"#,
        ],
    );
    assert_eq!(slow.code, 2, "{slow:?}");
    assert!(slow.stderr.contains("no answer within 100 ms"), "{slow:?}");
    let unix = ringrpc(&[
        "call",
        "--http",
        "--server",
        "unix@/nonexistent.sock",
        "--service",
        "A",
        "--method",
        "B",
    ]);
    assert_eq!(unix.code, 2, "{unix:?}");
    let gzip = ringrpc(&[
        "call",
        "--http",
        "--gzip",
        "--server",
        &server.addr,
        "--service",
        "A",
        "--method",
        "B",
    ]);
    assert_eq!(gzip.code, 2, "clap rejects --http with --gzip: {gzip:?}");
}
