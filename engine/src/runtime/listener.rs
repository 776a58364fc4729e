//! The listening sockets, built with socket2 so that binding is under our control; each
//! driver hands its socket to its own I/O (it never accepts here).
//!
//! Every shard gets its own socket on the same address with SO_REUSEPORT; the kernel spreads
//! incoming connections over them. Before binding, a probe socket *without* SO_REUSEPORT
//! checks that no live listener holds the port: a stale server (which would otherwise
//! silently share the port with us) makes startup fail with "address in use" instead.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::StartError;

/// Binds `count` listening sockets on `addr` (port 0: a free port, shared by all of them).
/// Returns the bound address and the sockets, one per shard.
pub(crate) fn bind_all(
    addr: SocketAddr,
    count: usize,
    backlog: i32,
) -> Result<(SocketAddr, Vec<Socket>), StartError> {
    let failed = |addr: SocketAddr| move |source| StartError::Listen { addr, source };
    if addr.port() != 0 {
        probe(addr).map_err(failed(addr))?;
    }
    let first = bind_one(addr, backlog).map_err(failed(addr))?;
    let local = first
        .local_addr()
        .map_err(failed(addr))?
        .as_socket()
        .ok_or_else(|| StartError::Config(format!("{addr} is not an IP address")))?;
    let mut sockets = vec![first];
    for _ in 1..count {
        sockets.push(bind_one(local, backlog).map_err(failed(local))?);
    }
    Ok((local, sockets))
}

fn bind_one(addr: SocketAddr, backlog: i32) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // TIME_WAIT connections of an earlier run must not block the bind.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket)
}

/// Fails with EADDRINUSE if any socket listens on `addr`, whatever its options.
fn probe(addr: SocketAddr) -> std::io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_the_port_of_the_first() {
        let (addr, sockets) = bind_all("127.0.0.1:0".parse().unwrap(), 3, 16).unwrap();
        assert_ne!(addr.port(), 0);
        assert_eq!(sockets.len(), 3);
        for socket in &sockets {
            assert_eq!(socket.local_addr().unwrap().as_socket(), Some(addr));
        }
    }

    #[test]
    fn a_live_listener_on_the_port_is_refused() {
        let (addr, _held) = bind_all("127.0.0.1:0".parse().unwrap(), 1, 16).unwrap();
        let err = bind_all(addr, 1, 16).unwrap_err();
        assert!(
            matches!(&err, StartError::Listen { source, .. }
                if source.kind() == std::io::ErrorKind::AddrInUse),
            "{err}"
        );
    }
}
