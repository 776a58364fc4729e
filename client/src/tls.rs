//! TLS for client connections, written once for every runtime: [`TlsOptions`] (whom to
//! trust, the name to verify, a client certificate) become one rustls `ClientConfig`,
//! built on first use and shared by every connection made with the same options; each
//! runtime only wraps its socket with the rustls adapter for its I/O traits (tokio-rustls,
//! futures-rustls) during connect, before the connection's tasks start.
//!
//! What it never does: read or write a socket itself, or decide retries (a certificate the
//! client refuses is [`Error::Tls`], final; a socket failure during the handshake is
//! [`Error::Connect`], retryable).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::addr::ServerAddr;
use crate::error::Error;

/// TLS on a client's connections (`ClientOptions::tls`), as rpcx-go's `Option.TLSConfig`.
///
/// ```
/// use ringrpc_client::{ClientOptions, TlsOptions};
///
/// let tls = TlsOptions::new()
///     .ca_path("ca.crt")                          // default: the webpki (Mozilla) roots
///     .server_name("localhost")                   // default: the host of the address
///     .client_cert("client.crt", "client.key");   // mTLS
/// let options = ClientOptions::new().tls(tls);
/// assert!(options.tls.is_some());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// PEM file of the CA certificates the server's chain must lead to. `None`: the webpki
    /// roots (Mozilla's list, built in).
    pub ca_path: Option<PathBuf>,
    /// The name the server's certificate must carry, also sent as SNI. `None`: the host
    /// part of the address (a name or an IP address).
    pub server_name: Option<String>,
    /// PEM files of the client certificate chain and its key, sent when the server asks
    /// (mTLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// ALPN protocols offered, most preferred first. Empty: none, as rpcx-go.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// The rustls configuration, built once from the fields above on first connect.
    built: Arc<OnceLock<Result<Arc<ClientConfig>, String>>>,
}

impl TlsOptions {
    /// TLS with the defaults: webpki roots, the address's host as server name, no client
    /// certificate, no ALPN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the CA certificates in this PEM file instead of the webpki roots.
    pub fn ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_path = Some(path.into());
        self.rebuilt()
    }

    /// Verifies (and sends as SNI) this name instead of the address's host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self.rebuilt()
    }

    /// Presents this certificate chain and key when the server asks for one.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self.rebuilt()
    }

    /// Offers these ALPN protocols.
    pub fn alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        self.alpn_protocols = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self.rebuilt()
    }

    /// A setter changed a field: the next connect builds the configuration again.
    fn rebuilt(mut self) -> Self {
        self.built = Arc::default();
        self
    }

    /// The rustls configuration and the name to verify for a connection to `addr`.
    pub(crate) fn connector(&self, addr: &ServerAddr) -> Result<Connector, Error> {
        let tls_error = |reason: String| Error::Tls {
            addr: addr.to_string(),
            reason,
        };
        let config = self
            .built
            .get_or_init(|| self.build().map(Arc::new))
            .clone()
            .map_err(tls_error)?;
        let name = match (&self.server_name, addr) {
            (_, ServerAddr::Unix(_)) => {
                return Err(tls_error("TLS runs over TCP addresses only".into()))
            }
            (Some(name), _) => name.clone(),
            (None, ServerAddr::Tcp(host_port)) => host_of(host_port).to_owned(),
        };
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| tls_error(format!("server name {name:?}: {e}")))?;
        Ok(Connector {
            config,
            server_name,
        })
    }

    fn build(&self) -> Result<ClientConfig, String> {
        let mut roots = RootCertStore::empty();
        match &self.ca_path {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                for cert in certificates(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates(cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("{}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| e.to_string())?
            }
        };
        config.alpn_protocols = self.alpn_protocols.clone();
        Ok(config)
    }
}

/// What a runtime needs to start TLS on a socket. Not an API: how the client is built.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Connector {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

/// The crypto provider: ring, as the server's (README "TLS" says why). rustls marks it
/// deprecated for lacking post-quantum key exchange; servers that offer one also offer
/// X25519.
#[allow(deprecated)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", path.display()));
    }
    Ok(certs)
}

/// The host of `host:port` (`[::1]:80` gives `::1`).
fn host_of(host_port: &str) -> &str {
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Turns a failed handshake into the client's error: what rustls refused is
/// [`Error::Tls`] (final), anything else a retryable [`Error::Connect`].
pub(crate) fn handshake_error(addr: &ServerAddr, error: io::Error) -> Error {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(refused) => Error::Tls {
            addr: addr.to_string(),
            reason: refused.to_string(),
        },
        None => Error::Connect {
            addr: addr.to_string(),
            cause: Arc::new(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_defaults_to_the_host_of_the_address() {
        assert_eq!(host_of("localhost:8972"), "localhost");
        assert_eq!(host_of("[::1]:8972"), "::1");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
        let addr = ServerAddr::parse("tcp@127.0.0.1:8972").unwrap();
        let connector = TlsOptions::new().connector(&addr).unwrap();
        assert_eq!(
            format!("{:?}", connector.server_name),
            "IpAddress(V4(Ipv4Addr([127, 0, 0, 1])))"
        );
        let unix = ServerAddr::parse("unix@/run/ringrpc.sock").unwrap();
        assert!(matches!(
            TlsOptions::new().connector(&unix),
            Err(Error::Tls { .. })
        ));
    }

    #[test]
    fn a_missing_ca_file_is_a_clear_final_error() {
        let addr = ServerAddr::parse("tcp@localhost:1").unwrap();
        let error = TlsOptions::new()
            .ca_path("/nonexistent/ca.crt")
            .connector(&addr)
            .unwrap_err();
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("/nonexistent/ca.crt"), "{error}");
    }
}
