//! ALPN, as defined here: a server with `alpn_protocols` picks the first of its own list
//! that the client offers; a client offering ALPN with none of them is refused
//! (`no_application_protocol` alert, the handshake fails on both sides); a client offering
//! no ALPN at all is served without one (rpcx-go's clients offer none, so setting ALPN
//! never locks them out); a server without ALPN serves every client without one.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::{accept, client_config, pki, pump, server_config, shard_for};

/// The protocol the handshake chose, as the client sees it, or the client's error and the
/// server's close cause.
fn negotiate(server: &[&str], client: &[&str]) -> Result<Option<String>, (String, String)> {
    let pki = pki(&format!("alpn-{}-{}", server.join("+"), client.join("+")));
    let shard = shard_for(&server_config(&pki).alpn_protocols(server));
    let (mut transport, _) = accept(&shard);
    let mut config = client_config(&pki, &pki.ca, false);
    config.alpn_protocols = client.iter().map(|p| p.as_bytes().to_vec()).collect();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    match pump(&mut conn, &mut transport) {
        Ok(()) => {
            assert!(!transport.is_closed() && !conn.is_handshaking());
            Ok(conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()))
        }
        Err(e) => {
            assert!(transport.is_closed(), "the server closed too");
            let cause = transport.take_cause().map(|c| c.to_string());
            Err((e.to_string(), cause.unwrap_or_default()))
        }
    }
}

#[test]
fn the_servers_first_protocol_the_client_offers_is_chosen() {
    assert_eq!(negotiate(&["rpcx"], &["rpcx"]), Ok(Some("rpcx".into())));
    assert_eq!(
        negotiate(&["rpcx", "h2"], &["h2", "rpcx"]),
        Ok(Some("rpcx".into())),
        "the server's order wins"
    );
    assert_eq!(negotiate(&["rpcx", "h2"], &["h2"]), Ok(Some("h2".into())));
}

#[test]
fn a_client_offering_none_of_the_servers_protocols_is_refused() {
    let (client, server) = negotiate(&["rpcx"], &["h2", "http/1.1"]).unwrap_err();
    assert!(client.contains("NoApplicationProtocol"), "client: {client}");
    assert!(
        server.contains("TLS") && server.contains("protocol"),
        "server: {server}"
    );
}

#[test]
fn without_alpn_on_one_side_the_handshake_goes_on_without_a_protocol() {
    assert_eq!(negotiate(&["rpcx"], &[]), Ok(None), "an rpcx-go client");
    assert_eq!(negotiate(&[], &["rpcx"]), Ok(None), "a server without ALPN");
}
