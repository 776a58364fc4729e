//! Proves the HTTP side of the rpcx port on a real server (on the driver of
//! `RINGRPC_TEST_DRIVER`): curl reaches the gateway and JSON-RPC 2.0 and keeps its connection
//! alive across calls, rpcx frames and HTTP share one port, a `__ServerTimeout` deadline
//! applies to gateway calls, and the HTTP limits hold (431 for a head over its size or count,
//! 413 before a too large body is even sent, for a declared and for a chunked body), and a
//! request head that stalls is cut off at the header timeout by either driver's timer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use ringrpc_engine::HttpConfig;

use crate::common::{self, json, request, Args, FrameClient};
use ringrpc_engine::SerializeType;

/// Runs curl with `args` (`-sS -i`, a 10 s bound) and returns what it printed: the
/// response heads and bodies, and curl's verbose log when `-v` is among `args`.
pub fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (scripts/test.sh installs it)");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

const MUL: [&str; 6] = [
    "-H",
    "X-RPCX-ServiceMethod: Mul",
    "-H",
    "X-RPCX-SerializeType: 1",
    "-d",
    r#"{"A":3,"B":4}"#,
];

#[test]
fn curl_calls_the_gateway_and_jsonrpc_and_keeps_its_connection() {
    let server = common::start_with(common::test_config(1), Default::default(), Some("secret"));
    let addr = server.local_addr();
    let auth = ["-H", "Authorization: secret"];

    let ok = curl(&[&MUL[..], &auth, &[&url(addr, "/Arith")]].concat());
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("X-Rpcx-Servicepath: Arith\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\n{\"C\":12}"), "{ok}");

    let refused = curl(
        &[
            &MUL[..],
            &["-H", "Authorization: nope", &url(addr, "/Arith")],
        ]
        .concat(),
    );
    assert!(
        refused.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{refused}"
    );
    assert!(
        refused.contains("X-Rpcx-Errormessage: auth: invalid token\r\n"),
        "{refused}"
    );

    let body = r#"{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":6,"B":7},"id":1}"#;
    let rpc = curl(
        &[
            &auth[..],
            &["-H", "X-JSONRPC-2.0: true", "-d", body, &url(addr, "/")],
        ]
        .concat(),
    );
    assert!(
        rpc.ends_with(r#"{"jsonrpc":"2.0","result":{"C":42},"id":1}"#),
        "{rpc}"
    );

    let before: u64 = server.stats().iter().map(|s| s.connections_accepted).sum();
    let twice = curl(
        &[
            &MUL[..],
            &auth,
            &["-v", &url(addr, "/Arith"), &url(addr, "/Arith")],
        ]
        .concat(),
    );
    assert_eq!(twice.matches("{\"C\":12}").count(), 2, "{twice}");
    let after: u64 = server.stats().iter().map(|s| s.connections_accepted).sum();
    assert_eq!(
        after - before,
        1,
        "both calls on one kept-alive connection: {twice}"
    );
}

#[test]
fn rpcx_frames_and_http_share_the_port() {
    let server = common::start(common::test_config(1));
    let addr = server.local_addr();
    let mut rpcx = FrameClient::connect(addr);
    let frame = request(
        1,
        SerializeType::Json,
        "Arith",
        "Mul",
        &[],
        &json(&Args { a: 2, b: 5 }),
    );
    assert_eq!(&rpcx.call(&frame).payload()[..], br#"{"C":10}"#);
    let http = curl(&[&MUL[..], &[&url(addr, "/Arith")]].concat());
    assert!(http.ends_with("{\"C\":12}"), "{http}");
    assert_eq!(&rpcx.call(&frame).payload()[..], br#"{"C":10}"#);
}

#[test]
fn server_timeout_applies_to_gateway_calls() {
    let server = common::start(common::test_config(1));
    let reply = curl(&[
        "-H",
        "X-RPCX-ServiceMethod: Sleep",
        "-H",
        "X-RPCX-SerializeType: 1",
        "-H",
        "X-RPCX-Meta: __ServerTimeout=20",
        "-d",
        r#"{"Ms":5000}"#,
        &url(server.local_addr(), "/Test"),
    ]);
    assert!(reply.starts_with("HTTP/1.1 500"), "{reply}");
    assert!(
        reply.contains("X-Rpcx-Errormessage: context deadline exceeded\r\n"),
        "{reply}"
    );
}

/// Writes `head` on a new connection and returns everything the server sends before it
/// closes (bounded by the read timeout).
fn raw(addr: SocketAddr, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn http_limits_refuse_and_close() {
    let http = HttpConfig::default()
        .header_max_bytes(1024)
        .header_max_count(8)
        .body_max_bytes(64);
    let server = common::start(common::test_config(1).http(http));
    let addr = server.local_addr();

    let long = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let answer = raw(addr, long.as_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );

    let many: String = (0..9).map(|i| format!("X-{i}: v\r\n")).collect();
    let answer = raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Refused on the head alone: the body is never sent, and the server does not wait for it.
    let declared = b"POST /Echo HTTP/1.1\r\nHost: h\r\nX-RPCX-ServiceMethod: Echo\r\nContent-Length: 65\r\n\r\n";
    let answer = raw(addr, declared);
    assert!(
        answer.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"),
        "{answer}"
    );

    let chunk = "a".repeat(40);
    let chunked = format!(
        "POST /Echo HTTP/1.1\r\nHost: h\r\nX-RPCX-ServiceMethod: Echo\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n{chunk}\r\n28\r\n{chunk}\r\n"
    );
    let answer = raw(addr, chunked.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Within the limits the same port still answers.
    let fits = curl(&[&MUL[..], &[&url(addr, "/Arith")]].concat());
    assert!(fits.ends_with("{\"C\":12}"), "{fits}");
}

#[test]
fn a_slow_request_head_is_cut_off_at_the_header_timeout() {
    let http = HttpConfig::default().header_timeout(Duration::from_millis(200));
    let server = common::start(common::test_config(1).http(http));
    let started = std::time::Instant::now();
    // Half a head, then nothing: the driver's timer closes the connection, with no answer.
    let answer = raw(
        server.local_addr(),
        b"POST /Arith HTTP/1.1\r\nHost: h\r\nX-RPC",
    );
    assert_eq!(answer, "", "closed without an answer");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "closed by the header timeout, not the read timeout: {:?}",
        started.elapsed()
    );
    common::assert_serving(server.local_addr());
}
