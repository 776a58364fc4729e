//! `ringrpc-faults load`: steady XClient calls (`Arith.Mul`, each with its own argument so
//! a reply delivered to the wrong call shows) from `--callers` concurrent callers for
//! `--duration-ms`, with the suite's fault commands run at their offsets. The servers come
//! from `--servers` (a static list) or from etcd (`--etcd`, `--base`: the registry's
//! discovery, whose list the run samples). Owns the figures of one run; never touches the
//! network or the servers itself.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ringrpc_client::breaker::BreakerConfig;
use ringrpc_client::discovery::{
    Discovery, EtcdControlPlane, EtcdDiscovery, MultipleDiscovery, ServerWatch,
};
use ringrpc_client::fail::{FailMode, FailPolicy};
use ringrpc_client::select::SelectMode;
use ringrpc_client::xclient::{TokioTransport, XClient, XClientOptions};
use ringrpc_client::{CallOptions, Serde};
use serde_json::json;

use crate::{MulArgs, MulReply};

/// At most this many call records are kept (about 40 MB); later calls are only counted.
const MAX_RECORDS: usize = 2_000_000;
/// At most this many failed calls are listed one by one (when, how long, the error).
const MAX_FAILURES_LISTED: usize = 100;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Server keys, comma separated (`tcp@127.0.0.1:8972,...`).
    #[arg(long, value_delimiter = ',', required_unless_present = "etcd")]
    servers: Vec<String>,
    /// Discover the servers in etcd instead (`http://127.0.0.1:2379`, comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "base",
        conflicts_with = "servers"
    )]
    etcd: Vec<String>,
    /// The registry's base path (with --etcd).
    #[arg(long)]
    base: Option<String>,
    /// With --etcd, wait (at most 10 s) until this many servers are listed before starting.
    #[arg(long, default_value_t = 1)]
    min_servers: usize,
    /// failover, failtry or failfast.
    #[arg(long, default_value = "failover")]
    fail: String,
    /// roundrobin or random.
    #[arg(long, default_value = "roundrobin")]
    select: String,
    /// Retries of failover and failtry.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    #[arg(long, default_value_t = 16)]
    callers: usize,
    #[arg(long, default_value_t = 8000)]
    duration_ms: u64,
    /// Deadline of one call, retries included.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Longest one attempt may take before the fail mode retries (0: no attempt timeout).
    #[arg(long, default_value_t = 0)]
    attempt_timeout_ms: u64,
    /// A call slower than this counts as disrupted.
    #[arg(long, default_value_t = 100)]
    slow_ms: u64,
    /// Open a server's breaker after this many consecutive failures (0: no breaker).
    #[arg(long, default_value_t = 0)]
    breaker_failures: u32,
    /// How long an open breaker refuses calls before one probe.
    #[arg(long, default_value_t = 1000)]
    breaker_open_ms: u64,
    /// `<offset ms>:<shell command>`, run at that offset from the start (repeatable).
    #[arg(long = "event")]
    events: Vec<String>,
}

/// How one call ended.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Outcome {
    Ok,
    WrongReply,
    Retryable,
    Fatal,
}

/// One finished call: start and end in ms from the run's start.
#[derive(Clone, Copy)]
struct Record {
    start_ms: f64,
    end_ms: f64,
    outcome: Outcome,
}

#[derive(Default)]
struct Tally {
    records: Vec<Record>,
    dropped: u64,
    errors: std::collections::BTreeMap<String, u64>,
    /// The first failed calls: start and end (ms from the run's start) and the error.
    failures: Vec<(f64, f64, String)>,
}

fn options(args: &LoadArgs) -> Result<XClientOptions> {
    let mode = match args.fail.as_str() {
        "failover" => FailMode::Failover,
        "failtry" => FailMode::Failtry,
        "failfast" => FailMode::Failfast,
        other => bail!("unknown --fail {other}"),
    };
    let select = match args.select.as_str() {
        "roundrobin" => SelectMode::RoundRobin,
        "random" => SelectMode::Random,
        other => bail!("unknown --select {other}"),
    };
    let options = XClientOptions::new()
        .select(select)
        .fail(FailPolicy::new(mode).retries(args.retries))
        .timeout(Duration::from_millis(args.timeout_ms));
    let options = match args.attempt_timeout_ms {
        0 => options,
        ms => options.attempt_timeout(Duration::from_millis(ms)),
    };
    Ok(match args.breaker_failures {
        0 => options,
        n => options.breaker(BreakerConfig::new(
            n,
            Duration::from_millis(args.breaker_open_ms),
        )),
    })
}

/// `<offset ms>:<command>` pairs, in offset order.
fn parse_events(events: &[String]) -> Result<Vec<(u64, String)>> {
    let mut parsed = events
        .iter()
        .map(|e| {
            let (at, cmd) = e.split_once(':').context("--event wants <ms>:<command>")?;
            Ok((at.parse().context("--event offset")?, cmd.to_owned()))
        })
        .collect::<Result<Vec<_>>>()?;
    parsed.sort_by_key(|(at, _)| *at);
    Ok(parsed)
}

/// Runs each command at its offset on a thread of its own (the load never waits for one).
fn schedule(events: Vec<(u64, String)>, started: Instant) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut fired = Vec::with_capacity(events.len());
        for (at, cmd) in events {
            let due = started + Duration::from_millis(at);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            fired.push(started.elapsed().as_secs_f64() * 1e3);
            match Command::new("sh").arg("-c").arg(&cmd).status() {
                Ok(status) if status.success() => {}
                other => eprintln!("event `{cmd}` ended with {other:?}"),
            }
        }
        fired
    })
}

async fn caller(
    x: Rc<XClient<TokioTransport>>,
    tally: Rc<RefCell<Tally>>,
    id: i64,
    started: Instant,
    until: Instant,
) {
    let mut n: i64 = 0;
    while Instant::now() < until {
        n += 1;
        let a = id * 1_000_000_000 + n;
        let start_ms = started.elapsed().as_secs_f64() * 1e3;
        let result = x
            .call_with::<_, Serde<MulReply>>(
                "Mul",
                &Serde(MulArgs { a, b: 7 }),
                &CallOptions::new(),
                None,
            )
            .await;
        let outcome = match &result {
            Ok(reply) if reply.0.c == a * 7 => Outcome::Ok,
            Ok(_) => Outcome::WrongReply,
            Err(e) if e.is_retryable() => Outcome::Retryable,
            Err(_) => Outcome::Fatal,
        };
        let end_ms = started.elapsed().as_secs_f64() * 1e3;
        tally
            .borrow_mut()
            .add(&result.map(drop), start_ms, end_ms, outcome);
        if outcome != Outcome::Ok {
            // A failing call returns at once; pace the retry loop so it cannot spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Tally {
    fn add<E: std::fmt::Display>(
        &mut self,
        result: &Result<(), E>,
        start_ms: f64,
        end_ms: f64,
        outcome: Outcome,
    ) {
        if let Err(e) = result {
            let text = e.to_string();
            *self.errors.entry(error_kind(&text)).or_default() += 1;
            if self.failures.len() < MAX_FAILURES_LISTED {
                self.failures.push((start_ms, end_ms, text));
            }
        }
        if self.records.len() < MAX_RECORDS {
            self.records.push(Record {
                start_ms,
                end_ms,
                outcome,
            });
        } else {
            self.dropped += 1;
        }
    }
}

/// An error's text without the server address and numbers, so like errors group.
fn error_kind(text: &str) -> String {
    let kind: String = text
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .take(80)
        .collect();
    kind
}

/// Where the server list comes from; kept alive for the run.
enum Source {
    Static(MultipleDiscovery),
    Etcd {
        discovery: EtcdDiscovery,
        /// The thread the discovery runs on; dropped after it.
        _control: EtcdControlPlane,
    },
}

impl Source {
    fn new(args: &LoadArgs) -> Result<Self> {
        let Some(base) = args.base.as_deref().filter(|_| !args.etcd.is_empty()) else {
            let pairs = args.servers.iter().map(|s| (s.clone(), ""));
            return Ok(Source::Static(MultipleDiscovery::from_pairs(pairs)));
        };
        let control = EtcdControlPlane::start(args.etcd.iter().cloned())?;
        let discovery = EtcdDiscovery::new(&control, base, "Arith");
        let mut watch = discovery.watch();
        let wait = Duration::from_secs(10);
        if !watch.wait_until(wait, |list| list.len() >= args.min_servers) {
            bail!(
                "etcd listed {} servers under {base}/Arith in {wait:?}; want {}",
                watch.current().len(),
                args.min_servers
            );
        }
        Ok(Source::Etcd {
            discovery,
            _control: control,
        })
    }

    fn watch(&self) -> ServerWatch {
        match self {
            Source::Static(d) => d.watch(),
            Source::Etcd { discovery, .. } => discovery.watch(),
        }
    }
}

/// What the sampler saw: the fewest and the last number of servers the XClient listed,
/// and the client's longest stall (a 50 ms sleep that took longer), with when it ended.
#[derive(Default, Clone, Copy)]
struct Seen {
    servers_min: usize,
    servers_last: usize,
    stall_ms: f64,
    stall_end_ms: f64,
}

/// Samples [`Seen`] every 50 ms until `until`.
async fn sample(
    x: Rc<XClient<TokioTransport>>,
    started: Instant,
    until: Instant,
    seen: Rc<RefCell<Seen>>,
) {
    let period = Duration::from_millis(50);
    while Instant::now() < until {
        let n = x.servers().len();
        let before = Instant::now();
        tokio::time::sleep(period).await;
        let stall_ms = (before.elapsed().saturating_sub(period)).as_secs_f64() * 1e3;
        let mut seen = seen.borrow_mut();
        seen.servers_min = seen.servers_min.min(n);
        seen.servers_last = n;
        if stall_ms > seen.stall_ms {
            seen.stall_ms = stall_ms;
            seen.stall_end_ms = started.elapsed().as_secs_f64() * 1e3;
        }
    }
}

pub async fn run(args: LoadArgs) -> Result<serde_json::Value> {
    let source = Source::new(&args)?;
    let x = Rc::new(XClient::new(
        "Arith",
        source.watch(),
        TokioTransport::default(),
        options(&args)?,
    ));
    let events = parse_events(&args.events)?;
    let started = Instant::now();
    let until = started + Duration::from_millis(args.duration_ms);
    let fired = schedule(events.clone(), started);
    let tally = Rc::new(RefCell::new(Tally::default()));
    let listed = x.servers().len();
    let seen = Rc::new(RefCell::new(Seen {
        servers_min: listed,
        servers_last: listed,
        ..Seen::default()
    }));
    let local = tokio::task::LocalSet::new();
    for id in 0..args.callers {
        local.spawn_local(caller(x.clone(), tally.clone(), id as i64, started, until));
    }
    local.spawn_local(sample(x.clone(), started, until, seen.clone()));
    local.await;
    let fired = fired
        .join()
        .map_err(|_| anyhow::anyhow!("event thread panicked"))?;
    let tally = tally.take();
    let mut figures = figures(&args, &events, &fired, &tally);
    let seen = *seen.borrow();
    figures["servers_listed_min"] = seen.servers_min.into();
    figures["servers_listed_last"] = seen.servers_last.into();
    figures["client_stall_max_ms"] = seen.stall_ms.into();
    figures["client_stall_end_ms"] = seen.stall_end_ms.into();
    Ok(figures)
}

fn count(records: &[Record], outcome: Outcome) -> usize {
    records.iter().filter(|r| r.outcome == outcome).count()
}

fn figures(
    args: &LoadArgs,
    events: &[(u64, String)],
    fired: &[f64],
    tally: &Tally,
) -> serde_json::Value {
    let records = &tally.records;
    let mut latencies: Vec<f64> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .map(|r| r.end_ms - r.start_ms)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let per_event: Vec<_> = fired
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            let next = fired.get(i + 1).copied().unwrap_or(f64::INFINITY);
            let window: Vec<&Record> = records
                .iter()
                .filter(|r| r.start_ms >= at && r.start_ms < next)
                .collect();
            let disrupted = |r: &&Record| {
                r.outcome != Outcome::Ok || r.end_ms - r.start_ms > args.slow_ms as f64
            };
            // Calls already in flight when the fault hit count toward its disruption too.
            let last_bad = records
                .iter()
                .filter(|r| r.end_ms >= at && r.start_ms < next)
                .filter(disrupted)
                .map(|r| r.end_ms - at)
                .fold(0.0, f64::max);
            let first_ok = window
                .iter()
                .find(|r| r.outcome == Outcome::Ok)
                .map(|r| r.end_ms - at);
            json!({
                "command": events[i].1,
                "at_ms": at,
                "calls": window.len(),
                "failed": window.iter().filter(|r| r.outcome != Outcome::Ok).count(),
                "disrupted_ms": last_bad,
                "first_ok_ms": first_ok,
            })
        })
        .collect();
    json!({
        "client": "ringrpc",
        "calls": records.len() as u64 + tally.dropped,
        "ok": count(records, Outcome::Ok),
        "wrong_replies": count(records, Outcome::WrongReply),
        "retryable_errors": count(records, Outcome::Retryable),
        "fatal_errors": count(records, Outcome::Fatal),
        "errors": tally.errors,
        "failures": tally.failures,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_call_ms": records.iter().map(|r| r.end_ms - r.start_ms).fold(0.0, f64::max),
        "events": per_event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: LoadArgs,
    }

    #[test]
    fn events_are_ordered_by_offset_and_keep_colons_in_the_command() {
        let events = parse_events(&["5000:heal".into(), "2000:nft add rule a:b".into()]).unwrap();
        assert_eq!(
            events,
            vec![
                (2000, "nft add rule a:b".to_owned()),
                (5000, "heal".to_owned())
            ]
        );
        assert!(parse_events(&["soon:heal".into()]).is_err());
        assert!(parse_events(&["heal".into()]).is_err());
    }

    #[test]
    fn error_kinds_group_errors_that_differ_in_numbers_only() {
        assert_eq!(
            error_kind("tcp@127.0.0.1:4001: call timed out after 1000 ms"),
            error_kind("tcp@127.0.0.1:4002: call timed out after 1000 ms"),
        );
        assert_eq!(error_kind(&"x".repeat(200)).len(), 80);
    }

    #[test]
    fn a_fault_disrupts_until_the_last_slow_or_failed_call_ends() {
        let args = Wrap::parse_from(["load", "--servers", "tcp@a:1", "--slow-ms", "100"]).args;
        let record = |start_ms, end_ms, outcome| Record {
            start_ms,
            end_ms,
            outcome,
        };
        let tally = Tally {
            records: vec![
                record(0.0, 10.0, Outcome::Ok),
                record(950.0, 1950.0, Outcome::Fatal), // in flight when the fault hit
                record(1100.0, 1400.0, Outcome::Ok),   // slow
                record(1500.0, 1510.0, Outcome::Ok),
                record(3000.0, 3010.0, Outcome::WrongReply),
            ],
            ..Tally::default()
        };
        let events = [(1000, "fault".to_owned()), (2500, "heal".to_owned())];
        let f = figures(&args, &events, &[1000.0, 2500.0], &tally);
        assert_eq!(f["calls"], 5);
        assert_eq!(f["wrong_replies"], 1);
        assert_eq!(f["fatal_errors"], 1);
        assert_eq!(f["events"][0]["calls"], 2);
        assert_eq!(f["events"][0]["failed"], 0);
        assert_eq!(f["events"][0]["disrupted_ms"], 950.0);
        assert_eq!(f["events"][0]["first_ok_ms"], 400.0);
        assert_eq!(f["events"][1]["failed"], 1);
        assert_eq!(f["max_call_ms"], 1000.0);
    }
}
