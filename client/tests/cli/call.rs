//! Proves `ringrpc call` over rpcx against the engine with the example server's services:
//! every codec, metadata both ways, auth, oneway (the bit on the wire), gzip, @FILE and stdin
//! payloads, the reply bound, and the exit codes (0 answer, 1 the server's error, 2 no call).

use std::io::Read;
use std::net::TcpListener;

use bytes::BytesMut;
use ringrpc_codec::{Frame, Limits};
use serde_json::json;

use crate::support::{
    assert_benchmark_reply, assert_metadata_round_trip, benchmark_request_hex, json,
    ringrpc_with_stdin, run, Kind, TestServer,
};

#[test]
fn json_and_msgpack_replies_print_as_json() {
    let server = TestServer::start(Kind::Engine);
    for codec in ["json", "msgpack"] {
        let command = format!(
            "call --server {} --service Arith --method Mul --codec {codec}",
            server.addr
        );
        let out = run(&command, &[r#"{"A":6,"B":7}"#]);
        assert_eq!(
            (out.code, json(&out.stdout)),
            (0, json!({"C": 42})),
            "{codec}: {out:?}"
        );
    }
}

#[test]
fn raw_protobuf_and_flatbuffers_payloads() {
    let server = TestServer::start(Kind::Engine);
    let call = format!("call --server {}", server.addr);
    let out = run(
        &call,
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

    let command = format!("{call} --service Hello --method Say --codec protobuf --hex");
    let out = run(&command, &[&benchmark_request_hex()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_benchmark_reply(&out.stdout);

    let command = format!("{call} --service Echo --method Echo --codec flatbuffers --hex");
    let out = run(&command, &["0c00ff 10"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "0c00ff10\n"),
        "{out:?}"
    );
}

#[test]
fn metadata_goes_out_and_comes_back_on_stderr() {
    let server = TestServer::start(Kind::Engine);
    let call = format!("call --server {}", server.addr);
    assert_metadata_round_trip(&call);
    let out = run(
        &call,
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
    let call = format!("call --server {} --service Arith --method Add", server.addr);
    let right = run(&format!("{call} --auth s3cret"), &[r#"{"A":2,"B":3}"#]);
    assert_eq!(
        (right.code, json(&right.stdout)),
        (0, json!({"C": 5})),
        "{right:?}"
    );
    let wrong = run(&format!("{call} --auth nope"), &[r#"{"A":2,"B":3}"#]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("auth: invalid token"), "{wrong:?}");
    assert_eq!(run(&call, &[r#"{"A":2,"B":3}"#]).code, 1);
}

#[test]
fn server_errors_exit_1_and_failed_calls_exit_2() {
    let server = TestServer::start(Kind::Engine);
    let call = format!("call --server {}", server.addr);
    let out = run(
        &format!("{call} --service Test --method Fail"),
        &[r#"{"A":1,"B":2}"#],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("test failure: A=1 B=2"), "{out:?}");
    let out = run(&format!("{call} --service Arith --method Div"), &["{}"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("can't find method Div"), "{out:?}");

    let out = run(
        &format!("{call} --service Arith --method Mul"),
        &["{not json"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("payload is not JSON"), "{out:?}");
    // A listener that accepts and never answers: the caller's deadline ends the call. (A
    // server that enforces the __ServerTimeout sent with it may answer first, with its
    // error `context deadline exceeded`: exit 1.)
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let timeout = run(
        &format!("call --server tcp@{addr} --service A --method B --timeout-ms 100"),
        &[],
    );
    assert_eq!(timeout.code, 2, "{timeout:?}");
    assert!(
        timeout.stderr.contains("call timed out after 100 ms"),
        "{timeout:?}"
    );
    drop(silent);
    let refused = run(
        &format!("call --server tcp@{addr} --service A --method B"),
        &[],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    let registry_oneway = run(
        "call --registry etcd://127.0.0.1:1/x --oneway --service A --method B",
        &[],
    );
    assert_eq!(
        registry_oneway.code, 2,
        "clap refuses --oneway with --registry: {registry_oneway:?}"
    );
}

#[test]
fn payload_from_a_file_from_stdin_and_gzipped() {
    let server = TestServer::start(Kind::Engine);
    let dir = std::env::temp_dir().join(format!("ringrpc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("args.json");
    std::fs::write(&file, r#"{"A":4,"B":5}"#).unwrap();
    let command = format!(
        "call --server {} --service Arith --method Mul @{}",
        server.addr,
        file.display()
    );
    let out = run(&command, &[]);
    assert_eq!(
        (out.code, json(&out.stdout)),
        (0, json!({"C": 20})),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let big = "z".repeat(4096);
    let command = format!(
        "call --server {} --service Echo --method Echo --codec raw --gzip -",
        server.addr
    );
    let args: Vec<&str> = command.split_whitespace().collect();
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
    let echo = format!(
        "call --server {} --service Echo --method Echo --codec raw",
        server.addr
    );
    let fits = run(&format!("{echo} --reply-max-bytes 4096"), &[&payload]);
    assert_eq!(fits.code, 0, "{fits:?}");
    let over = run(&format!("{echo} --reply-max-bytes 1024"), &[&payload]);
    assert_eq!(over.code, 2, "{over:?}");
}

#[test]
fn oneway_sets_the_bit_and_waits_for_nothing() {
    let server = TestServer::start(Kind::Engine);
    let command = format!(
        "call --server {} --service Arith --method Mul --oneway",
        server.addr
    );
    let out = run(&command, &[r#"{"A":1,"B":1}"#]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");

    // A listener that never answers: the call returns once its frame is out.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || first_frame(&listener));
    let out = run(
        &format!("call --server tcp@{addr} --service Log --method Write --oneway"),
        &["{}"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let frame = reader.join().unwrap();
    assert!(frame.header().is_oneway());
    assert_eq!(
        (frame.service_path(), frame.service_method()),
        ("Log", "Write")
    );
}

/// The first rpcx frame sent on the first connection to `listener`.
fn first_frame(listener: &TcpListener) -> Frame {
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
}
