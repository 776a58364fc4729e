//! Certificates made on the spot for TLS tests (feature `test-certs`; rcgen): a CA, a server
//! certificate for `localhost` and `127.0.0.1` and a client certificate signed by it, a
//! second CA that signed neither, and an expired server certificate. Not for production.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// The PEM files of a test PKI, in one directory. See the module docs.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// The server's certificate (`localhost`, `127.0.0.1`, `::1`) and key.
    pub server_cert: PathBuf,
    /// The server certificate's key.
    pub server_key: PathBuf,
    /// A client certificate (for mTLS) and its key.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
    /// A CA that signed none of these (the "wrong CA").
    pub other_ca: PathBuf,
    /// A server certificate signed by `ca` that expired in 2001, and its key.
    pub expired_cert: PathBuf,
    /// The expired certificate's key.
    pub expired_key: PathBuf,
}

impl TestPki {
    /// Makes every certificate and writes the PEM files into `dir` (created if missing).
    pub fn generate(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let pki = Self {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.crt"),
            expired_cert: dir.join("expired.crt"),
            expired_key: dir.join("expired.key"),
        };
        let ca = issuer("ringrpc test CA")?;
        std::fs::write(&pki.ca, ca.pem())?;
        std::fs::write(&pki.other_ca, issuer("ringrpc other CA")?.pem())?;
        let server = |expired: bool| {
            let mut params = leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth)?;
            params.subject_alt_names = vec![
                SanType::DnsName("localhost".try_into().map_err(other)?),
                SanType::IpAddress([127, 0, 0, 1].into()),
                SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
            ];
            if expired {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            }
            Ok::<_, io::Error>(params)
        };
        write_leaf(server(false)?, &ca, &pki.server_cert, &pki.server_key)?;
        write_leaf(server(true)?, &ca, &pki.expired_cert, &pki.expired_key)?;
        let client = leaf("ringrpc test client", ExtendedKeyUsagePurpose::ClientAuth)?;
        write_leaf(client, &ca, &pki.client_cert, &pki.client_key)?;
        Ok(pki)
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn issuer(name: &str) -> io::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().map_err(other)?).map_err(other)
}

fn leaf(name: &str, usage: ExtendedKeyUsagePurpose) -> io::Result<CertificateParams> {
    let mut params = CertificateParams::new(vec![name.to_owned()]).map_err(other)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    Ok(params)
}

fn write_leaf(
    params: CertificateParams,
    ca: &CertifiedIssuer<'static, KeyPair>,
    cert_path: &Path,
    key_path: &Path,
) -> io::Result<()> {
    let key = KeyPair::generate().map_err(other)?;
    let cert = params.signed_by(&key, ca).map_err(other)?;
    std::fs::write(cert_path, cert.pem())?;
    std::fs::write(key_path, key.serialize_pem())
}
