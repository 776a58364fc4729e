//! TLS bytes in the shard's bounds: sealed records not yet taken by the kernel count as
//! unsent (here or in a driver's send), so the send timeout closes a TLS peer that reads
//! nothing, also once the core has closed and only its close_notify waits; a partly
//! received record counts as receive-buffer bytes and as a frame half received, so the
//! frame timeout closes a peer that never finishes it; everything is given back at close.

use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    accept_on, client_bytes, echo_request, handshaken_on, pki, serve, server_config, shard_for,
};
use crate::conn::{ByteStats, Control, Link, ShardBounds, Timeouts};
use crate::error::CloseCause;
use crate::runtime::watch::ConnWatch;

const SECOND: Duration = Duration::from_secs(1);

/// A link on a shard with these send and frame timeouts, and the shard's counters.
fn shard_link(send: Option<Duration>, frame: Option<Duration>) -> (Rc<Link>, Arc<ByteStats>) {
    let timeouts = Timeouts {
        send,
        frame,
        ..Timeouts::default()
    };
    let stats = Arc::new(ByteStats::default());
    let bounds = ShardBounds::new(usize::MAX, 1 << 20, timeouts, stats.clone());
    (Link::detached_with(Rc::new(bounds)), stats)
}

fn unsent(stats: &ByteStats) -> usize {
    stats.unsent_bytes.load(Ordering::Relaxed)
}

fn recv(stats: &ByteStats) -> usize {
    stats.recv_buffer_bytes.load(Ordering::Relaxed)
}

/// Sweeps at `t0` and `t0 + after`; the control the watch asked for.
fn sweep(link: &Link, t0: Instant, after: Duration) -> Option<Control> {
    let mut watch = ConnWatch::new(link);
    watch.sweep(link, t0);
    watch.sweep(link, t0 + after);
    link.take_control()
}

#[test]
fn sealed_records_the_peer_never_reads_count_as_unsent_until_the_send_timeout() {
    let (link, stats) = shard_link(Some(SECOND), None);
    let (_pki, _shard, mut server, mut client) = handshaken_on("unsent", |c| c, link.clone());
    assert_eq!(unsent(&stats), 0, "the handshake's records were all taken");
    client
        .writer()
        .write_all(&echo_request(1, &[5; 3000]))
        .unwrap();
    server.handle_received(&client_bytes(&mut client));
    serve(&mut server);
    // The reply is sealed at once: the core holds nothing, the session all of it.
    let held = server.poll_transmit().map_or(0, <[u8]>::len);
    assert!(held > 3000, "{held}");
    assert_eq!(link.unsent_bytes(), held);
    assert_eq!(unsent(&stats), held, "the shard counts the records");

    let t0 = Instant::now();
    assert_eq!(sweep(&link, t0, SECOND / 2), None);
    assert_eq!(sweep(&link, t0, SECOND), Some(Control::SendTimeout));
    link.request(Control::SendTimeout);
    server.handle_link();
    assert!(server.is_closed() && server.is_output_dropped());
    assert!(matches!(server.take_cause(), Some(CloseCause::SendTimeout)));
    assert_eq!(unsent(&stats), 0, "dropped with the connection");
}

#[test]
fn a_close_notify_the_peer_never_reads_is_dropped_by_the_send_timeout() {
    let (link, stats) = shard_link(Some(SECOND), None);
    let (_pki, _shard, mut server, _client) = handshaken_on("notify-stuck", |c| c, link.clone());
    link.request(Control::Drain);
    serve(&mut server);
    let notify = server.poll_transmit().map_or(0, <[u8]>::len);
    assert!(notify > 0, "close_notify queued");
    assert!(
        !server.is_closed(),
        "it waits for the close_notify to leave"
    );
    assert_eq!(
        unsent(&stats),
        notify,
        "still counted after the core closed"
    );

    assert_eq!(
        sweep(&link, Instant::now(), SECOND),
        Some(Control::SendTimeout)
    );
    link.request(Control::SendTimeout);
    server.handle_link();
    assert!(server.is_closed() && server.is_output_dropped());
    assert!(matches!(server.take_cause(), Some(CloseCause::SendTimeout)));
    assert_eq!(unsent(&stats), 0);
}

#[test]
fn records_a_drivers_send_holds_stay_unsent_until_the_kernel_takes_them() {
    let (link, stats) = shard_link(None, None);
    let (_pki, _shard, mut server, mut client) = handshaken_on("owned", |c| c, link.clone());
    client.writer().write_all(&echo_request(1, b"hi")).unwrap();
    server.handle_received(&client_bytes(&mut client));
    serve(&mut server);
    let sent_before = link.sent_bytes();
    let bytes = server.poll_transmit_owned().expect("a sealed reply");
    assert_eq!(unsent(&stats), bytes.len());
    server.handle_sent_owned(10);
    assert_eq!(unsent(&stats), bytes.len() - 10);
    server.handle_sent_owned(bytes.len() - 10);
    assert_eq!(unsent(&stats), 0);
    assert_eq!(
        link.sent_bytes() - sent_before,
        bytes.len() as u64,
        "activity is ciphertext the kernel took"
    );
}

#[test]
fn a_record_begun_and_never_finished_is_held_input_and_meets_the_frame_timeout() {
    let (link, stats) = shard_link(None, Some(SECOND));
    let (_pki, _shard, mut server, mut client) = handshaken_on("partial", |c| c, link.clone());
    serve(&mut server);
    let before = recv(&stats);
    client
        .writer()
        .write_all(&echo_request(1, &[1; 2000]))
        .unwrap();
    let wire = client_bytes(&mut client);
    let cut = wire.len() - 10;
    server.handle_received(&wire[..cut]);
    serve(&mut server);
    assert_eq!(recv(&stats) - before, cut, "the partial record counts");
    assert!(link.is_receiving(), "a frame half received, for the sweep");

    assert_eq!(
        sweep(&link, Instant::now(), SECOND),
        Some(Control::FrameTimeout)
    );
    link.request(Control::FrameTimeout);
    serve(&mut server);
    server.poll_transmit();
    assert!(matches!(
        server.take_cause(),
        Some(CloseCause::FrameTimeout)
    ));
    assert_eq!(recv(&stats), 0, "given back at close");
}

#[test]
fn a_whole_record_leaves_nothing_held_and_nothing_half_received() {
    let (link, stats) = shard_link(None, None);
    let (_pki, _shard, mut server, mut client) = handshaken_on("whole", |c| c, link.clone());
    client.writer().write_all(&echo_request(1, b"hi")).unwrap();
    let wire = client_bytes(&mut client);
    server.handle_received(&wire[..7]);
    serve(&mut server);
    assert_eq!(recv(&stats), 7, "a header and two bytes");
    server.handle_received(&wire[7..]);
    serve(&mut server);
    assert!(!link.is_receiving());
    assert!(server.poll_transmit().is_some(), "answered");
    server.release_idle_buffers();
    assert_eq!(recv(&stats), 0, "nothing held once the record is whole");
}

#[test]
fn handshake_input_counts_until_the_handshake_ends_or_the_connection_goes() {
    let pki = pki("handshake-input");
    let shard = shard_for(&server_config(&pki));
    let (link, stats) = shard_link(None, None);
    let (mut server, expired) = accept_on(&shard, link);
    let mut client = super::client(&pki, &pki.ca, false);
    let hello = client_bytes(&mut client);
    server.handle_received(&hello[..hello.len() / 2]);
    assert_eq!(recv(&stats), hello.len() / 2, "half a ClientHello held");
    expired.unwrap().set(true);
    server.handle_link();
    assert!(server.is_closed());
    assert!(matches!(
        server.take_cause(),
        Some(CloseCause::TlsHandshakeTimeout { .. })
    ));
    assert_eq!(recv(&stats), 0);
    drop(server);
    assert_eq!(recv(&stats), 0);
}
