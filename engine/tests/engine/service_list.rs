//! Proves that a server lists the services its shards registered (what a registry
//! announces), sorted and without a hand-kept copy: the union over every shard, even when
//! shards register different services.

use bytes::Bytes;
use ringrpc_engine::registry::Registration;
use ringrpc_engine::{HandlerError, Request, Response, Server};

use crate::common;

async fn pong(_: Request) -> Result<Response<Bytes>, HandlerError> {
    Ok(Response::new(Bytes::from_static(b"pong")))
}

#[test]
fn the_server_lists_what_its_shards_registered() {
    let server = common::start(common::test_config(1));
    assert_eq!(server.service_paths(), ["Arith", "Echo", "Test"]);
}

#[test]
fn services_of_every_shard_are_listed_once() {
    let server = Server::start(common::test_config(2), |services| {
        services
            .service("Ping")
            .method("Ping", pong)
            .method("Pong", pong);
        let only_here = if services.shard() == 0 { "Zero" } else { "One" };
        services.service(only_here).method("Ping", pong);
    })
    .expect("server starts");
    let paths = server.service_paths();
    assert_eq!(paths, ["One", "Ping", "Zero"]);

    let registration = Registration::new("/rpcx_test", "tcp@127.0.0.1:8972").services(paths, "");
    let keys: Vec<String> = registration
        .services
        .iter()
        .map(|(path, _)| registration.node_key(path))
        .collect();
    assert_eq!(
        keys,
        [
            "/rpcx_test/One/tcp@127.0.0.1:8972",
            "/rpcx_test/Ping/tcp@127.0.0.1:8972",
            "/rpcx_test/Zero/tcp@127.0.0.1:8972",
        ]
    );
    server.shutdown();
}
