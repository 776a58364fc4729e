//! The listening sockets, built with socket2 so that binding is under our control; each
//! driver hands its socket to its own I/O (it never accepts here).
//!
//! Every shard gets its own socket on the same address with SO_REUSEPORT; the kernel spreads
//! incoming connections over them. Before binding, a probe socket *without* SO_REUSEPORT
//! checks that no live listener holds the port: a stale server (which would otherwise
//! silently share the port with us) makes startup fail with "address in use" instead.
//!
//! A Unix socket path gets one listening socket that every shard accepts from (SO_REUSEPORT
//! does not spread Unix connections). A socket file left by a server that died is replaced,
//! but only after a connect to it is refused: a live server's socket is never taken over,
//! and a path that is not a socket is never removed. The file goes when the server stops.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::listen_addr::ListenAddr;
use crate::error::StartError;

/// The listening sockets of a server, one per shard.
#[derive(Debug)]
pub(crate) struct Bound {
    /// The address bound (a TCP port 0 replaced by the port chosen).
    pub local: ListenAddr,
    /// One listening socket per shard.
    pub sockets: Vec<Socket>,
    /// The socket file of a Unix listener, removed when this is dropped.
    pub file: Option<SocketFile>,
}

/// Binds `count` listening sockets on `addr`: for TCP one SO_REUSEPORT socket per shard
/// (port 0: a free port, shared by all of them); for a Unix path one socket, shared by the
/// shards (each gets its own descriptor of it), after replacing a stale socket file.
pub(crate) fn bind_all(addr: &ListenAddr, count: usize, backlog: i32) -> Result<Bound, StartError> {
    let failed = |addr: &ListenAddr| {
        let addr = addr.clone();
        move |source| StartError::Listen { addr, source }
    };
    match addr {
        ListenAddr::Tcp(tcp) => {
            let (local, sockets) = bind_tcp(*tcp, count, backlog).map_err(failed(addr))?;
            Ok(Bound {
                local: ListenAddr::Tcp(local),
                sockets,
                file: None,
            })
        }
        ListenAddr::Unix(path) => {
            let (sockets, file) = bind_unix(path, count, backlog).map_err(failed(addr))?;
            Ok(Bound {
                local: addr.clone(),
                sockets,
                file: Some(file),
            })
        }
    }
}

fn bind_tcp(addr: SocketAddr, count: usize, backlog: i32) -> io::Result<(SocketAddr, Vec<Socket>)> {
    if addr.port() != 0 {
        probe(addr)?;
    }
    let first = bind_one(addr, backlog)?;
    let local = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other(format!("{addr} is not an IP address")))?;
    let mut sockets = vec![first];
    for _ in 1..count {
        sockets.push(bind_one(local, backlog)?);
    }
    Ok((local, sockets))
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // TIME_WAIT connections of an earlier run must not block the bind.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket)
}

/// Fails with EADDRINUSE if any socket listens on `addr`, whatever its options.
fn probe(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())
}

fn bind_unix(path: &Path, count: usize, backlog: i32) -> io::Result<(Vec<Socket>, SocketFile)> {
    replace_stale(path)?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    let file = SocketFile::new(path)?;
    socket.listen(backlog)?;
    let mut sockets = Vec::with_capacity(count);
    for _ in 1..count {
        sockets.push(socket.try_clone()?);
    }
    sockets.push(socket);
    Ok((sockets, file))
}

/// Removes a socket file nothing accepts on (a server that died). A live server's socket,
/// or a file that is not a socket, is an error instead.
fn replace_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a server is accepting connections on this socket",
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// A Unix listener's socket file: removed on drop, if it is still the one bound (another
/// server may have replaced it since).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn new(path: &Path) -> io::Result<Self> {
        let meta = fs::symlink_metadata(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino);
        if ours {
            if let Err(e) = fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "socket file not removed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_the_port_of_the_first() {
        let bound = bind_all(&"127.0.0.1:0".parse().unwrap(), 3, 16).unwrap();
        let (addr, sockets) = (bound.local.as_tcp().unwrap(), bound.sockets);
        assert_ne!(addr.port(), 0);
        assert_eq!(sockets.len(), 3);
        for socket in &sockets {
            assert_eq!(socket.local_addr().unwrap().as_socket(), Some(addr));
        }
    }

    #[test]
    fn a_live_listener_on_the_port_is_refused() {
        let held = bind_all(&"127.0.0.1:0".parse().unwrap(), 1, 16).unwrap();
        let err = bind_all(&held.local, 1, 16).unwrap_err();
        assert!(
            matches!(&err, StartError::Listen { source, .. }
                if source.kind() == std::io::ErrorKind::AddrInUse),
            "{err}"
        );
    }

    #[test]
    fn a_unix_socket_replaces_a_stale_file_never_a_live_one_and_goes_on_drop() {
        let dir = std::env::temp_dir().join(format!("ringrpc-listener-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        // A stale socket: bound, then its listener gone.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let addr = ListenAddr::unix(&path);
        let bound = bind_all(&addr, 2, 16).unwrap();
        assert_eq!(bound.sockets.len(), 2);
        UnixStream::connect(&path).expect("the new socket accepts");
        let err = bind_all(&addr, 1, 16).unwrap_err();
        assert!(
            matches!(&err, StartError::Listen { source, .. } if source.kind() == io::ErrorKind::AddrInUse),
            "{err}"
        );
        drop(bound);
        assert!(!path.exists(), "removed on drop");
        fs::write(&path, b"not a socket").unwrap();
        assert!(bind_all(&addr, 1, 16).is_err());
        assert!(path.exists(), "a regular file is never removed");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ipv6_loopback_binds() {
        let bound = bind_all(&"tcp@[::1]:0".parse().unwrap(), 2, 16).unwrap();
        let addr = bound.local.as_tcp().unwrap();
        assert!(addr.is_ipv6() && addr.port() != 0);
        std::net::TcpStream::connect(addr).expect("accepts on ::1");
    }
}
