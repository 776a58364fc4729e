//! `ringrpc-faults`: the client side of the fault-injection suite (`scripts/faults.sh`).
//!
//! `load` drives an XClient (tokio transport) against a list of servers for a fixed time,
//! runs the suite's fault and heal commands at given offsets, and prints one JSON line of
//! figures: calls answered, failed (retryable or not), wrong replies, and per event the
//! disruption it caused. `churn` opens and closes many connections at full speed and
//! reports the server's open fds and RSS before, after, and once settled. `soak` holds a
//! share of the server's measured peak for a while and reports the slopes of its RSS, fds
//! and the calls' p99 over time. This binary
//! never injects a fault itself: the suite's shell owns namespaces, nftables, Toxiproxy
//! and signals, and hands the commands in.

mod churn;
mod load;
mod soak;

use anyhow::Result;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

/// `{"A":int,"B":int}`: the argument of `Arith.Mul` (the call every scenario makes).
#[derive(Serialize)]
struct MulArgs {
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
}

/// `{"C":int}`: the reply of `Arith.Mul`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MulReply {
    #[serde(rename = "C")]
    c: i64,
}

#[derive(Parser)]
#[command(about = "ringrpc fault-injection driver (client side of scripts/faults.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Steady XClient load while the given fault commands run; prints one JSON line.
    Load(load::LoadArgs),
    /// Open and close connections at full speed; prints the server's fds and RSS.
    Churn(churn::ChurnArgs),
    /// Hold a share of the server's peak; prints RSS, fds and p99 over time and their slopes.
    Soak(soak::SoakArgs),
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = match Cli::parse().command {
        Cmd::Load(args) => runtime.block_on(load::run(args))?,
        Cmd::Churn(args) => runtime.block_on(churn::run(args))?,
        Cmd::Soak(args) => runtime.block_on(soak::run(args))?,
    };
    println!("{figures}");
    Ok(())
}
