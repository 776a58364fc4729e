//! Hostile peers, slow readers: a client that never reads cannot grow server memory through
//! pushes or replies (every unsent byte counts against `push_buffer_max_bytes` and
//! `flush_threshold_bytes`), and once the kernel takes none of its output for
//! `send_timeout` its connection is closed and the output dropped.
//!
//! Figures: the shard's unsent-bytes counter, close times.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringrpc_engine::SerializeType;

use crate::common::measure::{shard0, wait_all_closed, wait_for, write_until_stalled};
use crate::common::{self, json, request, PushArgs};

/// Frame bytes around a push's payload (header, path, method, one metadata record).
const PUSH_OVERHEAD: usize = 64;

#[test]
fn pushes_to_a_client_that_never_reads_stop_at_the_push_buffer() {
    push_flood(common::test_config(1), 0, "", |addr, request| {
        let conn = TcpStream::connect(addr).expect("connect");
        std::io::Write::write_all(&mut &conn, request).expect("send");
        Box::new(conn)
    });
}

/// A handler pushes 1M × 8 KiB to a client that sends the request with `send` (which
/// returns what keeps the connection open) and never reads: unsent bytes stop at the push
/// buffer plus one push plus `extra_bytes`, and the send timeout closes the connection.
pub fn push_flood(
    config: ringrpc_engine::ServerConfig,
    extra_bytes: usize,
    label: &str,
    send: impl FnOnce(std::net::SocketAddr, &[u8]) -> Box<dyn std::any::Any>,
) {
    let push_buffer = 64 << 10;
    let send_timeout = Duration::from_millis(500);
    let config = config
        .push_buffer_max_bytes(push_buffer)
        .send_timeout(Some(send_timeout));
    let server = common::start(config);
    let payload_len = 8 << 10;
    let args = json(&PushArgs {
        count: 1_000_000,
        payload: "x".repeat(payload_len),
    });
    let request = request(1, SerializeType::Json, "Test", "Push", &[], &args);
    let conn = send(server.local_addr(), &request);
    let started = Instant::now();
    wait_for(Duration::from_secs(5), "pushes back up", || {
        shard0(&server).unsent_bytes >= push_buffer
    });
    let (took, stats) = wait_all_closed(&server, "the send timeout closes it");
    println!(
        "hostile slow reader{label}: 1M pushes of {payload_len} B to a client that never reads: \
         unsent peak {} B (push buffer {push_buffer} B), closed {:?} after the first push \
         ({took:?} after the backlog, send timeout {send_timeout:?})",
        stats.unsent_bytes_peak,
        started.elapsed()
    );
    let bound = push_buffer + payload_len + PUSH_OVERHEAD + extra_bytes;
    assert!(
        stats.unsent_bytes_peak <= bound,
        "unsent peak {} B > {bound} B",
        stats.unsent_bytes_peak
    );
    assert_eq!(stats.unsent_bytes, 0, "dropped with the connection");
    assert!(took >= send_timeout / 2, "{took:?}");
    drop(conn);
}

#[test]
fn replies_to_a_client_that_never_reads_stop_at_the_flush_threshold() {
    let flush = 64 << 10;
    let send_timeout = Duration::from_millis(500);
    let config = common::test_config(1)
        .flush_threshold_bytes(flush)
        .send_timeout(Some(send_timeout));
    let server = common::start(config);
    let payload = vec![9u8; 32 << 10];
    let frame = request(1, SerializeType::None, "Echo", "Echo", &[], &payload);
    let conn = TcpStream::connect(server.local_addr()).expect("connect");
    conn.set_nonblocking(true).unwrap();
    // Pipeline requests without reading until the server stops taking them.
    let mut offset = 0;
    let written = write_until_stalled(|| {
        let n = std::io::Write::write(&mut &conn, &frame[offset..])?;
        offset = (offset + n) % frame.len();
        Ok(n)
    });
    let (took, stats) = wait_all_closed(&server, "the send timeout closes it");
    let reply_len = frame.len();
    println!(
        "hostile slow reader: {written} B of pipelined 32 KiB echoes, never read: unsent peak \
         {} B (flush threshold {flush} B), closed {took:?} after the server stopped reading",
        stats.unsent_bytes_peak
    );
    assert!(
        stats.unsent_bytes_peak < 2 * (flush + reply_len),
        "unsent peak {} B",
        stats.unsent_bytes_peak
    );
    assert_eq!(stats.unsent_bytes, 0);
    drop(conn);
}

/// A connection closing after a protocol error still owes its last reply: if the peer never
/// reads it, the send timeout cuts the connection off (on io_uring the send in flight is
/// cancelled) instead of the slot waiting for that send until shutdown.
#[test]
fn a_closing_connection_whose_last_reply_is_never_read_is_cut_off() {
    let send_timeout = Duration::from_millis(500);
    let config = common::test_config(1).send_timeout(Some(send_timeout));
    let server = common::start(config);
    // A reply far larger than the loopback socket buffers can absorb, and right behind its
    // request (in the same writes) a frame with a bad magic byte: the server answers the
    // first, then closes after that reply is sent.
    let payload = vec![7u8; 12 << 20];
    let mut bytes = request(1, SerializeType::None, "Echo", "Echo", &[], &payload);
    bytes.extend_from_slice(&[0u8; 16]);
    let conn = TcpStream::connect(server.local_addr()).expect("connect");
    conn.set_nonblocking(true).unwrap();
    let mut offset = 0;
    write_until_stalled(|| {
        if offset == bytes.len() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = std::io::Write::write(&mut &conn, &bytes[offset..])?;
        offset += n;
        Ok(n)
    });
    assert_eq!(
        offset,
        bytes.len(),
        "the server read the request and the bad frame"
    );
    let (took, stats) = wait_all_closed(&server, "the send timeout closes the closing connection");
    println!(
        "hostile slow reader: closing with a 12 MiB reply never read: closed {took:?} after the \
         last write (send timeout {send_timeout:?}), unsent peak {} B",
        stats.unsent_bytes_peak
    );
    assert_eq!(stats.unsent_bytes, 0, "its output is dropped");
    drop(conn);
}

/// The same with the bad frame sent only after the reply is out of the connection's hands
/// (all of it in the driver's send, most of it never taken): the connection closes at
/// once, and the send it leaves in flight still counts as unsent, so the send timeout
/// cuts it off instead of the socket staying open until the peer reads.
#[test]
fn a_send_left_in_flight_by_a_close_is_cut_off_by_the_send_timeout() {
    let send_timeout = Duration::from_millis(500);
    let config = common::test_config(1).send_timeout(Some(send_timeout));
    let server = common::start(config);
    let payload = vec![7u8; 12 << 20];
    let bytes = request(1, SerializeType::None, "Echo", "Echo", &[], &payload);
    let conn = TcpStream::connect(server.local_addr()).expect("connect");
    std::io::Write::write_all(&mut &conn, &bytes).expect("send the request");
    // The reply leaves the connection: all of it handed to a send the peer does not read.
    wait_for(Duration::from_secs(10), "the reply is out", || {
        shard0(&server).unsent_bytes > 0
    });
    std::thread::sleep(Duration::from_millis(100));
    let before = shard0(&server);
    std::io::Write::write_all(&mut &conn, &[0u8; 16]).expect("send the bad frame");
    let (took, stats) = wait_all_closed(&server, "the send timeout cuts the send in flight off");
    println!(
        "hostile slow reader: a 12 MiB reply left in flight by a close: unsent {} B before \
         the close, socket closed {took:?} after it (send timeout {send_timeout:?})",
        before.unsent_bytes
    );
    assert_eq!(stats.unsent_bytes, 0, "its output is dropped");
    drop(conn);
}
