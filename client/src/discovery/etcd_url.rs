//! The registry URL the example server and client take (`--registry`): which etcd
//! endpoints, and the base path under them. Plain parsing, built without the `etcd` feature
//! too, so a program can name a registry it was built without.

/// A registry given as a URL, `etcd://host:port[,host:port...]/<base_path>`, as the example
/// server's and client's `--registry` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdUrl {
    /// etcd client endpoints, `http://host:port`.
    pub endpoints: Vec<String>,
    /// Everything from the first `/` after the hosts, e.g. `/rpcx_test`.
    pub base_path: String,
}

/// A string that is not `etcd://host:port[,...]/<base_path>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid registry URL {url:?}, expected etcd://host:port[,host:port...]/<basePath>")]
#[non_exhaustive]
pub struct EtcdUrlError {
    /// The string given.
    pub url: String,
}

impl std::str::FromStr for EtcdUrl {
    type Err = EtcdUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let error = || EtcdUrlError {
            url: url.to_owned(),
        };
        let (hosts, path) = url
            .strip_prefix("etcd://")
            .and_then(|r| r.split_once('/'))
            .ok_or_else(error)?;
        let endpoints: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("http://{h}"))
            .collect();
        if endpoints.is_empty() || path.is_empty() {
            return Err(error());
        }
        Ok(Self {
            endpoints,
            base_path: format!("/{path}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_parse() {
        let url: EtcdUrl = "etcd://127.0.0.1:2379,127.0.0.1:22379/rpcx_test"
            .parse()
            .unwrap();
        assert_eq!(
            url.endpoints,
            ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]
        );
        assert_eq!(url.base_path, "/rpcx_test");
        for bad in ["http://h:1/x", "etcd://h:1", "etcd://h:1/", "etcd:///x"] {
            assert!(bad.parse::<EtcdUrl>().is_err(), "{bad}");
        }
    }
}
