//! Hostile peers, in-flight bytes: requests that inflate and then wait in a handler hold at
//! most `max_inflight_bytes_per_conn` (plus the frame that crossed it) per connection and
//! `max_inflight_bytes_per_shard` (plus one frame) per shard; paused connections resume
//! when replies drain. A gzip heartbeat is echoed as received, never inflated, and an
//! unauthenticated peer's gzip request is refused before anything is inflated.
//!
//! Figures come from the shard's byte counters (`Server::stats`) and the process's RSS.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringrpc_engine::codec::{compress::gzip, CompressType, Header};
use ringrpc_engine::{HandlerError, Request, Response, SerializeType, Server, ServerConfig};

use crate::common::measure::{rss_bytes, shard0, wait_for};
use crate::common::{self, error_text, request_with, FrameClient};

const MIB: usize = 1 << 20;

/// Handlers of `Hold.Wait` wait until the gate opens; `started` counts them.
#[derive(Clone, Default)]
struct Hold {
    open: Arc<AtomicBool>,
    started: Arc<AtomicUsize>,
}

fn start_holding(config: ServerConfig, hold: &Hold, token: Option<&'static str>) -> Server {
    let hold = hold.clone();
    Server::start(config, move |services| {
        common::register_test_services(services, common::Gauge::default());
        let hold = hold.clone();
        services.register("Hold", "Wait", move |request: Request| {
            let hold = hold.clone();
            async move {
                hold.started.fetch_add(1, Ordering::SeqCst);
                while !hold.open.load(Ordering::SeqCst) {
                    ringrpc_engine::sleep(Duration::from_millis(2)).await;
                }
                let len = request.payload().len().to_string();
                Ok::<_, HandlerError>(Response::new(Bytes::from(len)))
            }
        });
        if let Some(token) = token {
            services.set_auth(move |_, got| {
                (got == token)
                    .then_some(())
                    .ok_or_else(|| "auth: invalid token".to_owned())
            });
        }
    })
    .expect("server starts")
}

fn zipped(plain_len: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    gzip(&vec![0u8; plain_len], &mut out).unwrap();
    out.to_vec()
}

fn gzip_frame(mut header: Header, path: &str, method: &str, zipped: &[u8]) -> Vec<u8> {
    header.set_compress_type(CompressType::Gzip);
    request_with(header, path, method, &[], zipped)
}

#[test]
fn a_connection_holds_its_budget_plus_one_frame() {
    let hold = Hold::default();
    let server = start_holding(common::test_config(1), &hold, None);
    let budget = ServerConfig::default().max_inflight_bytes_per_conn;
    let plain = 15 * MIB;
    let zipped = zipped(plain);
    let rss_before = rss_bytes();
    let mut client = FrameClient::connect(server.local_addr());
    let mut batch = Vec::new();
    for seq in 0..64 {
        let header = Header::request(seq, SerializeType::None);
        batch.extend(gzip_frame(header, "Hold", "Wait", &zipped));
    }
    let wire = batch.len() / 64;
    client.send(&batch);
    // The bytes count when a request is routed, its handler starts on the poll right after:
    // wait for both, then give a third handler time to start if the pause failed.
    wait_for(Duration::from_secs(20), "the budget fills", || {
        shard0(&server).inflight_bytes >= budget && hold.started.load(Ordering::SeqCst) >= 2
    });
    std::thread::sleep(Duration::from_millis(200));
    let rss_held = rss_bytes().saturating_sub(rss_before);
    let peak = shard0(&server).inflight_bytes_peak;
    println!(
        "hostile inflight/conn: 64 x {wire} B gzip requests inflating to {plain} B: \
         {} handlers started, inflight peak {peak} B, RSS +{} KiB",
        hold.started.load(Ordering::SeqCst),
        rss_held >> 10
    );
    assert!(
        peak <= budget + wire + plain,
        "peak {peak} over the budget plus one frame"
    );
    assert_eq!(
        hold.started.load(Ordering::SeqCst),
        2,
        "paused at the budget"
    );
    assert!(
        rss_held < 300 * MIB,
        "RSS +{rss_held} B (unbounded: ~960 MiB)"
    );

    hold.open.store(true, Ordering::SeqCst);
    for _ in 0..64 {
        let reply = client.recv();
        assert_eq!(error_text(&reply), None);
        assert_eq!(&reply.payload()[..], plain.to_string().as_bytes());
    }
    wait_for(Duration::from_secs(5), "the budget drains", || {
        shard0(&server).inflight_bytes == 0
    });
}

#[test]
fn a_shard_holds_its_budget_plus_one_frame_and_wakes_the_paused() {
    let hold = Hold::default();
    let shard_budget = 40 * MIB;
    let config = common::test_config(1).max_inflight_bytes_per_shard(shard_budget);
    let server = start_holding(config, &hold, None);
    let plain = 8 * MIB;
    let zipped = zipped(plain);
    let mut clients: Vec<FrameClient> = (0..6)
        .map(|_| FrameClient::connect(server.local_addr()))
        .collect();
    let mut wire = 0;
    for client in &mut clients {
        let mut batch = Vec::new();
        for seq in 0..4 {
            let header = Header::request(seq, SerializeType::None);
            batch.extend(gzip_frame(header, "Hold", "Wait", &zipped));
        }
        wire = batch.len() / 4;
        client.send(&batch);
    }
    wait_for(Duration::from_secs(20), "the shard budget fills", || {
        shard0(&server).inflight_bytes >= shard_budget
    });
    let peak = shard0(&server).inflight_bytes_peak;
    println!(
        "hostile inflight/shard: 6 connections x 4 requests inflating to {plain} B: \
         {} handlers started, shard inflight peak {peak} B (budget {shard_budget})",
        hold.started.load(Ordering::SeqCst)
    );
    assert!(peak <= shard_budget + wire + plain, "peak {peak}");
    assert!(hold.started.load(Ordering::SeqCst) < 24);

    hold.open.store(true, Ordering::SeqCst);
    for client in &mut clients {
        for _ in 0..4 {
            assert_eq!(error_text(&client.recv()), None);
        }
    }
    assert_eq!(
        hold.started.load(Ordering::SeqCst),
        24,
        "every paused one resumed"
    );
}

#[test]
fn heartbeats_are_echoed_as_received_and_strangers_inflate_nothing() {
    let hold = Hold::default();
    let config = common::test_config(1);
    let server = start_holding(config, &hold, Some("secret"));
    let bomb = zipped(64 * MIB);
    let mut client = FrameClient::connect(server.local_addr());
    let mut batch = Vec::new();
    for seq in 0..100 {
        let mut header = Header::request(seq, SerializeType::None);
        header.set_heartbeat(true);
        batch.extend(gzip_frame(header, "", "", &bomb));
    }
    // The reply to a heartbeat is the request with the type bit set, byte for byte (read
    // raw: decoding it would inflate it here).
    let mut expected = Vec::new();
    for frame in batch.chunks(batch.len() / 100) {
        let mut reply = frame.to_vec();
        reply[2] |= 0x80;
        expected.extend(reply);
    }
    let started = Instant::now();
    client.send(&batch);
    let mut echoed = vec![0u8; expected.len()];
    std::io::Read::read_exact(&mut client.stream(), &mut echoed).expect("echoes");
    assert!(echoed == expected, "heartbeats echoed as received");
    let took = started.elapsed();
    println!(
        "hostile inflight/heartbeat: 100 gzip heartbeats of {} B (64 MiB inflated) \
         from an unauthenticated peer answered in {took:?}",
        bomb.len()
    );

    // Over the decompressed limit: inflating it would close the connection without a reply;
    // refused by auth first, the peer gets the auth error.
    let header = Header::request(1, SerializeType::None);
    client.send(&gzip_frame(header, "Hold", "Wait", &bomb));
    let frames = client.expect_closed(Duration::from_secs(5));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        error_text(&frames[0]).as_deref(),
        Some("auth: invalid token")
    );
    assert_eq!(hold.started.load(Ordering::SeqCst), 0);
}
