//! A byte-forwarding proxy in front of a server: lets a test cut every connection at once
//! (both directions, mid-flight) whatever the server, and offers a unix socket in front of
//! a TCP server.

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One side of a proxied connection, kept so `cut` can shut it down.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            Socket::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

pub struct Proxy {
    /// The address clients dial: `tcp@127.0.0.1:PORT` or `unix@/path`.
    pub addr: String,
    sockets: Arc<Mutex<Vec<Socket>>>,
    unix_path: Option<PathBuf>,
}

impl Proxy {
    /// A TCP proxy to `upstream` (`host:port`).
    pub fn tcp(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("tcp@{}", listener.local_addr().expect("local addr"));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let (upstream, kept) = (upstream.to_owned(), sockets.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(client_copy) = client.try_clone() else {
                    continue;
                };
                kept.lock().unwrap().push(Socket::Tcp(client_copy));
                forward_tcp_client(client, &upstream, &kept);
            }
        });
        Self {
            addr,
            sockets,
            unix_path: None,
        }
    }

    /// A unix socket in front of the TCP server `upstream` (`host:port`).
    pub fn unix(upstream: &str) -> Self {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "ringrpc-client-test-{}-{}.sock",
            std::process::id(),
            fastrand_u64()
        ));
        let listener = UnixListener::bind(&path).expect("bind unix socket");
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let (upstream, kept) = (upstream.to_owned(), sockets.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                kept.lock().unwrap().push(Socket::Unix(client_copy));
                kept.lock().unwrap().push(Socket::Tcp(server_copy));
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        Self {
            addr: format!("unix@{}", path.display()),
            sockets,
            unix_path: Some(path),
        }
    }

    /// Shuts every proxied connection down in both directions, now.
    pub fn cut(&self) {
        for socket in self.sockets.lock().unwrap().iter() {
            socket.shutdown();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn forward_tcp_client(client: TcpStream, upstream: &str, kept: &Mutex<Vec<Socket>>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    if let Ok(copy) = server.try_clone() {
        kept.lock().unwrap().push(Socket::Tcp(copy));
    }
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    pump(client, server);
    pump(server2, client2);
}

/// Copies `from` to `to` on a thread until either side ends, then ends `to`'s write side.
fn pump<R, W>(mut from: R, mut to: W)
where
    R: std::io::Read + Send + 'static,
    W: std::io::Write + ShutdownWrite + Send + 'static,
{
    std::thread::spawn(move || {
        let _ = copy(&mut from, &mut to);
        to.shutdown_write();
    });
}

trait ShutdownWrite {
    fn shutdown_write(&self);
}

impl ShutdownWrite for TcpStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl ShutdownWrite for UnixStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
