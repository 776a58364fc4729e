//! [`TlsConfig`]: where a server's certificate, key and client CA come from, and the TLS
//! bounds; and loading them into a rustls `ServerConfig` (at start and on every reload).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

/// TLS on a server's listeners: every connection must open with a TLS handshake. Start from
/// [`TlsConfig::from_pem_files`] and chain setters:
///
/// ```
/// use std::time::Duration;
/// use ringrpc_engine::{ServerConfig, TlsConfig};
///
/// let tls = TlsConfig::from_pem_files("server.crt", "server.key")
///     .client_ca_path("clients-ca.crt") // mTLS: clients must present a certificate
///     .alpn_protocols(["rpcx"])
///     .handshake_timeout(Duration::from_secs(5));
/// let config = ServerConfig::default().tls(tls);
/// assert!(config.tls.is_some());
/// ```
///
/// The files are read when the server starts and again on [`crate::Server::reload_tls`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert_chain_path: PathBuf,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key_path: PathBuf,
    /// PEM file of CA certificates: when set, every client must present a certificate
    /// signed by one of them (mTLS); when `None`, clients are not asked for one.
    pub client_ca_path: Option<PathBuf>,
    /// ALPN protocols offered, most preferred first. Empty (the default): no ALPN, as
    /// rpcx-go. A client offering ALPN with none of these is refused.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// A connection whose handshake has not finished this long after accept is closed.
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// Connections of one shard still in their handshake; a connection accepted over it is
    /// closed at once. Default 256.
    pub max_handshakes_per_shard: usize,
    /// Encrypted output a connection holds before it stops taking plaintext from its core
    /// (whose own output limit then pauses reading). Default 64 KiB.
    pub out_buffer_max_bytes: usize,
    /// Lets the traffic secrets of a finished handshake be taken out (rustls's
    /// `enable_secret_extraction`), the step a kernel TLS offload starts from. Default
    /// off: no driver offloads yet (README "TLS", kernel TLS).
    pub kernel_tls_secrets: bool,
}

impl TlsConfig {
    /// TLS with the certificate chain and key in these PEM files, and the other defaults.
    pub fn from_pem_files(
        cert_chain_path: impl Into<PathBuf>,
        private_key_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            cert_chain_path: cert_chain_path.into(),
            private_key_path: private_key_path.into(),
            client_ca_path: None,
            alpn_protocols: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            max_handshakes_per_shard: 256,
            out_buffer_max_bytes: 64 << 10,
            kernel_tls_secrets: false,
        }
    }

    /// Requires client certificates signed by a CA in this PEM file (mTLS).
    #[must_use]
    pub fn client_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca_path = Some(path.into());
        self
    }

    /// Sets the ALPN protocols offered, most preferred first.
    #[must_use]
    pub fn alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        self.alpn_protocols = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Sets how long a handshake may take.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets how many connections of one shard may be in their handshake at once.
    #[must_use]
    pub fn max_handshakes_per_shard(mut self, max: usize) -> Self {
        self.max_handshakes_per_shard = max;
        self
    }

    /// Sets how much encrypted output a connection holds.
    #[must_use]
    pub fn out_buffer_max_bytes(mut self, bytes: usize) -> Self {
        self.out_buffer_max_bytes = bytes;
        self
    }

    /// Lets the traffic secrets be taken out after the handshake (kernel TLS).
    #[must_use]
    pub fn kernel_tls_secrets(mut self, enabled: bool) -> Self {
        self.kernel_tls_secrets = enabled;
        self
    }

    /// Reads the PEM files and builds the rustls configuration every connection of the
    /// server shares (until the next reload).
    pub(crate) fn load(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?;
        let builder = match &self.client_ca_path {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let roots = Arc::new(root_store(path)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = certificates(&self.cert_chain_path)?;
        let key =
            PrivateKeyDer::from_pem_file(&self.private_key_path).map_err(|e| TlsError::Pem {
                path: self.private_key_path.clone(),
                reason: e.to_string(),
            })?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(TlsError::Rustls)?;
        config.alpn_protocols = self.alpn_protocols.clone();
        // Keeps the traffic secrets reachable after the handshake, for kernel TLS where the
        // kernel has it (`Transport::take_kernel_tls_secrets`, README "TLS").
        config.enable_secret_extraction = self.kernel_tls_secrets;
        Ok(Arc::new(config))
    }
}

/// The crypto provider: ring (README "TLS" says why). rustls marks ring's provider
/// deprecated because it has no post-quantum key exchange; peers that offer one (Go 1.24+)
/// fall back to X25519 with it.
#[allow(deprecated)]
pub(crate) fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Every certificate in a PEM file; an empty file is an error.
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block".to_owned()));
    }
    Ok(certs)
}

/// The certificates of a PEM file as trust anchors.
pub(crate) fn root_store(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// The TLS configuration could not be loaded (at start or on reload).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the certificate, key or protocol settings.
    #[error("{0}")]
    Rustls(rustls::Error),
    /// The client CA cannot verify certificates.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// The server was started without TLS: there is nothing to reload.
    #[error("the server has no TLS configuration")]
    NotConfigured,
    /// A shard did not take the new configuration (it has stopped).
    #[error("shard {shard} did not take the new configuration: {reason}")]
    Shard {
        /// The shard's index.
        shard: usize,
        /// Why.
        reason: String,
    },
}
