//! TLS over the sans-IO connection core, with a rustls client in memory: handshakes, echo
//! calls through both input paths, plain bytes on a TLS port, mTLS, the handshake timeout
//! and cap, the output bound, close_notify, reload. Beside this file: ALPN (`alpn.rs`),
//! TLS bytes in the shard's bounds (`bounds.rs`), the kernel TLS hand-over
//! (`kernel_tls.rs`).

mod alpn;
mod bounds;
mod kernel_tls;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{decode, encode_frame, Header, Limits, NO_METADATA};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConnection;

use super::config::{certificates, provider, root_store};
use super::test_certs::TestPki;
use super::{ShardTls, TlsConfig, TlsShared, Transport};
use crate::conn::{ConnConfig, Connection, Link};
use crate::error::CloseCause;
use crate::services::Services;
use crate::{HandlerError, Request, Response};

fn pki(name: &str) -> TestPki {
    let dir = std::env::temp_dir().join(format!("ringrpc-tls-{name}-{}", std::process::id()));
    TestPki::generate(&dir).unwrap()
}

fn shard_for(config: &TlsConfig) -> ShardTls {
    ShardTls::new(TlsShared::load(config).unwrap())
}

/// A connection accepted by `shard`, serving Echo.Echo, and the flag its handshake timer
/// sets when the timeout passes (`None` if it was refused).
fn accept(shard: &ShardTls) -> (Transport, Option<Rc<Cell<bool>>>) {
    accept_on(shard, Link::detached())
}

/// [`accept`], with a link of the caller's (its shard bounds and timeouts).
fn accept_on(shard: &ShardTls, link: Rc<Link>) -> (Transport, Option<Rc<Cell<bool>>>) {
    let mut services = Services::new();
    services.register("Echo", "Echo", |request: Request| async move {
        Ok::<_, HandlerError>(Response::new(request.into_payload()))
    });
    let mut core = Connection::new(Rc::new(services), Rc::new(ConnConfig::default()), link);
    let slot = Rc::new(RefCell::new(None));
    let sink = slot.clone();
    let session = shard.accept(&mut core, move |_, _, expired| {
        *sink.borrow_mut() = Some(expired)
    });
    let flag = slot.borrow_mut().take();
    (Transport::secured(core, session), flag)
}

fn client(pki: &TestPki, ca: &std::path::Path, with_cert: bool) -> ClientConnection {
    let config = client_config(pki, ca, with_cert);
    let name = ServerName::try_from("localhost").unwrap();
    ClientConnection::new(Arc::new(config), name).unwrap()
}

fn client_config(pki: &TestPki, ca: &std::path::Path, with_cert: bool) -> rustls::ClientConfig {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(root_store(ca).unwrap());
    if with_cert {
        let chain = certificates(&pki.client_cert).unwrap();
        let key = PrivateKeyDer::from_pem_file(&pki.client_key).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    }
}

/// Moves bytes both ways until neither side has anything to say; the client's error, if
/// it failed. Half the client's bytes go in as a lent chunk (io_uring), half by copy.
fn pump(client: &mut ClientConnection, server: &mut Transport) -> Result<(), rustls::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        let wire = client_bytes(client);
        let moved_in = !wire.is_empty();
        let half = wire.len() / 2;
        server.handle_chunk(Bytes::copy_from_slice(&wire[..half]));
        server.handle_received(&wire[half..]);
        server.handle_link();
        while let Some(call) = server.poll_call(Instant::now) {
            assert!(
                server.poll_inline(&mut cx, call).is_none(),
                "echo is inline"
            );
        }
        let out = server.poll_transmit_owned();
        let moved_out = out.is_some();
        if let Some(bytes) = out {
            server.handle_sent_owned(bytes.len());
            let mut rest = &bytes[..];
            while !rest.is_empty() && client.read_tls(&mut rest).unwrap() > 0 {
                client.process_new_packets()?;
            }
        }
        if !moved_in && !moved_out {
            return Ok(());
        }
    }
    panic!("the two sides kept talking");
}

/// Empties the link and answers every request received, inline.
fn serve(server: &mut Transport) {
    let mut cx = Context::from_waker(Waker::noop());
    server.handle_link();
    while let Some(call) = server.poll_call(Instant::now) {
        assert!(server.poll_inline(&mut cx, call).is_none());
    }
}

fn echo_request(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let header = Header::request(seq, SerializeType::None);
    encode_frame(&mut out, &header, "Echo", "Echo", NO_METADATA, payload).unwrap();
    out.to_vec()
}

/// Every reply frame the client has received, as (seq, payload).
fn replies(client: &mut ClientConnection) -> Vec<(u64, Vec<u8>)> {
    let mut plain = Vec::new();
    let _ = client.reader().read_to_end(&mut plain);
    let mut buf = BytesMut::from(&plain[..]);
    let mut out = Vec::new();
    while let Some(frame) = decode(&mut buf, &Limits::default()).unwrap() {
        out.push((frame.seq(), frame.payload().to_vec()));
    }
    out
}

fn server_config(pki: &TestPki) -> TlsConfig {
    TlsConfig::from_pem_files(&pki.server_cert, &pki.server_key)
}

/// A connection whose handshake is done, on a shard configured by `configure`: the PKI,
/// the shard, the server's side and the client.
fn handshaken(
    name: &str,
    configure: impl FnOnce(TlsConfig) -> TlsConfig,
) -> (TestPki, ShardTls, Transport, ClientConnection) {
    handshaken_on(name, configure, Link::detached())
}

/// [`handshaken`], with a link of the caller's.
fn handshaken_on(
    name: &str,
    configure: impl FnOnce(TlsConfig) -> TlsConfig,
    link: Rc<Link>,
) -> (TestPki, ShardTls, Transport, ClientConnection) {
    let pki = pki(name);
    let shard = shard_for(&configure(server_config(&pki)));
    let (mut server, _) = accept_on(&shard, link);
    let mut client = client(&pki, &pki.ca, false);
    pump(&mut client, &mut server).unwrap();
    (pki, shard, server, client)
}

/// Everything the client has to send.
fn client_bytes(client: &mut ClientConnection) -> Vec<u8> {
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    wire
}

#[test]
fn calls_go_through_tls_on_both_input_paths() {
    let (_pki, _shard, mut server, mut client) = handshaken("echo", |config| config);
    assert!(!client.is_handshaking());
    for seq in 1..=3 {
        client
            .writer()
            .write_all(&echo_request(seq, &vec![seq as u8; 3000]))
            .unwrap();
    }
    pump(&mut client, &mut server).unwrap();
    let got = replies(&mut client);
    assert_eq!(got.len(), 3);
    for (i, (seq, payload)) in got.into_iter().enumerate() {
        assert_eq!(seq, i as u64 + 1);
        assert_eq!(payload, vec![seq as u8; 3000]);
    }
}

/// How many TLS records `wire` holds (whole records only).
fn records_in(mut wire: &[u8]) -> usize {
    let mut records = 0;
    while let [_, _, _, high, low, rest @ ..] = wire {
        let len = usize::from(u16::from_be_bytes([*high, *low]));
        wire = rest.get(len..).unwrap_or_default();
        records += 1;
    }
    records
}

#[test]
fn pipelined_replies_are_sealed_together_not_a_record_each() {
    let (_pki, _shard, mut server, mut client) = handshaken("records", |config| config);
    // 16 replies of 600 B: each a head and a payload kept by reference (two pieces), about
    // 10 KiB in all, which fits one record.
    for seq in 1..=16 {
        let request = echo_request(seq, &[seq as u8; 600]);
        client.writer().write_all(&request).unwrap();
    }
    server.handle_received(&client_bytes(&mut client));
    serve(&mut server);
    let mut wire = Vec::new();
    while let Some(bytes) = server.poll_transmit_owned() {
        server.handle_sent_owned(bytes.len());
        wire.extend_from_slice(&bytes);
    }
    assert_eq!(records_in(&wire), 1, "32 pieces, one record");
    let mut rest = &wire[..];
    while !rest.is_empty() && client.read_tls(&mut rest).unwrap() > 0 {
        client.process_new_packets().unwrap();
    }
    let got = replies(&mut client);
    assert_eq!(got.len(), 16);
    for (i, (seq, payload)) in got.into_iter().enumerate() {
        assert_eq!(seq, i as u64 + 1);
        assert_eq!(payload, vec![seq as u8; 600]);
    }
}

#[test]
fn plain_rpcx_or_http_on_a_tls_port_is_closed_at_once() {
    let pki = pki("plain");
    let shard = shard_for(&server_config(&pki));
    for (wire, first) in [
        (echo_request(1, b"x"), 0x08u8),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), b'G'),
    ] {
        let (mut server, _) = accept(&shard);
        server.handle_received(&wire);
        assert!(
            server.poll_transmit().is_none(),
            "no alert for a peer that is not TLS"
        );
        assert!(server.is_closed());
        match server.take_cause() {
            Some(CloseCause::NotTls { first_byte }) => assert_eq!(first_byte, first),
            other => panic!("unexpected cause {other:?}"),
        }
    }
}

#[test]
fn mtls_refuses_a_client_without_a_certificate_and_serves_one_with() {
    let pki = pki("mtls");
    let shard = shard_for(&server_config(&pki).client_ca_path(&pki.ca));
    let (mut server, _) = accept(&shard);
    let mut anonymous = client(&pki, &pki.ca, false);
    let result = pump(&mut anonymous, &mut server);
    assert!(result.is_err(), "the client hears the refusal: {result:?}");
    assert!(server.is_closed());
    let cause = server.take_cause().unwrap().to_string();
    assert!(cause.contains("TLS"), "{cause}");

    let (mut server, _) = accept(&shard);
    let mut known = client(&pki, &pki.ca, true);
    pump(&mut known, &mut server).unwrap();
    known.writer().write_all(&echo_request(7, b"hi")).unwrap();
    pump(&mut known, &mut server).unwrap();
    assert_eq!(replies(&mut known), [(7, b"hi".to_vec())]);
}

#[test]
fn a_wrong_ca_or_an_expired_certificate_fails_the_client_clearly() {
    let pki = pki("wrong-ca");
    let shard = shard_for(&server_config(&pki));
    let (mut server, _) = accept(&shard);
    let mut doubtful = client(&pki, &pki.other_ca, false);
    let error = pump(&mut doubtful, &mut server).unwrap_err().to_string();
    assert!(error.contains("UnknownIssuer"), "{error}");
    server.handle_received(&client_bytes(&mut doubtful));
    assert!(server.is_closed(), "the server hears the client's alert");
    let cause = server.take_cause().unwrap().to_string();
    assert!(
        cause.contains("UnknownCA") || cause.contains("unknown"),
        "{cause}"
    );

    let expired = shard_for(&TlsConfig::from_pem_files(
        &pki.expired_cert,
        &pki.expired_key,
    ));
    let (mut server, _) = accept(&expired);
    let mut careful = client(&pki, &pki.ca, false);
    let error = pump(&mut careful, &mut server).unwrap_err().to_string();
    assert!(error.contains("expired"), "{error}");
    server.handle_received(&client_bytes(&mut careful));
    let cause = server.take_cause().expect("closed").to_string();
    assert!(
        cause.contains("CertificateExpired"),
        "the server says why: {cause}"
    );
}

#[test]
fn a_handshake_past_its_time_is_closed_and_a_finished_one_is_not() {
    let pki = pki("timeout");
    let shard = shard_for(&server_config(&pki));
    let (mut stalled, stalled_timer) = accept(&shard);
    let (mut done, done_timer) = accept(&shard);
    let mut client = client(&pki, &pki.ca, false);
    pump(&mut client, &mut done).unwrap();
    stalled_timer.unwrap().set(true);
    done_timer.unwrap().set(true);
    stalled.handle_link();
    done.handle_link();
    assert!(stalled.is_closed());
    assert!(matches!(
        stalled.take_cause(),
        Some(CloseCause::TlsHandshakeTimeout { timeout_ms: 10_000 })
    ));
    assert!(!done.is_closed(), "a finished handshake ignores its timer");
}

#[test]
fn connections_over_the_handshake_cap_are_closed_at_once() {
    let pki = pki("cap");
    let shard = shard_for(&server_config(&pki).max_handshakes_per_shard(1));
    let (mut first, _) = accept(&shard);
    let (mut second, _) = accept(&shard);
    assert!(second.is_closed());
    assert!(matches!(
        second.take_cause(),
        Some(CloseCause::TooManyHandshakes { max: 1 })
    ));
    let mut client = client(&pki, &pki.ca, false);
    pump(&mut client, &mut first).unwrap();
    let (third, _) = accept(&shard);
    assert!(
        !third.is_closed(),
        "the first handshake gave its place back"
    );
    drop(third);
    let (fourth, _) = accept(&shard);
    assert!(
        !fourth.is_closed(),
        "a connection gone gives its place back"
    );
}

#[test]
fn encrypted_output_stays_bounded_and_pauses_reading() {
    let max = 8 << 10;
    let (_pki, _shard, mut server, mut client) =
        handshaken("bound", |config| config.out_buffer_max_bytes(max));
    for seq in 1..=16 {
        client
            .writer()
            .write_all(&echo_request(seq, &[1; 4000]))
            .unwrap();
    }
    let wire = client_bytes(&mut client);
    server.handle_received(&wire);
    let mut cx = Context::from_waker(Waker::noop());
    while let Some(call) = server.poll_call(Instant::now) {
        assert!(server.poll_inline(&mut cx, call).is_none());
    }
    // The peer reads nothing: the driver keeps offering the same bytes.
    let held = server.poll_transmit().map_or(0, <[u8]>::len);
    assert!(held >= max, "output was produced: {held}");
    assert!(
        held < max + (17 << 10),
        "at most one flight over the bound: {held}"
    );
    assert!(
        !server.wants_read(),
        "reading pauses while the output is at its bound"
    );
}

#[test]
fn a_closing_connection_sends_close_notify() {
    let (_pki, _shard, mut server, mut client) = handshaken("notify", |config| config);
    server.link().request(crate::conn::Control::Drain);
    server.handle_link();
    assert!(!server.is_closed(), "close_notify not taken yet");
    pump(&mut client, &mut server).unwrap();
    assert!(server.is_closed());
    let mut rest = Vec::new();
    assert_eq!(
        client.reader().read_to_end(&mut rest).unwrap(),
        0,
        "clean EOF"
    );
}

#[test]
fn reload_serves_the_new_certificate_to_new_connections_only() {
    let old = pki("reload-old");
    let fresh = pki("reload-new");
    let dir = std::env::temp_dir().join(format!("ringrpc-tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::copy(&old.server_cert, &cert).unwrap();
    std::fs::copy(&old.server_key, &key).unwrap();
    let shared = TlsShared::load(&TlsConfig::from_pem_files(&cert, &key)).unwrap();
    let shard = ShardTls::new(shared.clone());
    let (mut before, _) = accept(&shard);
    let mut old_client = client(&old, &old.ca, false);
    pump(&mut old_client, &mut before).unwrap();

    std::fs::copy(&fresh.server_cert, &cert).unwrap();
    std::fs::copy(&fresh.server_key, &key).unwrap();
    shared.reload().unwrap();
    shard.reload(0);
    let (mut after, _) = accept(&shard);
    let mut new_client = client(&fresh, &fresh.ca, false);
    pump(&mut new_client, &mut after).unwrap();
    new_client
        .writer()
        .write_all(&echo_request(1, b"new"))
        .unwrap();
    pump(&mut new_client, &mut after).unwrap();
    assert_eq!(replies(&mut new_client), [(1, b"new".to_vec())]);

    old_client
        .writer()
        .write_all(&echo_request(2, b"old"))
        .unwrap();
    pump(&mut old_client, &mut before).unwrap();
    assert_eq!(
        replies(&mut old_client),
        [(2, b"old".to_vec())],
        "open ones keep theirs"
    );

    std::fs::write(&key, "not a key").unwrap();
    assert!(
        shared.reload().is_err(),
        "a bad file is refused and changes nothing"
    );
    let (mut still, _) = accept(&shard);
    let mut again = client(&fresh, &fresh.ca, false);
    pump(&mut again, &mut still).unwrap();
}

#[test]
fn pem_errors_name_the_file() {
    let pki = pki("pem");
    let config = TlsConfig::from_pem_files(&pki.server_cert, pki.ca.with_extension("missing"));
    let error = TlsShared::load(&config).unwrap_err().to_string();
    assert!(error.contains("ca.missing"), "{error}");
    let _ = CertificateDer::pem_file_iter(&pki.ca).unwrap();
}

#[test]
fn bytes_after_the_peers_close_notify_are_dropped_and_reading_ends() {
    let (_pki, _shard, mut server, mut client) = handshaken("peer-notify", |config| config);
    client.send_close_notify();
    let mut wire = client_bytes(&mut client);
    wire.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]);
    server.handle_received(&wire);
    assert!(
        server.is_read_closed(),
        "the peer's close_notify is its end of stream"
    );
    pump(&mut client, &mut server).unwrap();
    assert!(server.is_closed());
    assert!(matches!(server.take_cause(), Some(CloseCause::PeerClosed)));
}
