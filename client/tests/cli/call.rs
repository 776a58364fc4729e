//! Proves `ringrpc call` over rpcx against the engine with the example server's services:
//! every codec, metadata both ways, auth, oneway (the bit on the wire), gzip, @FILE and stdin
//! payloads, the reply bound, and the exit codes (0 answer, 1 the server's error, 2 no call).

use std::io::Read;
use std::net::TcpListener;

use bytes::BytesMut;
use prost::Message;
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;
use ringrpc_codec::Limits;

use crate::support::{ringrpc, ringrpc_with_stdin, Kind, Outcome, TestServer};

fn call(server: &TestServer, extra: &[&str]) -> Outcome {
    let mut args = vec!["call", "--server", &server.addr];
    args.extend_from_slice(extra);
    ringrpc(&args)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

#[test]
fn json_and_msgpack_replies_print_as_json() {
    let server = TestServer::start(Kind::Engine);
    for codec in ["json", "msgpack"] {
        let out = call(
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
}

#[test]
fn raw_protobuf_and_flatbuffers_payloads() {
    let server = TestServer::start(Kind::Engine);
    let out = call(
        &server,
        &[
            "--service",
            "Echo",
            "--method",
            "Echo",
            "--codec",
            "raw",
            "hello",
        ],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\n"), "{out:?}");

    let request = BenchmarkMessage::benchmark_request().encode_to_vec();
    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
    let out = call(
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
    let reply = BenchmarkMessage::decode(&*from_hex(out.stdout.trim())).expect("protobuf reply");
    assert_eq!((reply.field1.as_str(), reply.field2), ("OK", 100));

    let out = call(
        &server,
        &[
            "--service",
            "Echo",
            "--method",
            "Echo",
            "--codec",
            "flatbuffers",
            "--hex",
            "0c00ff 10",
        ],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "0c00ff10\n"),
        "{out:?}"
    );
}

#[test]
fn metadata_goes_out_and_comes_back_on_stderr() {
    let server = TestServer::start(Kind::Engine);
    let out = call(
        &server,
        &[
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
    let out = call(
        &server,
        &[
            "--service",
            "Test",
            "--method",
            "Meta",
            "--meta",
            "novalue",
            "{}",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("expected K=V"), "{out:?}");
}

#[test]
fn auth_right_and_wrong() {
    let server = TestServer::start_with_auth(Kind::Engine, Some("s3cret"));
    let args = ["--service", "Arith", "--method", "Add", r#"{"A":2,"B":3}"#];
    let right = call(&server, &[&["--auth", "s3cret"][..], &args].concat());
    assert_eq!(
        (right.code, json(&right.stdout)),
        (0, serde_json::json!({"C": 5})),
        "{right:?}"
    );
    let wrong = call(&server, &[&["--auth", "nope"][..], &args].concat());
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("auth: invalid token"), "{wrong:?}");
    assert_eq!(call(&server, &args).code, 1);
}

#[test]
fn server_errors_exit_1_and_failed_calls_exit_2() {
    let server = TestServer::start(Kind::Engine);
    let out = call(
        &server,
        &["--service", "Test", "--method", "Fail", r#"{"A":1,"B":2}"#],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("test failure: A=1 B=2"), "{out:?}");
    let out = call(&server, &["--service", "Arith", "--method", "Div", "{}"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("can't find method Div"), "{out:?}");

    let out = call(
        &server,
        &["--service", "Arith", "--method", "Mul", "{not json"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("payload is not JSON"), "{out:?}");
    // A listener that accepts and never answers: the caller's deadline ends the call. (A
    // server that enforces the __ServerTimeout sent with it may answer first, with its
    // error `context deadline exceeded`: exit 1.)
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = format!("tcp@{}", silent.local_addr().unwrap());
    let timeout = ringrpc(&[
        "call",
        "--server",
        &silent_addr,
        "--service",
        "Arith",
        "--method",
        "Mul",
        "--timeout-ms",
        "100",
        "{}",
    ]);
    assert_eq!(timeout.code, 2, "{timeout:?}");
    assert!(
        timeout.stderr.contains("call timed out after 100 ms"),
        "{timeout:?}"
    );
    drop(silent);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = ringrpc(&[
        "call",
        "--server",
        &format!("tcp@{closed}"),
        "--service",
        "Arith",
        "--method",
        "Mul",
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
}

#[test]
fn payload_from_a_file_from_stdin_and_gzipped() {
    let server = TestServer::start(Kind::Engine);
    let dir = std::env::temp_dir().join(format!("ringrpc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("args.json");
    std::fs::write(&file, r#"{"A":4,"B":5}"#).unwrap();
    let at_file = format!("@{}", file.display());
    let out = call(
        &server,
        &["--service", "Arith", "--method", "Mul", &at_file],
    );
    assert_eq!(
        (out.code, json(&out.stdout)),
        (0, serde_json::json!({"C": 20})),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let big = "z".repeat(4096);
    let args = [
        "call",
        "--server",
        &server.addr,
        "--service",
        "Echo",
        "--method",
        "Echo",
        "--codec",
        "raw",
        "--gzip",
        "-",
    ];
    let out = ringrpc_with_stdin(&args, big.as_bytes());
    assert_eq!(
        (out.code, out.stdout.trim_end()),
        (0, big.as_str()),
        "{}",
        out.stderr
    );
}

#[test]
fn replies_over_the_bound_are_refused() {
    let server = TestServer::start(Kind::Engine);
    let payload = "y".repeat(2000);
    let echo = ["--service", "Echo", "--method", "Echo", "--codec", "raw"];
    let fits = call(
        &server,
        &[&echo[..], &["--reply-max-bytes", "4096", &payload]].concat(),
    );
    assert_eq!(fits.code, 0, "{fits:?}");
    let over = call(
        &server,
        &[&echo[..], &["--reply-max-bytes", "1024", &payload]].concat(),
    );
    assert_eq!(over.code, 2, "{over:?}");
}

#[test]
fn oneway_sets_the_bit_and_waits_for_nothing() {
    let server = TestServer::start(Kind::Engine);
    let out = call(
        &server,
        &[
            "--service",
            "Arith",
            "--method",
            "Mul",
            "--oneway",
            r#"{"A":1,"B":1}"#,
        ],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");

    // A listener that never answers: the call returns once its frame is out.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp@{}", listener.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        for _ in 0..100 {
            if let Some(frame) = ringrpc_codec::decode(&mut buf, &Limits::default()).unwrap() {
                return frame;
            }
            let n = socket.read(&mut chunk).unwrap();
            assert!(n > 0, "closed before a whole frame");
            buf.extend_from_slice(&chunk[..n]);
        }
        panic!("no frame in 100 reads");
    });
    let out = ringrpc(&[
        "call",
        "--server",
        &addr,
        "--service",
        "Log",
        "--method",
        "Write",
        "--oneway",
        "{}",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let frame = reader.join().unwrap();
    assert!(frame.header().is_oneway());
    assert_eq!(
        (frame.service_path(), frame.service_method()),
        ("Log", "Write")
    );
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
