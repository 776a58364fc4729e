//! Service registration: telling a registry that this server serves these services, so rpcx
//! clients (Go or Rust) discover it.
//!
//! Read [`Registration`] (what is registered), then `EtcdRegistrar` (feature `etcd`), which
//! keeps it in etcd in rpcx-etcd's layout (PROTOCOL.md §10):
//!
//! ```text
//! <base_path>                              -> rpcx_path
//! <base_path>/<service_path>               -> <service_path>
//! <base_path>/<service_path>/<net>@<addr>  -> <metadata query string>
//! ```
//!
//! The registrar runs on its own control-plane thread (a current-thread tokio runtime for
//! etcd-client); shards never talk to it and nothing on the request path waits for it. Its
//! live state ([`RegistryWatch`]) is what the status page shows.
//! Metadata helpers here ([`with_state`], [`RegistryUrl`]) are pure.

#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "etcd")]
mod lease;
mod status;

use std::fmt;
use std::time::Duration;

#[cfg(feature = "etcd")]
pub use etcd::{DeregisterError, EtcdRegistrar, RegistryEvent};
pub use status::{RegistryPhase, RegistryStatus, RegistryWatch};

/// What a server registers: its address and its services with their metadata. Start from
/// [`Registration::new`] and chain setters:
///
/// ```
/// use std::time::Duration;
/// use ringrpc_engine::registry::Registration;
///
/// let registration = Registration::new("/rpcx_test", "tcp@10.0.0.5:8972")
///     .services(["Arith", "Echo"], "weight=2")
///     .lease_ttl(Duration::from_secs(10));
/// assert_eq!(registration.services.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registration {
    /// Key prefix, used verbatim (rpcx examples use `/rpcx_test`).
    pub base_path: String,
    /// `<network>@<host:port>` that clients dial, e.g. `tcp@10.0.0.5:8972`.
    pub service_address: String,
    /// `(service_path, metadata)` pairs; metadata is a URL query (`weight=2&group=a`) or "".
    pub services: Vec<(String, String)>,
    /// TTL of the lease all keys hang on; a crashed server vanishes this long after its last
    /// keep-alive. 30 s, as rpcx-etcd's first lease. Whole seconds, 2 at least. Keep-alives
    /// go out every TTL/6, and a lease none of them renewed for 2/3 of the TTL is replaced
    /// (new lease, every key rewritten) before etcd expires it.
    pub lease_ttl: Duration,
    /// How often the node keys are checked and rewritten if someone deleted them
    /// (rpcx-etcd's `UpdateInterval`). 30 s; an interval beyond the clock's range
    /// (`Duration::MAX`) means never.
    pub check_interval: Duration,
}

impl Registration {
    /// Registers no service yet at `service_address` under `base_path`; add them with
    /// [`Self::service`] or [`Self::services`].
    pub fn new(base_path: impl Into<String>, service_address: impl Into<String>) -> Self {
        Self {
            base_path: base_path.into(),
            service_address: service_address.into(),
            services: Vec::new(),
            lease_ttl: Duration::from_secs(30),
            check_interval: Duration::from_secs(30),
        }
    }

    /// Adds a service with its metadata.
    #[must_use]
    pub fn service(mut self, service_path: impl Into<String>, metadata: impl Into<String>) -> Self {
        self.services.push((service_path.into(), metadata.into()));
        self
    }

    /// Adds every service of `service_paths` (e.g. [`crate::Server::service_paths`]), each
    /// with the same `metadata`.
    #[must_use]
    pub fn services<I>(self, service_paths: I, metadata: &str) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        service_paths.into_iter().fold(self, |registration, path| {
            registration.service(path, metadata)
        })
    }

    /// Sets the TTL of the lease every key hangs on.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets how often the node keys are checked and rewritten.
    #[must_use]
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// The service directory key, `<base_path>/<service_path>`.
    pub fn service_key(&self, service_path: &str) -> String {
        format!("{}/{service_path}", self.base_path)
    }

    /// The node key, `<base_path>/<service_path>/<service_address>`.
    pub fn node_key(&self, service_path: &str) -> String {
        format!("{}/{service_path}/{}", self.base_path, self.service_address)
    }
}

/// `metadata` with `state=inactive` added (`inactive`) or every `state` removed, other
/// pairs kept in order. Clients stop selecting an inactive server (PROTOCOL.md §10.6).
pub fn with_state(metadata: &str, inactive: bool) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(metadata.as_bytes()) {
        if key != "state" {
            out.append_pair(&key, &value);
        }
    }
    if inactive {
        out.append_pair("state", "inactive");
    }
    out.finish()
}

/// A registry given as a URL: `etcd://host:port[,host:port...]/<base_path>`. Built by
/// parsing (`"etcd://127.0.0.1:2379/rpcx_test".parse()`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryUrl {
    /// etcd client endpoints, `http://host:port`.
    pub endpoints: Vec<String>,
    /// Everything from the first `/` after the hosts, e.g. `/rpcx_test`.
    pub base_path: String,
}

/// Why a registry URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid registry URL {url:?}: {reason}")]
#[non_exhaustive]
pub struct RegistryUrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl std::str::FromStr for RegistryUrl {
    type Err = RegistryUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let error = |reason| RegistryUrlError {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| error("expected etcd://"))?;
        let (hosts, path) = rest
            .split_once('/')
            .ok_or_else(|| error("missing /<base_path>"))?;
        if path.is_empty() {
            return Err(error("empty base path"));
        }
        let endpoints: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("http://{h}"))
            .collect();
        if endpoints.is_empty() {
            return Err(error("no etcd host"));
        }
        Ok(Self {
            endpoints,
            base_path: format!("/{path}"),
        })
    }
}

impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<&str> = self
            .endpoints
            .iter()
            .map(|e| e.trim_start_matches("http://"))
            .collect();
        write!(f, "etcd://{}{}", hosts.join(","), self.base_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_rpcx_etcd_layout() {
        let r = Registration::new("/rpcx_test", "tcp@localhost:8972").service("Arith", "weight=10");
        assert_eq!(r.service_key("Arith"), "/rpcx_test/Arith");
        assert_eq!(r.node_key("Arith"), "/rpcx_test/Arith/tcp@localhost:8972");
    }

    #[test]
    fn state_is_added_and_removed_keeping_other_pairs() {
        assert_eq!(
            with_state("weight=10&group=a", true),
            "weight=10&group=a&state=inactive"
        );
        assert_eq!(
            with_state("weight=10&state=inactive&group=a", false),
            "weight=10&group=a"
        );
        assert_eq!(with_state("", true), "state=inactive");
        assert_eq!(with_state("state=inactive", true), "state=inactive");
    }

    #[test]
    fn registry_urls_parse() {
        let url: RegistryUrl = "etcd://127.0.0.1:2379,127.0.0.1:2380/rpcx_test"
            .parse()
            .unwrap();
        assert_eq!(
            url.endpoints,
            ["http://127.0.0.1:2379", "http://127.0.0.1:2380"]
        );
        assert_eq!(url.base_path, "/rpcx_test");
        assert_eq!(
            url.to_string(),
            "etcd://127.0.0.1:2379,127.0.0.1:2380/rpcx_test"
        );
        for bad in ["http://h:1/x", "etcd://h:1", "etcd://h:1/", "etcd:///x"] {
            assert!(bad.parse::<RegistryUrl>().is_err(), "{bad}");
        }
    }
}
