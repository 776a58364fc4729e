//! [`ListenAddr`]: where a server listens, TCP (IPv4 or IPv6) or a Unix socket, written as
//! rpcx writes server addresses (`tcp@host:port`, `unix@/path`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a server listens. Parsed from rpcx's `network@address` form or a plain
/// `host:port`:
///
/// ```
/// use ringrpc_engine::ListenAddr;
///
/// let tcp: ListenAddr = "127.0.0.1:8972".parse().unwrap();
/// let v6: ListenAddr = "tcp@[::1]:8972".parse().unwrap();
/// let unix: ListenAddr = "unix@/tmp/rpcx.sock".parse().unwrap();
/// assert_eq!(tcp.to_string(), "tcp@127.0.0.1:8972");
/// assert_eq!(v6.to_string(), "tcp@[::1]:8972");
/// assert_eq!(unix.to_string(), "unix@/tmp/rpcx.sock");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListenAddr {
    /// A TCP address, IPv4 or IPv6. Every shard binds its own socket on it (SO_REUSEPORT).
    Tcp(SocketAddr),
    /// A Unix stream socket at this path. The shards share one listening socket; a stale
    /// socket file (nothing accepts on it) is replaced, and the file is removed on shutdown.
    Unix(PathBuf),
}

impl ListenAddr {
    /// A Unix socket at `path`.
    pub fn unix(path: impl AsRef<Path>) -> Self {
        Self::Unix(path.as_ref().to_path_buf())
    }

    /// The TCP address, if this is one.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(addr) => Some(*addr),
            Self::Unix(_) => None,
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "tcp@{addr}"),
            Self::Unix(path) => write!(f, "unix@{}", path.display()),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    /// `unix@/path`, `tcp@host:port` (also `tcp4@`, `tcp6@`), or `host:port`. A host name
    /// is resolved; its first address is used.
    fn from_str(s: &str) -> Result<Self, String> {
        let (network, address) = s.split_once('@').unwrap_or(("tcp", s));
        match network {
            "unix" if !address.is_empty() => Ok(Self::unix(address)),
            "unix" => Err(format!("{s:?}: a Unix socket needs a path (unix@/path)")),
            "tcp" | "tcp4" | "tcp6" => tcp(address).map(Self::Tcp),
            _ => Err(format!(
                "{s:?}: unknown network {network:?} (expected tcp@host:port or unix@/path)"
            )),
        }
    }
}

fn tcp(address: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = address.parse() {
        return Ok(addr);
    }
    address
        .to_socket_addrs()
        .map_err(|e| format!("{address:?}: not host:port ({e})"))?
        .next()
        .ok_or_else(|| format!("{address:?}: the name has no address"))
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::Tcp(addr)
    }
}

impl From<([u8; 4], u16)> for ListenAddr {
    fn from(addr: ([u8; 4], u16)) -> Self {
        Self::Tcp(addr.into())
    }
}

impl From<([u16; 8], u16)> for ListenAddr {
    fn from(addr: ([u16; 8], u16)) -> Self {
        Self::Tcp(addr.into())
    }
}

impl From<(IpAddr, u16)> for ListenAddr {
    fn from(addr: (IpAddr, u16)) -> Self {
        Self::Tcp(addr.into())
    }
}

impl From<(Ipv4Addr, u16)> for ListenAddr {
    fn from(addr: (Ipv4Addr, u16)) -> Self {
        Self::Tcp(addr.into())
    }
}

impl From<(Ipv6Addr, u16)> for ListenAddr {
    fn from(addr: (Ipv6Addr, u16)) -> Self {
        Self::Tcp(addr.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcx_addresses_parse() {
        let v4 = SocketAddr::from(([127, 0, 0, 1], 8972));
        assert_eq!("127.0.0.1:8972".parse(), Ok(ListenAddr::Tcp(v4)));
        assert_eq!("tcp@127.0.0.1:8972".parse(), Ok(ListenAddr::Tcp(v4)));
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 9));
        assert_eq!("tcp6@[::1]:9".parse(), Ok(ListenAddr::Tcp(v6)));
        assert_eq!(
            "unix@/run/x.sock".parse(),
            Ok(ListenAddr::unix("/run/x.sock"))
        );
        assert!("unix@".parse::<ListenAddr>().is_err());
        assert!("quic@1.2.3.4:5".parse::<ListenAddr>().is_err());
        assert!("nonsense".parse::<ListenAddr>().is_err());
        assert_eq!(ListenAddr::from(([127, 0, 0, 1], 8972)).as_tcp(), Some(v4));
    }
}
