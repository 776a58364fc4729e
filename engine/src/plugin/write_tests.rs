//! The `before_write` hook, on the shard runtime and the connection core without sockets:
//! metadata added to replies and pushes (replacing the handler's pair of the same key),
//! a refused reply replaced by an error reply whose request ends as refused, a refused push
//! failing its pusher, and the plugins after a refusing one not called.

use bytes::Bytes;
use ringrpc_codec::ERROR_KEY;

use super::tests::{log, open, replies, serve_inline, shard, take_log, PEER};
use super::*;
use crate::{HandlerError, Request, Response, Services};

/// Stamps `server=ringrpc` on every frame (and `n=stamped` on pushes); refuses replies and
/// pushes whose bytes contain `secret`.
struct Stamp;

impl Plugin for Stamp {
    fn before_write(&self, outgoing: &mut Outgoing<'_>) -> Result<(), Refusal> {
        log(format!("stamp {:?}", outgoing.kind));
        if outgoing.bytes.windows(6).any(|w| w == b"secret") {
            return Err(Refusal::new("dlp", "withheld"));
        }
        outgoing.set_metadata("server", "ringrpc");
        if outgoing.kind == OutgoingKind::Push {
            outgoing.set_metadata("n", "stamped");
        }
        Ok(())
    }
}

/// Logs what it sees, after `Stamp`.
struct Witness;

impl Plugin for Witness {
    fn before_write(&self, outgoing: &mut Outgoing<'_>) -> Result<(), Refusal> {
        let added: Vec<&str> = outgoing
            .added_metadata()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        log(format!("witness {:?} {added:?}", outgoing.kind));
        Ok(())
    }

    fn after_handle(&self, handled: &Handled<'_>) {
        log(format!("after_handle {}", handled.status.as_str()));
    }
}

async fn echo_with_metadata(request: Request) -> Result<Response, HandlerError> {
    let response = Response::new(request.payload().clone());
    Ok(response
        .with_metadata("server", "handler")
        .with_metadata("k", "v"))
}

async fn push_payload(request: Request) -> Result<Response, HandlerError> {
    let payload = request.payload().clone();
    request
        .pusher()
        .push("Events", "Tick", [("n", "1")], &payload)
        .await?;
    Ok(Response::new(Bytes::from_static(b"pushed")))
}

fn stamped(services: &mut Services) {
    services
        .service("Write")
        .method("Echo", echo_with_metadata)
        .method("Push", push_payload);
    services.plugin(Stamp);
    services.plugin(Witness);
}

fn send(conn: &mut crate::conn::Connection, seq: u64, method: &str, payload: &[u8]) {
    super::tests::request_with_payload(conn, seq, "Write", method, payload);
}

#[test]
fn metadata_added_before_write_reaches_the_reply_in_place_of_the_handlers() {
    let core = shard(stamped);
    let mut conn = open(&core);
    take_log();
    send(&mut conn, 1, "Echo", b"hello");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    let metadata: Vec<(&str, &str)> = frames[0].metadata().iter().collect();
    assert_eq!(metadata, [("k", "v"), ("server", "ringrpc")]);
    assert_eq!(&frames[0].payload()[..], b"hello");
    assert_eq!(
        take_log(),
        [
            "stamp Reply",
            "witness Reply [\"server\"]",
            "after_handle ok"
        ]
    );
    core.closed(PEER);
}

#[test]
fn a_refused_reply_becomes_an_error_reply_and_later_plugins_are_skipped() {
    let core = shard(stamped);
    let mut conn = open(&core);
    take_log();
    send(&mut conn, 2, "Echo", b"the secret");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames[0].seq(), 2);
    assert_eq!(frames[0].metadata().get(ERROR_KEY), Some("withheld"));
    assert!(frames[0].payload().is_empty(), "nothing of the reply leaks");
    assert_eq!(take_log(), ["stamp Reply", "after_handle refused"]);
    core.closed(PEER);
}

#[test]
fn pushes_are_stamped_or_refused_and_a_refused_push_fails_its_pusher() {
    let core = shard(stamped);
    let mut conn = open(&core);
    take_log();
    send(&mut conn, 3, "Push", b"tick");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames.len(), 2, "the push, then the reply");
    let push: Vec<(&str, &str)> = frames[0].metadata().iter().collect();
    assert_eq!(push, [("server", "ringrpc"), ("n", "stamped")]);
    assert_eq!(&frames[0].payload()[..], b"tick");
    assert_eq!(frames[0].service_method(), "Tick");

    send(&mut conn, 4, "Push", b"secret");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames.len(), 1, "no push, an error reply");
    assert_eq!(
        frames[0].metadata().get(ERROR_KEY),
        Some("push refused by dlp: withheld")
    );
    core.closed(PEER);
}
