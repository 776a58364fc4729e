//! The hand-over to kernel TLS, as far as it can go without `CONFIG_TLS`: with
//! `kernel_tls_secrets` on, once the handshake is done and the session holds nothing, the
//! traffic secrets come out and the connection goes on as plain bytes (what the kernel
//! would then seal and open); before that point nothing is taken; without the option
//! rustls refuses and the connection closes.

use std::io::Write;

use super::{accept, client_bytes, echo_request, handshaken, pki, serve, server_config, shard_for};
use crate::error::CloseCause;

#[test]
fn the_secrets_come_out_after_the_handshake_and_the_connection_goes_on_plain() {
    let pki = pki("ktls-before");
    let shard = shard_for(&server_config(&pki).kernel_tls_secrets(true));
    let (mut early, _) = accept(&shard);
    assert!(
        early.take_kernel_tls_secrets().is_none(),
        "not during the handshake"
    );

    let (_pki, _shard, mut server, mut client) =
        handshaken("ktls", |config| config.kernel_tls_secrets(true));
    client.writer().write_all(&echo_request(1, b"x")).unwrap();
    let wire = client_bytes(&mut client);
    server.handle_received(&wire[..3]);
    assert!(
        server.take_kernel_tls_secrets().is_none(),
        "not with a record half received"
    );
    server.handle_received(&wire[3..]);
    serve(&mut server);
    let reply = server.poll_transmit().map(<[u8]>::len).unwrap();
    server.handle_sent(reply);

    let secrets = server
        .take_kernel_tls_secrets()
        .expect("at a quiet point")
        .expect("extraction is on");
    assert!(secrets.tx.0 > 0, "records were sealed: the sequence moved");
    // From here the driver moves plaintext (the kernel would seal it).
    let plain = echo_request(2, b"plain");
    server.handle_received(&plain);
    serve(&mut server);
    let out = server.poll_transmit().expect("a plain reply").to_vec();
    let mut buf = bytes::BytesMut::from(&out[..]);
    let frame = ringrpc_codec::decode(&mut buf, &ringrpc_codec::Limits::default())
        .unwrap()
        .expect("a whole frame, not a record");
    assert_eq!((frame.seq(), &frame.payload()[..]), (2, &b"plain"[..]));
}

#[test]
fn without_the_option_rustls_refuses_and_the_connection_closes() {
    let (_pki, _shard, mut server, _client) = handshaken("ktls-off", |config| config);
    let refused = server.take_kernel_tls_secrets().expect("a quiet point");
    assert!(refused.is_err());
    assert!(server.is_closed());
    assert!(matches!(server.take_cause(), Some(CloseCause::Tls(_))));
}
