//! A registration whose keep-alives silently stop getting through (a partition that
//! produces no error: the registrar talks to etcd through a proxy that stops forwarding) is
//! noticed after 2/3 of the lease TTL, before etcd expires it, and once etcd is reachable
//! again a new lease is granted and every key rewritten on it. Prints the figure.
//!
//! Needs etcd: set RINGRPC_ETCD (e.g. `http://127.0.0.1:2379`). etcd itself keeps running.
#![cfg(feature = "etcd")]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use ringrpc_engine::registry::{EtcdRegistrar, Registration, RegistryEvent};

/// A TCP proxy to etcd that can stop forwarding without closing anything.
struct FreezingProxy {
    addr: String,
    frozen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FreezingProxy {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (frozen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let (f, s) = (f.clone(), s.clone());
                    std::thread::spawn(move || forward(from, to, &f, &s));
                }
            }
        });
        Self { addr, frozen, stop }
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding bytes back while `frozen`.
fn forward(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool, stop: &AtomicBool) {
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    while !stop.load(Ordering::SeqCst) {
        if frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

fn etcd_endpoint() -> String {
    std::env::var("RINGRPC_ETCD").expect("RINGRPC_ETCD is not set (see registry_etcd.rs)")
}

/// `(key, lease)` of every key under `prefix`.
fn keys(endpoint: &str, prefix: &str) -> Vec<(String, i64)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = Client::connect([endpoint], None).await.unwrap();
        let found = client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        found
            .kvs()
            .iter()
            .map(|kv| (kv.key_str().unwrap().to_owned(), kv.lease()))
            .collect()
    })
}

fn next_event(registrar: &EtcdRegistrar, timeout: Duration) -> RegistryEvent {
    registrar
        .events()
        .recv_timeout(timeout)
        .expect("an event in time")
}

#[test]
fn a_silently_lost_lease_is_noticed_at_two_thirds_of_its_ttl_and_every_key_rewritten() {
    let endpoint = etcd_endpoint();
    let proxy = FreezingProxy::start(endpoint.trim_start_matches("http://").to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let base = format!("/ringrpc_test_lease_loss_{nanos}");
    let ttl = Duration::from_secs(3);
    let registration = Registration::new(&base, "tcp@127.0.0.1:8977")
        .service("Arith", "weight=1")
        .service("Echo", "")
        .lease_ttl(ttl)
        .check_interval(Duration::from_secs(60));
    let registrar = EtcdRegistrar::start(vec![proxy.addr.clone()], registration).unwrap();
    let RegistryEvent::Registered { lease_id: old } =
        next_event(&registrar, Duration::from_secs(10))
    else {
        panic!("registered first");
    };
    std::thread::sleep(Duration::from_millis(700)); // a few keep-alives are answered

    let frozen_at = Instant::now();
    proxy.frozen.store(true, Ordering::SeqCst);
    let RegistryEvent::Lost { reason } = next_event(&registrar, ttl * 2) else {
        panic!("lost before anything else");
    };
    let noticed = frozen_at.elapsed();
    assert!(reason.contains("2/3"), "{reason}");
    assert!(noticed < ttl, "noticed after {noticed:?}, TTL {ttl:?}");
    println!("keep-alives stopped getting through: lease loss noticed after {noticed:?} (TTL {ttl:?}): {reason}");

    proxy.frozen.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        match next_event(
            &registrar,
            deadline.saturating_duration_since(Instant::now()),
        ) {
            RegistryEvent::Registered { lease_id } => break lease_id,
            RegistryEvent::Lost { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    assert_ne!(new, old);
    let written = keys(&endpoint, &base);
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(
        written.iter().all(|(_, lease)| *lease == new),
        "every key on the new lease: {written:?}"
    );
    println!(
        "re-registered {:?} after the freeze began, lease {old:x} -> {new:x}",
        frozen_at.elapsed()
    );
    registrar.deregister(Duration::from_secs(5)).unwrap();
}
