//! `ringrpc-bench`: runs benchmark scenarios and reports (`run`), drives one server as
//! the Rust load generator (`load`), rebuilds a report from a finished run (`report`),
//! attacks servers as a hostile peer would (`hostile`), or measures what each client
//! costs its own process per call (`client-cost`). `scripts/bench.sh` and
//! `scripts/hostile.sh` are the usual ways in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ringrpc_bench::hostile::{self, attacks::Scale};
use ringrpc_bench::loadgen::{self, Driver, LoadConfig, Workload};
use ringrpc_bench::machine::Machine;
use ringrpc_bench::report::{self, Report};
use ringrpc_bench::runner::{CellRecord, RunOptions, Runner};
use ringrpc_bench::scenario::Scenario;
use ringrpc_bench::{chart, client_cost, summary, targets};

#[derive(Parser)]
#[command(about = "ringrpc benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario file and write results.jsonl, results.csv, summary.json, report.md
    /// and chart.svg into --out.
    Run {
        #[arg(long)]
        scenario: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The repository root (servers and the Go programs are found from it).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Where cargo put the built binaries: the profile directory
        /// (default: <root>/target/release).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        server_cpu: usize,
        #[arg(long, default_value_t = 0)]
        loadgen_cpu: usize,
        /// Most seconds the run may spend waiting for other processes to leave the
        /// benchmark CPUs before cells (they are re-run if disturbed anyway).
        #[arg(long, default_value_t = 120.0)]
        quiet_budget_s: f64,
    },
    /// Drive one server and print one JSON line (the Rust load generator).
    Load(LoadArgs),
    /// Attack each server as a hostile peer would (a fresh server per attack) and write a
    /// markdown table of what it cost them, measured from outside.
    Hostile {
        /// Servers, comma-separated: ringrpc, ringrpc-glommio, rpcx-go.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ringrpc,ringrpc-glommio,rpcx-go"
        )]
        server: Vec<String>,
        /// Attacks, comma-separated (default: all): gzip-bomb, slow-headers, metadata,
        /// gzip-heartbeats, idle, never-reads.
        #[arg(long, value_delimiter = ',')]
        attack: Vec<String>,
        /// CI-sized attacks (smaller, 2 s windows).
        #[arg(long)]
        quick: bool,
        /// Write the markdown table here (it is printed too).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Where cargo put the example server (default: <root>/target/release).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        server_cpu: usize,
        /// The servers' stderr, one file per attack.
        #[arg(long, default_value = "target/hostile-logs")]
        log_dir: PathBuf,
    },
    /// Measure each client's own CPU per call at fixed, unpipelined rates against one
    /// pinned ringrpc server; write client-cost.jsonl and client-cost.md into --out.
    ClientCost(ClientCostArgs),
    /// Rebuild summary.json, results.csv, report.md and chart.svg from a results.jsonl.
    Report {
        #[arg(long)]
        scenario: PathBuf,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(clap::Args)]
struct LoadArgs {
    /// client: ringrpc's pipelining client (glommio driver); codec: a bare epoll loop
    /// over the codec; grpc: tonic's gRPC client, for the gRPC servers (benchmark-message only).
    #[arg(long, default_value = "client")]
    driver: String,
    #[arg(long)]
    addr: std::net::SocketAddr,
    /// benchmark-message or echo-raw.
    #[arg(long, default_value = "benchmark-message")]
    workload: String,
    /// echo-raw payload size in bytes.
    #[arg(long, default_value_t = 581)]
    payload_len: usize,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Calls in flight per connection (open loop: at most).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Closed loop: this many callers over the connections instead of --depth.
    #[arg(long, default_value_t = 0)]
    callers: usize,
    /// Open loop: total calls/s (0: closed loop).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long, default_value_t = 5.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 10.0)]
    measure_s: f64,
    #[arg(long, default_value_t = 3.0)]
    drain_s: f64,
    /// The server's pid, for its CPU time over the window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Connect with TLS, trusting the CA in this PEM file (the server name is `localhost`).
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct ClientCostArgs {
    /// Clients, comma-separated: glommio, tokio, rpcx-go.
    #[arg(long, value_delimiter = ',', default_value = "glommio,tokio,rpcx-go")]
    client: Vec<String>,
    /// Total calls/s, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,30000")]
    rate: Vec<f64>,
    /// Connection counts, comma-separated (one call in flight on each).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    conns: Vec<usize>,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 5.0)]
    measure_s: f64,
    #[arg(long, default_value_t = 581)]
    payload_len: usize,
    /// Calls leave on whole ticks of this many µs (0: each at its own turn).
    #[arg(long, default_value_t = 1000)]
    tick_us: u64,
    #[arg(long, default_value = "target/client-cost")]
    out: PathBuf,
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Where cargo put the example server and ringrpc-paced-client (default:
    /// <root>/target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    #[arg(long, default_value_t = 0)]
    client_cpu: usize,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Load(args) => load(args),
        Cmd::ClientCost(args) => client_cost(args),
        Cmd::Run {
            scenario,
            out,
            root,
            bin_dir,
            server_cpu,
            loadgen_cpu,
            quiet_budget_s,
        } => {
            let root = root.canonicalize().context("--root")?;
            let bin_dir = bin_dir.unwrap_or_else(|| root.join("target/release"));
            let scenario = Scenario::load(&scenario)?;
            std::fs::create_dir_all(&out)?;
            let opts = RunOptions {
                root: root.clone(),
                bin_dir,
                out_dir: out.clone(),
                server_cpu,
                loadgen_cpu,
                self_exe: std::env::current_exe()?,
                quiet_budget: Duration::from_secs_f64(quiet_budget_s),
            };
            eprintln!(
                "scenario {}: {} cells, about {:.0} min",
                scenario.name,
                scenario.cell_count(),
                scenario.estimated_s() / 60.0
            );
            let records = Runner::new(&scenario, opts)?.run()?;
            finish(&scenario, &root, &out, &records)
        }
        Cmd::Hostile {
            server,
            attack,
            quick,
            out,
            root,
            bin_dir,
            server_cpu,
            log_dir,
        } => {
            let root = root.canonicalize().context("--root")?;
            let attacks = if attack.is_empty() {
                hostile::ATTACKS.to_vec()
            } else {
                attack
                    .iter()
                    .map(|a| hostile::attack_by_name(a))
                    .collect::<Result<_>>()?
            };
            let opts = hostile::Options {
                bin_dir: bin_dir.unwrap_or_else(|| root.join("target/release")),
                root,
                server_cpu,
                servers: server
                    .iter()
                    .map(|s| hostile::server_by_name(s))
                    .collect::<Result<_>>()?,
                attacks,
                scale: if quick { Scale::QUICK } else { Scale::FULL },
                log_dir,
            };
            let table = hostile::run(&opts)?;
            println!("{table}");
            if let Some(out) = out {
                std::fs::write(&out, &table).with_context(|| format!("{}", out.display()))?;
            }
            Ok(())
        }
        Cmd::Report {
            scenario,
            dir,
            root,
        } => {
            let scenario = Scenario::load(&scenario)?;
            let text = std::fs::read_to_string(dir.join("results.jsonl"))?;
            let records: Vec<CellRecord> = text
                .lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?;
            finish(&scenario, &root, &dir, &records)
        }
    }
}

fn client_cost(a: ClientCostArgs) -> Result<()> {
    let root = a.root.canonicalize().context("--root")?;
    let opts = client_cost::Options {
        bin_dir: a.bin_dir.unwrap_or_else(|| root.join("target/release")),
        root,
        server_cpu: a.server_cpu,
        client_cpu: a.client_cpu,
        clients: a
            .client
            .iter()
            .map(|c| client_cost::ClientKind::by_name(c))
            .collect::<Result<_>>()?,
        cells: a
            .rate
            .iter()
            .flat_map(|&rate| {
                a.conns
                    .iter()
                    .map(move |&conns| client_cost::Cell { rate, conns })
            })
            .collect(),
        rounds: a.rounds,
        warmup: Duration::from_secs_f64(a.warmup_s),
        measure: Duration::from_secs_f64(a.measure_s),
        payload_len: a.payload_len,
        tick: Duration::from_micros(a.tick_us),
        out_dir: a.out,
    };
    println!("{}", client_cost::run(&opts)?);
    Ok(())
}

fn load(a: LoadArgs) -> Result<()> {
    let workload = match a.workload.as_str() {
        "benchmark-message" => Workload::BenchmarkMessage,
        "echo-raw" => Workload::EchoRaw {
            payload_len: a.payload_len,
        },
        other => bail!("unknown workload {other:?}"),
    };
    let driver = match a.driver.as_str() {
        "client" => Driver::Client,
        "codec" => Driver::Codec,
        "grpc" => Driver::Grpc,
        other => bail!("unknown driver {other:?}"),
    };
    let cfg = LoadConfig {
        driver,
        addr: a.addr,
        workload,
        conns: a.conns,
        depth: a.depth,
        callers: a.callers,
        rate: a.rate,
        warmup: Duration::from_secs_f64(a.warmup_s),
        duration: Duration::from_secs_f64(a.measure_s),
        drain: Duration::from_secs_f64(a.drain_s),
        server_pid: a.server_pid,
        tls_ca: a.tls_ca,
    };
    let sample = loadgen::run(&cfg)?;
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}

/// Writes the report files, prints the summary, and fails if a cell got no good reply.
fn finish(scenario: &Scenario, root: &Path, out: &Path, records: &[CellRecord]) -> Result<()> {
    let machine = Machine::probe(root);
    let cells = summary::summarize(scenario, records);
    let checks = targets::check_targets(&cells);
    Report {
        scenario,
        machine: &machine,
        records,
        cells: &cells,
        targets: &checks,
    }
    .write(out)?;
    chart::write_svg(&cells, &out.join("chart.svg"))?;

    println!(
        "\n{} profile, {} | commit {} | {} | kernel {}",
        scenario.name, machine.date_utc, machine.commit, machine.cpu_model, machine.kernel
    );
    println!("\nringrpc / other: median (min–max) across rounds\n");
    println!("{}", report::ratio_table(&cells));
    if let Some(table) = report::ceiling_table(&cells) {
        println!("each server / the framing ceiling (same cell, same round):\n\n{table}");
    }
    let finals = records.iter().filter(|r| r.is_final());
    let disturbed = finals.clone().filter(|r| !r.disturbed.is_empty()).count();
    if disturbed > 0 {
        println!(
            "WARNING: {disturbed} of {} cells were disturbed (other processes or host stalls on the benchmark CPUs): not reliable\n",
            finals.count()
        );
    }
    if !scenario.conforms_to_method() {
        println!(
            "targets (indicative only: the {} profile is shorter than the method)\n",
            scenario.name
        );
    }
    if let Some(table) = ringrpc_bench::tls_overhead::overhead_table(&cells) {
        println!("TLS / plaintext, per server:\n\n{table}");
    }
    println!("{}", targets::targets_table(&checks));
    println!("report: {}", out.join("report.md").display());

    let empty: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.servers
                .iter()
                .filter(|s| s.zero_good_rounds > 0 || s.rounds == 0)
                .map(move |s| format!("{} {} {}", c.group, c.cell, s.server.name()))
        })
        .collect();
    if !empty.is_empty() {
        bail!("cells with zero good replies: {}", empty.join(", "));
    }
    Ok(())
}
