//! `ringrpc-bench client-cost`: what a client costs its own process per call at a steady,
//! unpipelined rate. One ringrpc server (io_uring, one shard) is pinned to one CPU; each
//! client in turn runs pinned to the other, calling at a fixed rate with one call in
//! flight per connection, and its CPU over the measured window (read from /proc, from
//! outside the process) is divided by the calls it completed in that window.
//!
//! The clients: ringrpc's client on glommio and on tokio (`ringrpc-paced-client`, a
//! current-thread runtime) and rpcx-go's client (`bench-harness/go/cmd/pacedclient`,
//! GOMAXPROCS=1). Every client sends the same echo-raw request (581 B, SerializeNone) to
//! the same server process, on the same schedule (calls leave on whole ticks, 1 ms by
//! default: the resolution of tokio's timers, the coarsest of the three). Rounds interleave
//! the clients (their order rotates each round) and the table gives the median and min–max
//! over rounds.
//!
//! What it never does: measure the server, or run two clients at once.

mod child;
mod line;
mod mark;
mod table;

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::machine::Machine;
use crate::runner::free_port;
use crate::servers::{RunningServer, ServerKind};
pub use child::ClientRun;
pub use line::{WindowCounts, WINDOW_START};

/// A client whose cost is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKind {
    /// `ringrpc_client::glommio::Client` on one glommio executor.
    Glommio,
    /// `ringrpc_client::tokio::Client` on a current-thread tokio runtime.
    Tokio,
    /// rpcx-go's `client.Client`, GOMAXPROCS=1.
    RpcxGo,
}

impl ClientKind {
    pub const ALL: [ClientKind; 3] = [Self::Glommio, Self::Tokio, Self::RpcxGo];

    pub fn name(self) -> &'static str {
        match self {
            Self::Glommio => "glommio",
            Self::Tokio => "tokio",
            Self::RpcxGo => "rpcx-go",
        }
    }

    /// The names `--client` accepts.
    pub fn by_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .with_context(|| format!("unknown client {name:?} (glommio, tokio, rpcx-go)"))
    }
}

/// One cell: a total rate over some connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub rate: f64,
    pub conns: usize,
}

/// Where and how the command runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub server_cpu: usize,
    pub client_cpu: usize,
    pub clients: Vec<ClientKind>,
    pub cells: Vec<Cell>,
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub payload_len: usize,
    /// Every client sends a call at the first multiple of this at or after its turn (zero:
    /// at its turn). tokio's timers fire on whole milliseconds, so with a finer schedule
    /// its calls would leave in bursts and the other clients' one by one.
    pub tick: Duration,
    /// `client-cost.jsonl` (every run) and `client-cost.md` (the table) go here.
    pub out_dir: PathBuf,
}

/// Runs every client in every cell, `rounds` times; returns the markdown report.
pub fn run(opts: &Options) -> Result<String> {
    std::fs::create_dir_all(&opts.out_dir)?;
    let machine = Machine::probe(&opts.root);
    let addr = free_port()?;
    let server_log = File::create(opts.out_dir.join("server.log"))?;
    let launch = ServerKind::Ringrpc.launch(&opts.root, &opts.bin_dir, addr, opts.server_cpu, None);
    let mut server = RunningServer::start(&launch, opts.server_cpu, &server_log)?;
    let mut results = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(opts.out_dir.join("client-cost.jsonl"))?;
    let deadline = opts.warmup + opts.measure + Duration::from_secs(30);
    let mut runs: Vec<(Cell, ClientKind, ClientRun)> = Vec::new();
    for round in 0..opts.rounds {
        for &cell in &opts.cells {
            for i in 0..opts.clients.len() {
                // A different client goes first in each round.
                let client = opts.clients[(i + round) % opts.clients.len()];
                if let Some(reason) = server.exited() {
                    anyhow::bail!("the server stopped: {reason}");
                }
                let command = client_command(opts, client, cell, addr);
                eprintln!(
                    "round {round}: {} at {} calls/s over {} conns",
                    client.name(),
                    cell.rate,
                    cell.conns
                );
                match child::run_client(command, round, deadline) {
                    Ok(run) => {
                        writeln!(results, "{}", serde_json::to_string(&run)?)?;
                        runs.push((cell, client, run));
                    }
                    Err(error) => eprintln!("  failed: {error:#}"),
                }
            }
        }
    }
    server.stop();
    let report = table::report(opts, &machine, &runs);
    std::fs::write(opts.out_dir.join("client-cost.md"), &report)?;
    let missing: Vec<String> = opts
        .cells
        .iter()
        .flat_map(|cell| opts.clients.iter().map(move |client| (*cell, *client)))
        .filter(|(cell, client)| {
            !runs
                .iter()
                .any(|(c, k, run)| c == cell && k == client && run.counts.good > 0)
        })
        .map(|(cell, client)| format!("{} at {}/s x{}", client.name(), cell.rate, cell.conns))
        .collect();
    if !missing.is_empty() {
        println!("{report}");
        anyhow::bail!("no good replies: {}", missing.join(", "));
    }
    Ok(report)
}

/// The command line of `client` for `cell`, pinned to the client CPU.
fn client_command(
    opts: &Options,
    client: ClientKind,
    cell: Cell,
    addr: std::net::SocketAddr,
) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(opts.client_cpu.to_string());
    let secs = |d: Duration| format!("{}", d.as_secs_f64());
    match client {
        ClientKind::Glommio | ClientKind::Tokio => {
            command
                .arg(opts.bin_dir.join("ringrpc-paced-client"))
                .args(["--runtime", client.name()])
                .args(["--addr", &addr.to_string()])
                .args(["--rate", &cell.rate.to_string()])
                .args(["--conns", &cell.conns.to_string()])
                .args(["--payload-len", &opts.payload_len.to_string()])
                .args(["--tick-us", &opts.tick.as_micros().to_string()])
                .args(["--warmup-s", &secs(opts.warmup)])
                .args(["--measure-s", &secs(opts.measure)]);
        }
        ClientKind::RpcxGo => {
            command
                .arg(opts.root.join("bench-harness/go/bin/pacedclient"))
                .args(["-addr", &addr.to_string()])
                .args(["-rate", &cell.rate.to_string()])
                .args(["-conns", &cell.conns.to_string()])
                .args(["-payload", &opts.payload_len.to_string()])
                .args(["-tick", &format!("{}us", opts.tick.as_micros())])
                .args(["-warmup", &format!("{}s", secs(opts.warmup))])
                .args(["-duration", &format!("{}s", secs(opts.measure))])
                .env("GOMAXPROCS", "1");
        }
    }
    command.env_remove("RUST_LOG");
    command
}
