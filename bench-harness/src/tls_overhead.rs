//! The TLS overhead table: each server over TLS against its own plaintext figure. A TLS
//! group (`tls = true`) named `X-tls` is paired with the plaintext group `X`, cell by cell
//! and server by server; the table shows TLS / plaintext for the median throughput and the
//! median server CPU per call.

use crate::report::{fmt_stat, write_row};
use crate::summary::{CellSummary, ServerCell, Stat};

/// The markdown table, or `None` if the run had no pair of TLS and plaintext groups.
pub fn overhead_table(cells: &[CellSummary]) -> Option<String> {
    let mut out = String::from(
        "| workload | loadgen | cell | server | throughput TLS | TLS / plain | server CPU/call TLS (µs) | TLS / plain |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut rows = 0;
    for tls in cells {
        let Some(plain_group) = tls.group.strip_suffix("-tls") else {
            continue;
        };
        let Some(plain) = cells
            .iter()
            .find(|c| c.group == plain_group && c.cell == tls.cell)
        else {
            continue;
        };
        for server in &tls.servers {
            let Some(base) = plain.server(server.server) else {
                continue;
            };
            rows += 1;
            let figures = [
                fmt_stat(server.throughput.as_ref(), 0),
                ratio(server, base, |s| s.throughput),
                fmt_stat(server.server_cpu_us_per_call.as_ref(), 2),
                ratio(server, base, |s| s.server_cpu_us_per_call),
            ];
            write_row(&mut out, tls, server.server.name(), &figures);
        }
    }
    (rows > 0).then_some(out)
}

/// TLS median / plaintext median of one figure, e.g. `0.82`.
fn ratio(
    tls: &ServerCell,
    plain: &ServerCell,
    figure: impl Fn(&ServerCell) -> Option<Stat>,
) -> String {
    match (figure(tls), figure(plain)) {
        (Some(t), Some(p)) if p.median > 0.0 => format!("{:.2}", t.median / p.median),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::ServerKind;

    fn cell(group: &str, throughput: f64, cpu_us: f64) -> CellSummary {
        let server = ServerCell {
            server: ServerKind::RpcxGo,
            rounds: 1,
            reruns: 0,
            still_disturbed: 0,
            throughput: Stat::of(&[throughput]),
            p50_us: None,
            p90_us: None,
            p99_us: None,
            p999_us: None,
            max_us: None,
            server_cpu_us_per_call: Stat::of(&[cpu_us]),
            loadgen_busy: None,
            min_samples: 1,
            zero_good_rounds: 0,
            errors: 0,
            problems: Vec::new(),
        };
        CellSummary {
            group: group.into(),
            workload: "benchmark-message".into(),
            loadgen: "go".into(),
            cell: "4x4".into(),
            load_pct: None,
            servers: vec![server],
            ratios: Vec::new(),
            vs_ceiling: Vec::new(),
        }
    }

    #[test]
    fn each_server_is_compared_with_its_own_plaintext_cell() {
        assert_eq!(overhead_table(&[cell("bm-go", 100.0, 10.0)]), None);
        let table = overhead_table(&[cell("bm-go", 100.0, 10.0), cell("bm-go-tls", 80.0, 12.5)])
            .expect("a pair");
        assert!(
            table.contains("| rpcx-go | 80 | 0.80 | 12.50 | 1.25 |"),
            "{table}"
        );
    }
}
