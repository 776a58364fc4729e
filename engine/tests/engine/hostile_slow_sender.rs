//! Hostile peers, slow senders: a header announcing a 16 MiB frame reserves nothing (receive
//! buffers grow with the bytes that arrived), a frame not complete within `frame_timeout`
//! closes its connection, and bytes trickled without completing a frame do not keep a
//! connection from its idle timeout.
//!
//! Figures: the shard's receive-buffer counter, the process's RSS, close times.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringrpc_engine::SerializeType;

use crate::common::measure::{rss_bytes, shard0, wait_for};
use crate::common::{self, request, FrameClient, RecvError};

/// A connection's own receive buffer at its first read (the largest adaptive read).
const READ_MAX: usize = 64 << 10;

/// The 16-byte fixed part of a request announcing a frame of `frame_len` bytes.
fn header_announcing(frame_len: usize) -> Vec<u8> {
    let mut bytes = request(1, SerializeType::None, "Echo", "Echo", &[], b"")[..16].to_vec();
    bytes[12..16].copy_from_slice(&(frame_len as u32 - 16).to_be_bytes());
    bytes
}

#[test]
fn announced_lengths_reserve_nothing_and_unfinished_frames_time_out() {
    let frame_timeout = Duration::from_secs(1);
    let config = common::test_config(1).frame_timeout(Some(frame_timeout));
    let server = common::start(config);
    let limit = ringrpc_engine::Limits::default().max_frame_bytes as usize;
    let rss_before = rss_bytes();
    let mut head = header_announcing(limit);
    head.push(0);
    let count = 200;
    let mut conns: Vec<TcpStream> = (0..count)
        .map(|_| TcpStream::connect(server.local_addr()).expect("connect"))
        .collect();
    for conn in &mut conns {
        conn.write_all(&head).expect("send");
    }
    let sent = Instant::now();
    wait_for(
        Duration::from_secs(10),
        "the shard reads every header",
        || shard0(&server).connections_open == count,
    );
    let took = wait_for(Duration::from_secs(20), "frame timeouts close all", || {
        shard0(&server).connections_open == 0
    });
    let closed = sent.elapsed();
    let stats = shard0(&server);
    let rss = rss_bytes().saturating_sub(rss_before);
    println!(
        "hostile slow sender: {count} connections announcing {limit} B frames: receive buffers \
         peak {} B ({} B each), RSS +{} KiB, all closed {closed:?} after the header \
         (frame timeout {frame_timeout:?}, {took:?} waited)",
        stats.recv_buffer_bytes_peak,
        stats.recv_buffer_bytes_peak / count,
        rss >> 10
    );
    assert!(
        stats.recv_buffer_bytes_peak <= count * (READ_MAX + 4096),
        "receive buffers grew with announced lengths: {} B",
        stats.recv_buffer_bytes_peak
    );
    assert!(
        closed >= frame_timeout,
        "closed before the timeout: {closed:?}"
    );
    assert_eq!(
        stats.recv_buffer_bytes, 0,
        "closed connections hold no buffer"
    );
    assert!(rss < 100 << 20, "RSS +{rss} B");
}

/// Sends `bytes` one at a time, `every` apart, until the server closes the connection;
/// returns how long after the first byte it closed.
fn trickle_until_closed(client: &mut FrameClient, bytes: &[u8], every: Duration) -> Duration {
    let start = Instant::now();
    for byte in bytes {
        if client.try_send(std::slice::from_ref(byte)).is_err() {
            return start.elapsed();
        }
        match client.recv_within(every) {
            Err(RecvError::Timeout) => {}
            Err(RecvError::Closed | RecvError::Io(_)) => return start.elapsed(),
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("still open after trickling {} bytes", bytes.len());
}

#[test]
fn a_trickled_frame_times_out() {
    let frame_timeout = Duration::from_millis(300);
    let config = common::test_config(1)
        .frame_timeout(Some(frame_timeout))
        .idle_timeout(None);
    let server = common::start(config);
    let mut client = FrameClient::connect(server.local_addr());
    let frame = request(1, SerializeType::None, "Echo", "Echo", &[], &[7; 1000]);
    let took = trickle_until_closed(&mut client, &frame, Duration::from_millis(20));
    println!("hostile slow sender: a frame trickled 1 byte / 20 ms closed after {took:?}");
    assert!(took >= frame_timeout, "{took:?}");
}

#[test]
fn trickled_bytes_do_not_reset_the_idle_timer() {
    let idle_timeout = Duration::from_millis(300);
    let config = common::test_config(1)
        .idle_timeout(Some(idle_timeout))
        .frame_timeout(None);
    let server = common::start(config);
    let mut client = FrameClient::connect(server.local_addr());
    common::assert_serving_on(&mut client);
    let frame = request(2, SerializeType::None, "Echo", "Echo", &[], &[7; 1000]);
    let took = trickle_until_closed(&mut client, &frame, Duration::from_millis(20));
    println!("hostile slow sender: idle connection trickling 1 byte / 20 ms closed after {took:?}");
    assert!(
        took >= idle_timeout - Duration::from_millis(50) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
