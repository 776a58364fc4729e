//! Proves the server plugins on a running server (either driver, `RINGRPC_TEST_DRIVER`):
//! a connection refused by `on_accept` (IP deny list) is closed before any request; a
//! request refused by `before_handle` (rate limit) gets rpcx-go's text and the connection
//! stays open; an alias rewrites the lookup; the metrics plugin observes requests, errors,
//! refusals, bytes and connections, merged over shards; the admin endpoint serves
//! `/metrics` (Prometheus text), `/status` (JSON) and the status page.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringrpc_engine::plugin::{Alias, IpFilter, RateLimit, RATE_LIMIT_TEXT};
use ringrpc_engine::{SerializeType, Server};

use crate::common::{self, error_text, request, FrameClient, Gauge};

fn echo(seq: u64, service_path: &str, service_method: &str) -> Vec<u8> {
    request(
        seq,
        SerializeType::None,
        service_path,
        service_method,
        &[],
        b"hi",
    )
}

#[test]
fn a_denied_peer_is_closed_before_any_request() {
    let server = Server::start(common::test_config(1), |services| {
        common::register_test_services(services, Gauge::default());
        services.plugin(IpFilter::new().deny("127.0.0.0/8".parse().unwrap()));
    })
    .expect("server starts");
    let mut client = FrameClient::connect(server.local_addr());
    let _ = client.try_send(&echo(1, "Echo", "Echo"));
    let frames = client.expect_closed(Duration::from_secs(5));
    assert!(frames.is_empty(), "{frames:?}");
    assert_eq!(server.stats()[0].connections_rejected, 1);
}

#[test]
fn a_rate_limited_request_gets_rpcx_text_and_the_connection_stays() {
    let server = Server::start(common::test_config(1), |services| {
        common::register_test_services(services, Gauge::default());
        // One token, refilled every 1000 s: the second request is over the rate.
        services.plugin(RateLimit::new(0.001, 1));
        services.plugin(Alias::new().alias("Old", "Repeat", "Echo", "Echo"));
    })
    .expect("server starts");
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&echo(1, "Old", "Repeat"));
    assert_eq!(error_text(&reply), None, "served through the alias");
    assert_eq!(&reply.payload()[..], b"hi");
    let reply = client.call(&echo(2, "Echo", "Echo"));
    assert_eq!(error_text(&reply).as_deref(), Some(RATE_LIMIT_TEXT));
    let reply = client.call(&echo(3, "Echo", "Echo"));
    assert_eq!(
        error_text(&reply).as_deref(),
        Some(RATE_LIMIT_TEXT),
        "still open"
    );
}

/// Sends `raw` (a whole HTTP request asking `Connection: close`) and reads the answer.
pub fn http_exchange(addr: SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("server reachable");
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("a whole answer");
    text
}

/// A gateway call of `Service.Method` with `body` (serialize type `serialize`).
pub fn gateway(service: &str, method: &str, serialize: u8, body: &str) -> String {
    format!(
        "POST /{service} HTTP/1.1\r\nHost: t\r\nX-RPCX-ServiceMethod: {method}\r\n\
         X-RPCX-SerializeType: {serialize}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A JSON-RPC 2.0 call with the request object `body`.
pub fn jsonrpc(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: t\r\nX-JSONRPC-2.0: true\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `GET path` over HTTP/1.1 (`Connection: close`); returns the head and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let text = http_exchange(addr, &request);
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    (head.to_owned(), body.to_owned())
}

#[test]
fn metrics_count_every_shard_and_the_admin_endpoint_serves_them() {
    let config = common::test_config(2).admin(([127, 0, 0, 1], 0));
    let server = common::start(config);
    let admin = server.admin_addr().expect("admin endpoint on");
    let mut clients: Vec<FrameClient> = (0..4)
        .map(|_| FrameClient::connect(server.local_addr()))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let seq = i as u64;
        assert_eq!(error_text(&client.call(&echo(seq, "Echo", "Echo"))), None);
        let fail = request(seq, SerializeType::Json, "Test", "Fail", &[], b"{}");
        assert!(error_text(&client.call(&fail)).is_some());
        assert!(error_text(&client.call(&echo(seq, "Nope", "Echo"))).is_some());
    }
    let snapshot = server.metrics().expect("metrics on").snapshot();
    let sum = |f: fn(&ringrpc_engine::plugin::metrics::ShardSnapshot) -> u64| {
        snapshot.shards.iter().map(f).sum::<u64>()
    };
    assert_eq!(snapshot.shards.len(), 2);
    assert_eq!(sum(|s| s.requests), 12);
    assert_eq!(sum(|s| s.errors), 8, "Test.Fail and the unknown service");
    assert_eq!(sum(|s| s.connections_accepted), 4);
    assert!(sum(|s| s.bytes_in) > 0 && sum(|s| s.bytes_out) > 0);

    let (head, text) = http_get(admin, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    for line in [
        r#"ringrpc_requests_total{service="Echo",method="Echo",status="ok"} 4"#,
        r#"ringrpc_requests_total{service="Test",method="Fail",status="error"} 4"#,
        r#"ringrpc_requests_total{service="Nope",method="Echo",status="error"} 4"#,
        r#"ringrpc_request_duration_seconds_count{service="Echo",method="Echo"} 4"#,
        "ringrpc_connections_open 4",
        "ringrpc_connections_accepted_total 4",
        "ringrpc_requests_in_flight 0",
        "ringrpc_connections_rejected_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    let ring = text
        .lines()
        .any(|l| l.starts_with(r#"ringrpc_ring_buffers_free{shard="0"}"#));
    assert_eq!(
        ring,
        server.driver() == ringrpc_engine::Driver::Uring,
        "{text}"
    );
    let (head, status) = http_get(admin, "/status");
    assert!(head.contains("application/json"), "{head}");
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    let shards = status["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 2);
    let requests: u64 = shards.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 12);
    assert!(shards.iter().any(|s| s["p50_s"].as_f64().is_some()));
    let (head, page) = http_get(admin, "/");
    assert!(head.contains("text/html"), "{head}");
    assert!(
        page.contains("fetch(\"status\""),
        "the page refreshes itself from /status"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no outside assets"
    );
    drop(clients);
}
