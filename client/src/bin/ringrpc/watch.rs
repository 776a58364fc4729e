//! `ringrpc watch`: servers as they are added, removed or updated under a registry base path,
//! one line (or JSON object) per change, until Ctrl-C, `--max-events` or `--for-ms`.
//!
//! The listing and the watch are one consistent view: the watch starts at the revision after
//! the listing's, so no change between the two is lost. The line `watching <prefix> ...` on
//! stderr says the watch is in place.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use etcd_client::{Event, EventType, GetOptions, WatchOptions};
use serde_json::Value;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;

use crate::registry::{self, Key, ServerEntry, ViewArgs};

/// `ringrpc watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    /// Stop after this many changes.
    #[arg(long)]
    pub max_events: Option<u64>,
    /// Stop after this many milliseconds.
    #[arg(long)]
    pub for_ms: Option<u64>,
}

/// What happened to a server entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Added,
    Updated,
    Removed,
}

/// One change of one server entry; `entry.metadata` is the new value (the last one when removed).
#[derive(Debug)]
struct Change {
    kind: Kind,
    entry: ServerEntry,
    previous_metadata: Option<String>,
}

impl Change {
    /// The change an etcd event makes to a server entry; `None` for other keys.
    fn from_event(prefix: &str, event: &Event) -> Option<Self> {
        let kv = event.kv()?;
        let Key::Server(service, server) = Key::parse(prefix, kv.key_str().ok()?)? else {
            return None;
        };
        let previous = event
            .prev_kv()
            .map(|p| String::from_utf8_lossy(p.value()).into_owned());
        let (kind, metadata, lease) = match event.event_type() {
            EventType::Put if kv.version() == 1 => (Kind::Added, kv.value(), kv.lease()),
            EventType::Put => (Kind::Updated, kv.value(), kv.lease()),
            EventType::Delete => (Kind::Removed, &[][..], 0),
        };
        let metadata = match kind {
            Kind::Removed => previous.clone().unwrap_or_default(),
            _ => String::from_utf8_lossy(metadata).into_owned(),
        };
        Some(Self {
            kind,
            entry: ServerEntry {
                service: service.to_owned(),
                server: server.to_owned(),
                metadata,
                lease,
            },
            previous_metadata: previous.filter(|_| kind == Kind::Updated),
        })
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Added => "added",
            Kind::Updated => "updated",
            Kind::Removed => "removed",
        }
    }

    fn to_json(&self) -> Value {
        let mut value = self.entry.to_json();
        value["event"] = self.name().into();
        if let Some(previous) = &self.previous_metadata {
            value["previous_metadata_raw"] = previous.as_str().into();
        }
        value
    }

    fn to_text(&self) -> String {
        let e = &self.entry;
        let mut line = format!(
            "{:<7}  {}  {}  {}  {}",
            self.name(),
            e.service,
            e.server,
            e.state(),
            e.metadata
        );
        if let Some(previous) = &self.previous_metadata {
            line.push_str(&format!("  (was: {previous})"));
        }
        line
    }
}

/// Runs `ringrpc watch`.
pub async fn run(args: &WatchArgs) -> anyhow::Result<()> {
    let mut client = registry::connect(&args.view.registry).await?;
    let prefix = registry::services_prefix(&args.view.registry.base_path);
    let listing = client
        .get(&*prefix, Some(GetOptions::new().with_prefix()))
        .await
        .with_context(|| format!("listing {prefix} in etcd"))?;
    let revision = listing.header().map_or(0, |h| h.revision()) + 1;
    let server_count: usize = registry::services(&prefix, listing.kvs())
        .values()
        .map(Vec::len)
        .sum();
    let options = WatchOptions::new()
        .with_prefix()
        .with_prev_key()
        .with_start_revision(revision);
    let mut stream = client
        .watch(&*prefix, Some(options))
        .await
        .with_context(|| format!("watching {prefix} in etcd"))?;
    // Listening for SIGINT before saying the watch is in place: a Ctrl-C from then on ends
    // the watch cleanly.
    let interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    eprintln!("watching {prefix} from revision {revision} ({server_count} servers now)");
    let stop = stop_after(interrupt, args.for_ms);
    tokio::pin!(stop);
    let mut printed = 0;
    let mut out = std::io::stdout().lock();
    while args.max_events.is_none_or(|max| printed < max) {
        let message = tokio::select! {
            message = stream.message() => message.context("etcd watch")?,
            _ = &mut stop => return Ok(()),
        };
        let Some(response) = message else {
            bail!("etcd ended the watch of {prefix}");
        };
        if response.canceled() {
            bail!("etcd cancelled the watch: {}", response.cancel_reason());
        }
        let changes = response
            .events()
            .iter()
            .filter_map(|event| Change::from_event(&prefix, event))
            .filter(|change| args.view.shows(&change.entry.service));
        for change in changes {
            if args.max_events.is_some_and(|max| printed >= max) {
                break;
            }
            let line = match args.view.json {
                true => change.to_json().to_string(),
                false => change.to_text(),
            };
            writeln!(out, "{line}")?;
            printed += 1;
        }
    }
    Ok(())
}

/// Completes on Ctrl-C (SIGINT), or after `for_ms` when given.
async fn stop_after(mut interrupt: Signal, for_ms: Option<u64>) {
    let deadline = async {
        match for_ms {
            Some(ms) => tokio::time::sleep_until(Instant::now() + Duration::from_millis(ms)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = deadline => {}
    }
}
