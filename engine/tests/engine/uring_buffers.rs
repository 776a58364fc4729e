//! Proves that receiving through a small ring of shared buffers (the io_uring driver) loses
//! nothing and holds nothing: frames cut at any byte, frames many buffers long, more slow
//! requests holding buffers than the ring has, and hundreds of connections coming and going.
//! Every test runs on both drivers, with the io_uring driver given a deliberately tiny ring.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{error_text, json, request, FrameClient, SleepArgs};
use bytes::Bytes;
use ringrpc_engine::{Driver, HandlerError, Request, Response, SerializeType, Server, UringConfig};

const DRIVERS: [Driver; 2] = [Driver::Glommio, Driver::Uring];

/// A server on `driver` whose io_uring ring has `buffer_count` buffers of 1 KiB.
fn start_with_buffers(driver: Driver, buffer_count: u16) -> Server {
    let config = common::test_config(1).driver(driver).uring(
        UringConfig::default()
            .buffer_count(buffer_count)
            .buffer_size_bytes(1024),
    );
    common::start(config)
}

fn start(driver: Driver) -> Server {
    start_with_buffers(driver, 8)
}

fn echo(seq: u64, payload: &[u8]) -> Vec<u8> {
    request(seq, SerializeType::None, "Echo", "Echo", &[], payload)
}

fn wait_for_no_connections(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats()[0].connections_open > 0 {
        assert!(
            Instant::now() < deadline,
            "connections left open: {:?}",
            server.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn frames_cut_at_every_byte_and_larger_than_a_buffer_arrive_whole() {
    for driver in DRIVERS {
        let server = start(driver);
        let mut client = FrameClient::connect(server.local_addr());
        // Three frames written one byte at a time.
        let wire: Vec<u8> = (0..3).flat_map(|seq| echo(seq, &[seq as u8; 40])).collect();
        for byte in &wire {
            client.send(std::slice::from_ref(byte));
        }
        for seq in 0..3 {
            let reply = client.recv();
            assert_eq!(
                (reply.seq(), &reply.payload()[..]),
                (seq, &[seq as u8; 40][..])
            );
        }
        // Frames of 100 KiB (a hundred buffers each) between small ones, in one write.
        let big: Vec<u8> = (0..100 << 10).map(|i| (i % 251) as u8).collect();
        let mut batch = Vec::new();
        for seq in 10..16 {
            batch.extend(if seq % 2 == 0 {
                echo(seq, &big)
            } else {
                echo(seq, b"small")
            });
        }
        client.send(&batch);
        for seq in 10..16 {
            let reply = client.recv();
            assert_eq!(reply.seq(), seq, "{driver:?}");
            let want: &[u8] = if seq % 2 == 0 { &big } else { b"small" };
            assert!(
                reply.payload()[..] == *want,
                "{driver:?}: payload of seq {seq}"
            );
        }
        drop(client);
        wait_for_no_connections(&server);
    }
}

#[test]
fn more_slow_requests_than_buffers_are_all_served() {
    // With 2 buffers every chunk is held (a quarter of 2 is 0 kept free): the ring runs dry
    // and recvs end with ENOBUFS until handlers finish and give buffers back.
    for (driver, buffers) in [(Driver::Glommio, 8), (Driver::Uring, 8), (Driver::Uring, 2)] {
        let server = start_with_buffers(driver, buffers);
        // 24 connections x 4 slow requests, each connection's requests in separate writes:
        // far more received chunks held by running handlers than the ring has buffers.
        let mut clients: Vec<FrameClient> = (0..24)
            .map(|_| FrameClient::connect(server.local_addr()))
            .collect();
        for (i, client) in clients.iter_mut().enumerate() {
            for seq in 0..4u64 {
                let payload = json(&SleepArgs {
                    ms: 20 + (i as u64 + seq) % 10,
                });
                client.send(&request(
                    seq,
                    SerializeType::Json,
                    "Test",
                    "Sleep",
                    &[],
                    &payload,
                ));
            }
        }
        for client in &mut clients {
            let seqs: HashSet<u64> = (0..4)
                .map(|_| {
                    let reply = client.recv();
                    assert_eq!(error_text(&reply), None, "{driver:?}");
                    reply.seq()
                })
                .collect();
            assert_eq!(seqs, (0..4).collect(), "{driver:?}");
        }
        // The ring is whole again: a fresh connection is served at once.
        let mut late = FrameClient::connect(server.local_addr());
        assert_eq!(&late.call(&echo(99, b"after")).payload()[..], b"after");
        let stats = common::measure::shard0(&server);
        if (driver, buffers) == (Driver::Uring, 2) {
            assert!(stats.ring_starved > 0, "the ring ran dry: {stats:?}");
        }
        assert_eq!(stats.ring_waiting_connections, 0, "{driver:?}: {stats:?}");
        drop((clients, late));
        wait_for_no_connections(&server);
    }
}

#[test]
fn hundreds_of_connections_come_and_go_without_leaking_slots() {
    for driver in DRIVERS {
        let server = start(driver);
        for round in 0..3u64 {
            let mut clients: Vec<FrameClient> = (0..200)
                .map(|_| FrameClient::connect(server.local_addr()))
                .collect();
            for (i, client) in clients.iter_mut().enumerate() {
                let seq = round * 1000 + i as u64;
                assert_eq!(client.call(&echo(seq, b"x")).seq(), seq, "{driver:?}");
            }
            drop(clients);
            wait_for_no_connections(&server);
        }
        let stats = server.stats()[0];
        assert_eq!(stats.connections_accepted, 600, "{driver:?}: {stats:?}");
    }
}

/// Two buffers, eight connections, every payload kept on another thread for a while: the
/// recvs run dry again and again and only buffers dropped on those threads can let them go
/// on; a starved shard looks for them again within a millisecond (nothing rings it when a
/// `Bytes` is dropped). The hold times vary so that drops land in every phase of the shard's
/// loop (a shard that parked without its doorbell read posted stalled here, rarely, until
/// this test varied them).
#[test]
fn buffers_kept_by_another_thread_come_back_and_wake_the_shard() {
    async fn keep_elsewhere(request: Request) -> Result<Response, HandlerError> {
        // The payload (a view of the receive buffer) outlives the request on another thread,
        // for as many milliseconds as its one byte says.
        let payload = request.payload().clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(u64::from(payload[0])));
            drop(payload);
        });
        Ok(Response::new(Bytes::from_static(b"ok")))
    }
    for (driver, buffers) in [(Driver::Glommio, 2), (Driver::Uring, 2)] {
        let config = common::test_config(1).driver(driver).uring(
            UringConfig::default()
                .buffer_count(buffers)
                .buffer_size_bytes(1024),
        );
        let server = Server::start(config, |services| {
            services.register("Keep", "Elsewhere", keep_elsewhere);
        })
        .expect("server starts");
        let mut clients: Vec<FrameClient> = (0..8)
            .map(|_| FrameClient::connect(server.local_addr()))
            .collect();
        for seq in 0..12u64 {
            for (c, client) in clients.iter_mut().enumerate() {
                let hold_ms = [(c as u8 * 7 + seq as u8 * 3) % 31];
                client.send(&request(
                    seq,
                    SerializeType::None,
                    "Keep",
                    "Elsewhere",
                    &[],
                    &hold_ms,
                ));
            }
            for (c, client) in clients.iter_mut().enumerate() {
                // A round takes tens of milliseconds; seconds without a reply is a stall.
                let reply = client
                    .recv_within(Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("{driver:?}: client {c}, seq {seq}: {e:?}"));
                assert_eq!(
                    (reply.seq(), &reply.payload()[..]),
                    (seq, &b"ok"[..]),
                    "{driver:?}"
                );
            }
        }
        drop(clients);
        wait_for_no_connections(&server);
    }
}

#[test]
fn a_bad_buffer_ring_shape_is_a_startup_error() {
    let config = common::test_config(1)
        .driver(Driver::Uring)
        .uring(UringConfig::default().buffer_count(6));
    let error = Server::start(config, |_| {}).unwrap_err();
    assert!(error.to_string().contains("power of two"), "{error}");
}
