//! The connection core driven by hand, with injected time and no sockets. The "server"
//! here decodes what the core transmits and answers with frames built by the codec.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringrpc_codec::{
    decode, encode_frame, CompressType, Frame, Header, Limits, MessageType, Reply as CodecReply,
    SerializeType, AUTH_KEY, NO_METADATA, SERVER_TIMEOUT_KEY,
};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn conn(options: ClientOptions, now: Instant) -> Connection<u32> {
    Connection::new(options, now, 1_700_000_000_000_000_000)
}

fn call(conn: &mut Connection<u32>, waiter: u32, now: Instant) -> u64 {
    conn.handle_call(&Request::new("Arith", "Mul", b"{}"), waiter, now)
        .unwrap()
}

/// Everything the core transmits, decoded; the send is reported done.
fn sent(conn: &mut Connection<u32>) -> Vec<Frame> {
    let Some(bytes) = conn.poll_transmit() else {
        return Vec::new();
    };
    conn.handle_transmit_done();
    frames(bytes)
}

fn frames(bytes: Bytes) -> Vec<Frame> {
    let mut buf = BytesMut::from(&bytes[..]);
    let mut out = Vec::new();
    while let Some(frame) = decode(&mut buf, &Limits::default()).unwrap() {
        out.push(frame);
    }
    assert!(buf.is_empty(), "transmit holds whole frames only");
    out
}

fn ok_reply(request: &Frame, payload: &[u8]) -> Frame {
    let mut dst = BytesMut::new();
    CodecReply::to(request)
        .encode_ok(&mut dst, NO_METADATA, payload)
        .unwrap();
    decode(&mut dst, &Limits::default()).unwrap().unwrap()
}

fn completions(conn: &mut Connection<u32>) -> Vec<(u32, Result<Reply, Error>)> {
    conn.poll_events(false).completions
}

/// Which tasks the driver must wake after the last input.
fn wake(conn: &mut Connection<u32>) -> Wake {
    conn.poll_events(false).wake
}

#[test]
fn seqs_start_at_zero_and_count_every_request() {
    let t0 = Instant::now();
    let options = ClientOptions {
        heartbeat_interval: Some(10 * MS),
        ..Default::default()
    };
    let mut conn = conn(options, t0);
    assert_eq!(call(&mut conn, 0, t0), 0);
    assert_eq!(
        conn.handle_oneway(&Request::new("S", "M", b""), t0)
            .unwrap(),
        1
    );
    conn.handle_timeout(t0 + 10 * MS); // a heartbeat takes seq 2
    assert_eq!(call(&mut conn, 1, t0), 3);
    let seqs: Vec<u64> = sent(&mut conn).iter().map(Frame::seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
}

#[test]
fn replies_complete_calls_out_of_order() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    for waiter in 0..3 {
        call(&mut conn, waiter, t0);
    }
    let requests = sent(&mut conn);
    for (i, request) in requests.iter().enumerate().rev() {
        conn.handle_frame(ok_reply(request, format!("r{i}").as_bytes()));
    }
    let done: Vec<(u32, Bytes)> = completions(&mut conn)
        .into_iter()
        .map(|(w, r)| (w, r.unwrap().into_payload()))
        .collect();
    assert_eq!(done, [(2, "r2".into()), (1, "r1".into()), (0, "r0".into())]);
    assert_eq!(conn.stats().inflight_count, 0);
}

#[test]
fn requests_queued_during_a_send_leave_together_in_the_next_one() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    assert!(!wake(&mut conn).writer, "nothing to send yet");
    call(&mut conn, 0, t0);
    assert!(wake(&mut conn).writer, "bytes wait: the writer must run");
    call(&mut conn, 1, t0);
    let first = conn.poll_transmit().unwrap();
    assert_eq!(frames(first).len(), 2);

    for waiter in 2..7 {
        call(&mut conn, waiter, t0);
        assert!(!wake(&mut conn).writer, "a send is in flight");
    }
    assert!(conn.poll_transmit().is_none(), "one send at a time");
    conn.handle_transmit_done();
    assert!(conn.has_transmit());
    let second = conn.poll_transmit().unwrap();
    assert_eq!(
        frames(second).iter().map(Frame::seq).collect::<Vec<_>>(),
        [2, 3, 4, 5, 6]
    );
    conn.handle_transmit_done();
    assert_eq!(conn.stats().transmit_count, 2);
}

#[test]
fn deadline_is_sent_as_server_timeout_and_enforced_locally() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    let slow = Request::new("Test", "Sleep", b"").deadline(t0 + 250 * MS);
    conn.handle_call(&slow, 7, t0).unwrap();
    assert!(wake(&mut conn).reader, "first deadline arms the timer");
    call(&mut conn, 8, t0); // no deadline
    let requests = sent(&mut conn);
    assert_eq!(requests[0].metadata().get(SERVER_TIMEOUT_KEY), Some("250"));
    assert_eq!(requests[1].metadata().get(SERVER_TIMEOUT_KEY), None);

    assert_eq!(conn.poll_timeout(), Some(t0 + 250 * MS));
    conn.handle_timeout(t0 + 249 * MS);
    assert!(completions(&mut conn).is_empty());
    conn.handle_timeout(t0 + 250 * MS);
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 7);
    let error = done[0].1.as_ref().unwrap_err();
    assert!(error.is_timeout() && !error.is_retryable(), "{error}");
    assert_eq!(
        conn.stats().inflight_count,
        1,
        "the timed-out call freed its slot"
    );

    conn.handle_frame(ok_reply(&requests[0], b"late"));
    assert!(completions(&mut conn).is_empty(), "a late reply is dropped");
    assert_eq!(conn.stats().late_reply_count, 1);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn a_call_queued_after_a_wait_reports_the_timeout_its_caller_set() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    // Began at t0 with a 200 ms timeout, queued 3 ms later (it waited for room).
    let request = Request::new("Test", "Sleep", b"").deadline(t0 + 200 * MS);
    conn.handle_call_since(&request, 7, t0, t0 + 3 * MS)
        .unwrap();
    conn.handle_timeout(t0 + 200 * MS);
    let done = completions(&mut conn);
    assert!(
        matches!(done[0].1, Err(Error::Timeout { timeout_ms: 200 })),
        "{:?}",
        done[0].1
    );
}

#[test]
fn an_earlier_deadline_rearms_the_timer_and_expired_ones_are_refused() {
    let t0 = Instant::now();
    let options = ClientOptions {
        timeout: Some(100 * MS),
        ..Default::default()
    };
    let mut conn = conn(options, t0);
    call(&mut conn, 0, t0);
    assert!(wake(&mut conn).reader);
    assert_eq!(conn.poll_timeout(), Some(t0 + 100 * MS));
    call(&mut conn, 1, t0 + MS);
    assert!(!wake(&mut conn).reader, "later deadline: timer stays");
    let early = Request::new("S", "M", b"").deadline(t0 + 50 * MS);
    conn.handle_call(&early, 2, t0).unwrap();
    assert!(wake(&mut conn).reader);
    let expired = Request::new("S", "M", b"").deadline(t0);
    let error = conn.handle_call(&expired, 3, t0 + MS).unwrap_err();
    assert!(error.is_timeout());
}

#[test]
fn due_timers_run_at_the_top_of_each_round_and_say_what_is_next() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    assert_eq!(conn.handle_due_timers(t0), Some(None), "nothing pending");
    let early = Request::new("S", "M", b"").deadline(t0 + 50 * MS);
    let late = Request::new("S", "M", b"").deadline(t0 + 80 * MS);
    conn.handle_call(&early, 1, t0).unwrap();
    conn.handle_call(&late, 2, t0).unwrap();
    assert_eq!(
        conn.handle_due_timers(t0 + 49 * MS),
        Some(Some(t0 + 50 * MS))
    );
    assert!(completions(&mut conn).is_empty(), "not due yet");
    assert_eq!(
        conn.handle_due_timers(t0 + 60 * MS),
        Some(Some(t0 + 80 * MS))
    );
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1);
    assert!(matches!(&done[0], (1, Err(error)) if error.is_timeout()));
    // Closing with requests still queued: the reader runs the close deadline, then stops.
    conn.handle_close(t0 + 60 * MS);
    let close_at = t0 + 60 * MS + ClientOptions::default().close_timeout;
    assert_eq!(conn.handle_due_timers(t0 + 60 * MS), Some(Some(close_at)));
    assert_eq!(
        conn.handle_due_timers(close_at),
        None,
        "closed: the reader stops"
    );
}

#[test]
fn cancelled_call_frees_its_slot() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    let seq = call(&mut conn, 0, t0);
    let requests = sent(&mut conn);
    assert!(conn.handle_cancel(seq));
    assert_eq!(conn.stats().inflight_count, 0);
    conn.handle_frame(ok_reply(&requests[0], b""));
    assert!(completions(&mut conn).is_empty());
}

#[test]
fn heartbeats_look_like_go_and_misses_fail_the_connection() {
    let t0 = Instant::now();
    let options = ClientOptions {
        heartbeat_interval: Some(10 * MS),
        heartbeat_misses_max: 2,
        ..Default::default()
    };
    let mut conn = conn(options, t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + 10 * MS));
    call(&mut conn, 0, t0);
    sent(&mut conn);

    conn.handle_timeout(t0 + 10 * MS);
    let beat = sent(&mut conn).pop().unwrap();
    let header = beat.header();
    assert!(header.is_heartbeat() && !header.is_oneway());
    assert_eq!(header.serialize_type().unwrap(), SerializeType::MsgPack);
    assert_eq!((beat.service_path(), beat.service_method()), ("", ""));
    assert!(beat.metadata().is_empty());
    assert_eq!(beat.payload().len(), 9);
    assert_eq!(
        beat.payload()[0],
        0xd3,
        "int64 nanoseconds, full width as Go writes it"
    );
    let nanos = i64::from_be_bytes(beat.payload()[1..].try_into().unwrap());
    assert_eq!(nanos, 1_700_000_000_000_000_000 + 10_000_000);

    // The server echoes it (heartbeat bit kept): the miss count stays at zero.
    let mut echo = BytesMut::new();
    ringrpc_codec::encode_heartbeat_reply(&beat, &mut echo);
    conn.handle_frame(decode(&mut echo, &Limits::default()).unwrap().unwrap());
    assert_eq!(conn.stats().heartbeat_answered_count, 1);
    assert!(
        completions(&mut conn).is_empty(),
        "a heartbeat reply completes no call"
    );

    // Then the server stops answering: two misses in a row close the connection.
    conn.handle_timeout(t0 + 20 * MS);
    conn.handle_timeout(t0 + 30 * MS);
    assert!(conn.is_open(), "one miss is tolerated");
    assert_eq!(conn.stats().heartbeat_misses, 1);
    conn.handle_timeout(t0 + 40 * MS);
    assert!(conn.is_closed());
    assert!(matches!(
        conn.close_reason(),
        Some(Disconnect::HeartbeatMissed { misses: 2 })
    ));
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1, "the pending call failed with the connection");
    assert!(done[0].1.as_ref().unwrap_err().is_retryable());
}

#[test]
fn pushes_are_oneway_requests_that_are_not_heartbeats() {
    let t0 = Instant::now();
    let options = ClientOptions {
        push_queue_max: 2,
        ..Default::default()
    };
    let mut conn = conn(options, t0);
    call(&mut conn, 0, t0); // seq 0
    sent(&mut conn);
    let frame = |seq, oneway, heartbeat, response| {
        let mut header = Header::request(seq, SerializeType::None);
        header.set_oneway(oneway);
        header.set_heartbeat(heartbeat);
        if response {
            header.set_message_type(MessageType::Response);
        }
        let mut dst = BytesMut::new();
        encode_frame(&mut dst, &header, "Test", "Push", [("n", "0")], b"hi").unwrap();
        decode(&mut dst, &Limits::default()).unwrap().unwrap()
    };
    // A push may carry any seq, even one of ours: it must not complete the call.
    conn.handle_frame(frame(0, true, false, false));
    assert!(completions(&mut conn).is_empty());
    let push = conn.poll_push().unwrap();
    assert_eq!(
        (push.service_path(), push.service_method()),
        ("Test", "Push")
    );
    assert_eq!(push.metadata().get("n"), Some("0"));
    assert_eq!(&push.payload()[..], b"hi");

    // A oneway heartbeat is not a push; nor is a request that is not oneway: both are
    // matched by seq, like rpcx-go (which ignores the type bit of replies).
    conn.handle_frame(frame(55, true, true, false));
    assert!(conn.poll_push().is_none());
    conn.handle_frame(frame(0, false, false, false));
    assert!(conn.poll_push().is_none());
    assert_eq!(completions(&mut conn).len(), 1);

    // A full queue drops further pushes and counts them.
    for _ in 0..3 {
        conn.handle_frame(frame(9, true, false, false));
    }
    assert_eq!(conn.stats().push_count, 4);
    assert_eq!(conn.stats().push_dropped_count, 1);
}

#[test]
fn connection_loss_fails_every_pending_call_and_every_later_one() {
    let t0 = Instant::now();
    let mut conn = conn(
        ClientOptions {
            timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        },
        t0,
    );
    for waiter in 0..100 {
        call(&mut conn, waiter, t0);
    }
    let _in_flight = conn.poll_transmit().unwrap();
    call(&mut conn, 100, t0); // queued behind the send
    conn.handle_disconnect(Disconnect::Eof);
    let done = completions(&mut conn);
    assert_eq!(done.len(), 101);
    for (_, result) in &done {
        let error = result.as_ref().unwrap_err();
        assert!(matches!(error, Error::Disconnected(Disconnect::Eof)) && error.is_retryable());
    }
    assert_eq!(conn.poll_timeout(), None, "no timer is left");
    conn.handle_transmit_done();
    assert!(conn.poll_transmit().is_none(), "queued bytes are dropped");
    let later = conn
        .handle_call(&Request::new("S", "M", b""), 0, t0)
        .unwrap_err();
    assert!(matches!(later, Error::Disconnected(Disconnect::Eof)) && later.is_retryable());
    conn.handle_disconnect(Disconnect::Closed);
    assert!(
        matches!(conn.close_reason(), Some(Disconnect::Eof)),
        "first reason is kept"
    );
}

#[test]
fn close_fails_pending_calls_but_flushes_queued_bytes() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    call(&mut conn, 0, t0);
    conn.handle_oneway(&Request::new("Log", "Write", b"bye"), t0)
        .unwrap();
    conn.handle_close(t0);
    assert!(
        !conn.is_open() && !conn.is_closed(),
        "closing: bytes still to send"
    );
    let done = completions(&mut conn);
    assert!(matches!(
        done[0].1,
        Err(Error::Disconnected(Disconnect::Closed))
    ));
    assert_eq!(
        sent(&mut conn).len(),
        2,
        "the oneway request still goes out"
    );
    assert!(conn.is_closed());
}

#[test]
fn auth_metadata_and_gzip_over_one_kib() {
    let t0 = Instant::now();
    let options = ClientOptions {
        auth: Some("secret".into()),
        compress: true,
        serialize_type: SerializeType::Json,
        ..Default::default()
    };
    let mut conn = conn(options, t0);
    let big = vec![b'a'; 1025];
    let metadata = [("k".to_owned(), "v".to_owned())];
    conn.handle_call(
        &Request::new("Echo", "Echo", &big).metadata(&metadata),
        0,
        t0,
    )
    .unwrap();
    conn.handle_call(&Request::new("Echo", "Echo", &big[..1024]), 1, t0)
        .unwrap();
    let raw = Request::new("Echo", "Echo", b"").serialize_type(SerializeType::None);
    conn.handle_call(&raw, 2, t0).unwrap();
    let requests = sent(&mut conn);
    assert_eq!(
        requests[0].header().compress_type().unwrap(),
        CompressType::Gzip
    );
    assert_eq!(
        requests[0].payload().len(),
        1025,
        "decodes back to the payload"
    );
    assert_eq!(
        requests[1].header().compress_type().unwrap(),
        CompressType::None
    );
    assert_eq!(requests[0].metadata().get(AUTH_KEY), Some("secret"));
    assert_eq!(requests[0].metadata().get("k"), Some("v"));
    assert_eq!(requests[1].metadata().get(AUTH_KEY), Some("secret"));
    assert_eq!(
        requests[0].header().serialize_type().unwrap(),
        SerializeType::Json
    );
    assert_eq!(
        requests[2].header().serialize_type().unwrap(),
        SerializeType::None
    );
}

#[test]
fn error_replies_carry_the_server_text_and_are_final() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    call(&mut conn, 0, t0);
    let request = sent(&mut conn).pop().unwrap();
    let mut dst = BytesMut::new();
    let reply = CodecReply::to(&request);
    reply
        .encode_error(&mut dst, "rpcx: can't find method Mul", NO_METADATA, b"")
        .unwrap();
    conn.handle_frame(decode(&mut dst, &Limits::default()).unwrap().unwrap());
    let (_, result) = completions(&mut conn).pop().unwrap();
    let error = result.unwrap_err();
    assert_eq!(error.service_message(), Some("rpcx: can't find method Mul"));
    assert!(!error.is_retryable());
    assert!(
        conn.is_open(),
        "an error reply does not hurt the connection"
    );
}

/// A server push (a oneway request that is not a heartbeat).
fn push(n: &str) -> Frame {
    let mut header = Header::request(9, SerializeType::None);
    header.set_oneway(true);
    let mut dst = BytesMut::new();
    encode_frame(&mut dst, &header, "Test", "Push", [("n", n)], b"hi").unwrap();
    decode(&mut dst, &Limits::default()).unwrap().unwrap()
}

#[test]
fn events_deliver_pushes_before_replies_and_name_the_tasks_to_wake() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    call(&mut conn, 0, t0);
    let request = sent(&mut conn).pop().unwrap();

    // One read brings a push, then the reply: a driver with a push handler takes both,
    // and has nobody to wake.
    conn.handle_frame(push("0"));
    conn.handle_frame(ok_reply(&request, b"r"));
    let events = conn.poll_events(true);
    assert_eq!(events.pushes.len(), 1);
    assert_eq!(events.completions.len(), 1);
    assert_eq!(events.wake, Wake::default());
    assert_eq!(conn.poll_events(true).completions.len(), 0, "taken once");

    // Without a handler the push stays queued and whoever waits for it is woken, until it
    // is read.
    conn.handle_frame(push("1"));
    let events = conn.poll_events(false);
    assert!(events.pushes.is_empty() && events.wake.push_reader);
    assert!(wake(&mut conn).push_reader, "still queued");
    assert_eq!(conn.poll_push().unwrap().metadata().get("n"), Some("1"));
    assert!(!wake(&mut conn).push_reader);

    // Closing wakes every task: the writer flushes and stops, the reader and the push
    // reader stop.
    conn.handle_close(t0);
    let wake = wake(&mut conn);
    assert!(wake.writer && wake.reader && wake.push_reader, "{wake:?}");
}
