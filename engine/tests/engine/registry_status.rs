//! Proves that the admin endpoint's `/status` shows the registry's live state
//! (`Server::show_registry`): registered with its lease, then, after the lease is revoked
//! behind the registrar's back, the loss (its error, a new lease, a second registration);
//! and a registry that cannot be reached shows as not registered, with the error.
//!
//! Needs etcd for the first test: set RINGRPC_ETCD (e.g. `http://127.0.0.1:2379`).
#![cfg(feature = "etcd")]

use std::time::Duration;

use ringrpc_engine::registry::{EtcdRegistrar, Registration};
use ringrpc_engine::Server;
use serde_json::Value;

use crate::common;
use crate::plugins::http_get;
use crate::registry_etcd::{etcd_endpoint, unique_base, Inspector};

fn registry_status(server: &Server) -> Value {
    let (_, body) = http_get(server.local_addr(), "/status");
    let status: Value = serde_json::from_str(&body).expect("JSON");
    status["registry"].clone()
}

/// `/status`'s registry once `done` holds for it, polling every 50 ms for at most 15 s.
fn wait_registry(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let registry = registry_status(server);
        if done(&registry) {
            return registry;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {registry}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_server() -> Server {
    common::start(common::test_config(1).admin_on_rpcx_port(true))
}

#[test]
fn status_follows_the_registry_through_a_lost_lease() {
    let server = start_server();
    let base = unique_base("status");
    let address = format!("tcp@{}", server.local_addr());
    let registration = Registration::new(base.clone(), address.clone())
        .services(server.service_paths(), "")
        .lease_ttl(Duration::from_secs(5));
    let registrar = EtcdRegistrar::start(vec![etcd_endpoint()], registration).unwrap();
    server.show_registry(registrar.watch());
    assert!(
        registrar.wait_registered(Duration::from_secs(10)),
        "registered"
    );
    let first = registry_status(&server);
    assert_eq!(first["state"], "registered", "{first}");
    assert_eq!(first["service_address"], address.as_str());
    assert_eq!(first["registrations"], 1);
    assert_eq!(first["last_error"], Value::Null);
    let lease = i64::from_str_radix(first["lease_id"].as_str().expect("a lease"), 16).unwrap();

    let mut etcd = Inspector::new(&etcd_endpoint());
    etcd.runtime
        .block_on(etcd.client.lease_revoke(lease))
        .unwrap();
    let now = wait_registry(&server, "a second registration", |now| {
        now["registrations"] == 2 && now["state"] == "registered"
    });
    assert_ne!(now["lease_id"], first["lease_id"], "{now}");
    let error = now["last_error"].as_str().expect("the loss is shown");
    assert!(
        error.contains("expired") || error.contains("lease"),
        "{error}"
    );
    assert!(now["last_error_s_ago"].as_f64().is_some(), "{now}");
    drop(registrar);
    assert_eq!(registry_status(&server)["state"], "deregistered");
}

#[test]
fn an_unreachable_registry_shows_as_not_registered_with_its_error() {
    let server = start_server();
    // Nothing listens on port 1 of loopback: every attempt is refused at once.
    let registration =
        Registration::new("/ringrpc_unreachable", "tcp@127.0.0.1:9").service("Echo", "");
    let registrar =
        EtcdRegistrar::start(vec!["http://127.0.0.1:1".to_owned()], registration).unwrap();
    server.show_registry(registrar.watch());
    let now = wait_registry(&server, "the first failed attempt", |now| {
        now["last_error"].is_string()
    });
    assert!(
        matches!(now["state"].as_str(), Some("lost" | "re-registering")),
        "{now}"
    );
    assert_eq!(now["registrations"], 0);
    assert_eq!(now["lease_id"], Value::Null);
    assert_eq!(now["registry"], "etcd://127.0.0.1:1/ringrpc_unreachable");
}
