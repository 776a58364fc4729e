//! Hostile peers, metadata: a frame with more records than `Limits::max_metadata_count`
//! closes its connection after the shard looked at that many records, and a handler that
//! echoes 300,000 distinct keys (the limit raised) merges them in linear time, so no single
//! frame occupies a shard for long and the shard's other connections are served.
//!
//! Figures: the shard thread's CPU time (`/proc/self/task/<tid>/stat`) and reply times.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringrpc_engine::{
    HandlerError, Limits, Request, Response, SerializeType, Server, ServerConfig,
};

use crate::common::measure::{current_tid, thread_cpu};
use crate::common::{self, error_text, request, FrameClient};

const KEYS: usize = 300_000;

/// A server whose `Meta.Echo` echoes payload and metadata and records its shard's thread id.
fn start_echo(config: ServerConfig, tid: &Arc<AtomicI32>) -> Server {
    let tid = tid.clone();
    Server::start(config, move |services| {
        common::register_test_services(services, common::Gauge::default());
        let tid = tid.clone();
        services.register("Meta", "Echo", move |request: Request| {
            tid.store(current_tid(), Ordering::SeqCst);
            async move {
                Ok::<_, HandlerError>(
                    Response::new(request.payload().clone()).with_metadata_from(request.metadata()),
                )
            }
        });
    })
    .expect("server starts")
}

/// One request carrying `KEYS` distinct metadata keys (about 3.6 MiB).
fn many_keys_request() -> Vec<u8> {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:07}")).collect();
    let records: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    request(1, SerializeType::None, "Meta", "Echo", &records, b"hi")
}

/// The shard's thread id, learned from one small call.
fn shard_tid(server: &Server, tid: &AtomicI32) -> i32 {
    let mut client = FrameClient::connect(server.local_addr());
    let reply = client.call(&request(9, SerializeType::None, "Meta", "Echo", &[], b"x"));
    assert_eq!(error_text(&reply), None);
    tid.load(Ordering::SeqCst)
}

#[test]
fn too_many_records_close_the_connection_at_once() {
    let tid = Arc::new(AtomicI32::new(0));
    let server = start_echo(common::test_config(1), &tid);
    let shard = shard_tid(&server, &tid);
    let wire = many_keys_request();
    let mut hostile = FrameClient::connect(server.local_addr());
    let mut bystander = FrameClient::connect(server.local_addr());
    let cpu_before = thread_cpu(shard);
    let started = Instant::now();
    hostile.send(&wire);
    let frames = hostile.expect_closed(Duration::from_secs(10));
    let closed = started.elapsed();
    let cpu = thread_cpu(shard).saturating_sub(cpu_before);
    common::assert_serving_on(&mut bystander);
    println!(
        "hostile metadata: {KEYS} keys ({} B) over the default limit of {}: closed in \
         {closed:?}, shard CPU {cpu:?}",
        wire.len(),
        Limits::DEFAULT_MAX_METADATA_COUNT
    );
    assert!(frames.is_empty(), "{frames:?}");
    assert!(cpu < Duration::from_millis(500), "shard CPU {cpu:?}");
}

#[test]
fn echoing_many_keys_is_linear() {
    let tid = Arc::new(AtomicI32::new(0));
    let limits = Limits::default().max_metadata_count(KEYS);
    let server = start_echo(common::test_config(1).limits(limits), &tid);
    let shard = shard_tid(&server, &tid);
    let wire = many_keys_request();
    let mut client = FrameClient::connect(server.local_addr());
    let cpu_before = thread_cpu(shard);
    let started = Instant::now();
    let reply = client.call(&wire);
    let took = started.elapsed();
    let cpu = thread_cpu(shard).saturating_sub(cpu_before);
    println!(
        "hostile metadata: Echo of {KEYS} distinct keys ({} B), limit raised: reply in \
         {took:?}, shard CPU {cpu:?}",
        wire.len()
    );
    assert_eq!(error_text(&reply), None);
    assert_eq!(reply.metadata().iter().count(), KEYS);
    assert_eq!(reply.payload(), &Bytes::from_static(b"hi"));
    // Quadratic merging took 20 s of CPU here; linear takes a fraction of a second.
    assert!(cpu < Duration::from_secs(5), "shard CPU {cpu:?}");
}
