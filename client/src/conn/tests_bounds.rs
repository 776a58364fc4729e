//! The core's bounds, driven by hand with injected time: the send buffer in bytes, the
//! push queue in bytes, frames nobody waits for screened out before decoding, the close
//! deadline, and timeouts too large for the clock.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringrpc_codec::{encode_frame, CompressType, Header, SerializeType, NO_METADATA};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn conn(options: ClientOptions, now: Instant) -> Connection<u32> {
    Connection::new(options, now, 0)
}

fn raw_header(seq: u64, push: bool, gzip: bool) -> Header {
    let mut header = Header::request(seq, SerializeType::None);
    header.set_oneway(push);
    if !push {
        header.set_message_type(ringrpc_codec::MessageType::Response);
    }
    if gzip {
        header.set_compress_type(CompressType::Gzip);
    }
    header
}

fn push_frame(payload_len: usize) -> Frame {
    let mut dst = BytesMut::new();
    let header = raw_header(1, true, false);
    encode_frame(
        &mut dst,
        &header,
        "S",
        "P",
        NO_METADATA,
        &vec![0; payload_len],
    )
    .unwrap();
    ringrpc_codec::decode(&mut dst, &ringrpc_codec::Limits::default())
        .unwrap()
        .unwrap()
}

#[test]
fn the_send_buffer_is_bounded_in_bytes_and_refusals_give_their_seq_back() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::new().send_buffer_max_bytes(1000), t0);
    let payload = [7u8; 200];
    let request = Request::new("S", "M", &payload);
    let mut queued = 0;
    let refused = loop {
        match conn.handle_call(&request, queued, t0) {
            Ok(seq) => assert_eq!(seq, u64::from(queued)),
            Err(error) => break error,
        }
        queued += 1;
    };
    assert!(
        matches!(
            refused,
            Error::SendBufferFull {
                max_bytes: 1000,
                ..
            }
        ) && refused.is_retryable(),
        "{refused}"
    );
    assert!(conn.unsent_bytes() <= 1000, "{}", conn.unsent_bytes());
    assert_eq!(
        conn.stats().seq_next,
        u64::from(queued),
        "the refused seq was given back"
    );
    assert!(matches!(
        conn.handle_oneway(&request, t0),
        Err(Error::SendBufferFull { .. })
    ));

    // The write in flight still counts; once it is done, waiting callers are woken.
    let epoch = conn.sent_epoch();
    let bytes = conn.poll_transmit().unwrap();
    assert_eq!(conn.unsent_bytes(), bytes.len());
    assert!(conn.handle_call(&request, 99, t0).is_err());
    assert!(!conn.poll_events(false).wake.send_space);
    conn.handle_transmit_done();
    assert_ne!(conn.sent_epoch(), epoch);
    assert!(conn.poll_events(false).wake.send_space);
    assert_eq!(conn.unsent_bytes(), 0);
    assert!(conn.handle_call(&request, 99, t0).is_ok());

    let huge = [0u8; 2000];
    let error = conn
        .handle_call(&Request::new("S", "M", &huge), 100, t0)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::RequestTooLarge {
                max_bytes: 1000,
                ..
            }
        ) && !error.is_retryable(),
        "{error}"
    );
}

#[test]
fn the_push_queue_is_bounded_in_bytes() {
    let t0 = Instant::now();
    let options = ClientOptions::new().push_queue_max_bytes(10_000);
    let mut conn = conn(options, t0);
    let frame = push_frame(3000);
    let held = frame.as_bytes().len();
    for _ in 0..5 {
        conn.handle_frame(frame.clone());
    }
    let stats = conn.stats();
    assert_eq!(stats.push_count, 5);
    assert_eq!(stats.push_dropped_count, 2, "three fit in 10 000 bytes");
    assert_eq!(stats.push_queue_bytes, 3 * held);

    // The screen refuses a push that cannot fit before it is decoded.
    assert_eq!(conn.screen(frame.header(), false), Screen::Drop);
    assert_eq!(conn.stats().push_dropped_count, 3);
    assert!(conn.poll_push().is_some());
    assert_eq!(
        conn.screen(frame.header(), false),
        Screen::Push {
            room_bytes: Some(10_000 - 2 * held)
        }
    );
    assert_eq!(
        conn.screen(frame.header(), true),
        Screen::Push { room_bytes: None },
        "a push handler takes pushes as they come"
    );
}

#[test]
fn frames_nobody_waits_for_are_screened_out_before_decoding() {
    let t0 = Instant::now();
    let mut conn = conn(ClientOptions::default(), t0);
    let seq = conn
        .handle_call(&Request::new("S", "M", b""), 1, t0)
        .unwrap();
    assert_eq!(
        conn.screen(&raw_header(seq, false, true), false),
        Screen::Decode
    );
    assert_eq!(
        conn.screen(&raw_header(seq + 1000, false, true), false),
        Screen::Drop
    );
    let stats = conn.stats();
    assert_eq!((stats.late_reply_count, stats.screened_out_count), (1, 1));
}

#[test]
fn closing_gives_up_on_a_server_that_does_not_read_after_close_timeout() {
    let t0 = Instant::now();
    let options = ClientOptions::new().close_timeout(200 * MS);
    let mut conn = conn(options, t0);
    conn.handle_oneway(&Request::new("S", "M", b"x"), t0)
        .unwrap();
    let _in_flight = conn.poll_transmit().unwrap(); // never completes
    conn.handle_close(t0);
    assert!(!conn.is_open() && !conn.is_closed());
    assert!(
        conn.poll_events(false).wake.reader,
        "the reader arms the close timer"
    );
    assert_eq!(
        conn.handle_due_timers(t0 + 199 * MS),
        Some(Some(t0 + 200 * MS))
    );
    assert_eq!(conn.handle_due_timers(t0 + 200 * MS), None, "closed");
    assert!(matches!(conn.close_reason(), Some(Disconnect::Closed)));
    assert!(
        conn.poll_events(false).wake.writer,
        "the writer abandons its write"
    );
}

#[test]
fn timeouts_too_large_for_the_clock_mean_no_deadline() {
    let t0 = Instant::now();
    let options = ClientOptions::new()
        .timeout(Duration::MAX)
        .heartbeat_interval(Duration::MAX)
        .close_timeout(Duration::MAX);
    let mut conn = conn(options, t0);
    let seq = conn
        .handle_call(&Request::new("S", "M", b""), 1, t0)
        .unwrap();
    let request = crate::CallOptions::new().timeout(Duration::MAX);
    assert_eq!(request.deadline_at(t0), None);
    assert_eq!(conn.poll_timeout(), None, "no deadline, no heartbeat");
    let sent = conn.poll_transmit().unwrap();
    let mut buf = BytesMut::from(&sent[..]);
    let frame = ringrpc_codec::decode(&mut buf, &ringrpc_codec::Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(frame.seq(), seq);
    assert_eq!(
        frame.metadata().get(ringrpc_codec::SERVER_TIMEOUT_KEY),
        None
    );
    conn.handle_close(t0);
    assert_eq!(conn.handle_due_timers(t0 + 1000 * MS), Some(None));
}
