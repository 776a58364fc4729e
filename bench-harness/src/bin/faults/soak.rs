//! `ringrpc-faults soak`: measures the server's peak (closed loop, `--callers` calls in
//! flight for `--peak-ms`), then holds `--fraction` of it open-loop for `--duration-ms`,
//! sampling every `--sample-ms` the server's RSS and open fds (`/proc/<pid>`) and the p99
//! of the calls that ended in that window. Reports the slope of each per minute (least
//! squares over the samples after `--warmup-ms`) and whether it is flat under the stated
//! thresholds. Owns those figures; never signals or configures the server.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use ringrpc_client::tokio::Client;
use ringrpc_client::Serde;
use serde_json::json;

use crate::churn::usage;
use crate::{MulArgs, MulReply};

#[derive(clap::Args)]
pub struct SoakArgs {
    /// `host:port` of the server.
    #[arg(long)]
    addr: String,
    /// The server's pid (its fds and RSS are read from /proc).
    #[arg(long)]
    pid: u32,
    /// Connections the calls are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight while the peak is measured.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    #[arg(long, default_value_t = 3000)]
    peak_ms: u64,
    /// Share of the peak rate held during the soak.
    #[arg(long, default_value_t = 0.5)]
    fraction: f64,
    #[arg(long, default_value_t = 60_000)]
    duration_ms: u64,
    #[arg(long, default_value_t = 1000)]
    sample_ms: u64,
    /// Samples before this are shown but left out of the slopes (allocator and GC warm-up).
    #[arg(long, default_value_t = 10_000)]
    warmup_ms: u64,
    /// At most this many calls in flight; a due call beyond it is counted as missed.
    #[arg(long, default_value_t = 4096)]
    max_inflight: usize,
    /// RSS is flat below this growth, in KiB per minute.
    #[arg(long, default_value_t = 1024.0)]
    rss_slope_max_kib: f64,
    /// Open fds are flat below this growth per minute.
    #[arg(long, default_value_t = 0.5)]
    fds_slope_max: f64,
    /// p99 is flat below this growth per minute, as a share of the median sampled p99
    /// (and below 1 ms per minute whatever the share).
    #[arg(long, default_value_t = 0.25)]
    p99_slope_max_share: f64,
}

/// What the callers share.
#[derive(Default)]
struct Shared {
    ok: Cell<u64>,
    failed: Cell<u64>,
    wrong: Cell<u64>,
    inflight: Cell<usize>,
    /// Latencies (ms) of the calls that ended in the current sample window.
    window: RefCell<Vec<f64>>,
}

async fn one(client: &Client, shared: &Shared, a: i64) {
    let started = Instant::now();
    let result = client
        .call::<_, Serde<MulReply>>("Arith", "Mul", &Serde(MulArgs { a, b: 7 }))
        .await;
    match result {
        Ok(reply) if reply.0.c == a * 7 => {
            shared.ok.set(shared.ok.get() + 1);
            let ms = started.elapsed().as_secs_f64() * 1e3;
            shared.window.borrow_mut().push(ms);
        }
        Ok(_) => shared.wrong.set(shared.wrong.get() + 1),
        Err(_) => shared.failed.set(shared.failed.get() + 1),
    }
}

/// Calls per second with `callers` calls always in flight for `duration`.
async fn peak(clients: &Rc<Vec<Client>>, callers: usize, duration: Duration) -> f64 {
    let shared = Rc::new(Shared::default());
    let until = Instant::now() + duration;
    let local = tokio::task::LocalSet::new();
    for id in 0..callers {
        let (clients, shared) = (clients.clone(), shared.clone());
        local.spawn_local(async move {
            let client = &clients[id % clients.len()];
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                one(client, &shared, ((id as i64) << 32) | n).await;
            }
        });
    }
    local.await;
    shared.ok.get() as f64 / duration.as_secs_f64()
}

/// One sample window's end.
struct Sample {
    t_s: f64,
    rss_kib: u64,
    fds: usize,
    p99_ms: f64,
    calls: usize,
}

/// Least-squares slope of `(x, y)`, in y per x; 0 for fewer than two points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x / n, sy + y / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

fn p99(latencies: &mut [f64]) -> f64 {
    latencies.sort_by(f64::total_cmp);
    let i = (latencies.len() as f64 * 0.99) as usize;
    latencies
        .get(i.min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

pub async fn run(args: SoakArgs) -> Result<serde_json::Value> {
    ensure!(
        args.connections > 0 && args.sample_ms > 0,
        "--connections and --sample-ms > 0"
    );
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        clients.push(Client::connect(&args.addr).await?);
    }
    let clients = Rc::new(clients);
    let peak_per_s = peak(&clients, args.callers, Duration::from_millis(args.peak_ms)).await;
    let rate = peak_per_s * args.fraction;
    ensure!(rate > 0.0, "the peak run answered no call");

    let shared = Rc::new(Shared::default());
    let started = Instant::now();
    let until = started + Duration::from_millis(args.duration_ms);
    let local = tokio::task::LocalSet::new();
    let missed = Rc::new(Cell::new(0u64));
    let (max_inflight, sample_every, pid) = (
        args.max_inflight,
        Duration::from_millis(args.sample_ms),
        args.pid,
    );
    let pacer = {
        let (clients, shared, missed) = (clients.clone(), shared.clone(), missed.clone());
        async move {
            let mut sent: u64 = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while Instant::now() < until {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * rate) as u64;
                while sent < due {
                    sent += 1;
                    if shared.inflight.get() >= max_inflight {
                        missed.set(missed.get() + 1);
                        continue;
                    }
                    shared.inflight.set(shared.inflight.get() + 1);
                    let (clients, shared) = (clients.clone(), shared.clone());
                    tokio::task::spawn_local(async move {
                        let client = &clients[sent as usize % clients.len()];
                        one(client, &shared, sent as i64).await;
                        shared.inflight.set(shared.inflight.get() - 1);
                    });
                }
            }
        }
    };
    let samples = Rc::new(RefCell::new(Vec::new()));
    let sampler = {
        let (shared, samples) = (shared.clone(), samples.clone());
        async move {
            let mut tick = tokio::time::interval(sample_every);
            tick.tick().await;
            while Instant::now() < until {
                tick.tick().await;
                let mut window = std::mem::take(&mut *shared.window.borrow_mut());
                let (fds, rss_kib) = usage(pid)?;
                samples.borrow_mut().push(Sample {
                    t_s: started.elapsed().as_secs_f64(),
                    rss_kib,
                    fds,
                    p99_ms: p99(&mut window),
                    calls: window.len(),
                });
            }
            anyhow::Ok(())
        }
    };
    let (_, sampled) = local
        .run_until(async { tokio::join!(pacer, sampler) })
        .await;
    sampled?;
    local.await; // the calls still in flight
    let samples = samples.take();
    Ok(figures(
        &args,
        peak_per_s,
        rate,
        &shared,
        missed.get(),
        &samples,
    ))
}

fn figures(
    args: &SoakArgs,
    peak_per_s: f64,
    rate: f64,
    shared: &Shared,
    missed: u64,
    samples: &[Sample],
) -> serde_json::Value {
    let warm: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t_s * 1e3 >= args.warmup_ms as f64)
        .collect();
    let per_min = |f: fn(&Sample) -> f64| -> f64 {
        let points: Vec<(f64, f64)> = warm.iter().map(|s| (s.t_s / 60.0, f(s))).collect();
        slope(&points)
    };
    let rss = per_min(|s| s.rss_kib as f64);
    let fds = per_min(|s| s.fds as f64);
    let p99_slope = per_min(|s| s.p99_ms);
    let mut p99s: Vec<f64> = warm.iter().map(|s| s.p99_ms).collect();
    p99s.sort_by(f64::total_cmp);
    let p99_median = p99s.get(p99s.len() / 2).copied().unwrap_or(0.0);
    let p99_max = (p99_median * args.p99_slope_max_share).max(1.0);
    let rss_flat = rss <= args.rss_slope_max_kib;
    let fds_flat = fds <= args.fds_slope_max;
    let p99_flat = p99_slope <= p99_max;
    json!({
        "peak_per_s": peak_per_s,
        "rate_per_s": rate,
        "duration_ms": args.duration_ms,
        "ok": shared.ok.get(),
        "failed": shared.failed.get(),
        "wrong_replies": shared.wrong.get(),
        "missed": missed,
        "p99_median_ms": p99_median,
        "rss_kib_first": warm.first().map(|s| s.rss_kib),
        "rss_kib_last": warm.last().map(|s| s.rss_kib),
        "fds_first": warm.first().map(|s| s.fds),
        "fds_last": warm.last().map(|s| s.fds),
        "slope_per_min": { "rss_kib": rss, "fds": fds, "p99_ms": p99_slope },
        "threshold_per_min": { "rss_kib": args.rss_slope_max_kib, "fds": args.fds_slope_max, "p99_ms": p99_max },
        "flat": { "rss": rss_flat, "fds": fds_flat, "p99": p99_flat, "all": rss_flat && fds_flat && p99_flat },
        "samples": samples.iter().map(|s| json!([s.t_s, s.rss_kib, s.fds, s.p99_ms, s.calls])).collect::<Vec<_>>(),
        "sample_fields": ["t_s", "rss_kib", "fds", "p99_ms", "calls"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_the_least_squares_line() {
        assert_eq!(slope(&[]), 0.0);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        let line: Vec<(f64, f64)> = (0..10)
            .map(|x| (f64::from(x), 3.0 * f64::from(x) + 1.0))
            .collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat_noise = [(0.0, 10.0), (1.0, 12.0), (2.0, 10.0), (3.0, 12.0)];
        assert!(slope(&flat_noise).abs() < 1.0);
        assert_eq!(slope(&[(2.0, 1.0), (2.0, 5.0)]), 0.0, "no spread in x");
    }

    #[test]
    fn p99_takes_the_99th_percentile_and_survives_an_empty_window() {
        assert_eq!(p99(&mut []), 0.0);
        let mut l: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!(p99(&mut l), 100.0);
        let mut l: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(p99(&mut l), 991.0);
    }
}
