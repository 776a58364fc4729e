//! Discovery from etcd in rpcx-etcd's layout (PROTOCOL.md §10.5): the servers of service `S`
//! under base path `B` are the keys `B/S/<network>@<address>`, each valued with its metadata.
//!
//! The task lists the prefix `B/S/`, publishes the list, then watches the prefix from the
//! next revision; on every event batch it lists again and publishes the whole new list. When
//! etcd is unreachable it publishes nothing, so clients keep the last good list, and it
//! reconnects with backoff, lists again and resumes watching. Unlike rpcx-etcd, an empty
//! listing is published as an empty list (rpcx-etcd's `allowKeyNotFound = true`).

use std::sync::Arc;

use etcd_client::{GetOptions, WatchOptions};
use tokio::sync::oneshot;

use super::control_plane::{connect, Backoff};
use super::{Discovery, EtcdControlPlane, Hub, ServerWatch};
use crate::select::Instance;

/// The servers of one service as registered in etcd.
#[derive(Debug)]
pub struct EtcdDiscovery {
    hub: Arc<Hub>,
    prefix: String,
    // Dropping it ends the watch task.
    _stop: oneshot::Sender<()>,
}

impl EtcdDiscovery {
    /// Starts watching `<base_path>/<service_path>/` on the control plane. The first list
    /// arrives asynchronously; until then watches see an empty list (see
    /// [`ServerWatch::wait_until`]).
    pub fn new(control: &EtcdControlPlane, base_path: &str, service_path: &str) -> Self {
        let hub = Hub::new(Vec::new());
        let prefix = format!("{base_path}/{service_path}/");
        let (stop, stopped) = oneshot::channel();
        let task = watch_forever(control.endpoints().clone(), prefix.clone(), hub.clone());
        control.spawn(async move {
            tokio::select! {
                _ = stopped => {}
                () = task => {}
            }
        });
        Self {
            hub,
            prefix,
            _stop: stop,
        }
    }

    /// The watched prefix, `<base_path>/<service_path>/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Discovery for EtcdDiscovery {
    fn watch(&self) -> ServerWatch {
        self.hub.subscribe()
    }
}

async fn watch_forever(endpoints: Arc<[String]>, prefix: String, hub: Arc<Hub>) {
    let mut backoff = Backoff::new();
    loop {
        let error = session(&endpoints, &prefix, &hub, &mut backoff).await;
        tracing::warn!(%prefix, %error, "etcd discovery lost its watch; keeping the last list");
        backoff.wait().await;
    }
}

/// Lists, publishes and watches until something fails.
async fn session(
    endpoints: &[String],
    prefix: &str,
    hub: &Hub,
    backoff: &mut Backoff,
) -> etcd_client::Error {
    let mut client = match connect(endpoints).await {
        Ok(client) => client,
        Err(e) => return e,
    };
    let revision = match list(&mut client, prefix, hub).await {
        Ok(revision) => revision,
        Err(e) => return e,
    };
    backoff.reset();
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut stream = match client.watch(prefix, Some(options)).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    loop {
        let response = match stream.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return etcd_client::Error::WatchError("watch stream ended".into()),
            Err(e) => return e,
        };
        if response.canceled() {
            let reason = response.cancel_reason().to_owned();
            return etcd_client::Error::WatchError(format!("watch canceled: {reason}"));
        }
        if !response.events().is_empty() {
            if let Err(e) = list(&mut client, prefix, hub).await {
                return e;
            }
        }
    }
}

/// Lists the prefix, publishes the servers found, returns the listing's revision.
async fn list(
    client: &mut etcd_client::Client,
    prefix: &str,
    hub: &Hub,
) -> Result<i64, etcd_client::Error> {
    let response = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = response.header().map_or(0, |h| h.revision());
    let servers = response
        .kvs()
        .iter()
        .filter_map(|kv| {
            let key = std::str::from_utf8(kv.key()).ok()?.strip_prefix(prefix)?;
            // The rest of the key is the server key; it may contain `/` (`unix@/run/s.sock`).
            if key.is_empty() {
                return None;
            }
            Some(Instance::new(key, String::from_utf8_lossy(kv.value())))
        })
        .collect::<Vec<_>>();
    tracing::debug!(%prefix, servers = servers.len(), revision, "etcd discovery listed");
    hub.publish(servers);
    Ok(revision)
}
