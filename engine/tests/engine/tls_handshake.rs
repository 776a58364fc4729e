//! TLS handshake bounds over real sockets, on the driver under test: a peer that connects
//! and sends nothing, or half a ClientHello, is closed at the handshake timeout (not
//! before), and what it sent counts as receive-buffer bytes until then; a connection
//! accepted while `max_handshakes_per_shard` others are handshaking is refused at once
//! (closed, not queued), and a place freed by a timed-out handshake is taken by the next
//! client, which is served.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringrpc_engine::SerializeType;

use crate::common::measure::{shard0, wait_for};
use crate::common::tls::{client_hello, connect, recv_frame, server_tls, wait_closed};
use crate::common::{self, request};

#[test]
fn a_silent_peer_and_half_a_client_hello_are_closed_at_the_handshake_timeout() {
    let timeout = Duration::from_millis(400);
    let tls = server_tls().handshake_timeout(timeout);
    let server = common::start(common::test_config(1).tls(tls));
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(server.local_addr()).unwrap();
    let mut half = TcpStream::connect(server.local_addr()).unwrap();
    let hello = client_hello();
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    wait_for(Duration::from_secs(5), "half a ClientHello counted", || {
        shard0(&server).recv_buffer_bytes >= hello.len() / 2
    });
    // Each from before its connect: the server's timer starts at accept, later.
    wait_closed(&mut silent, Duration::from_secs(10));
    let silent_took = t0.elapsed();
    wait_closed(&mut half, Duration::from_secs(10));
    let half_took = t0.elapsed();
    println!(
        "TLS handshake timeout {timeout:?}: a silent peer closed after {silent_took:?}, half a \
         ClientHello ({} of {} B) after {half_took:?}",
        hello.len() / 2,
        hello.len()
    );
    for took in [silent_took, half_took] {
        assert!(took >= timeout, "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    wait_for(Duration::from_secs(5), "both gone", || {
        shard0(&server).connections_open == 0
    });
    assert_eq!(shard0(&server).recv_buffer_bytes, 0, "given back");
}

#[test]
fn connections_over_the_handshake_cap_are_refused_at_once_and_freed_places_reused() {
    let timeout = Duration::from_millis(1500);
    let tls = server_tls()
        .handshake_timeout(timeout)
        .max_handshakes_per_shard(2);
    let server = common::start(common::test_config(1).tls(tls));
    let stalled: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    wait_for(Duration::from_secs(5), "two handshakes open", || {
        shard0(&server).connections_open == 2
    });
    let mut over = TcpStream::connect(server.local_addr()).unwrap();
    over.write_all(&client_hello()).unwrap();
    let refused_after = wait_closed(&mut over, Duration::from_secs(10));
    println!(
        "TLS handshake cap 2: the third connection closed after {refused_after:?} (timeout \
         {timeout:?})"
    );
    assert!(
        refused_after < timeout / 2,
        "refused at once: {refused_after:?}"
    );

    wait_for(
        Duration::from_secs(10),
        "the stalled handshakes time out",
        || shard0(&server).connections_open == 0,
    );
    drop(stalled);
    let mut client = connect(server.local_addr());
    let frame = request(1, SerializeType::None, "Echo", "Echo", &[], b"after");
    client.write_all(&frame).unwrap();
    assert_eq!(&recv_frame(&mut client).payload()[..], b"after");
}
