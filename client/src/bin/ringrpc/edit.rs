//! `ringrpc set-state` and `ringrpc set-weight`: one field of a server's registry metadata
//! changed, the management operations of rpcx-ui (`state=inactive`, `weight=N`).
//!
//! The entry keeps the lease it hangs on, so the server that registered it still owns it (it
//! vanishes with that server's lease), and the write is a transaction on the entry's
//! `mod_revision`, so a concurrent rewrite (by the server's registrar, another operator) is
//! never overwritten with stale metadata: the edit is read and tried again, a bounded number
//! of times.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};
use ringrpc_client::discovery::EtcdUrl;

use crate::registry;

/// Read-modify-write attempts before giving up on an entry that keeps changing.
const EDIT_ATTEMPTS: usize = 3;

/// Which server entry to edit.
#[derive(Args, Debug)]
pub struct EntryArgs {
    /// The registry: etcd://host:port[,host:port...]/BASE_PATH.
    #[arg(long)]
    pub registry: EtcdUrl,
    /// The service path, e.g. Arith.
    #[arg(long)]
    pub service: String,
    /// The server key, e.g. tcp@127.0.0.1:8972.
    #[arg(long)]
    pub server: String,
}

/// A server's state in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum State {
    /// `state=active`: clients may select it.
    Active,
    /// `state=inactive`: clients stop selecting it.
    Inactive,
}

/// `ringrpc set-state`.
#[derive(Args, Debug)]
pub struct SetStateArgs {
    /// The new state.
    #[arg(value_enum)]
    pub state: State,
    #[command(flatten)]
    pub entry: EntryArgs,
}

/// `ringrpc set-weight`.
#[derive(Args, Debug)]
pub struct SetWeightArgs {
    /// The new weight.
    pub weight: u32,
    #[command(flatten)]
    pub entry: EntryArgs,
}

/// Runs `ringrpc set-state`.
pub async fn set_state(args: &SetStateArgs) -> anyhow::Result<()> {
    let state = match args.state {
        State::Active => "active",
        State::Inactive => "inactive",
    };
    edit(&args.entry, "state", state).await
}

/// Runs `ringrpc set-weight`.
pub async fn set_weight(args: &SetWeightArgs) -> anyhow::Result<()> {
    edit(&args.entry, "weight", &args.weight.to_string()).await
}

/// Sets `name=value` in the entry's metadata, on the entry's lease, if nobody wrote it since
/// it was read; prints the new metadata.
async fn edit(entry: &EntryArgs, name: &str, value: &str) -> anyhow::Result<()> {
    let mut client = registry::connect(&entry.registry).await?;
    let prefix = registry::services_prefix(&entry.registry.base_path);
    let node = format!("{prefix}{}/{}", entry.service, entry.server);
    for _ in 0..EDIT_ATTEMPTS {
        let response = client
            .get(&*node, None)
            .await
            .with_context(|| format!("reading {node} in etcd"))?;
        let Some(kv) = response.kvs().first() else {
            bail!(
                "no server {} of service {} under {}",
                entry.server,
                entry.service,
                entry.registry.base_path
            );
        };
        let metadata = with_field(&String::from_utf8_lossy(kv.value()), name, value);
        let put = match kv.lease() {
            0 => None,
            lease => Some(PutOptions::new().with_lease(lease)),
        };
        let txn = Txn::new()
            .when([Compare::mod_revision(
                &*node,
                CompareOp::Equal,
                kv.mod_revision(),
            )])
            .and_then([TxnOp::put(&*node, &*metadata, put)]);
        let written = client
            .txn(txn)
            .await
            .with_context(|| format!("writing {node} in etcd"))?;
        if written.succeeded() {
            println!("{node} = {metadata}");
            return Ok(());
        }
    }
    bail!("{node} changed while being edited, {EDIT_ATTEMPTS} times; try again")
}

/// `metadata` (a URL query) with `name=value`: the first `name` replaced in place and any
/// further ones dropped, or appended when absent. Other fields keep their order and values.
fn with_field(metadata: &str, name: &str, value: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut written = false;
    for (key, old) in form_urlencoded::parse(metadata.as_bytes()) {
        if key != name {
            out.append_pair(&key, &old);
        } else if !written {
            out.append_pair(name, value);
            written = true;
        }
    }
    if !written {
        out.append_pair(name, value);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_field_changes_and_the_rest_stays() {
        assert_eq!(with_field("", "state", "inactive"), "state=inactive");
        assert_eq!(
            with_field("weight=3&group=a&group=b", "state", "inactive"),
            "weight=3&group=a&group=b&state=inactive"
        );
        assert_eq!(
            with_field("weight=3&state=inactive&weight=9", "weight", "5"),
            "weight=5&state=inactive"
        );
        assert_eq!(
            with_field("note=a+b%26c&state=inactive", "state", "active"),
            "note=a+b%26c&state=active"
        );
    }
}
