//! Proves the raw echo reply leaves without its payload being copied: the connection core
//! hands the reply's head and the request's payload to the driver as separate pieces, the
//! payload piece pointing into the very buffer the request arrived in (both for a driver
//! that lends kernel buffers, `handle_chunk`, and one that reads into the connection's own
//! buffer, `handle_read`), and the bytes on the wire are those of a copied reply. Short
//! payloads are copied (cheaper than one more piece).

use std::io::IoSlice;
use std::ops::Range;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::{decode, encode_frame, Header, Limits, NO_METADATA};
use ringrpc_engine::conn::{ConnConfig, Connection, Link, SendPieces};
use ringrpc_engine::{HandlerError, Request, Response, SerializeType, Services};

async fn echo(request: Request) -> Result<Response, HandlerError> {
    Ok(Response::new(request.into_payload()))
}

fn connection() -> Connection {
    let mut services = Services::new();
    services.register("Echo", "Echo", echo);
    Connection::new(
        Rc::new(services),
        Rc::new(ConnConfig::default()),
        Link::detached(),
    )
}

fn request(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let header = Header::request(seq, SerializeType::None);
    encode_frame(&mut out, &header, "Echo", "Echo", NO_METADATA, payload).unwrap();
    out.to_vec()
}

fn run_calls(conn: &mut Connection) {
    let mut cx = Context::from_waker(Waker::noop());
    while let Some(call) = conn.poll_call(Instant::now) {
        assert!(conn.poll_inline(&mut cx, call).is_none());
    }
}

fn inside(range: &Range<usize>, piece: &[u8]) -> bool {
    range.contains(&(piece.as_ptr() as usize))
}

/// The slices a vectored send would take, their addresses, and their bytes joined.
fn slices(conn: &mut Connection) -> (Vec<usize>, Vec<u8>) {
    let mut dst = [IoSlice::new(&[]); 8];
    let n = conn.transmit_slices(&mut dst);
    let addresses = dst[..n].iter().map(|s| s.as_ptr() as usize).collect();
    let wire = dst[..n].iter().flat_map(|s| s.iter().copied()).collect();
    (addresses, wire)
}

fn decoded_payloads(wire: &[u8]) -> Vec<Bytes> {
    let mut buf = BytesMut::from(wire);
    let mut payloads = Vec::new();
    while let Some(frame) = decode(&mut buf, &Limits::default()).unwrap() {
        payloads.push(frame.into_payload());
    }
    assert!(buf.is_empty());
    payloads
}

#[test]
fn a_lent_buffer_is_echoed_by_reference_in_one_vectored_send() {
    let mut conn = connection();
    let payload = [7u8; 581];
    let wire = [request(1, &payload), request(2, &payload)].concat();
    let chunk = Bytes::from(wire);
    let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
    conn.handle_chunk(chunk);
    run_calls(&mut conn);

    let (addresses, out) = slices(&mut conn);
    assert_eq!(addresses.len(), 4, "two heads, two payloads by reference");
    let by_reference = addresses.iter().filter(|&&a| range.contains(&a)).count();
    assert_eq!(
        by_reference, 2,
        "both payloads point into the received buffer"
    );
    assert_eq!(decoded_payloads(&out), [&payload[..], &payload[..]]);
    conn.handle_sent(out.len() - 10);
    let (_, rest) = slices(&mut conn);
    assert_eq!(
        rest,
        out[out.len() - 10..],
        "a short send resumes inside a piece"
    );
    conn.handle_sent(10);
    assert_eq!(conn.transmit_slices(&mut [IoSlice::new(&[])]), 0);
}

#[test]
fn owned_pieces_share_the_buffer_too() {
    let mut conn = connection();
    let payload = [9u8; 1000];
    let chunk = Bytes::from(request(5, &payload));
    let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
    conn.handle_chunk(chunk);
    run_calls(&mut conn);
    let mut pieces = Vec::new();
    while let Some(piece) = conn.poll_transmit_owned() {
        pieces.push(piece);
    }
    assert_eq!(pieces.len(), 2);
    assert!(!inside(&range, &pieces[0]) && inside(&range, &pieces[1]));
    let wire: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(decoded_payloads(&wire), [&payload[..]]);
    conn.handle_sent_owned(wire.len());
}

#[test]
fn the_heads_of_one_send_are_one_piece_of_the_output_buffer() {
    let mut conn = connection();
    let payload = [4u8; 700];
    let wire: Vec<u8> = (1..=16).flat_map(|seq| request(seq, &payload)).collect();
    let chunk = Bytes::from(wire);
    let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
    conn.handle_chunk(chunk);
    run_calls(&mut conn);
    let mut taken = SendPieces::default();
    assert_eq!(conn.poll_transmit_owned_into(&mut taken, 64), 32);
    // Sixteen payloads kept by reference and one block for all sixteen heads: no head is
    // cut off the buffer on its own.
    assert_eq!(taken.owners(), 17);
    let slices: Vec<&[u8]> = taken.slices().collect();
    for (i, pair) in slices.chunks(2).enumerate() {
        assert!(
            !inside(&range, pair[0]) && inside(&range, pair[1]),
            "reply {i}"
        );
    }
    let wire: Vec<u8> = slices.concat();
    assert_eq!(decoded_payloads(&wire), vec![&payload[..]; 16]);
    conn.handle_sent_owned(wire.len());
}

#[test]
fn pieces_are_taken_in_batches_of_at_most_max_in_wire_order() {
    let mut conn = connection();
    let payload = [3u8; 600];
    let wire: Vec<u8> = (1..=5).flat_map(|seq| request(seq, &payload)).collect();
    conn.handle_chunk(Bytes::from(wire));
    run_calls(&mut conn);
    // Five replies, each a head and a payload piece: 4 + 4 + 2, never more than asked for.
    let mut taken = SendPieces::default();
    let mut batches = Vec::new();
    loop {
        let n = conn.poll_transmit_owned_into(&mut taken, 4);
        if n == 0 {
            break;
        }
        batches.push(n);
        assert!(conn.has_unsent() == (taken.pieces() < 10));
    }
    assert_eq!(batches, [4, 4, 2]);
    // Each batch cut its heads off the output buffer once: 3 blocks and 5 payloads.
    assert_eq!(taken.owners(), 8);
    let wire: Vec<u8> = taken.slices().flatten().copied().collect();
    assert_eq!(decoded_payloads(&wire), vec![&payload[..]; 5]);
    conn.handle_sent_owned(wire.len());
    taken.advance(wire.len());
    assert!(taken.is_empty() && taken.owners() == 0);
    assert!(!conn.has_unsent());
    assert_eq!(conn.poll_transmit_owned_into(&mut taken, 4), 0);
}

#[test]
fn a_read_buffer_is_echoed_by_reference_and_short_payloads_are_copied() {
    let mut conn = connection();
    let wire = [request(1, &[3u8; 581]), request(2, b"short")].concat();
    let mut read_at = 0..0;
    let _ = conn.handle_read(|buf| {
        buf[..wire.len()].copy_from_slice(&wire);
        read_at = buf.as_ptr() as usize..buf.as_ptr() as usize + wire.len();
        Poll::Ready(Ok(wire.len()))
    });
    run_calls(&mut conn);
    let (addresses, out) = slices(&mut conn);
    assert_eq!(
        addresses.len(),
        3,
        "head, payload by reference, then the short reply"
    );
    assert!(read_at.contains(&addresses[1]));
    assert!(!read_at.contains(&addresses[2]));
    assert_eq!(decoded_payloads(&out), [&[3u8; 581][..], &b"short"[..]]);
}

#[test]
fn replies_kept_by_reference_count_against_the_flush_threshold() {
    let mut services = Services::new();
    services.register("Echo", "Echo", echo);
    let config = ConnConfig {
        flush_threshold_bytes: 4 << 10,
        ..ConnConfig::default()
    };
    let mut conn = Connection::new(Rc::new(services), Rc::new(config), Link::detached());
    let payload = [1u8; 1000];
    let wire: Vec<u8> = (0..16).flat_map(|seq| request(seq, &payload)).collect();
    conn.handle_chunk(Bytes::from(wire));
    run_calls(&mut conn);
    // The peer reads nothing: the connection stops taking requests once what it holds to
    // send reaches the threshold (plus the reply that crossed it).
    assert!(!conn.wants_read(), "paused by unsent replies");
    let (addresses, out) = slices(&mut conn);
    let replies = decoded_payloads(&out).len();
    assert!((4..16).contains(&replies), "{replies} replies held");
    assert_eq!(addresses.len(), 2 * replies);
    conn.handle_sent(out.len());
    assert!(conn.wants_read(), "sent: reading again");
    let mut served = replies;
    for _ in 0..16 {
        run_calls(&mut conn);
        let (_, out) = slices(&mut conn);
        served += decoded_payloads(&out).len();
        conn.handle_sent(out.len());
    }
    assert_eq!(served, 16, "the rest is served");
}

#[test]
fn receives_that_arrive_together_are_all_echoed_by_reference() {
    // A driver turn that reaped three receives of one connection before serving it.
    let mut conn = connection();
    let payload = [5u8; 581];
    let mut ranges = Vec::new();
    for k in 0..3 {
        let chunk = Bytes::from([request(2 * k, &payload), request(2 * k + 1, &payload)].concat());
        ranges.push(chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len());
        conn.handle_chunk(chunk);
    }
    run_calls(&mut conn);
    let mut dst = [IoSlice::new(&[]); 16];
    let n = conn.transmit_slices(&mut dst);
    assert_eq!(n, 12, "six heads, six payloads");
    for (k, range) in ranges.iter().enumerate() {
        let payloads = dst[..n].iter().filter(|s| inside(range, s)).count();
        assert_eq!(
            payloads, 2,
            "receive {k}: both payloads sent from where they arrived"
        );
    }
}

async fn stall(_request: Request) -> Result<Response, HandlerError> {
    std::future::pending().await
}

#[test]
fn a_paused_connection_lets_all_but_its_newest_receive_buffer_go() {
    let mut services = Services::new();
    services.register("Echo", "Echo", stall);
    let config = ConnConfig {
        max_inflight: 1,
        ..ConnConfig::default()
    };
    let mut conn = Connection::new(Rc::new(services), Rc::new(config), Link::detached());
    let chunks: Vec<Bytes> = (0..3)
        .map(|seq| Bytes::from(request(seq, &[seq as u8; 300])))
        .collect();
    for chunk in &chunks {
        conn.handle_chunk(chunk.clone());
    }
    let mut cx = Context::from_waker(Waker::noop());
    let call = conn
        .poll_call(Instant::now)
        .expect("the first request starts");
    let running = conn.poll_inline(&mut cx, call).expect("it never finishes");
    assert!(
        conn.poll_call(Instant::now).is_none(),
        "paused at one in flight"
    );
    assert!(
        !chunks[0].is_unique(),
        "the running request keeps its own buffer"
    );
    assert!(
        chunks[1].is_unique(),
        "a waiting buffer behind the newest is copied out and given back"
    );
    assert!(!chunks[2].is_unique(), "the newest stays lent");
    drop(running);
}
