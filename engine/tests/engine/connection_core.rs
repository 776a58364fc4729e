//! Proves the sans-IO connection core without sockets or a runtime, over an in-memory byte
//! stream with injected faults: the output is the same whether the input arrives whole,
//! split at every byte boundary or one byte at a time; garbage after good frames gets the
//! good frames answered and then a close; random garbage never panics; the in-flight cap
//! pauses reading; handlers that finish later are answered in completion order; a peer's
//! EOF drains in-flight requests before closing.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::payload::Serde;
use ringrpc_engine::codec::{
    decode_frame_compressed, encode_frame, frame_len, Frame, Header, Limits,
};
use ringrpc_engine::conn::{Call, ConnConfig, Connection, Link};
use ringrpc_engine::{CloseCause, HandlerError, Request, Response, SerializeType, Services};

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct Args {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Reply {
    #[serde(rename = "C")]
    c: i64,
}

async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.payload().clone()))
}

async fn mul(request: Request) -> Result<Response<Serde<Reply>>, HandlerError> {
    let Serde(args): Serde<Args> = request.decode()?;
    Ok(Response::new(Serde(Reply { c: args.a * args.b })))
}

/// A future that is pending on its first poll (so the driver must run it elsewhere).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Finishes on its second poll (so the driver must run it elsewhere).
pub(crate) async fn later(request: Request) -> Result<Response, HandlerError> {
    YieldOnce(false).await;
    Ok(Response::new(request.payload().clone()))
}

fn connection(max_inflight: usize) -> Connection {
    let mut services = Services::new();
    services
        .register("Echo", "Echo", echo)
        .register("Arith", "Mul", mul);
    services.register("Test", "Later", later);
    let config = ConnConfig {
        max_inflight,
        ..ConnConfig::default()
    };
    Connection::new(Rc::new(services), Rc::new(config), Link::detached())
}

fn frame(seq: u64, path: &str, method: &str, payload: &[u8]) -> Vec<u8> {
    frame_with(seq, path, method, &[("k", "v")], payload)
}

/// A JSON request frame with the given metadata.
pub(crate) fn frame_with(
    seq: u64,
    path: &str,
    method: &str,
    metadata: &[(&str, &str)],
    payload: &[u8],
) -> Vec<u8> {
    let mut dst = BytesMut::new();
    let header = Header::request(seq, SerializeType::Json);
    encode_frame(
        &mut dst,
        &header,
        path,
        method,
        metadata.iter().copied(),
        payload,
    )
    .unwrap();
    dst.to_vec()
}

fn heartbeat(seq: u64) -> Vec<u8> {
    let mut dst = BytesMut::new();
    let mut header = Header::request(seq, SerializeType::MsgPack);
    header.set_heartbeat(true);
    encode_frame(
        &mut dst,
        &header,
        "",
        "",
        ringrpc_engine::codec::NO_METADATA,
        b"\x01",
    )
    .unwrap();
    dst.to_vec()
}

/// A stream covering every kind of answer: heartbeat, echo, typed call, bad payload,
/// unknown service and method, oneway.
fn stream() -> Vec<u8> {
    let mut oneway = Header::request(7, SerializeType::Json);
    oneway.set_oneway(true);
    let mut oneway_frame = BytesMut::new();
    encode_frame(
        &mut oneway_frame,
        &oneway,
        "Echo",
        "Echo",
        [("a", "b")],
        b"nobody",
    )
    .unwrap();
    [
        heartbeat(1),
        frame(2, "Echo", "Echo", b"hello"),
        frame(3, "Arith", "Mul", br#"{"A":6,"B":7}"#),
        frame(4, "Arith", "Mul", b"{"),
        frame(5, "Nope", "X", b""),
        frame(6, "Arith", "Div", b"{}"),
        oneway_frame.to_vec(),
        frame(8, "Echo", "Echo", &[9u8; 3000]),
    ]
    .concat()
}

/// Runs handlers and moves output until nothing moves; calls that are not finished on
/// their first poll are kept in `parked`.
fn pump(conn: &mut Connection, out: &mut Vec<u8>, parked: &mut Vec<Call>) {
    pump_at(conn, Instant::now(), out, parked);
}

/// [`pump`] with the connection's clock stopped at `now` (virtual time).
pub(crate) fn pump_at(
    conn: &mut Connection,
    now: Instant,
    out: &mut Vec<u8>,
    parked: &mut Vec<Call>,
) {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        conn.handle_link();
        let mut progress = false;
        while let Some(mut call) = conn.poll_call(|| now) {
            progress = true;
            match call.poll(&mut cx) {
                Poll::Ready(()) => conn.handle_completion(call.finish()),
                Poll::Pending => parked.push(call),
            }
        }
        while let Some(bytes) = conn.poll_transmit() {
            out.extend_from_slice(bytes);
            let n = bytes.len();
            conn.handle_sent(n);
            progress = true;
        }
        if !progress {
            return;
        }
    }
}

/// Feeds `chunks` as successive reads, then EOF; returns everything the connection sent.
fn run<'a>(conn: &mut Connection, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    for mut chunk in chunks {
        while !chunk.is_empty() && conn.wants_read() {
            let _ = conn.handle_read(|buf| {
                let n = buf.len().min(chunk.len());
                buf[..n].copy_from_slice(&chunk[..n]);
                chunk = &chunk[n..];
                Poll::Ready(Ok(n))
            });
            pump(conn, &mut out, &mut parked);
        }
    }
    if conn.wants_read() {
        let _ = conn.handle_read(|_| Poll::Ready(Ok(0)));
    }
    pump(conn, &mut out, &mut parked);
    assert!(parked.is_empty(), "only inline handlers in this stream");
    out
}

/// The frames the connection sent. Heartbeat replies are echoes of what the peer sent
/// (never inflated, so possibly not gzip at all); every other gzip payload is inflated.
pub(crate) fn frames(bytes: &[u8]) -> Vec<Frame> {
    let limits = Limits::default();
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(len) = frame_len(&buf, &limits)
        .unwrap()
        .filter(|&len| buf.len() >= len)
    {
        let mut frame = decode_frame_compressed(buf.split_to(len).freeze(), &limits).unwrap();
        if !frame.header().is_heartbeat() {
            frame.inflate(limits.max_decompressed_bytes).unwrap();
        }
        frames.push(frame);
    }
    assert!(buf.is_empty(), "output ends on a frame boundary");
    frames
}

#[test]
fn whole_stream_reference_answers() {
    let mut conn = connection(1024);
    let out = run(&mut conn, [&stream()[..]]);
    let replies = frames(&out);
    let seqs: Vec<u64> = replies.iter().map(Frame::seq).collect();
    assert_eq!(
        seqs,
        [1, 2, 3, 4, 5, 6, 8],
        "everything but the oneway request, in order"
    );
    assert_eq!(&replies[1].payload()[..], b"hello");
    assert_eq!(&replies[2].payload()[..], br#"{"C":42}"#);
    let error = |f: &Frame| f.metadata().get("__rpcx_error__").map(str::to_owned);
    assert!(error(&replies[3]).is_some());
    assert_eq!(
        error(&replies[4]).as_deref(),
        Some("rpcx: can't find service Nope")
    );
    assert_eq!(
        error(&replies[5]).as_deref(),
        Some("rpcx: can't find method Div")
    );
    assert_eq!(replies[6].payload().len(), 3000);
    assert!(conn.is_closed(), "EOF with nothing in flight closes");
    assert!(matches!(conn.take_cause(), Some(CloseCause::PeerClosed)));
}

#[test]
fn same_output_for_every_split() {
    let input = stream();
    let reference = run(&mut connection(1024), [&input[..]]);
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(
            run(&mut connection(1024), [a, b]),
            reference,
            "split at {at}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(&mut connection(1024), bytes),
        reference,
        "one byte at a time"
    );
}

#[test]
fn garbage_after_good_frames() {
    let mut input = [heartbeat(1), frame(2, "Echo", "Echo", b"ok")].concat();
    input.extend_from_slice(b"\x07garbage that is not a frame");
    input.extend(frame(3, "Echo", "Echo", b"never"));
    let mut conn = connection(1024);
    let out = run(&mut conn, [&input[..]]);
    let seqs: Vec<u64> = frames(&out).iter().map(Frame::seq).collect();
    assert_eq!(seqs, [1, 2]);
    assert!(conn.is_closed());
    assert!(matches!(conn.take_cause(), Some(CloseCause::Decode(_))));
}

#[test]
fn random_garbage_never_panics() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = stream();
    for round in 0..2000 {
        let mut input: Vec<u8> = if round % 2 == 0 {
            (0..next() % 300).map(|_| next() as u8).collect()
        } else {
            let mut input = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % input.len();
                input[at] = next() as u8;
            }
            input
        };
        if round % 3 == 0 {
            input.insert(0, 0x08);
        }
        let chunks: Vec<&[u8]> = input.chunks(1 + (next() % 64) as usize).collect();
        let mut conn = connection(1024);
        let out = run(&mut conn, chunks);
        let _ = frames(&out);
        assert!(
            conn.is_closed(),
            "round {round}: EOF or a bad frame always ends in Closed"
        );
    }
}

#[test]
fn inflight_cap_pauses_and_completion_order_is_kept() {
    let mut conn = connection(2);
    let input: Vec<u8> = (1..=4)
        .flat_map(|seq| frame(seq, "Test", "Later", &[seq as u8]))
        .collect();
    let (mut out, mut parked) = (Vec::new(), Vec::new());
    let _ = conn.handle_read(|buf| {
        buf[..input.len()].copy_from_slice(&input);
        Poll::Ready(Ok(input.len()))
    });
    pump(&mut conn, &mut out, &mut parked);
    assert_eq!(parked.len(), 2, "two calls started: the cap");
    assert!(!conn.wants_read(), "reading paused at the cap");
    assert_eq!(conn.inflight_count(), 2);

    // Finish the second call first: its reply goes out first.
    let mut cx = Context::from_waker(Waker::noop());
    let mut second = parked.pop().unwrap();
    assert!(second.poll(&mut cx).is_ready());
    conn.link().complete(second.finish());
    pump(&mut conn, &mut out, &mut parked);
    assert_eq!(parked.len(), 2, "a slot freed: the third call started");
    assert_eq!(frames(&out).iter().map(Frame::seq).collect::<Vec<_>>(), [2]);

    // EOF now: the connection drains what is in flight (and the fourth frame, already
    // received) before it closes.
    let _ = conn.handle_read(|_| Poll::Ready(Ok(0)));
    pump(&mut conn, &mut out, &mut parked);
    while let Some(mut call) = parked.pop() {
        assert!(!conn.is_closed(), "still draining");
        assert!(call.poll(&mut cx).is_ready());
        conn.handle_completion(call.finish());
        pump(&mut conn, &mut out, &mut parked);
    }
    let seqs: Vec<u64> = frames(&out).iter().map(Frame::seq).collect();
    assert_eq!(seqs.len(), 4);
    assert_eq!(seqs[0], 2);
    assert!(conn.is_closed());
    let payloads: Vec<Bytes> = frames(&out).iter().map(|f| f.payload().clone()).collect();
    assert!(payloads.iter().all(|p| p.len() == 1));
}
