//! Proves on a running server (either driver, `RINGRPC_TEST_DRIVER`) that a plugin's
//! `before_write` may rewrite and refuse what is written: metadata it adds reaches rpcx
//! replies, pushes and gateway answers (`X-RPCX-Meta`); a reply it refuses becomes an
//! error reply with its text (rpcx, gateway, JSON-RPC) whose request counts as refused; a
//! push it refuses fails its pusher. And that gateway and JSON-RPC handler errors reach
//! `after_handle` as errors, not as successes.

use ringrpc_engine::plugin::metrics::MethodSnapshot;
use ringrpc_engine::plugin::{Outgoing, Plugin, Refusal};
use ringrpc_engine::{SerializeType, Server};

use crate::common::{self, error_text, json, request, FrameClient, Gauge, PushArgs};
use crate::plugins::{gateway, http_exchange, jsonrpc};

/// Stamps `served-by=ringrpc` on everything written; refuses what contains `secret`.
struct Dlp;

impl Plugin for Dlp {
    fn before_write(&self, outgoing: &mut Outgoing<'_>) -> Result<(), Refusal> {
        if outgoing.bytes.windows(6).any(|w| w == b"secret") {
            return Err(Refusal::new("dlp", "withheld"));
        }
        outgoing.set_metadata("served-by", "ringrpc");
        Ok(())
    }
}

fn start_with_dlp() -> Server {
    Server::start(common::test_config(1).metrics(true), |services| {
        common::register_test_services(services, Gauge::default());
        services.plugin(Dlp);
    })
    .expect("server starts")
}

/// The counts by status (ok, error, expired, refused, dropped) of one method.
fn statuses(server: &Server, service: &str, method: &str) -> [u64; 5] {
    let snapshot = server.metrics().expect("metrics on").snapshot();
    let mut sum = [0; 5];
    let methods = snapshot.shards.iter().flat_map(|s| s.methods.iter());
    for m in methods
        .filter(|m: &&MethodSnapshot| m.service_path == service && m.service_method == method)
    {
        for (total, n) in sum.iter_mut().zip(m.status) {
            *total += n;
        }
    }
    sum
}

#[test]
fn before_write_stamps_and_refuses_rpcx_replies_and_pushes() {
    let server = start_with_dlp();
    let mut client = FrameClient::connect(server.local_addr());
    let echo =
        |seq, payload: &[u8]| request(seq, SerializeType::None, "Echo", "Echo", &[], payload);
    let reply = client.call(&echo(1, b"hello"));
    assert_eq!(error_text(&reply), None);
    assert_eq!(reply.metadata().get("served-by"), Some("ringrpc"));
    assert_eq!(&reply.payload()[..], b"hello");
    let reply = client.call(&echo(2, b"my secret"));
    assert_eq!(error_text(&reply).as_deref(), Some("withheld"));
    assert!(reply.payload().is_empty(), "nothing of the reply leaks");

    let push = |seq, payload: &str| {
        let args = PushArgs {
            count: 2,
            payload: payload.to_owned(),
        };
        request(seq, SerializeType::Json, "Test", "Push", &[], &json(&args))
    };
    client.send(&push(3, "tick"));
    for n in ["0", "1"] {
        let frame = client.recv();
        assert_eq!(frame.service_method(), "Push", "a push first");
        assert_eq!(frame.metadata().get("n"), Some(n));
        assert_eq!(frame.metadata().get("served-by"), Some("ringrpc"));
    }
    assert_eq!(error_text(&client.recv()), None);
    let reply = client.call(&push(4, "secret"));
    assert_eq!(reply.seq(), 4, "no push before the reply");
    assert_eq!(
        error_text(&reply).as_deref(),
        Some("push refused by dlp: withheld")
    );
    assert_eq!(statuses(&server, "Echo", "Echo"), [1, 0, 0, 1, 0]);
    assert_eq!(server.stats()[0].pushes_dropped, 0);
}

#[test]
fn before_write_stamps_and_refuses_http_answers() {
    let server = start_with_dlp();
    let addr = server.local_addr();
    let ok = http_exchange(addr, &gateway("Echo", "Echo", 0, "hello"));
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("X-Rpcx-Meta: served-by=ringrpc\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\nhello"), "{ok}");
    let refused = http_exchange(addr, &gateway("Echo", "Echo", 0, "secret"));
    assert!(refused.starts_with("HTTP/1.1 500 "), "{refused}");
    assert!(
        refused.contains("X-Rpcx-Errormessage: withheld\r\n"),
        "{refused}"
    );
    assert!(!refused.contains("\r\n\r\nsecret"), "{refused}");

    let body = r#"{"jsonrpc":"2.0","method":"Echo.Echo","params":"secret","id":7}"#;
    let rpc = http_exchange(addr, &jsonrpc(body));
    assert!(rpc.contains(r#""message":"withheld""#), "{rpc}");
    assert!(rpc.ends_with(r#""id":7}"#), "{rpc}");
    assert_eq!(statuses(&server, "Echo", "Echo"), [1, 0, 0, 2, 0]);
}

#[test]
fn gateway_and_jsonrpc_handler_errors_reach_after_handle_as_errors() {
    let server = common::start(common::test_config(1).metrics(true));
    let addr = server.local_addr();
    let failed = http_exchange(addr, &gateway("Test", "Fail", 1, "{}"));
    assert!(
        failed.contains("X-Rpcx-Errormessage: test failure\r\n"),
        "{failed}"
    );
    let body = r#"{"jsonrpc":"2.0","method":"Test.Fail","params":{},"id":1}"#;
    let rpc = http_exchange(addr, &jsonrpc(body));
    assert!(rpc.contains("test failure"), "{rpc}");
    let ok = http_exchange(addr, &gateway("Arith", "Mul", 1, r#"{"A":2,"B":3}"#));
    assert!(ok.ends_with(r#"{"C":6}"#), "{ok}");
    assert_eq!(statuses(&server, "Test", "Fail"), [0, 2, 0, 0, 0]);
    assert_eq!(statuses(&server, "Arith", "Mul"), [1, 0, 0, 0, 0]);
}
