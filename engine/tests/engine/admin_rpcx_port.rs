//! Proves `ServerConfig::admin_on_rpcx_port` on a running server (either driver,
//! `RINGRPC_TEST_DRIVER`): `/metrics`, `/status` and the status page answer on the rpcx
//! port itself, next to rpcx frames and gateway calls on that same port, with the engine's
//! buffer, push-queue and ring gauges; and with the option off (the default) that port
//! answers them with its 404.

use ringrpc_engine::{Driver, SerializeType};

use crate::common::{self, error_text, request, FrameClient};
use crate::plugins::{gateway, http_exchange, http_get};

#[test]
fn the_admin_endpoint_answers_on_the_rpcx_port_when_asked() {
    let server = common::start(common::test_config(2).admin_on_rpcx_port(true));
    let addr = server.local_addr();
    assert_eq!(server.admin_addr(), None, "no address of its own");
    let mut client = FrameClient::connect(addr);
    for seq in 0..3 {
        let echo = request(seq, SerializeType::None, "Echo", "Echo", &[], b"hi");
        assert_eq!(error_text(&client.call(&echo)), None);
    }
    let answer = http_exchange(addr, &gateway("Echo", "Echo", 0, "via http"));
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nvia http"), "{answer}");

    let (head, text) = http_get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    let mut lines = vec![
        r#"ringrpc_requests_total{service="Echo",method="Echo",status="ok"} 4"#.to_owned(),
        "ringrpc_requests_in_flight 0".to_owned(),
    ];
    for shard in 0..2 {
        for family in ["push_queued", "push_queued_bytes", "pushes_dropped_total"] {
            lines.push(format!(r#"ringrpc_{family}{{shard="{shard}"}} 0"#));
        }
    }
    for line in &lines {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    for family in [
        "unsent_bytes",
        "recv_buffer_bytes",
        "inflight_bytes",
        "push_waits_total",
    ] {
        let prefix = format!("ringrpc_{family}{{shard=\"1\"}} ");
        assert!(
            text.lines().any(|l| l.starts_with(&prefix)),
            "{prefix}in:\n{text}"
        );
    }
    let uring = server.driver() == Driver::Uring;
    for family in ["ring_waiting_connections", "ring_starved_total"] {
        let prefix = format!("ringrpc_{family}{{shard=\"0\"}} ");
        let found = text.lines().any(|l| l.starts_with(&prefix));
        assert_eq!(
            found, uring,
            "{prefix} on the io_uring driver only:\n{text}"
        );
    }

    let (head, status) = http_get(addr, "/status");
    assert!(head.contains("application/json"), "{head}");
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    let shards = status["shards"].as_array().expect("shards");
    let requests: u64 = shards.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 4);
    assert!(shards.iter().all(|s| s["push_queued"] == 0), "{status}");
    assert_eq!(status["registry"], serde_json::Value::Null);

    let (head, page) = http_get(addr, "/");
    assert!(head.contains("text/html"), "{head}");
    assert!(
        page.contains("fetch(\"status\""),
        "the page reads /status beside it"
    );
    let (head, _) = http_get(addr, "/elsewhere");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert_eq!(
        error_text(&client.call(&request(9, SerializeType::None, "Echo", "Echo", &[], b"x"))),
        None
    );
}

#[test]
fn the_rpcx_port_does_not_serve_the_admin_endpoint_by_default() {
    let server = common::start(common::test_config(1).metrics(true));
    for path in ["/metrics", "/status", "/"] {
        let (head, body) = http_get(server.local_addr(), path);
        assert!(head.starts_with("HTTP/1.1 404"), "{path}: {head}");
        assert!(body.contains("this port serves rpcx"), "{path}: {body}");
    }
}
