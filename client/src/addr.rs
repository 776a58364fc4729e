//! Server addresses written as rpcx registry keys (PROTOCOL.md §11.1): `network@address`,
//! where a key without `@` means `tcp`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::Error;

/// Where a server listens: `tcp@127.0.0.1:8972`, `unix@/run/rpcx.sock` or `127.0.0.1:8972`.
/// `tcp4` and `tcp6` are accepted as `tcp`. Other rpcx networks (quic, kcp, http, ws) are not
/// supported by this client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddr {
    /// `host:port`, resolved when connecting.
    Tcp(String),
    /// A unix socket path.
    Unix(PathBuf),
}

impl ServerAddr {
    /// Parses an rpcx key.
    pub fn parse(key: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidAddress {
            addr: key.to_owned(),
            reason,
        };
        let (network, address) = key.split_once('@').unwrap_or(("tcp", key));
        if address.is_empty() {
            return Err(invalid("empty address"));
        }
        match network {
            "tcp" | "tcp4" | "tcp6" => {
                if address
                    .rsplit_once(':')
                    .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
                {
                    return Err(invalid("expected host:port"));
                }
                Ok(ServerAddr::Tcp(address.to_owned()))
            }
            "unix" => Ok(ServerAddr::Unix(PathBuf::from(address))),
            _ => Err(invalid(
                "unsupported network (this client speaks tcp and unix)",
            )),
        }
    }
}

impl FromStr for ServerAddr {
    type Err = Error;
    fn from_str(key: &str) -> Result<Self, Error> {
        Self::parse(key)
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp(address) => write!(f, "tcp@{address}"),
            ServerAddr::Unix(path) => write!(f, "unix@{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rpcx_keys() {
        assert_eq!(
            ServerAddr::parse("tcp@127.0.0.1:8972").unwrap(),
            ServerAddr::Tcp("127.0.0.1:8972".into())
        );
        assert_eq!(
            ServerAddr::parse("127.0.0.1:8972").unwrap(),
            ServerAddr::Tcp("127.0.0.1:8972".into())
        );
        assert_eq!(
            ServerAddr::parse("tcp6@[::1]:80").unwrap(),
            ServerAddr::Tcp("[::1]:80".into())
        );
        assert_eq!(
            ServerAddr::parse("unix@/tmp/s.sock").unwrap(),
            ServerAddr::Unix("/tmp/s.sock".into())
        );
    }

    #[test]
    fn display_round_trips() {
        for key in ["tcp@localhost:1", "unix@/tmp/x"] {
            assert_eq!(ServerAddr::parse(key).unwrap().to_string(), key);
        }
    }

    #[test]
    fn rejects_what_it_cannot_dial() {
        for key in [
            "quic@1.2.3.4:5",
            "tcp@",
            "tcp@host",
            "tcp@:80",
            "tcp@h:port",
            "unix@",
        ] {
            let err = ServerAddr::parse(key).unwrap_err();
            assert!(matches!(err, Error::InvalidAddress { .. }), "{key}: {err}");
            assert!(!err.is_retryable());
        }
    }
}
