//! Proves the Unix-socket and IPv6 listeners (on the driver of `RINGRPC_TEST_DRIVER`): rpcx
//! frames and the HTTP gateway over a Unix socket with two shards, the socket file replaced
//! when stale, refused while a server accepts on it, never removed when it is not a socket,
//! and removed on shutdown; rpcx and HTTP on `[::1]`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use bytes::BytesMut;
use ringrpc_engine::codec::{decode, Limits};
use ringrpc_engine::{ListenAddr, SerializeType, Server, StartError};

use crate::common::{self, json, request, Args, FrameClient};
use crate::http_gateway::curl;

fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringrpc-listeners-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// One Arith.Mul call over a Unix socket; returns the reply payload.
fn unix_call(path: &PathBuf, a: i64) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).expect("the server accepts on the socket");
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    let frame = request(
        7,
        SerializeType::Json,
        "Arith",
        "Mul",
        &[],
        &json(&Args { a, b: 3 }),
    );
    stream.write_all(&frame).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(reply) = decode(&mut buf, &Limits::default()).unwrap() {
            assert_eq!(reply.seq(), 7);
            return reply.payload().to_vec();
        }
        let n = stream.read(&mut chunk).expect("a reply");
        assert!(n > 0, "closed before the reply");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn start_unix(path: &PathBuf) -> Result<Server, StartError> {
    let config = common::test_config(2).listen(ListenAddr::unix(path));
    Server::start(config, |services| {
        common::register_test_services(services, Default::default())
    })
}

#[test]
fn a_unix_socket_serves_rpcx_and_http_and_its_file_is_managed() {
    let path = socket_path("serve.sock");
    // A stale socket file, as a crashed server leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let server = start_unix(&path).expect("a stale socket file is replaced");
    assert_eq!(server.listen_addr(), &ListenAddr::unix(&path));
    for a in 0..8 {
        assert_eq!(
            unix_call(&path, a),
            format!("{{\"C\":{}}}", a * 3).into_bytes()
        );
    }
    let http = curl(&[
        "--unix-socket",
        path.to_str().unwrap(),
        "-H",
        "X-RPCX-ServiceMethod: Mul",
        "-H",
        "X-RPCX-SerializeType: 1",
        "-d",
        r#"{"A":5,"B":5}"#,
        "http://localhost/Arith",
    ]);
    assert!(http.ends_with("{\"C\":25}"), "{http}");

    let err = start_unix(&path).expect_err("a live server's socket is not taken over");
    assert!(
        matches!(&err, StartError::Listen { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
        "{err}"
    );
    assert_eq!(
        unix_call(&path, 1),
        b"{\"C\":3}",
        "the first server still serves"
    );

    server.shutdown();
    assert!(!path.exists(), "the socket file goes with the server");

    std::fs::write(&path, b"precious").unwrap();
    assert!(
        start_unix(&path).is_err(),
        "a file that is not a socket is an error"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"precious",
        "and it is left alone"
    );
    std::fs::remove_file(&path).unwrap();
}

/// Bursts of clients on the one listening socket the shards share: every connection gets
/// served, whichever shard accepts it. (On glommio, two shards' accept calls used to race on
/// the shared socket's O_NONBLOCK flag and could leave a shard blocked inside accept(2),
/// serving nothing until the next client connected: the burst's calls then hang here until
/// the read timeout.)
#[test]
fn bursts_of_clients_on_a_shared_unix_listener_are_all_served() {
    const ROUNDS: i64 = 400;
    const CLIENTS: i64 = 8;
    let path = socket_path("bursts.sock");
    let server = start_unix(&path).expect("the server starts");
    for round in 0..ROUNDS {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let path = path.clone();
                std::thread::spawn(move || unix_call(&path, round * CLIENTS + c))
            })
            .collect();
        for (c, client) in clients.into_iter().enumerate() {
            let a = round * CLIENTS + c as i64;
            let reply = client
                .join()
                .unwrap_or_else(|_| panic!("round {round}: client {c} got no reply"));
            assert_eq!(reply, format!("{{\"C\":{}}}", a * 3).into_bytes());
        }
    }
    server.shutdown();
}

#[test]
fn ipv6_loopback_serves_rpcx_and_http() {
    let config = common::test_config(2).listen("tcp@[::1]:0".parse::<ListenAddr>().unwrap());
    let server = common::start(config);
    let addr = server.local_addr();
    assert!(addr.is_ipv6() && addr.port() != 0, "{addr}");
    let mut client = FrameClient::connect(addr);
    let frame = request(
        1,
        SerializeType::Json,
        "Arith",
        "Mul",
        &[],
        &json(&Args { a: 4, b: 5 }),
    );
    assert_eq!(&client.call(&frame).payload()[..], br#"{"C":20}"#);
    let http = curl(&[
        "-g",
        "-H",
        "X-RPCX-ServiceMethod: Mul",
        "-H",
        "X-RPCX-SerializeType: 1",
        "-d",
        r#"{"A":4,"B":6}"#,
        &format!("http://[::1]:{}/Arith", addr.port()),
    ]);
    assert!(http.ends_with("{\"C\":24}"), "{http}");
}
