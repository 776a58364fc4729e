//! A blocking TLS test client for the behaviour tests: the test PKI (rcgen), a rustls client
//! trusting its CA, a handshake over a `TcpStream`, a real ClientHello, and a wait for the
//! server to close a socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringrpc_engine::codec::{decode, Frame, Limits};
use ringrpc_engine::test_certs::TestPki;
use ringrpc_engine::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// One PKI for the whole test binary.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ringrpc-engine-tls-{}", std::process::id()));
        TestPki::generate(&dir).expect("test certificates")
    })
}

/// The server side: the PKI's server certificate.
pub fn server_tls() -> TlsConfig {
    TlsConfig::from_pem_files(&pki().server_cert, &pki().server_key)
}

/// A rustls client connection to `localhost` trusting the PKI's CA.
pub fn client_connection() -> ClientConnection {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki().ca).expect("CA file") {
        roots
            .add(cert.expect("CA certificate"))
            .expect("a usable CA");
    }
    #[allow(deprecated)] // ring, as the server (README "TLS": why ring)
    let provider = rustls::crypto::ring::default_provider();
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("a name");
    ClientConnection::new(Arc::new(config), name).expect("a client connection")
}

/// Connects and finishes the TLS handshake (blocking, with the test read timeout).
pub fn connect(addr: SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(super::READ_TIMEOUT)).unwrap();
    let mut stream = StreamOwned::new(client_connection(), sock);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    stream
}

/// The first flight of a TLS client: a whole ClientHello record.
pub fn client_hello() -> Vec<u8> {
    let mut conn = client_connection();
    let mut wire = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut wire).unwrap();
    }
    wire
}

/// Reads (and discards) until the server closes `sock` (end of stream or reset); how long
/// that took. Panics after `limit`.
pub fn wait_closed(sock: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("not closed within {limit:?}")
            }
            Err(_) => return started.elapsed(),
        }
    }
}

/// Writes raw bytes (not through TLS) on the socket under a TLS stream.
pub fn write_raw(stream: &mut StreamOwned<ClientConnection, TcpStream>, bytes: &[u8]) {
    stream.sock.write_all(bytes).expect("write");
}

/// Reads the next rpcx frame from a TLS stream (blocking, with its read timeout).
pub fn recv_frame(stream: &mut impl Read) -> Frame {
    let mut buf = BytesMut::new();
    loop {
        if let Some(frame) = decode(&mut buf, &Limits::default()).expect("a valid frame") {
            return frame;
        }
        let mut chunk = [0u8; 16 << 10];
        let n = stream.read(&mut chunk).expect("read a frame");
        assert!(n > 0, "closed before a whole frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}
