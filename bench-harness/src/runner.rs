//! Runs a scenario: for each cell, a fresh server pinned to the server CPU, a load
//! generator pinned to the other, /proc accounting over the measured window, a stall
//! check (`disturbance.rs`), and a re-run when the host disturbed the cell.
//!
//! Order: for each group, each closed shape, each round, each server (A B C A B C ...);
//! then the open-loop loads, whose rates come from the closed-loop peaks just measured.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use ringrpc_engine::test_certs::TestPki;

use crate::disturbance::disturbances;
use crate::procstat::{self, CLOCK_TICKS_PER_SECOND};
use crate::sample::Sample;
use crate::scenario::{Group, LoadgenKind, Scenario, Shape, WorkloadName};
use crate::servers::{RunningServer, ServerKind};
use crate::summary::median;

/// A load generator that has not answered this long after its window is stuck.
const LOADGEN_SLACK: Duration = Duration::from_secs(30);
/// Before a cell, wait (at most this long, and within the run's budget) until the CPUs
/// are this idle.
const QUIET_WAIT: Duration = Duration::from_secs(20);
const QUIET_BUSY_FRACTION: f64 = 0.10;

/// Where things are and which CPU runs what.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub out_dir: PathBuf,
    pub server_cpu: usize,
    pub loadgen_cpu: usize,
    /// The Rust load generator (this program's `load` subcommand).
    pub self_exe: PathBuf,
    /// Most seconds the whole run may spend waiting for a quiet machine.
    pub quiet_budget: Duration,
}

/// One load applied to one server in one round: a line of `results.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellRecord {
    pub group: String,
    pub server: ServerKind,
    /// "10x10", "100 callers/10 conns" or "open 50%".
    pub cell: String,
    pub round: usize,
    pub attempt: usize,
    #[serde(default)]
    pub load_pct: Option<f64>,
    /// Why the stall detector marked this attempt (empty: clean).
    #[serde(default)]
    pub disturbed: Vec<String>,
    /// A later attempt of the same cell replaced this one.
    #[serde(default)]
    pub superseded: bool,
    /// Anything else that went wrong: server died, pinning broken, load generator failed.
    #[serde(default)]
    pub problems: Vec<String>,
    #[serde(flatten)]
    pub sample: Sample,
}

impl CellRecord {
    pub fn is_final(&self) -> bool {
        !self.superseded
    }
}

/// What a cell applies: a closed shape or an open-loop rate.
#[derive(Debug, Clone, Copy)]
enum Load {
    Closed(Shape),
    Open {
        conns: usize,
        depth: usize,
        rate: f64,
        pct: f64,
    },
}

impl Load {
    fn label(&self) -> String {
        match self {
            Load::Closed(shape) => shape.to_string(),
            Load::Open { pct, .. } => format!("open {pct}%"),
        }
    }
}

pub struct Runner<'a> {
    scenario: &'a Scenario,
    opts: RunOptions,
    results: BufWriter<File>,
    server_log: File,
    progress: ProgressBar,
    /// What is left of the quiet-machine wait budget.
    quiet_left: Duration,
    /// The certificates of the TLS groups, made for this run in a scratch directory (not in
    /// `<out>`: the results directory holds results only).
    tls: TestPki,
    /// Removes that directory when the run ends.
    _tls_dir: ScratchDir,
    pub records: Vec<CellRecord>,
}

/// A directory of this process's own under the system's temporary directory, removed with
/// everything in it when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("{name}-{}", std::process::id())))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl<'a> Runner<'a> {
    pub fn new(scenario: &'a Scenario, opts: RunOptions) -> Result<Self> {
        let results = BufWriter::new(File::create(opts.out_dir.join("results.jsonl"))?);
        let server_log = File::create(opts.out_dir.join("servers.log"))?;
        let progress = ProgressBar::new(scenario.cell_count() as u64);
        progress.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} cells, ETA {eta} | {msg}",
            )?
            .progress_chars("=> "),
        );
        progress.enable_steady_tick(Duration::from_millis(250));
        let quiet_left = opts.quiet_budget;
        let tls_dir = ScratchDir::new("ringrpc-bench-tls");
        let tls = TestPki::generate(&tls_dir.0).context("TLS certificates")?;
        Ok(Self {
            scenario,
            opts,
            results,
            server_log,
            progress,
            quiet_left,
            tls,
            _tls_dir: tls_dir,
            records: Vec::new(),
        })
    }

    pub fn run(mut self) -> Result<Vec<CellRecord>> {
        for group in &self.scenario.groups {
            for shape in &group.closed {
                self.run_load(group, Load::Closed(*shape))?;
            }
            let Some(open) = &group.open else { continue };
            match peak_base(&self.records, group) {
                Some((base, slowest)) => {
                    self.note(&format!(
                        "{}: open-loop base = {}'s peak, {base:.0} calls/s",
                        group.name,
                        slowest.name()
                    ));
                    for pct in &open.load_pct {
                        let rate = base * pct / 100.0;
                        let load = Load::Open {
                            conns: open.conns,
                            depth: open.depth,
                            rate,
                            pct: *pct,
                        };
                        self.run_load(group, load)?;
                    }
                }
                None => self.note(&format!(
                    "{}: no closed-loop peak, open loop skipped",
                    group.name
                )),
            }
        }
        self.progress.finish_and_clear();
        self.results.flush()?;
        Ok(self.records)
    }

    fn note(&self, text: &str) {
        if self.progress.is_hidden() {
            eprintln!("{text}");
        } else {
            self.progress.println(text);
        }
    }

    fn run_load(&mut self, group: &Group, load: Load) -> Result<()> {
        for round in 1..=self.scenario.rounds {
            for &server in &group.servers {
                self.run_cell(group, server, load, round)?;
            }
        }
        Ok(())
    }

    fn run_cell(
        &mut self,
        group: &Group,
        server: ServerKind,
        load: Load,
        round: usize,
    ) -> Result<()> {
        let attempts = 1 + self.scenario.retries;
        for attempt in 1..=attempts {
            self.progress.set_message(format!(
                "{} {} round {round} {}{}",
                group.name,
                load.label(),
                server.name(),
                if attempt > 1 {
                    format!(" (re-run {})", attempt - 1)
                } else {
                    String::new()
                }
            ));
            let mut record = self.attempt(group, server, load, round)?;
            record.attempt = attempt;
            // Once the quiet-wait budget is spent the machine is busy for good (someone
            // else's build): a re-run would be disturbed too, so the mark stays instead.
            let retry =
                !record.disturbed.is_empty() && attempt < attempts && !self.quiet_left.is_zero();
            record.superseded = retry;
            self.note(&cell_line(&record));
            serde_json::to_writer(&mut self.results, &record)?;
            self.results.write_all(b"\n")?;
            self.results.flush()?;
            self.records.push(record);
            if !retry {
                break;
            }
            self.progress.inc_length(1);
            self.progress.inc(1);
        }
        self.progress.inc(1);
        Ok(())
    }

    fn attempt(
        &mut self,
        group: &Group,
        server: ServerKind,
        load: Load,
        round: usize,
    ) -> Result<CellRecord> {
        self.wait_for_quiet();
        let addr = free_port()?;
        let mut record = CellRecord {
            group: group.name.clone(),
            server,
            cell: load.label(),
            round,
            attempt: 1,
            load_pct: match load {
                Load::Open { pct, .. } => Some(pct),
                Load::Closed(_) => None,
            },
            disturbed: Vec::new(),
            superseded: false,
            problems: Vec::new(),
            sample: Sample::default(),
        };
        let tls = group.tls.then_some(&self.tls);
        let launch = server.launch(
            &self.opts.root,
            &self.opts.bin_dir,
            addr,
            self.opts.server_cpu,
            tls.map(|pki| (pki.server_cert.as_path(), pki.server_key.as_path())),
        );
        let mut running =
            match RunningServer::start(&launch, self.opts.server_cpu, &self.server_log) {
                Ok(running) => running,
                Err(e) => {
                    record.problems.push(format!("server: {e:#}"));
                    return Ok(record);
                }
            };
        let outcome = self.run_loadgen(group, server, load, addr, running.pid);
        if let Some(why) = running.exited() {
            record.problems.push(why);
        }
        record
            .problems
            .extend(running.pinning_violations(self.opts.server_cpu));
        running.stop();
        match outcome {
            Ok(sample) => {
                record.disturbed =
                    disturbances(&sample, &[self.opts.loadgen_cpu, self.opts.server_cpu]);
                record.sample = sample;
            }
            Err(e) => record.problems.push(format!("load generator: {e:#}")),
        }
        Ok(record)
    }

    /// Waits until the benchmark CPUs are nearly idle (no one else's build running).
    fn wait_for_quiet(&mut self) {
        let cpus = [self.opts.loadgen_cpu, self.opts.server_cpu];
        let step = Duration::from_millis(250);
        let began = Instant::now();
        let deadline = began + QUIET_WAIT.min(self.quiet_left);
        let mut told = false;
        loop {
            let before = procstat::cpu_times();
            std::thread::sleep(step);
            let after = procstat::cpu_times();
            let busy: i64 = cpus
                .iter()
                .filter_map(|&c| Some(after.get(c)?.busy - before.get(c)?.busy))
                .sum();
            let capacity = step.as_secs_f64() * CLOCK_TICKS_PER_SECOND * cpus.len() as f64;
            if (busy as f64) <= QUIET_BUSY_FRACTION * capacity || Instant::now() > deadline {
                self.quiet_left = self.quiet_left.saturating_sub(began.elapsed());
                return;
            }
            if !told {
                self.note("waiting for other processes to leave the benchmark CPUs");
                told = true;
            }
        }
    }

    fn run_loadgen(
        &self,
        group: &Group,
        server: ServerKind,
        load: Load,
        addr: SocketAddr,
        server_pid: u32,
    ) -> Result<Sample> {
        let s = self.scenario;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(self.opts.loadgen_cpu.to_string());
        let (conns, depth, callers, rate) = match load {
            Load::Closed(shape) => (shape.conns, shape.depth, shape.callers, 0.0),
            Load::Open {
                conns, depth, rate, ..
            } => (conns, depth, 0, rate),
        };
        let workload = match group.workload {
            WorkloadName::BenchmarkMessage => "benchmark-message",
            WorkloadName::EchoRaw => "echo-raw",
        };
        match group.loadgen {
            LoadgenKind::Go => {
                let client = if server.speaks_grpc() { "grpc" } else { "rpcx" };
                let ms = |secs: f64| format!("{}ms", (secs * 1000.0).round() as u64);
                cmd.arg(self.opts.root.join("bench-harness/go/bin/loadgen"))
                    .args(["-client", client, "-workload", workload])
                    .args([
                        "-addr",
                        &addr.to_string(),
                        "-payload",
                        &group.payload_len.to_string(),
                    ])
                    .args(["-conns", &conns.to_string(), "-depth", &depth.to_string()])
                    .args(["-callers", &callers.to_string(), "-rate", &rate.to_string()])
                    .args(["-warmup", &ms(s.warmup_s), "-duration", &ms(s.measure_s)])
                    .args([
                        "-drain",
                        &ms(s.drain_s),
                        "-server-pid",
                        &server_pid.to_string(),
                    ])
                    .env("GOMAXPROCS", "1");
                if group.tls {
                    cmd.arg("-tls-ca").arg(&self.tls.ca);
                }
            }
            LoadgenKind::Rust | LoadgenKind::RustEpoll => {
                let driver = if server.speaks_grpc() {
                    "grpc"
                } else if group.loadgen == LoadgenKind::RustEpoll {
                    "codec"
                } else {
                    "client"
                };
                cmd.arg(&self.opts.self_exe)
                    .arg("load")
                    .args(["--driver", driver])
                    .args(["--workload", workload, "--addr", &addr.to_string()])
                    .args(["--payload-len", &group.payload_len.to_string()])
                    .args(["--conns", &conns.to_string(), "--depth", &depth.to_string()])
                    .args([
                        "--callers",
                        &callers.to_string(),
                        "--rate",
                        &rate.to_string(),
                    ])
                    .args(["--warmup-s", &s.warmup_s.to_string()])
                    .args(["--measure-s", &s.measure_s.to_string()])
                    .args(["--drain-s", &s.drain_s.to_string()])
                    .args(["--server-pid", &server_pid.to_string()]);
                if group.tls {
                    cmd.arg("--tls-ca").arg(&self.tls.ca);
                }
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawn load generator")?;
        let budget = Duration::from_secs_f64(s.warmup_s + s.measure_s + s.drain_s) + LOADGEN_SLACK;
        let deadline = Instant::now() + budget;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("no result after {budget:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .context("no JSON line")?;
        serde_json::from_str(line).context("parse the load generator's JSON line")
    }
}

/// A loopback port nobody listens on: the kernel picks it, the server binds it next.
/// A free loopback port (the kernel picks it; it is released for the server to bind).
pub fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("find a free port")?;
    Ok(listener.local_addr()?)
}

/// The open-loop base of a group: the lowest, over servers, of each server's best
/// closed-loop median throughput. `None` until some server has one.
pub fn peak_base(records: &[CellRecord], group: &Group) -> Option<(f64, ServerKind)> {
    let mut base: Option<(f64, ServerKind)> = None;
    for &server in &group.servers {
        let mut best = 0.0f64;
        for shape in &group.closed {
            let label = shape.to_string();
            let rates: Vec<f64> = records
                .iter()
                .filter(|r| r.is_final() && r.group == group.name && r.server == server)
                .filter(|r| r.cell == label && r.sample.good > 0)
                .map(|r| r.sample.throughput_rps)
                .collect();
            best = best.max(median(&rates).unwrap_or(0.0));
        }
        if best > 0.0 && base.is_none_or(|(b, _)| best < b) {
            base = Some((best, server));
        }
    }
    base
}

fn cell_line(r: &CellRecord) -> String {
    let s = &r.sample;
    let mut line = format!(
        "{:<14} {:<22} r{} {:<8} {:>9.0}/s  p50 {:>8.1} µs  p99 {:>8.1} µs",
        r.group,
        r.cell,
        r.round,
        r.server.name(),
        s.throughput_rps,
        s.latency_us.p50,
        s.latency_us.p99
    );
    if let Some(cpu) = s.server_cpu_us_per_call() {
        line += &format!("  server {cpu:.2} µs/call");
    }
    for d in &r.disturbed {
        line += &format!(
            "  [disturbed: {d}{}]",
            if r.superseded { ", re-run" } else { "" }
        );
    }
    for p in &r.problems {
        line += &format!("  [problem: {p}]");
    }
    if s.errors + s.bad > 0 {
        line += &format!(
            "  [{} errors, {} bad: {}]",
            s.errors,
            s.bad,
            s.first_error.as_deref().unwrap_or("")
        );
    }
    line
}
