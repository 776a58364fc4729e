//! The client-cost report: CPU per call by client, cell by cell (median and min–max over
//! rounds), ratios to rpcx-go's client, and the counts that explain them.

use std::fmt::Write as _;

use crate::machine::Machine;
use crate::summary::Stat;

use super::{Cell, ClientKind, ClientRun, Options};

/// The markdown report of a finished run.
pub fn report(opts: &Options, machine: &Machine, runs: &[(Cell, ClientKind, ClientRun)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} | commit {} | {} | kernel {}\n",
        machine.date_utc, machine.commit, machine.cpu_model, machine.kernel
    );
    let _ = writeln!(
        out,
        "Server: ringrpc (io_uring, one shard) on CPU {}; each client on CPU {}. echo-raw {} B, \
         one call in flight per connection, calls sent {}, warm-up {:.0} s, window {:.0} s, \
         {} rounds interleaved.\n",
        opts.server_cpu,
        opts.client_cpu,
        opts.payload_len,
        if opts.tick.is_zero() {
            "each at its own turn".to_owned()
        } else {
            format!("on ticks of {} µs", opts.tick.as_micros())
        },
        opts.warmup.as_secs_f64(),
        opts.measure.as_secs_f64(),
        opts.rounds
    );
    let _ = writeln!(
        out,
        "Client CPU per call, µs (on-CPU time of the client process over the window / calls \
         completed in it): median (min–max)\n"
    );
    let go = opts.clients.contains(&ClientKind::RpcxGo);
    let rust: Vec<ClientKind> = opts
        .clients
        .iter()
        .copied()
        .filter(|c| *c != ClientKind::RpcxGo)
        .collect();
    let mut head = String::from("| calls/s | conns |");
    for client in &opts.clients {
        let _ = write!(head, " {} |", title(*client));
    }
    if go {
        for client in &rust {
            let _ = write!(head, " {} / rpcx-go |", client.name());
        }
    }
    let columns = head.matches('|').count() - 1;
    let _ = writeln!(out, "{head}\n|{}", " --- |".repeat(columns));
    for cell in &opts.cells {
        let cpu = |client| stat(runs, *cell, client, ClientRun::cpu_us_per_call);
        let _ = write!(out, "| {} | {} |", cell.rate, cell.conns);
        for client in &opts.clients {
            let _ = write!(out, " {} |", range(cpu(*client), 1));
        }
        if go {
            for client in &rust {
                let ratio = cpu(*client)
                    .zip(cpu(ClientKind::RpcxGo))
                    .map(|(a, b)| format!("{:.2}", a.median / b.median));
                let _ = write!(out, " {} |", ratio.unwrap_or_else(|| "—".into()));
            }
        }
        out.push('\n');
    }
    out.push_str(&counts_table(opts, runs));
    out
}

/// Achieved rate, blocking waits and allocations per call (medians), per client.
fn counts_table(opts: &Options, runs: &[(Cell, ClientKind, ClientRun)]) -> String {
    let names: Vec<&str> = opts.clients.iter().map(|c| c.name()).collect();
    let mut out = format!(
        "\nPer cell, medians ({}): calls/s achieved, voluntary context switches per call (a \
         thread blocking: an executor parking), allocations per call, calls sent a whole \
         period late\n\n| calls/s | conns | achieved | switches/call | allocs/call | late |\n\
         | --- | --- | --- | --- | --- | --- |\n",
        names.join(" / ")
    );
    for cell in &opts.cells {
        let per_client = |figure: fn(&ClientRun) -> Option<f64>, digits: usize| {
            let cells: Vec<String> = opts
                .clients
                .iter()
                .map(|client| match stat(runs, *cell, *client, figure) {
                    Some(s) => format!("{:.*}", digits, s.median),
                    None => "—".into(),
                })
                .collect();
            cells.join(" / ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell.rate,
            cell.conns,
            per_client(|r| Some(r.counts.calls() as f64 / r.counts.window_s), 0),
            per_client(|r| per_call(r, r.voluntary_switches as f64), 2),
            per_client(
                |r| match r.counts.allocs {
                    ..0 => None,
                    allocs => per_call(r, allocs as f64),
                },
                1
            ),
            per_client(|r| Some(r.counts.late as f64), 0),
        );
    }
    let failed: u64 = runs.iter().map(|(_, _, r)| r.counts.failed).sum();
    let exited: usize = runs.iter().map(|(_, _, r)| r.threads_exited).sum();
    if failed > 0 || exited > 0 {
        let _ = writeln!(
            out,
            "\nWARNING: {failed} calls failed; {exited} client threads exited inside a window \
             (their CPU after the window began is missing)."
        );
    }
    out
}

fn per_call(run: &ClientRun, figure: f64) -> Option<f64> {
    let calls = run.counts.calls();
    (calls > 0).then(|| figure / calls as f64)
}

/// One figure of `client` in `cell`, over rounds.
fn stat(
    runs: &[(Cell, ClientKind, ClientRun)],
    cell: Cell,
    client: ClientKind,
    figure: impl Fn(&ClientRun) -> Option<f64>,
) -> Option<Stat> {
    let values: Vec<f64> = runs
        .iter()
        .filter(|(c, k, _)| *c == cell && *k == client)
        .filter_map(|(_, _, run)| figure(run))
        .collect();
    Stat::of(&values)
}

fn range(stat: Option<Stat>, digits: usize) -> String {
    match stat {
        Some(s) => format!(
            "{:.*} ({:.*}–{:.*})",
            digits, s.median, digits, s.min, digits, s.max
        ),
        None => "—".into(),
    }
}

fn title(client: ClientKind) -> &'static str {
    match client {
        ClientKind::Glommio => "ringrpc glommio",
        ClientKind::Tokio => "ringrpc tokio",
        ClientKind::RpcxGo => "rpcx-go",
    }
}
