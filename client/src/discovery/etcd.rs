//! Discovery from etcd in rpcx-etcd's layout (PROTOCOL.md §10.5): the servers of service `S`
//! under base path `B` are the keys `B/S/<network>@<address>`, each valued with its metadata.
//!
//! The task lists the prefix `B/S/`, publishes the list, then watches the prefix from the
//! next revision; on every event batch it lists again and publishes the whole new list. When
//! etcd is unreachable it publishes nothing, so clients keep the last good list, and it
//! reconnects with backoff, lists again and resumes watching. Unlike rpcx-etcd, an empty
//! listing is published as an empty list (rpcx-etcd's `allowKeyNotFound = true`), with one
//! exception: the first listing after a reconnect, if it is empty while the last published
//! list had servers, is held back until the watch sees a change or the hold passes (30 s by
//! default, [`EtcdDiscoveryOptions::empty_hold`]).
//! That listing is what an outage longer than the servers' lease TTL leaves (etcd expired
//! every key while no server could renew it; the servers register again within a TTL of
//! the heal), and publishing it would fail every call in between.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{GetOptions, WatchOptions};
use tokio::sync::oneshot;

use super::control_plane::{connect, Backoff};
use super::{Discovery, EtcdControlPlane, Hub, ServerWatch};
use crate::select::Instance;

/// The default of [`EtcdDiscoveryOptions::empty_hold`]: 30 s, the default lease TTL of
/// ringrpc's registrar and rpcx-etcd's first lease, within which a server that lost its keys
/// to an outage registers again.
const EMPTY_HOLD: Duration = Duration::from_secs(30);

/// How an [`EtcdDiscovery`] behaves; `Default` is what [`EtcdDiscovery::new`] uses.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EtcdDiscoveryOptions {
    /// How long a reconnected watch holds back an empty first listing while the last
    /// published list had servers (default 30 s; zero publishes it at once, as rpcx-etcd
    /// does). Set it to the servers' lease TTL: within it they register again. A hold
    /// beyond the clock's range (`Duration::MAX`) keeps the last list until the registry
    /// changes.
    pub empty_hold: Duration,
}

impl Default for EtcdDiscoveryOptions {
    fn default() -> Self {
        Self {
            empty_hold: EMPTY_HOLD,
        }
    }
}

impl EtcdDiscoveryOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`EtcdDiscoveryOptions::empty_hold`].
    pub fn empty_hold(mut self, hold: Duration) -> Self {
        self.empty_hold = hold;
        self
    }
}

/// The servers of one service as registered in etcd. After an etcd outage, an empty first
/// listing does not replace a list that had servers for up to 30 s (see
/// [`EtcdDiscoveryOptions::empty_hold`]), unless the registry changes first: such a listing
/// is what an outage longer than the servers' lease TTL leaves until they register again.
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
        Self::with_options(
            control,
            base_path,
            service_path,
            EtcdDiscoveryOptions::default(),
        )
    }

    /// [`EtcdDiscovery::new`] with `options`.
    pub fn with_options(
        control: &EtcdControlPlane,
        base_path: &str,
        service_path: &str,
        options: EtcdDiscoveryOptions,
    ) -> Self {
        let hub = Hub::new(Vec::new());
        let prefix = format!("{base_path}/{service_path}/");
        let (stop, stopped) = oneshot::channel();
        let task = watch_forever(
            control.endpoints().clone(),
            prefix.clone(),
            hub.clone(),
            options,
        );
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

async fn watch_forever(
    endpoints: Arc<[String]>,
    prefix: String,
    hub: Arc<Hub>,
    options: EtcdDiscoveryOptions,
) {
    let mut backoff = Backoff::new();
    loop {
        let error = session(&endpoints, &prefix, &hub, &options, &mut backoff).await;
        tracing::warn!(%prefix, %error, "etcd discovery lost its watch; keeping the last list");
        backoff.wait().await;
    }
}

/// Lists, publishes and watches until something fails.
async fn session(
    endpoints: &[String],
    prefix: &str,
    hub: &Hub,
    options: &EtcdDiscoveryOptions,
    backoff: &mut Backoff,
) -> etcd_client::Error {
    let mut client = match connect(endpoints).await {
        Ok(client) => client,
        Err(e) => return e,
    };
    let (revision, servers) = match list(&mut client, prefix).await {
        Ok(listed) => listed,
        Err(e) => return e,
    };
    backoff.reset();
    let mut held_until = None;
    let hold = options.empty_hold;
    if servers.is_empty() && !hub.is_empty() && !hold.is_zero() {
        tracing::warn!(%prefix, ?hold, "etcd lists no server after a reconnect; keeping the last list until the registry changes");
        held_until = tokio::time::Instant::now().checked_add(hold);
    } else {
        hub.publish(servers);
    }
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut stream = match client.watch(prefix, Some(options)).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    loop {
        let message = tokio::select! {
            message = stream.message() => message,
            () = sleep_until(held_until) => {
                held_until = None;
                hub.publish(Vec::new());
                continue;
            }
        };
        let response = match message {
            Ok(Some(response)) => response,
            Ok(None) => return etcd_client::Error::WatchError("watch stream ended".into()),
            Err(e) => return e,
        };
        if response.canceled() {
            let reason = response.cancel_reason().to_owned();
            return etcd_client::Error::WatchError(format!("watch canceled: {reason}"));
        }
        if !response.events().is_empty() {
            match list(&mut client, prefix).await {
                Ok((_, servers)) => hub.publish(servers),
                Err(e) => return e,
            }
            held_until = None;
        }
    }
}

/// Sleeps until `at`; forever if there is none.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Lists the prefix: the listing's revision and the servers found.
async fn list(
    client: &mut etcd_client::Client,
    prefix: &str,
) -> Result<(i64, Vec<Instance>), etcd_client::Error> {
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
    Ok((revision, servers))
}
