//! The lifecycle of the module docs, asserted on the shard runtime and the connection core
//! without sockets, on a virtual clock: the order hooks run in, refusals (connection and
//! request), rewrites, durations, the pairing of before- and after-hooks when a request is
//! refused, unknown or dropped, and the rate limit that waits.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{decode, encode_frame, Frame, Header, Limits, ERROR_KEY};

use super::*;
use crate::config::ServerConfig;
use crate::conn::Connection;
use crate::runtime::{timers, Setup, ShardCore, ShardCounters};
use crate::{HandlerError, Request, Response, Services};

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

pub(super) fn log(entry: String) {
    LOG.with(|log| log.borrow_mut().push(entry));
}

pub(super) fn take_log() -> Vec<String> {
    LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
}

/// The virtual clock plugins are timed with (an hour ahead of the wall clock, so only the
/// timer queue's virtual time reaches its deadlines).
pub(super) fn now() -> Instant {
    NOW.with(|now| {
        let t = now
            .get()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        now.set(Some(t));
        t
    })
}

fn advance(by: Duration) {
    let t = now() + by;
    NOW.with(|now| now.set(Some(t)));
}

/// Logs every hook as `<name>.<hook>`; refuses requests when `refuse` is set.
struct Recorder {
    name: &'static str,
    refuse: bool,
}

impl Plugin for Recorder {
    fn on_accept(&self, _: &ConnInfo) -> Result<(), Refusal> {
        log(format!("{}.on_accept", self.name));
        Ok(())
    }

    fn on_close(&self, _: &ConnInfo, refused: Option<&Refusal>) {
        let by = refused.map_or(String::new(), |r| format!(" refused by {}", r.limit()));
        log(format!("{}.on_close{by}", self.name));
    }

    fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
        log(format!(
            "{}.before_handle {}",
            self.name,
            request.service_method()
        ));
        if self.refuse {
            return Err(Refusal::new("test", "refused by test"));
        }
        Ok(())
    }

    fn after_handle(&self, handled: &Handled<'_>) {
        let ms = handled.duration.as_millis();
        log(format!(
            "{}.after_handle {} {ms}ms",
            self.name,
            handled.status.as_str()
        ));
    }

    fn before_write(&self, outgoing: &mut Outgoing<'_>) -> Result<(), Refusal> {
        log(format!("{}.before_write {:?}", self.name, outgoing.kind));
        Ok(())
    }
}

async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.into_payload()))
}

async fn push_then_reply(request: Request) -> Result<Response, HandlerError> {
    request
        .pusher()
        .push("Events", "Tick", [("n", "1")], b"tick")
        .await?;
    Ok(Response::new(Bytes::from_static(b"done")))
}

async fn never(_: Request) -> Result<Response, HandlerError> {
    std::future::pending::<()>().await;
    Ok(Response::new(Bytes::new()))
}

/// A shard core whose setup registers the handlers above and `plugins()`.
pub(super) fn shard(plugins: fn(&mut Services)) -> ShardCore {
    let setup: Setup = Arc::new(move |services: &mut Services| {
        services
            .service("Test")
            .method("Echo", echo)
            .method("Push", push_then_reply)
            .method("Never", never);
        services.set_plugin_clock(now);
        plugins(services);
    });
    let counters = Arc::new(ShardCounters::default());
    ShardCore::new(0, &ServerConfig::default(), &setup, counters, None)
}

pub(super) const PEER: Option<SocketAddr> = Some(SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    4000,
));

pub(super) fn open(core: &ShardCore) -> Connection {
    assert!(core.admit(0, PEER), "admitted");
    core.open(PEER).conn.into_core()
}

pub(super) fn request(conn: &mut Connection, seq: u64, service_path: &str, service_method: &str) {
    request_with_payload(conn, seq, service_path, service_method, b"hi");
}

pub(super) fn request_with_payload(
    conn: &mut Connection,
    seq: u64,
    service_path: &str,
    service_method: &str,
    payload: &[u8],
) {
    let mut frame = BytesMut::new();
    let header = Header::request(seq, SerializeType::None);
    let metadata: [(&str, &str); 0] = [];
    encode_frame(
        &mut frame,
        &header,
        service_path,
        service_method,
        metadata,
        payload,
    )
    .unwrap();
    conn.handle_received(&frame);
}

/// Runs every call that finishes inline; returns the ones that did not.
pub(super) fn serve_inline(conn: &mut Connection) -> Vec<crate::conn::Call> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut pending = Vec::new();
    while let Some(call) = conn.poll_call(now) {
        pending.extend(conn.poll_inline(&mut cx, call));
    }
    pending
}

pub(super) fn replies(conn: &mut Connection) -> Vec<Frame> {
    let mut out = BytesMut::from(conn.poll_transmit().unwrap_or_default());
    let n = out.len();
    conn.handle_sent(n);
    std::iter::from_fn(|| decode(&mut out, &Limits::default()).unwrap()).collect()
}

fn two_recorders(services: &mut Services) {
    services.plugin(Recorder {
        name: "a",
        refuse: false,
    });
    services.plugin(Recorder {
        name: "b",
        refuse: false,
    });
}

#[test]
fn hooks_run_in_the_documented_order() {
    let core = shard(two_recorders);
    let mut conn = open(&core);
    request(&mut conn, 1, "Test", "Push");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames.len(), 2, "the push, then the reply");
    core.closed(PEER);
    assert_eq!(
        take_log(),
        [
            "a.on_accept",
            "b.on_accept",
            "a.before_handle Push",
            "b.before_handle Push",
            "a.before_write Push",
            "b.before_write Push",
            "a.before_write Reply",
            "b.before_write Reply",
            "a.after_handle ok 0ms",
            "b.after_handle ok 0ms",
            "a.on_close",
            "b.on_close",
        ]
    );
}

#[test]
fn a_refused_request_gets_the_text_and_pairs_only_the_plugins_that_saw_it() {
    let core = shard(|services| {
        services.plugin(Recorder {
            name: "a",
            refuse: false,
        });
        services.plugin(Recorder {
            name: "b",
            refuse: true,
        });
        services.plugin(Recorder {
            name: "c",
            refuse: false,
        });
    });
    let mut conn = open(&core);
    take_log();
    request(&mut conn, 7, "Test", "Echo");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames[0].seq(), 7);
    assert_eq!(frames[0].metadata().get(ERROR_KEY), Some("refused by test"));
    assert_eq!(
        take_log(),
        [
            "a.before_handle Echo",
            "b.before_handle Echo",
            "a.before_write Reply",
            "b.before_write Reply",
            "c.before_write Reply",
            "a.after_handle refused 0ms",
            "b.after_handle refused 0ms",
        ]
    );
}

#[test]
fn a_refused_connection_closes_for_the_plugins_that_accepted_it() {
    let core = shard(|services| {
        services.plugin(Recorder {
            name: "a",
            refuse: false,
        });
        services.plugin(IpFilter::new().deny("127.0.0.0/8".parse().unwrap()));
        services.plugin(Recorder {
            name: "c",
            refuse: false,
        });
    });
    take_log();
    assert!(!core.admit(0, PEER));
    assert_eq!(
        take_log(),
        ["a.on_accept", "a.on_close refused by ip_filter"]
    );
    let other = Some(SocketAddr::from(([10, 0, 0, 1], 5)));
    assert!(core.admit(0, other), "other peers pass");
}

#[test]
fn the_engines_connection_limit_reaches_on_close() {
    let core = shard(two_recorders);
    take_log();
    assert!(!core.admit(ServerConfig::default().max_conns_per_shard, PEER));
    assert_eq!(
        take_log(),
        [
            "a.on_accept",
            "b.on_accept",
            "a.on_close refused by max_conns",
            "b.on_close refused by max_conns"
        ]
    );
}

#[test]
fn an_alias_rewrites_the_lookup_and_unknown_methods_still_pair() {
    let core = shard(|services| {
        services.plugin(Alias::new().alias("Old", "Repeat", "Test", "Echo"));
        services.plugin(Recorder {
            name: "a",
            refuse: false,
        });
    });
    let mut conn = open(&core);
    take_log();
    request(&mut conn, 1, "Old", "Repeat");
    request(&mut conn, 2, "Old", "Gone");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames[0].payload().as_ref(), b"hi", "served by Test.Echo");
    assert_eq!(
        frames[0].service_method(),
        "Repeat",
        "the reply keeps the client's names"
    );
    assert_eq!(
        frames[1].metadata().get(ERROR_KEY),
        Some("rpcx: can't find service Old")
    );
    assert_eq!(
        take_log(),
        [
            "a.before_handle Echo",
            "a.before_write Reply",
            "a.after_handle ok 0ms",
            "a.before_handle Gone",
            "a.before_write Reply",
            "a.after_handle error 0ms",
        ]
    );
}

#[test]
fn after_handle_sees_the_duration_and_a_dropped_call() {
    let core = shard(two_recorders);
    let mut conn = open(&core);
    take_log();
    request(&mut conn, 1, "Test", "Echo");
    let call = conn.poll_call(now).expect("a call");
    advance(Duration::from_millis(5));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(conn.poll_inline(&mut cx, call).is_none());
    request(&mut conn, 2, "Test", "Never");
    let running = serve_inline(&mut conn);
    assert_eq!(running.len(), 1);
    conn.handle_io_error(std::io::ErrorKind::ConnectionReset.into());
    drop(running);
    let log = take_log();
    assert!(log.contains(&"a.after_handle ok 5ms".to_owned()), "{log:?}");
    assert_eq!(
        log.iter()
            .filter(|e| e.ends_with("after_handle dropped 0ms"))
            .count(),
        2,
        "{log:?}"
    );
}

#[test]
fn a_rate_limit_refuses_with_rpcx_text_or_makes_the_request_wait() {
    let core = shard(|services| {
        services.plugin(RateLimit::new(1.0, 1));
    });
    let mut conn = open(&core);
    request(&mut conn, 1, "Test", "Echo");
    request(&mut conn, 2, "Test", "Echo");
    assert!(serve_inline(&mut conn).is_empty());
    let frames = replies(&mut conn);
    assert_eq!(frames[0].metadata().get(ERROR_KEY), None);
    assert_eq!(frames[1].metadata().get(ERROR_KEY), Some(RATE_LIMIT_TEXT));

    let core = shard(|services| {
        services.plugin(RateLimit::new(10.0, 1).wait_max(Duration::from_millis(150)));
    });
    let mut conn = open(&core);
    for seq in 1..=3 {
        request(&mut conn, seq, "Test", "Echo");
    }
    let mut waiting = serve_inline(&mut conn);
    let frames = replies(&mut conn);
    let seqs: Vec<u64> = frames.iter().map(Frame::seq).collect();
    assert_eq!(
        seqs,
        [1, 3],
        "the first ran at once; the third would wait 200 ms > 150 ms"
    );
    assert_eq!(frames[1].metadata().get(ERROR_KEY), Some(RATE_LIMIT_TEXT));
    assert_eq!(waiting.len(), 1, "the second waits 100 ms for its token");
    let mut call = waiting.pop().expect("the waiting call");
    let mut cx = Context::from_waker(Waker::noop());
    let mut due = Vec::new();
    timers::with(|t| t.fire(now() + Duration::from_millis(99), &mut due));
    assert!(call.poll(&mut cx).is_pending(), "99 ms: still waiting");
    timers::with(|t| t.fire(now() + Duration::from_millis(100), &mut due));
    assert!(call.poll(&mut cx).is_ready(), "100 ms: the handler ran");
    conn.handle_completion(call.finish());
    let frames = replies(&mut conn);
    assert_eq!(frames[0].seq(), 2);
    assert_eq!(frames[0].metadata().get(ERROR_KEY), None);
}

#[test]
fn metrics_fold_methods_past_their_bound_into_other() {
    thread_local! {
        static REGISTRY: MetricsRegistry = MetricsRegistry::new();
    }
    let core = shard(|services| {
        let plugin = REGISTRY.with(|registry| registry.plugin(services.shard()));
        services.plugin(plugin);
    });
    let mut conn = open(&core);
    let extra = 40;
    for i in 0..metrics::METHODS_MAX + extra {
        request(&mut conn, i as u64, &format!("S{i}"), "M");
        assert!(serve_inline(&mut conn).is_empty());
        replies(&mut conn);
    }
    let snapshot = REGISTRY.with(MetricsRegistry::snapshot);
    let methods = &snapshot.shards[0].methods;
    assert_eq!(
        methods.len(),
        metrics::METHODS_MAX + 1,
        "the bound, then `other`"
    );
    let other = methods
        .iter()
        .find(|m| m.service_path == "other" && m.service_method == "other")
        .expect("an `other` entry");
    assert_eq!(other.status[1], extra as u64, "unknown services are errors");
    assert_eq!(
        snapshot.shards[0].requests,
        (metrics::METHODS_MAX + extra) as u64
    );
}

#[test]
fn a_connection_rate_limit_refuses_over_its_rate_until_tokens_refill() {
    let core = shard(|services| {
        services.plugin(Recorder {
            name: "a",
            refuse: false,
        });
        services.plugin(ConnRateLimit::new(1.0, 1));
    });
    take_log();
    assert!(core.admit(0, PEER), "the burst");
    assert!(!core.admit(1, PEER), "over the rate");
    assert_eq!(
        take_log(),
        [
            "a.on_accept",
            "a.on_accept",
            "a.on_close refused by conn_rate_limit"
        ]
    );
    advance(Duration::from_secs(1));
    assert!(core.admit(1, PEER), "a token a second");
}
