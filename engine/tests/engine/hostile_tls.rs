//! Hostile peers over TLS, on the driver under test: the TLS layer's bytes count in the
//! shard's budgets and meet the same timeouts as plaintext.
//! - a TLS client that never reads: sealed records waiting for the kernel count as unsent
//!   bytes (pushes wait for room counting them), the server stops reading at its bounds,
//!   and the send timeout cuts it off;
//! - a TLS record begun and never finished: its bytes count as receive-buffer bytes and the
//!   frame timeout cuts it off;
//! - a record header announcing more than TLS allows, or an rpcx frame inside TLS
//!   announcing more than `max_frame_bytes`: closed at once, as an oversized frame in
//!   plaintext.
//!
//! Figures: the shard's unsent and receive-buffer counters, close times.

use std::io::Write;
use std::time::Duration;

use ringrpc_engine::SerializeType;

use crate::common::measure::{shard0, wait_all_closed, wait_for, write_until_stalled};
use crate::common::tls::{connect, recv_frame, server_tls, wait_closed, write_raw};
use crate::common::{self, request};
use crate::hostile_slow_reader::push_flood;

#[test]
fn a_tls_client_that_never_reads_is_bounded_and_cut_off_by_the_send_timeout() {
    let (flush, tls_out) = (64 << 10, 64 << 10);
    let send_timeout = Duration::from_millis(500);
    let config = common::test_config(1)
        .flush_threshold_bytes(flush)
        .send_timeout(Some(send_timeout))
        .tls(server_tls().out_buffer_max_bytes(tls_out));
    let server = common::start(config);
    let frame = request(
        1,
        SerializeType::None,
        "Echo",
        "Echo",
        &[],
        &[9u8; 32 << 10],
    );
    let mut stream = connect(server.local_addr());
    stream.sock.set_nonblocking(true).unwrap();
    // Pipeline echoes through TLS without reading until the server stops taking them.
    let mut offset = 0;
    let written = write_until_stalled(|| {
        if !stream.conn.wants_write() {
            let n = stream.conn.writer().write(&frame[offset..])?;
            offset = (offset + n) % frame.len();
        }
        stream.conn.write_tls(&mut stream.sock)
    });
    let (took, stats) = wait_all_closed(&server, "the send timeout closes it");
    let reply_len = frame.len();
    println!(
        "hostile TLS reader: {written} B of pipelined 32 KiB echoes over TLS, never read: \
         unsent peak {} B (flush threshold {flush} B, TLS output {tls_out} B), closed {took:?} \
         after the server stopped reading",
        stats.unsent_bytes_peak
    );
    // The core's output (as without TLS) plus the session's records: below its bound plus
    // one sealing of at most as much again, with a 22-byte record overhead per 16 KiB.
    let bound = 2 * (flush + reply_len) + 2 * tls_out + 22 * (2 * tls_out / (16 << 10) + 2);
    assert!(
        stats.unsent_bytes_peak <= bound,
        "unsent peak {} B > {bound} B",
        stats.unsent_bytes_peak
    );
    assert_eq!(stats.unsent_bytes, 0, "dropped with the connection");
}

#[test]
fn pushes_to_a_tls_client_that_never_reads_stop_at_the_push_buffer() {
    // Sealed records count against the push buffer too: 22 bytes over their plaintext per
    // record, and each 8 KiB push is sealed in at most two records.
    let records = 2 * ((64 << 10) / (8 << 10) + 2);
    let config = common::test_config(1).tls(server_tls());
    push_flood(config, 22 * records, " over TLS", |addr, request| {
        let mut stream = connect(addr);
        stream.write_all(request).expect("send");
        stream.flush().expect("send");
        Box::new(stream)
    });
}

#[test]
fn a_tls_record_never_finished_is_held_input_and_cut_off_by_the_frame_timeout() {
    let frame_timeout = Duration::from_millis(300);
    let config = common::test_config(1)
        .frame_timeout(Some(frame_timeout))
        .idle_timeout(None)
        .tls(server_tls());
    let server = common::start(config);
    let mut stream = connect(server.local_addr());
    // One call, so the server has finished its handshake; then the connection goes quiet
    // and holds no receive buffer.
    stream
        .write_all(&request(1, SerializeType::None, "Echo", "Echo", &[], b"hi"))
        .unwrap();
    recv_frame(&mut stream);
    wait_for(
        Duration::from_secs(5),
        "an idle connection holds nothing",
        || shard0(&server).recv_buffer_bytes == 0,
    );
    // An application-data record announcing 16000 bytes, of which 100 arrive.
    let mut partial = vec![0x17, 0x03, 0x03];
    partial.extend_from_slice(&16_000u16.to_be_bytes());
    partial.extend_from_slice(&[0u8; 100]);
    write_raw(&mut stream, &partial);
    wait_for(Duration::from_secs(5), "the partial record counted", || {
        shard0(&server).recv_buffer_bytes == partial.len()
    });
    let took = wait_closed(&mut stream.sock, Duration::from_secs(10));
    let stats = shard0(&server);
    println!(
        "hostile TLS sender: {} B of a 16000 B record, then nothing: receive-buffer peak {} B, \
         closed after {took:?} (frame timeout {frame_timeout:?})",
        partial.len(),
        stats.recv_buffer_bytes_peak
    );
    assert!(took >= frame_timeout / 2, "{took:?}");
    wait_for(Duration::from_secs(5), "gone", || {
        shard0(&server).connections_open == 0
    });
    assert_eq!(shard0(&server).recv_buffer_bytes, 0, "given back");
}

#[test]
fn an_oversized_record_or_an_oversized_frame_inside_tls_is_closed_at_once() {
    let server = common::start(common::test_config(1).tls(server_tls()));
    // A record longer than TLS allows (2^14 + 256 bytes of ciphertext).
    let mut stream = connect(server.local_addr());
    write_raw(&mut stream, &[0x17, 0x03, 0x03, 0xff, 0xff]);
    let record_took = wait_closed(&mut stream.sock, Duration::from_secs(10));

    // An rpcx header announcing a 1 GiB frame, sealed as it should be.
    let mut stream = connect(server.local_addr());
    // The header is 16 bytes; the body length is its last four (PROTOCOL.md §1).
    let mut header = request(1, SerializeType::None, "Echo", "Echo", &[], b"")[..16].to_vec();
    header[12..16].copy_from_slice(&(1u32 << 30).to_be_bytes());
    stream.write_all(&header).unwrap();
    stream.flush().unwrap();
    let frame_took = wait_closed(&mut stream.sock, Duration::from_secs(10));
    println!(
        "hostile TLS: an oversized record closed after {record_took:?}, an oversized frame \
         inside TLS after {frame_took:?}"
    );
    for took in [record_took, frame_took] {
        assert!(took < Duration::from_secs(2), "closed at once: {took:?}");
    }
    let mut client = connect(server.local_addr());
    client
        .write_all(&request(
            2,
            SerializeType::None,
            "Echo",
            "Echo",
            &[],
            b"still",
        ))
        .unwrap();
    assert_eq!(
        &recv_frame(&mut client).payload()[..],
        b"still",
        "others are served"
    );
}
