//! `ringrpc-paced-client`: calls a server at a fixed rate with ringrpc's client, one call
//! in flight per connection, on the glommio or the tokio runtime (one thread either way):
//! the Rust clients of `ringrpc-bench client-cost`, which reads this process's CPU from
//! /proc. It prints `window-start` when its measured window begins and one JSON line of
//! counts when it ends, then exits once its stdin closes.
//!
//! Connection `i` of `C` carries `rate / C` calls/s: its k-th call's turn is at
//! `(i + k * C) / rate` seconds, and it is sent at the first tick (`--tick-us`, 1 ms by
//! default) at or after its turn, so every runtime sends the same calls together whatever
//! its timer resolution; a call due while the previous one is still out is sent as soon as
//! that one is back (and counted late if it is a whole period behind).
//!
//! ```text
//! taskset -c 0 ringrpc-paced-client --runtime tokio --addr 127.0.0.1:8972 --rate 10000 --conns 8
//! ```

mod counting_alloc;
mod pacing;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Parser, ValueEnum};
use glommio::{LocalExecutorBuilder, Placement};

use pacing::Plan;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runtime {
    Glommio,
    Tokio,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Calls an rpcx server at a fixed rate with ringrpc's client")]
struct Args {
    #[arg(long, value_enum)]
    runtime: Runtime,
    #[arg(long)]
    addr: SocketAddr,
    /// Total calls/s over all connections.
    #[arg(long)]
    rate: f64,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Echo payload (SerializeNone) in bytes.
    #[arg(long, default_value_t = 581)]
    payload_len: usize,
    /// Calls are sent at the first tick at or after their turn, in µs (0: at their turn).
    #[arg(long, default_value_t = 1000)]
    tick_us: u64,
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 5.0)]
    measure_s: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.conns == 0 || args.rate <= 0.0 {
        return Err(anyhow!("--conns and --rate must be > 0"));
    }
    let plan = Plan::new(
        args.rate,
        args.conns,
        Duration::from_micros(args.tick_us),
        Duration::from_secs_f64(args.warmup_s),
        Duration::from_secs_f64(args.measure_s),
    );
    match args.runtime {
        Runtime::Glommio => on_glommio(args, plan),
        Runtime::Tokio => on_tokio(&args, plan),
    }
}

fn on_glommio(args: Args, plan: Plan) -> Result<()> {
    // Unbound: the executor keeps the CPU this process was pinned to.
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("paced-client")
        .spawn(move || async move {
            pacing::run::<ringrpc_client::glommio::Glommio, _>(
                args.addr,
                args.payload_len,
                plan,
                "glommio",
                glommio::timer::sleep,
                |task| {
                    glommio::spawn_local(task).detach();
                },
                wait_for_stdin_to_close,
            )
            .await
        })
        .map_err(|e| anyhow!("start the glommio executor: {e}"))?
        .join()
        .map_err(|e| anyhow!("glommio executor: {e}"))?
}

fn on_tokio(args: &Args, plan: Plan) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(
        &runtime,
        pacing::run::<ringrpc_client::tokio::Tokio, _>(
            args.addr,
            args.payload_len,
            plan,
            "tokio",
            tokio::time::sleep,
            |task| drop(tokio::task::spawn_local(task)),
            wait_for_stdin_to_close,
        ),
    )
}

/// Blocks (the whole executor: the window is over) until the harness closes our stdin.
fn wait_for_stdin_to_close() {
    let mut line = String::new();
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
    {
        line.clear();
    }
}
