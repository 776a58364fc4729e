//! The files of a run: `results.csv`, `summary.json`, `report.md` (and the chart, see
//! [`crate::chart`]); `results.jsonl` is written by the runner as cells finish. The
//! targets come from [`crate::targets`].

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::machine::Machine;
use crate::runner::CellRecord;
use crate::scenario::Scenario;
use crate::summary::{CellSummary, Stat, FEW_SAMPLES};
use crate::targets::{targets_table, TargetCheck};

#[derive(Serialize)]
struct SummaryFile<'a> {
    machine: &'a Machine,
    scenario: &'a str,
    rounds: usize,
    warmup_s: f64,
    measure_s: f64,
    cells: &'a [CellSummary],
    targets: &'a [TargetCheck],
}

pub fn fmt_stat(s: Option<&Stat>, digits: usize) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits),
        Some(s) => format!("{:.d$}", s.median, d = digits),
        None => "–".into(),
    }
}

fn fmt_rate(s: Option<&Stat>) -> String {
    match s {
        Some(s) if s.n > 1 => format!(
            "{} ({}–{})",
            thousands(s.median),
            thousands(s.min),
            thousands(s.max)
        ),
        Some(s) => thousands(s.median),
        None => "–".into(),
    }
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The ratio table printed at the end of a run and put at the top of the report.
pub fn ratio_table(cells: &[CellSummary]) -> String {
    let mut out = String::from(
        "| workload | group (loadgen) | cell | ringrpc / | throughput | server CPU/call | p99 |\n|---|---|---|---|---|---|---|\n",
    );
    for c in cells {
        for r in &c.ratios {
            let figures = [&r.throughput, &r.server_cpu_per_call, &r.p99];
            let figures = figures.map(|f| fmt_stat(f.as_ref(), 2));
            write_row(&mut out, c, r.other.name(), &figures);
        }
    }
    out
}

/// Every server against the framing ceiling of its cell (cells whose group runs the
/// ceiling): throughput and server CPU per call, each as server / ceiling. `None` when
/// no cell has a ceiling.
pub fn ceiling_table(cells: &[CellSummary]) -> Option<String> {
    let mut out = String::from(
        "| workload | group (loadgen) | cell | server | throughput ÷ ceiling | server CPU/call ÷ ceiling |\n|---|---|---|---|---|---|\n",
    );
    let mut rows = 0;
    for c in cells {
        for r in &c.vs_ceiling {
            rows += 1;
            let figures = [&r.throughput, &r.server_cpu_per_call].map(|f| fmt_stat(f.as_ref(), 2));
            write_row(&mut out, c, r.server.name(), &figures);
        }
    }
    (rows > 0).then_some(out)
}

/// One row of a per-cell table: the cell's workload, group and load generator (a TLS
/// group and its plaintext twin share workload, generator and shape), shape, a server's
/// name, then `figures`.
pub fn write_row(out: &mut String, c: &CellSummary, server: &str, figures: &[String]) {
    let _ = write!(
        out,
        "| {} | {} ({}) | {} | {server} |",
        c.workload, c.group, c.loadgen, c.cell
    );
    for f in figures {
        let _ = write!(out, " {f} |");
    }
    out.push('\n');
}

fn cell_tables(scenario: &Scenario, cells: &[CellSummary]) -> String {
    let mut out = String::new();
    for group in &scenario.groups {
        let clients = match group.loadgen {
            crate::scenario::LoadgenKind::Go => {
                "Go load generator: rpcx-go client (grpc-go's client for grpc-go, tonic and volo-grpc)"
            }
            crate::scenario::LoadgenKind::Rust => {
                "Rust load generator: ringrpc's pipelining client, glommio driver (tonic's gRPC client for grpc-go, tonic and volo-grpc)"
            }
            crate::scenario::LoadgenKind::RustEpoll => {
                "Rust load generator, epoll loop over the codec (no client, no io_uring)"
            }
        };
        let _ = writeln!(
            out,
            "\n### {}: {}, {}\n",
            group.name,
            group.payload_label(),
            clients
        );
        out += "| cell | server | calls/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | server CPU µs/call | loadgen busy | rounds (re-runs) | notes |\n";
        out += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
        for c in cells.iter().filter(|c| c.group == group.name) {
            for s in &c.servers {
                let mut notes = Vec::new();
                if s.min_samples < FEW_SAMPLES {
                    notes.push(format!("{} samples: p99.9/max noisy", s.min_samples));
                }
                if s.still_disturbed > 0 {
                    notes.push(format!("{} round(s) still disturbed", s.still_disturbed));
                }
                if s.zero_good_rounds > 0 {
                    notes.push(format!(
                        "{} round(s) with zero good replies",
                        s.zero_good_rounds
                    ));
                }
                if s.errors > 0 {
                    notes.push(format!("{} errors/bad replies", s.errors));
                }
                notes.extend(s.problems.iter().take(2).cloned());
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
                    c.cell,
                    s.server.name(),
                    fmt_rate(s.throughput.as_ref()),
                    fmt_stat(s.p50_us.as_ref(), 0),
                    fmt_stat(s.p90_us.as_ref(), 0),
                    fmt_stat(s.p99_us.as_ref(), 0),
                    fmt_stat(s.p999_us.as_ref(), 0),
                    fmt_stat(s.max_us.as_ref(), 0),
                    fmt_stat(s.server_cpu_us_per_call.as_ref(), 2),
                    s.loadgen_busy
                        .map_or("–".into(), |b| format!("{:.0}%", b.median * 100.0)),
                    s.rounds,
                    s.reruns,
                    notes.join("; ")
                );
            }
        }
    }
    out
}

pub struct Report<'a> {
    pub scenario: &'a Scenario,
    pub machine: &'a Machine,
    pub records: &'a [CellRecord],
    pub cells: &'a [CellSummary],
    pub targets: &'a [TargetCheck],
}

impl Report<'_> {
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.write_csv(&dir.join("results.csv"))?;
        let summary = SummaryFile {
            machine: self.machine,
            scenario: &self.scenario.name,
            rounds: self.scenario.rounds,
            warmup_s: self.scenario.warmup_s,
            measure_s: self.scenario.measure_s,
            cells: self.cells,
            targets: self.targets,
        };
        std::fs::write(
            dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?,
        )?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        Ok(())
    }

    fn write_csv(&self, path: &Path) -> Result<()> {
        let mut out = String::from(
            "group,workload,payload_len,loadgen,client,server,cell,mode,conns,depth,callers,rate_target,round,attempt,superseded,disturbed,throughput_rps,p50_us,p90_us,p99_us,p999_us,max_us,samples,server_cpu_us_per_call,loadgen_cpu_s,window_s,sent,good,bad,errors,unfinished,problems\n",
        );
        for r in self.records {
            let s = &r.sample;
            let l = &s.latency_us;
            let quote = |t: &str| format!("\"{}\"", t.replace('"', "'"));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{},{},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{},{},{:.3},{:.3},{},{},{},{},{},{}",
                r.group,
                s.workload,
                s.payload_len,
                s.loadgen,
                s.client,
                r.server.name(),
                quote(&r.cell),
                s.mode,
                s.conns,
                s.depth,
                s.callers,
                s.rate_target,
                r.round,
                r.attempt,
                r.superseded,
                quote(&r.disturbed.join("; ")),
                s.throughput_rps,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max,
                l.count,
                s.server_cpu_us_per_call().map_or(String::new(), |v| format!("{v:.3}")),
                s.loadgen_cpu_s,
                s.window_s,
                s.sent,
                s.good,
                s.bad,
                s.errors,
                s.unfinished,
                quote(&r.problems.join("; "))
            );
        }
        std::fs::write(path, out)?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let m = self.machine;
        let s = self.scenario;
        let conforming = s.conforms_to_method();
        let reruns = self.records.iter().filter(|r| r.superseded).count();
        let mut out = format!("# ringrpc benchmark: {} profile\n\n", s.name);
        let _ = writeln!(out, "- date: {}", m.date_utc);
        let _ = writeln!(out, "- commit: {}", m.commit);
        let _ = writeln!(
            out,
            "- CPU: {} ({} CPUs), memory {}",
            m.cpu_model, m.cpus, m.memory
        );
        let _ = writeln!(out, "- kernel: {}", m.kernel);
        let _ = writeln!(out, "- toolchains: {}; {}", m.rustc, m.go);
        let _ = writeln!(
            out,
            "- profile: {} rounds, warm-up {} s, measure {} s per cell, fresh server per cell, servers interleaved within each round; {} cell(s) re-run after a host stall{}",
            s.rounds,
            s.warmup_s,
            s.measure_s,
            reruns,
            if conforming {
                String::new()
            } else {
                ". **Shorter than the method's minimum (≥ 3 rounds, ≥ 5 s warm-up, ≥ 10 s measure): indicative only; use `--full` for citable numbers.**".into()
            }
        );
        let finals: Vec<&CellRecord> = self.records.iter().filter(|r| r.is_final()).collect();
        let disturbed = finals.iter().filter(|r| !r.disturbed.is_empty()).count();
        if disturbed > 0 {
            let _ = writeln!(
                out,
                "- **{disturbed} of {} cells were still disturbed after re-runs** (host steal, other processes on the benchmark CPUs, or a throughput stall; see `results.jsonl`): their figures are not reliable. Run again on a quiet machine.",
                finals.len()
            );
        }
        out += "- pinning: server on CPU 1 (Go servers GOMAXPROCS=1, ringrpc one shard, tonic and volo-grpc one current-thread tokio runtime each), load generator on CPU 0\n";
        if !s.about.is_empty() {
            let _ = writeln!(out, "- {}", s.about);
        }
        out += "\nRatios are ringrpc / other, computed per round (the servers of a round ran back to back) and shown as the median (min–max) across rounds. Server CPU/call is utime+stime of the server process over the measured window divided by good calls: the most robust figure here. Latency is measured from the intended send time in the open loop (coordinated omission corrected).\n";
        out += "\n## Summary: ringrpc ratios\n\n";
        out += &ratio_table(self.cells);
        if let Some(table) = ceiling_table(self.cells) {
            out += "\n## Summary: each server against the framing ceiling\n\n";
            out += "The ceiling (`ringrpc-ceiling`) only splits frames and writes them back (a BenchmarkMessage request gets six bytes rewritten so that it reads as \"OK\"): what any server must pay for the same client, connections and calls in flight. Throughput ÷ ceiling near 1 and CPU/call ÷ ceiling near 1 mean a server is at the floor; for BenchmarkMessage the ceiling skips the protobuf decode and encode every real server does, and the gRPC servers are driven by a gRPC client instead of the rpcx one, so there the ratio also counts protocol and codec work.\n\n";
            out += &table;
        }
        if let Some(table) = crate::tls_overhead::overhead_table(self.cells) {
            out += "\n## TLS overhead: each server against its own plaintext figure\n\n";
            out += &table;
        }
        out += "\n## Targets\n\n";
        if !conforming {
            out += "Indicative only: this profile is shorter than the method requires.\n\n";
        }
        out += &targets_table(self.targets);
        out += "\n## Results per cell\n\nMedian (min–max) across rounds. \"loadgen busy\" is the load generator's CPU time over the window: near 100 % means the generator, not the server, set the pace.\n";
        out += &cell_tables(s, self.cells);
        out += "\n## Chart\n\n![throughput and p99 per server](chart.svg)\n";
        out += "\n## Files\n\n- `results.jsonl`: one line per attempt of a cell (superseded attempts kept)\n- `results.csv`: the same, flat\n- `summary.json`: medians, ratios, targets, machine\n- `servers.log`: the servers' stderr\n";
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }

    #[test]
    fn a_single_round_has_no_range() {
        let one = Stat {
            median: 2.0,
            min: 2.0,
            max: 2.0,
            n: 1,
        };
        let three = Stat {
            median: 2.0,
            min: 1.5,
            max: 2.25,
            n: 3,
        };
        assert_eq!(fmt_stat(Some(&one), 2), "2.00");
        assert_eq!(fmt_stat(Some(&three), 2), "2.00 (1.50–2.25)");
    }
}
