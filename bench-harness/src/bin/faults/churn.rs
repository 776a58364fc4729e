//! `ringrpc-faults churn`: opens `--count` connections at full speed (`--parallel` at a
//! time), each making one call and closing, then watches the server's open fds and RSS
//! (`/proc/<pid>/fd`, `VmRSS`) until they are back near their baseline or the settle
//! time runs out. Owns those figures; never signals or configures the server.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ringrpc_client::tokio::Client;
use ringrpc_client::Serde;
use serde_json::json;

use crate::{MulArgs, MulReply};

#[derive(clap::Args)]
pub struct ChurnArgs {
    /// `host:port` of the server.
    #[arg(long)]
    addr: String,
    /// The server's pid (its fds and RSS are read from /proc).
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    #[arg(long, default_value_t = 64)]
    parallel: usize,
    /// Most time to wait for fds and RSS to come back after the churn.
    #[arg(long, default_value_t = 10_000)]
    settle_ms: u64,
    /// RSS within this many KiB of the baseline counts as back.
    #[arg(long, default_value_t = 8192)]
    rss_slack_kib: u64,
}

/// Open fds and resident KiB of `pid`.
pub(crate) fn usage(pid: u32) -> Result<(usize, u64)> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("/proc/{pid}/fd"))?
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")?;
    Ok((fds, rss))
}

async fn one(addr: &str, a: i64) -> bool {
    let Ok(client) = Client::connect(addr).await else {
        return false;
    };
    let ok = matches!(
        client.call::<_, Serde<MulReply>>("Arith", "Mul", &Serde(MulArgs { a, b: 7 })).await,
        Ok(reply) if reply.0.c == a * 7
    );
    client.close().await;
    ok
}

pub async fn run(args: ChurnArgs) -> Result<serde_json::Value> {
    // Warm the server up first, so lazily built per-shard state is not counted as growth.
    for a in 0..args.parallel as i64 {
        one(&args.addr, a).await;
    }
    let (base_fds, base_rss) = usage(args.pid)?;
    let next = Rc::new(Cell::new(0usize));
    let failed = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let local = tokio::task::LocalSet::new();
    for _ in 0..args.parallel {
        let (next, failed, addr, count) =
            (next.clone(), failed.clone(), args.addr.clone(), args.count);
        local.spawn_local(async move {
            loop {
                let i = next.get();
                if i >= count {
                    break;
                }
                next.set(i + 1);
                if !one(&addr, i as i64).await {
                    failed.set(failed.get() + 1);
                }
            }
        });
    }
    local.await;
    let churn_ms = started.elapsed().as_secs_f64() * 1e3;
    let (peak_fds, peak_rss) = usage(args.pid)?;
    let settle_started = Instant::now();
    let settle_until = settle_started + Duration::from_millis(args.settle_ms);
    let (mut fds, mut rss) = (peak_fds, peak_rss);
    while Instant::now() < settle_until {
        (fds, rss) = usage(args.pid)?;
        if fds <= base_fds && rss <= base_rss + args.rss_slack_kib {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = fds <= base_fds && rss <= base_rss + args.rss_slack_kib;
    Ok(json!({
        "client": "ringrpc",
        "connections": args.count,
        "failed": failed.get(),
        "churn_ms": churn_ms,
        "fds_base": base_fds,
        "fds_after_churn": peak_fds,
        "fds_settled": fds,
        "rss_base_kib": base_rss,
        "rss_after_churn_kib": peak_rss,
        "rss_settled_kib": rss,
        "settle_ms": settle_started.elapsed().as_secs_f64() * 1e3,
        "back_to_baseline": back,
    }))
}
