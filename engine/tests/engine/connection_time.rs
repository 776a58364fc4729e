//! Proves the connection core's lifecycle on virtual time, without sockets, timers or
//! sleeps: the clock is a fixed `Instant` handed to `poll_call`, and every shard request
//! (drain, abort, idle check) arrives through the link as the shard would send it.
//! Covered: `__ServerTimeout` deadlines and their expiry, drain, abort, idle close, the auth
//! close, pushes leaving before their handler's reply, and the pause at the flush threshold.

use std::future::pending;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringrpc_engine::codec::{Frame, StatusType, ERROR_KEY};
use ringrpc_engine::conn::{ConnConfig, Connection, Control, Link, DEADLINE_EXCEEDED};
use ringrpc_engine::{CloseCause, HandlerError, Request, Response, Services};

use crate::connection_core::{frame_with, frames, later, pump_at};

async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.payload().clone()))
}

/// Never finishes: only its deadline or an abort ends it.
async fn never(_: Request) -> Result<Response, HandlerError> {
    pending::<()>().await;
    Ok(Response::new(Bytes::new()))
}

/// Pushes two messages, then replies.
async fn push_twice(request: Request) -> Result<Response, HandlerError> {
    let pusher = request.pusher();
    pusher.push("Push", "One", [("n", "1")], b"first").await?;
    pusher.push("Push", "Two", [("n", "2")], b"second").await?;
    Ok(Response::new(Bytes::from_static(b"reply")))
}

fn services() -> Services {
    let mut services = Services::new();
    services
        .register("Echo", "Echo", echo)
        .register("Test", "Never", never)
        .register("Test", "Later", later)
        .register("Test", "PushTwice", push_twice);
    services
}

fn connection_with(services: Services, config: ConnConfig) -> Connection {
    Connection::new(Rc::new(services), Rc::new(config), Link::detached())
}

fn connection() -> Connection {
    connection_with(services(), ConnConfig::default())
}

/// Hands `bytes` to the connection as one read.
fn receive(conn: &mut Connection, bytes: &[u8]) {
    let read = conn.handle_read(|buf| {
        buf[..bytes.len()].copy_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    });
    assert_eq!(read, Poll::Ready(bytes.len()));
}

fn error_of(frame: &Frame) -> Option<&str> {
    (frame.header().status() == StatusType::Error)
        .then(|| frame.metadata().get(ERROR_KEY).unwrap_or(""))
}

fn seqs(out: &[u8]) -> Vec<u64> {
    frames(out).iter().map(Frame::seq).collect()
}

#[test]
fn server_timeout_sets_the_deadline_from_the_drivers_clock_and_expiry_replies() {
    let t0 = Instant::now();
    let mut conn = connection();
    let input = [
        frame_with(1, "Test", "Never", &[("__ServerTimeout", "50")], b""),
        frame_with(2, "Test", "Never", &[("__ServerTimeout", "0")], b""),
        frame_with(3, "Test", "Never", &[("__ServerTimeout", "soon")], b""),
    ]
    .concat();
    receive(&mut conn, &input);
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    pump_at(&mut conn, t0, &mut out, &mut parked);
    let deadlines: Vec<(u64, Option<Instant>)> =
        parked.iter().map(|c| (c.seq(), c.deadline())).collect();
    assert_eq!(
        deadlines,
        [(1, Some(t0 + Duration::from_millis(50))), (3, None)],
        "50 ms from the clock given; an unparsable timeout is ignored, as rpcx-go does"
    );
    let replies = frames(&out);
    assert_eq!(seqs(&out), [2], "a timeout of 0 is already expired");
    assert_eq!(error_of(&replies[0]), Some(DEADLINE_EXCEEDED));

    // The driver's timer fires at the deadline: the handler is dropped, the client told.
    let expired = parked.remove(0).expire();
    assert!(expired.is_expired());
    conn.handle_completion(expired);
    out.clear();
    pump_at(
        &mut conn,
        t0 + Duration::from_millis(50),
        &mut out,
        &mut parked,
    );
    let replies = frames(&out);
    assert_eq!(seqs(&out), [1]);
    assert_eq!(error_of(&replies[0]), Some(DEADLINE_EXCEEDED));
    assert_eq!(conn.inflight_count(), 1, "seq 3 still runs");
}

#[test]
fn drain_stops_reading_serves_what_arrived_and_closes_once_replied() {
    let t0 = Instant::now();
    let mut conn = connection();
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    receive(&mut conn, &frame_with(1, "Test", "Later", &[], b"first"));
    pump_at(&mut conn, t0, &mut out, &mut parked);
    receive(&mut conn, &frame_with(2, "Echo", "Echo", &[], b"late"));
    conn.link().request(Control::Drain);
    pump_at(&mut conn, t0, &mut out, &mut parked);
    assert!(!conn.wants_read(), "draining reads nothing more");
    assert_eq!(
        seqs(&out),
        [2],
        "a frame received before the drain is still served"
    );
    assert!(!conn.is_closed(), "one request in flight");

    let mut call = parked.pop().unwrap();
    assert!(call
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready());
    conn.link().complete(call.finish());
    pump_at(&mut conn, t0, &mut out, &mut parked);
    assert_eq!(seqs(&out), [2, 1]);
    assert!(conn.is_closed());
    assert!(matches!(conn.take_cause(), Some(CloseCause::Shutdown)));
}

#[test]
fn abort_closes_at_once_and_drops_late_completions() {
    let t0 = Instant::now();
    let mut conn = connection();
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    receive(&mut conn, &frame_with(1, "Test", "Never", &[], b""));
    pump_at(&mut conn, t0, &mut out, &mut parked);
    conn.link().request(Control::Drain);
    conn.link().request(Control::Abort);
    pump_at(&mut conn, t0, &mut out, &mut parked);
    assert!(conn.is_closed(), "the strongest request wins");
    assert!(matches!(
        conn.take_cause(),
        Some(CloseCause::DrainTimeout { inflight: 1 })
    ));
    conn.link().complete(parked.pop().unwrap().expire());
    pump_at(&mut conn, t0, &mut out, &mut parked);
    assert!(out.is_empty(), "nothing is sent after an abort");
}

#[test]
fn idle_check_closes_only_a_connection_with_nothing_to_do() {
    let t0 = Instant::now();
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    let mut busy = connection();
    receive(&mut busy, &frame_with(1, "Test", "Never", &[], b""));
    pump_at(&mut busy, t0, &mut out, &mut parked);
    busy.link().request(Control::IdleCheck);
    pump_at(&mut busy, t0, &mut out, &mut parked);
    assert!(
        !busy.is_closed() && busy.wants_read(),
        "a request in flight is activity"
    );

    let mut idle = connection();
    let activity = idle.link().activity();
    let frame = frame_with(2, "Echo", "Echo", &[], b"hi");
    receive(&mut idle, &frame[..frame.len() - 1]);
    assert_eq!(idle.poll_call(|| t0).map(|call| call.seq()), None);
    assert_eq!(
        idle.link().activity(),
        activity,
        "bytes that complete no frame are not activity"
    );
    receive(&mut idle, &frame[frame.len() - 1..]);
    pump_at(&mut idle, t0, &mut out, &mut parked);
    assert_ne!(
        idle.link().activity(),
        activity,
        "a complete frame counts for the sweep"
    );
    idle.link().request(Control::IdleCheck);
    pump_at(&mut idle, t0, &mut out, &mut parked);
    assert!(idle.is_closed());
    assert!(matches!(idle.take_cause(), Some(CloseCause::Idle)));
    assert_eq!(seqs(&out), [2], "the reply went out before the close");
}

#[test]
fn a_refused_token_gets_its_error_reply_then_the_connection_closes() {
    let t0 = Instant::now();
    let mut services = services();
    services.set_auth(|_, token| match token {
        "good" => Ok(()),
        _ => Err("auth: bad token".to_owned()),
    });
    let mut conn = connection_with(services, ConnConfig::default());
    let input = [
        frame_with(1, "Echo", "Echo", &[("__AUTH", "good")], b"in"),
        frame_with(2, "Echo", "Echo", &[("__AUTH", "bad")], b"out"),
        frame_with(3, "Echo", "Echo", &[("__AUTH", "good")], b"never read"),
    ]
    .concat();
    receive(&mut conn, &input);
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    pump_at(&mut conn, t0, &mut out, &mut parked);
    let replies = frames(&out);
    assert_eq!(seqs(&out), [1, 2]);
    assert_eq!(&replies[0].payload()[..], b"in");
    assert_eq!(error_of(&replies[1]), Some("auth: bad token"));
    assert!(conn.is_closed());
    assert!(matches!(conn.take_cause(), Some(CloseCause::Auth(text)) if text == "auth: bad token"));
}

#[test]
fn pushes_leave_before_their_handlers_reply() {
    let t0 = Instant::now();
    let mut conn = connection();
    receive(&mut conn, &frame_with(9, "Test", "PushTwice", &[], b""));
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    pump_at(&mut conn, t0, &mut out, &mut parked);
    let sent = frames(&out);
    let order: Vec<(&str, bool)> = sent
        .iter()
        .map(|f| (f.service_method(), f.header().is_oneway()))
        .collect();
    assert_eq!(order, [("One", true), ("Two", true), ("PushTwice", false)]);
    assert_eq!((sent[0].seq(), sent[1].seq(), sent[2].seq()), (1, 2, 9));
    assert_eq!(&sent[2].payload()[..], b"reply");
}

#[test]
fn output_at_the_flush_threshold_pauses_reading_and_dispatch_until_sent() {
    let t0 = Instant::now();
    let config = ConnConfig {
        flush_threshold_bytes: 64,
        ..ConnConfig::default()
    };
    let mut conn = connection_with(services(), config);
    let input: Vec<u8> = (1..=3)
        .flat_map(|seq| frame_with(seq, "Echo", "Echo", &[], &[seq as u8; 100]))
        .collect();
    receive(&mut conn, &input);
    let mut cx = Context::from_waker(Waker::noop());
    let mut call = conn.poll_call(|| t0).unwrap();
    assert!(call.poll(&mut cx).is_ready());
    conn.handle_completion(call.finish());
    assert!(
        !conn.wants_read(),
        "a 100-byte reply is over the 64-byte threshold"
    );
    assert!(conn.poll_call(|| t0).is_none(), "received frames wait too");

    let n = conn.poll_transmit().unwrap().len();
    conn.handle_sent(n - 64);
    assert!(
        !conn.wants_read() && conn.poll_call(|| t0).is_none(),
        "64 bytes unsent: still at the threshold"
    );
    conn.handle_sent(64);
    assert!(conn.wants_read(), "all sent: reading resumes");
    let call = conn.poll_call(|| t0).unwrap();
    assert_eq!(call.seq(), 2, "and dispatch goes on where it stopped");
}
