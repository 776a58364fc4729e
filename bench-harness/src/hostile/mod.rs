//! `ringrpc-bench hostile`: each attack class of a hostile peer against ringrpc (both
//! drivers) and rpcx-go, measured from outside the server, and a markdown table of the
//! figures side by side.
//!
//! For every (server, attack) pair a fresh server process is started, pinned with
//! `taskset` (the example server with one shard; rpcx-go's `cmd/rpcxserver` with
//! GOMAXPROCS=1), a well-behaved probe connects and starts calling, then
//! the attack runs (`attacks.rs`, bounded in time) while we sample the server's VmRSS. The
//! figures: peak RSS over the baseline, server CPU seconds during the attack, the probe's
//! worst reply time, and the attack's own note. The server is stopped after each attack.
//!
//! What it never does: measure inside the server, or run two attacks against one process.

pub mod attacks;
pub mod watch;
pub mod wire;

use std::fmt::Write as _;
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::machine::Machine;
use crate::runner::free_port;
use crate::servers::{RunningServer, ServerKind};
use attacks::{Scale, Target};
use watch::{cpu_s, rss_kib, Probe, ProbeFigures, RssSampler};

/// One attack class.
#[derive(Debug, Clone, Copy)]
pub struct Attack {
    pub name: &'static str,
    pub title: &'static str,
    /// The server must require an auth token ([`wire::AUTH_TOKEN`]).
    pub needs_auth: bool,
    pub run: fn(&Target) -> Result<String>,
}

/// Every attack, in the order of the table.
pub const ATTACKS: [Attack; 6] = [
    Attack {
        name: "gzip-bomb",
        title: "gzip bombs, pipelined, waiting in a handler",
        needs_auth: false,
        run: attacks::gzip_bomb,
    },
    Attack {
        name: "slow-headers",
        title: "slow senders: a 16 MiB frame announced, then 1 byte/s",
        needs_auth: false,
        run: attacks::slow_headers,
    },
    Attack {
        name: "metadata",
        title: "one Echo with 300,000 metadata keys",
        needs_auth: false,
        run: attacks::metadata_echo,
    },
    Attack {
        name: "gzip-heartbeats",
        title: "gzip heartbeats from an unauthenticated peer",
        needs_auth: true,
        run: attacks::gzip_heartbeats,
    },
    Attack {
        name: "idle",
        title: "idle connections after one call each",
        needs_auth: false,
        run: attacks::idle_conns,
    },
    Attack {
        name: "never-reads",
        title: "a client that never reads (pushes and replies)",
        needs_auth: false,
        run: attacks::never_reads,
    },
];

/// Where and how the command runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub server_cpu: usize,
    pub servers: Vec<ServerKind>,
    pub attacks: Vec<Attack>,
    pub scale: Scale,
    pub log_dir: PathBuf,
}

/// What one attack did to one server.
#[derive(Debug, Clone)]
pub struct Figures {
    pub rss_peak_delta_kib: u64,
    pub cpu_s: f64,
    pub probe: ProbeFigures,
    pub note: String,
    /// The server died during the attack.
    pub exited: Option<String>,
}

/// The attack names `--attack` accepts.
pub fn attack_by_name(name: &str) -> Result<Attack> {
    ATTACKS
        .iter()
        .find(|a| a.name == name)
        .copied()
        .with_context(|| {
            let names: Vec<&str> = ATTACKS.iter().map(|a| a.name).collect();
            format!("unknown attack {name:?} (known: {})", names.join(", "))
        })
}

/// Runs every attack against every server; returns the markdown report.
pub fn run(opts: &Options) -> Result<String> {
    std::fs::create_dir_all(&opts.log_dir)?;
    let mut rows = Vec::new();
    for attack in &opts.attacks {
        let mut cells = Vec::new();
        for &server in &opts.servers {
            eprintln!("==> {} against {}", attack.name, server.name());
            let figures = measure(opts, server, attack)
                .with_context(|| format!("{} against {}", attack.name, server.name()))?;
            eprintln!("    {}", cell(&figures));
            cells.push(figures);
        }
        rows.push((attack, cells));
    }
    Ok(table(opts, &rows))
}

fn measure(opts: &Options, kind: ServerKind, attack: &Attack) -> Result<Figures> {
    let addr = free_port()?;
    let mut launch = kind.launch(&opts.root, &opts.bin_dir, addr, opts.server_cpu, None);
    if attack.needs_auth {
        let flag = if kind == ServerKind::RpcxGo {
            "-auth"
        } else {
            "--auth"
        };
        launch
            .args
            .extend([flag.to_owned(), wire::AUTH_TOKEN.to_owned()]);
    }
    let log_path = opts
        .log_dir
        .join(format!("{}-{}.log", kind.name(), attack.name));
    let log = File::create(&log_path)?;
    let mut server = RunningServer::start(&launch, opts.server_cpu, &log)?;
    let pid = server.pid;
    let probe = Probe::start(addr, attack.needs_auth.then_some(wire::AUTH_TOKEN))?;
    let rss_before_kib = rss_kib(pid).context("server VmRSS")?;
    let cpu_before = cpu_s(pid);
    let sampler = RssSampler::start(pid);
    let target = Target {
        addr,
        pid,
        rss_before_kib,
        scale: opts.scale,
    };
    let started = Instant::now();
    let note = (attack.run)(&target);
    let cpu = cpu_s(pid) - cpu_before;
    let peak = sampler.finish();
    let probe = probe.finish();
    let exited = server.exited();
    eprintln!("    ({:.1} s)", started.elapsed().as_secs_f64());
    server.stop();
    Ok(Figures {
        rss_peak_delta_kib: peak.saturating_sub(rss_before_kib),
        cpu_s: cpu,
        probe,
        note: note.unwrap_or_else(|e| format!("attack failed: {e:#}")),
        exited,
    })
}

fn cell(f: &Figures) -> String {
    let mut text = format!(
        "RSS +{:.1} MiB · CPU {:.2} s · probe ≤ {} · {}",
        f.rss_peak_delta_kib as f64 / 1024.0,
        f.cpu_s,
        duration(f.probe.worst),
        f.note
    );
    if f.probe.failed > 0 {
        text.push_str(" · probe call failed");
    }
    if let Some(exited) = &f.exited {
        let _ = write!(text, " · **{exited}**");
    }
    text
}

fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn table(opts: &Options, rows: &[(&Attack, Vec<Figures>)]) -> String {
    let machine = Machine::probe(&opts.root);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hostile peers, {}, commit {}, {} ({} CPUs, {}), kernel {}. Server pinned to CPU {}, \
         one shard / GOMAXPROCS=1; a fresh server per attack; window {} s.\n",
        machine.date_utc,
        machine.commit,
        machine.cpu_model,
        machine.cpus,
        machine.memory,
        machine.kernel,
        opts.server_cpu,
        opts.scale.window.as_secs()
    );
    let names: Vec<&str> = opts.servers.iter().map(|s| s.name()).collect();
    let _ = writeln!(out, "| attack | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
    for (attack, cells) in rows {
        let cells: Vec<String> = cells.iter().map(cell).collect();
        let _ = writeln!(out, "| {} | {} |", attack.title, cells.join(" | "));
    }
    out.push_str(
        "\nRSS: peak VmRSS over the baseline during the attack. CPU: server CPU seconds during \
         the attack. probe: the longest a well-behaved `Arith.Mul` caller on another \
         connection waited for a reply during the attack.\n",
    );
    out
}

/// `--server` names.
pub fn server_by_name(name: &str) -> Result<ServerKind> {
    Ok(match name {
        "ringrpc" => ServerKind::Ringrpc,
        "ringrpc-glommio" => ServerKind::RingrpcGlommio,
        "rpcx-go" => ServerKind::RpcxGo,
        other => bail!("unknown server {other:?} (ringrpc, ringrpc-glommio, rpcx-go)"),
    })
}
