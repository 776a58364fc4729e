//! An etcd registry in rpcx-etcd's layout (PROTOCOL.md §10.1) read as services and servers,
//! and `ringrpc list`:
//!
//! ```text
//! <base>                      -> rpcx_path        (ignored)
//! <base>/<service>            -> <service>        a service, maybe without servers
//! <base>/<service>/<server>   -> <metadata>       a server of it, e.g. tcp@10.0.0.5:8972
//! ```
//!
//! A server is inactive when its metadata says `state=inactive`, the rule clients select by
//! ([`Instance`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use etcd_client::{Client, ConnectOptions, GetOptions, KeyValue};
use ringrpc_client::discovery::EtcdUrl;
use ringrpc_client::select::Instance;
use serde_json::{json, Value};

/// How long connecting to etcd and each etcd request may take.
const ETCD_TIMEOUT: Duration = Duration::from_secs(5);

/// What `list` and `watch` look at and how they print it.
#[derive(Args, Debug)]
pub struct ViewArgs {
    /// The registry: etcd://host:port[,host:port...]/BASE_PATH.
    #[arg(long)]
    pub registry: EtcdUrl,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Print JSON (`watch`: one object per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ViewArgs {
    /// Whether `--service` lets `service` through.
    pub fn shows(&self, service: &str) -> bool {
        self.service.as_deref().is_none_or(|only| only == service)
    }
}

/// One server entry: `<base>/<service>/<server> -> metadata`, on an etcd lease (0: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// The service path.
    pub service: String,
    /// `network@address`.
    pub server: String,
    /// The metadata query string as stored.
    pub metadata: String,
    /// The etcd lease the key is attached to.
    pub lease: i64,
}

impl ServerEntry {
    /// `active` or `inactive`.
    pub fn state(&self) -> &'static str {
        if Instance::new(&*self.server, &*self.metadata).is_inactive() {
            "inactive"
        } else {
            "active"
        }
    }

    /// The entry as a JSON object; repeated metadata keys have their values joined by `,`.
    pub fn to_json(&self) -> Value {
        let mut fields = serde_json::Map::new();
        for (key, value) in form_urlencoded::parse(self.metadata.as_bytes()) {
            match fields.get_mut(&*key) {
                Some(Value::String(joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                _ => {
                    fields.insert(key.into_owned(), Value::String(value.into_owned()));
                }
            }
        }
        json!({
            "service": self.service,
            "server": self.server,
            "state": self.state(),
            "metadata": fields,
            "metadata_raw": self.metadata,
            "lease": self.lease,
        })
    }
}

/// The key prefix of every service under `base_path`: `<base>/`.
pub fn services_prefix(base_path: &str) -> String {
    format!("{}/", base_path.trim_end_matches('/'))
}

/// What a key under `prefix` (from [`services_prefix`]) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// `<base>/<service>`.
    Service(&'a str),
    /// `<base>/<service>/<server>`; the server key may hold `/` (`unix@/run/rpcx.sock`).
    Server(&'a str, &'a str),
}

impl<'a> Key<'a> {
    /// Parses `key`; `None` for keys outside `prefix` or with an empty part.
    pub fn parse(prefix: &str, key: &'a str) -> Option<Self> {
        let rest = key.strip_prefix(prefix)?;
        match rest.split_once('/') {
            None if !rest.is_empty() => Some(Self::Service(rest)),
            Some((service, server)) if !service.is_empty() && !server.is_empty() => {
                Some(Self::Server(service, server))
            }
            _ => None,
        }
    }
}

/// Services (sorted) with their servers (sorted by key) from the key-values under `prefix`.
pub fn services(prefix: &str, kvs: &[KeyValue]) -> BTreeMap<String, Vec<ServerEntry>> {
    let mut services: BTreeMap<String, Vec<ServerEntry>> = BTreeMap::new();
    for kv in kvs {
        let Ok(key) = kv.key_str() else { continue };
        match Key::parse(prefix, key) {
            Some(Key::Service(service)) => {
                services.entry(service.to_owned()).or_default();
            }
            Some(Key::Server(service, server)) => {
                services
                    .entry(service.to_owned())
                    .or_default()
                    .push(ServerEntry {
                        service: service.to_owned(),
                        server: server.to_owned(),
                        metadata: String::from_utf8_lossy(kv.value()).into_owned(),
                        lease: kv.lease(),
                    });
            }
            None => {}
        }
    }
    for servers in services.values_mut() {
        servers.sort_by(|a, b| a.server.cmp(&b.server));
    }
    services
}

/// A connection to the registry's etcd, each request bounded by [`ETCD_TIMEOUT`].
pub async fn connect(url: &EtcdUrl) -> anyhow::Result<Client> {
    let options = ConnectOptions::new()
        .with_connect_timeout(ETCD_TIMEOUT)
        .with_timeout(ETCD_TIMEOUT);
    Client::connect(&url.endpoints, Some(options))
        .await
        .with_context(|| format!("connecting to etcd at {}", url.endpoints.join(",")))
}

/// Runs `ringrpc list`.
pub async fn list(args: &ViewArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.registry).await?;
    let prefix = services_prefix(&args.registry.base_path);
    let response = client
        .get(&*prefix, Some(GetOptions::new().with_prefix()))
        .await
        .with_context(|| format!("listing {prefix} in etcd"))?;
    let mut services = services(&prefix, response.kvs());
    services.retain(|service, _| args.shows(service));
    let mut out = std::io::stdout().lock();
    if args.json {
        let services: Vec<Value> = services
            .iter()
            .map(|(service, servers)| {
                let servers: Vec<Value> = servers.iter().map(ServerEntry::to_json).collect();
                json!({ "service": service, "servers": servers })
            })
            .collect();
        let listing = json!({ "base_path": args.registry.base_path, "services": services });
        writeln!(out, "{}", serde_json::to_string_pretty(&listing)?)?;
        return Ok(());
    }
    write!(out, "{}", table(&services))?;
    Ok(())
}

/// The listing as an aligned table: one row per server, `-` for a service without servers.
fn table(services: &BTreeMap<String, Vec<ServerEntry>>) -> String {
    let mut rows = vec![["SERVICE", "SERVER", "STATE", "METADATA"].map(str::to_owned)];
    for (service, servers) in services {
        if servers.is_empty() {
            rows.push([service, "-", "-", ""].map(str::to_owned));
        }
        for s in servers {
            rows.push([&*s.service, &*s.server, s.state(), &*s.metadata].map(str::to_owned));
        }
    }
    let widths: Vec<usize> = (0..4)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_services_and_servers() {
        let prefix = services_prefix("/rpcx_test/");
        assert_eq!(prefix, "/rpcx_test/");
        assert_eq!(Key::parse(&prefix, "/rpcx_test"), None);
        assert_eq!(
            Key::parse(&prefix, "/rpcx_test/Arith"),
            Some(Key::Service("Arith"))
        );
        assert_eq!(
            Key::parse(&prefix, "/rpcx_test/Arith/unix@/run/a.sock"),
            Some(Key::Server("Arith", "unix@/run/a.sock"))
        );
        assert_eq!(Key::parse(&prefix, "/rpcx_test/Arith/"), None);
        assert_eq!(Key::parse(&prefix, "/other/Arith"), None);
    }

    #[test]
    fn service_filter() {
        let mut view = ViewArgs {
            registry: "etcd://127.0.0.1:2379/rpcx_test".parse().unwrap(),
            service: None,
            json: false,
        };
        assert!(view.shows("Arith") && view.shows("Echo"));
        view.service = Some("Arith".into());
        assert!(view.shows("Arith") && !view.shows("Echo") && !view.shows("ArithX"));
    }

    #[test]
    fn entries_show_state_and_metadata() {
        let entry = ServerEntry {
            service: "Arith".into(),
            server: "tcp@127.0.0.1:1".into(),
            metadata: "weight=3&group=a&group=b&state=inactive".into(),
            lease: 7,
        };
        assert_eq!(entry.state(), "inactive");
        let value = entry.to_json();
        assert_eq!(value["metadata"]["group"], "a,b");
        assert_eq!(value["metadata"]["weight"], "3");
        assert_eq!(value["lease"], 7);
        let services = BTreeMap::from([
            ("Arith".to_owned(), vec![entry]),
            ("Echo".to_owned(), vec![]),
        ]);
        let table = table(&services);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "SERVICE  SERVER           STATE     METADATA");
        assert!(lines[1].starts_with("Arith    tcp@127.0.0.1:1  inactive  weight=3"));
        assert_eq!(lines[2], "Echo     -                -");
    }
}
