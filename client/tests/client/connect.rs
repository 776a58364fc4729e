//! Proves connecting fails the right way: a refused connection and a connect timeout (a
//! listener that never completes the handshake) are retryable and come back promptly; an
//! address this client cannot dial is not retryable.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ringrpc_client::{ClientOptions, Error};
use socket2::{Domain, Socket, Type};

use crate::support;

/// A loopback port nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("tcp@{addr}")
}

/// A listener whose accept queue (backlog 0) is already full and never drained: the kernel
/// drops further SYNs, so a connect to it hangs until its timeout.
fn full_backlog() -> (String, Socket, TcpStream) {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    listener.listen(0).expect("listen");
    let addr = listener
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet");
    let queued = TcpStream::connect(addr).expect("the one queued connection");
    (format!("tcp@{addr}"), listener, queued)
}

for_each_driver! {
    #[test]
    fn refused_is_retryable() {
        block_on(async {
            let started = Instant::now();
            let error = Client::connect(&closed_port()).await.expect_err("nothing listens");
            assert!(matches!(error, Error::Connect { .. }) && error.is_retryable(), "{error}");
            assert!(started.elapsed() < Duration::from_secs(1));
        });
    }

    #[test]
    fn timeout_is_retryable() {
        block_on(async {
            let (addr, _listener, _queued) = full_backlog();
            let options = ClientOptions::new().connect_timeout(Duration::from_millis(200));
            let started = Instant::now();
            let error = Client::connect_with(&addr, options).await.expect_err("no answer");
            let elapsed = started.elapsed();
            assert!(matches!(error, Error::ConnectTimeout { timeout_ms: 200, .. }), "{error}");
            assert!(error.is_retryable());
            assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
            assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        });
    }

    #[test]
    fn bad_addresses_are_not_retryable() {
        block_on(async {
            for addr in ["quic@127.0.0.1:1", "tcp@nohostport", "ws@x:1"] {
                let error = Client::connect(addr).await.expect_err(addr);
                assert!(matches!(error, Error::InvalidAddress { .. }) && !error.is_retryable(), "{error}");
            }
        });
    }
}
