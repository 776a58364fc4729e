//! The TLS options of `ringrpc call` (flattened into its arguments): `--tls` or a
//! `tls@host:port` server address, `--tls-ca`, `--tls-server-name`, `--tls-cert` and
//! `--tls-key`. They apply to the one server of `--server` and to every server an XClient
//! reaches with `--registry`.

use std::path::PathBuf;

use clap::Args;
use ringrpc_client::TlsOptions;

/// How `ringrpc call` connects with TLS.
#[derive(Args, Debug, Default)]
pub struct TlsArgs {
    /// Connect with TLS, verifying the server against the webpki roots (also: a
    /// `tls@host:port` server address, or any --tls-* option).
    #[arg(long)]
    pub tls: bool,
    /// TLS: trust the CA certificates in this PEM file instead of the webpki roots.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: client certificate chain (PEM) for mTLS; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// TLS: the name the server's certificate must carry, sent as SNI. Default: the host.
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

impl TlsArgs {
    /// The server address to dial (`tls@` becomes `tcp@`) and the TLS options asked for.
    pub fn resolve(&self, server: &str) -> (String, Option<TlsOptions>) {
        let (server, tls_address) = match server.strip_prefix("tls@") {
            Some(host_port) => (format!("tcp@{host_port}"), true),
            None => (server.to_owned(), false),
        };
        let wanted = self.tls
            || tls_address
            || self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_server_name.is_some();
        if !wanted {
            return (server, None);
        }
        let mut tls = TlsOptions::new();
        if let Some(ca) = &self.tls_ca {
            tls = tls.ca_path(ca);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls = tls.client_cert(cert, key);
        }
        if let Some(name) = &self.tls_server_name {
            tls = tls.server_name(name);
        }
        (server, Some(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_address_or_any_tls_option_turns_tls_on() {
        let none = TlsArgs::default();
        assert!(none.resolve("tcp@127.0.0.1:8972").1.is_none());
        let (server, tls) = none.resolve("tls@127.0.0.1:8972");
        assert_eq!(server, "tcp@127.0.0.1:8972");
        assert!(tls.is_some());
        let ca = TlsArgs {
            tls_ca: Some("ca.crt".into()),
            tls_server_name: Some("localhost".into()),
            ..TlsArgs::default()
        };
        let tls = ca.resolve("127.0.0.1:8972").1.expect("TLS on");
        assert_eq!(tls.ca_path.as_deref(), Some(std::path::Path::new("ca.crt")));
        assert_eq!(tls.server_name.as_deref(), Some("localhost"));
    }
}
