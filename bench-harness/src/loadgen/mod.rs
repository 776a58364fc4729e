//! The Rust load generator: C pipelined connections on one thread, in a closed loop (D
//! calls in flight per connection) or an open loop (a fixed arrival rate, latency from
//! the intended send time: coordinated omission corrected, as wrk2 does).
//!
//! Three drivers share the pacing, the counting and the output:
//! - [`Driver::Client`] (default): ringrpc's own pipelining client, its glommio driver.
//! - [`Driver::Codec`]: a bare epoll loop over the codec (see `codec_driver`), the lowest
//!   cost per call a Rust generator can have; the gap between the two is the client's.
//! - [`Driver::Grpc`]: tonic's gRPC client on a single-threaded tokio runtime, C HTTP/2
//!   connections with D streams in flight each, for grpc-go (`Hello.Say` as a unary call).

mod client_driver;
mod codec_driver;
mod conn;
mod grpc_driver;
mod recorder;
mod workload;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

pub use workload::Workload;

use crate::procstat;
use crate::sample::Sample;
use recorder::Recorder;

/// Width of one step of the throughput timeline.
const TIMELINE_STEP_NS: u64 = 100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `ringrpc_client::glommio::Client`, one per connection, one task per call slot.
    Client,
    /// The epoll loop over the codec.
    Codec,
    /// tonic's gRPC client (tokio, one thread), for grpc-go.
    Grpc,
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub driver: Driver,
    pub addr: SocketAddr,
    pub workload: Workload,
    pub conns: usize,
    /// Calls in flight per connection (open loop: at most).
    pub depth: usize,
    /// Closed loop with this many callers spread over the connections (0: use `depth`).
    /// One thread drives every connection, so N callers over C connections is the
    /// same load as a window of N/C per connection.
    pub callers: usize,
    /// Open loop: total calls/s; 0 for a closed loop.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// How long to wait for replies after the window.
    pub drain: Duration,
    pub server_pid: Option<u32>,
    /// TLS: the CA the server's certificate (for `localhost`) is checked against.
    pub tls_ca: Option<std::path::PathBuf>,
}

impl LoadConfig {
    fn mode(&self) -> &'static str {
        if self.rate > 0.0 {
            "open"
        } else if self.callers > 0 {
            "callers"
        } else {
            "window"
        }
    }

    /// Calls in flight allowed on connection `i`.
    fn depth_of(&self, i: usize) -> usize {
        if self.callers > 0 && self.rate <= 0.0 {
            self.callers / self.conns + usize::from(i < self.callers % self.conns)
        } else {
            self.depth
        }
    }
}

/// What /proc said at one end of the window.
pub(crate) struct Mark {
    server_ticks: Option<u64>,
    cpus: Vec<procstat::CpuTimes>,
    self_ticks: Option<u64>,
}

impl Mark {
    pub(crate) fn take(server_pid: Option<u32>) -> Self {
        Self {
            server_ticks: server_pid.and_then(procstat::process_ticks),
            cpus: procstat::cpu_times(),
            self_ticks: procstat::self_ticks(),
        }
    }
}

/// What a driver hands back: the counts and the two ends of the window.
pub(crate) struct Outcome {
    rec: Recorder,
    first: Mark,
    last: Mark,
    timeline: Vec<f64>,
}

/// When the call slots of one connection send. Closed loop: each slot sends again as soon
/// as its reply is in. Open loop: connection `i` carries rate/C calls/s, its k-th call is
/// due at `first_due + k * period`, and its slots share the counter k; a slot that is
/// late still counts its latency from the due time (coordinated omission corrected).
#[derive(Clone)]
pub(crate) struct Pacing {
    period_ns: f64,
    first_due_ns: f64,
    next: Rc<Cell<u64>>,
    end_ns: u64,
}

impl Pacing {
    pub(crate) fn new(cfg: &LoadConfig, conn: usize, end_ns: u64) -> Self {
        let (period_ns, first_due_ns) = if cfg.rate > 0.0 {
            (
                1e9 * cfg.conns as f64 / cfg.rate,
                1e9 * conn as f64 / cfg.rate,
            )
        } else {
            (0.0, 0.0)
        };
        Self {
            period_ns,
            first_due_ns,
            next: Rc::new(Cell::new(0)),
            end_ns,
        }
    }

    /// The (intended) send time of a slot's next call, given the time now; the slot waits
    /// until then if it is early. `None` once that is past the window: the slot stops.
    pub(crate) fn next_send(&self, now_ns: u64) -> Option<u64> {
        let at = if self.period_ns > 0.0 {
            let k = self.next.get();
            self.next.set(k + 1);
            (self.first_due_ns + k as f64 * self.period_ns) as u64
        } else {
            now_ns
        };
        (at < self.end_ns).then_some(at)
    }
}

/// Waits for the window (`start_ns..end_ns` on `clock`), samples the throughput timeline
/// from the recorder's completions while it runs, and takes /proc marks at both ends.
/// `wait_until(at_ns)` is the driver's timer.
pub(crate) async fn measure_window(
    cfg: &LoadConfig,
    (start_ns, end_ns): (u64, u64),
    rec: &RefCell<Recorder>,
    wait_until: impl AsyncFn(u64),
) -> (Mark, Mark, Vec<f64>) {
    wait_until(start_ns).await;
    let first = Mark::take(cfg.server_pid);
    let mut timeline = Vec::new();
    let mut completed = rec.borrow().completed;
    let mut step_at = start_ns + TIMELINE_STEP_NS;
    while step_at <= end_ns {
        wait_until(step_at).await;
        let now_completed = rec.borrow().completed;
        timeline.push((now_completed - completed) as f64 * 1e9 / TIMELINE_STEP_NS as f64);
        completed = now_completed;
        step_at += TIMELINE_STEP_NS;
    }
    wait_until(end_ns).await;
    (first, Mark::take(cfg.server_pid), timeline)
}

/// A cell's timeline on a fresh clock: warm-up from 0, the measured window from `start_ns`
/// to `end_ns`, and the recorder that counts the calls sent inside it.
pub(crate) struct Window {
    pub clock: Instant,
    pub start_ns: u64,
    pub end_ns: u64,
    pub rec: Rc<RefCell<Recorder>>,
}

impl Window {
    /// Starts the clock now (after the connections are open).
    pub(crate) fn start(cfg: &LoadConfig) -> Self {
        let start_ns = cfg.warmup.as_nanos() as u64;
        let end_ns = start_ns + cfg.duration.as_nanos() as u64;
        Self {
            clock: Instant::now(),
            start_ns,
            end_ns,
            rec: Rc::new(RefCell::new(Recorder::new(start_ns, end_ns))),
        }
    }

    /// The driver's result, once its call slots are done or dropped.
    pub(crate) fn finish(self, (first, last, timeline): (Mark, Mark, Vec<f64>)) -> Outcome {
        let rec =
            Rc::try_unwrap(self.rec).map_or_else(|rc| rc.borrow().clone(), RefCell::into_inner);
        Outcome {
            rec,
            first,
            last,
            timeline,
        }
    }
}

/// Nanoseconds since `clock`.
pub(crate) fn nanos_since(clock: Instant) -> u64 {
    clock.elapsed().as_nanos() as u64
}

/// Waits with the driver's `sleep` until `at_ns` on `clock` (not at all if that passed).
pub(crate) async fn sleep_until<F>(clock: Instant, at_ns: u64, sleep: impl FnOnce(Duration) -> F)
where
    F: Future<Output = ()>,
{
    let now = nanos_since(clock);
    if at_ns > now {
        sleep(Duration::from_nanos(at_ns - now)).await;
    }
}

/// One call slot: sends when `pacing` says (waiting with `wait_until`), one call at a time,
/// and records each call's outcome, until the window is over.
pub(crate) async fn run_slot(
    pacing: Pacing,
    clock: Instant,
    rec: &RefCell<Recorder>,
    wait_until: impl AsyncFn(u64),
    mut call: impl AsyncFnMut() -> workload::Verdict,
) {
    while let Some(sent_ns) = pacing.next_send(nanos_since(clock)) {
        wait_until(sent_ns).await;
        rec.borrow_mut().issued(sent_ns);
        let verdict = call().await;
        rec.borrow_mut()
            .finished(sent_ns, nanos_since(clock), verdict);
    }
}

/// Runs one cell and returns its sample.
pub fn run(cfg: &LoadConfig) -> Result<Sample> {
    if cfg.conns == 0 || cfg.depth == 0 || cfg.duration.is_zero() {
        bail!("conns, depth and duration must be > 0");
    }
    let Outcome {
        rec,
        first,
        last,
        timeline,
    } = match cfg.driver {
        Driver::Client => client_driver::run(cfg)?,
        Driver::Codec if cfg.tls_ca.is_some() => bail!("the codec driver has no TLS"),
        Driver::Codec => codec_driver::run(cfg)?,
        Driver::Grpc => grpc_driver::run(cfg)?,
    };
    let window_s = cfg.duration.as_secs_f64();
    let ticks = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / procstat::CLOCK_TICKS_PER_SECOND,
        _ => -1.0,
    };
    let cpus: Vec<_> = first.cpus.iter().zip(&last.cpus).collect();
    let finished = rec.good + rec.bad + rec.errors;
    Ok(Sample {
        loadgen: "rust".into(),
        client: match cfg.driver {
            Driver::Client => "ringrpc-client (glommio)".into(),
            Driver::Codec => "ringrpc-codec (epoll)".into(),
            Driver::Grpc => "tonic (tokio, one thread)".into(),
        },
        workload: cfg.workload.name().into(),
        payload_len: cfg.workload.payload_len(),
        mode: cfg.mode().into(),
        conns: cfg.conns,
        depth: cfg.depth,
        callers: cfg.callers,
        rate_target: cfg.rate,
        window_s,
        sent: rec.sent,
        good: rec.good,
        bad: rec.bad,
        errors: rec.errors,
        unfinished: rec.sent.saturating_sub(finished),
        first_error: rec.first_error.clone(),
        throughput_rps: rec.good as f64 / window_s,
        latency_us: rec.latency(),
        server_cpu_s: ticks(first.server_ticks, last.server_ticks),
        loadgen_cpu_s: ticks(first.self_ticks, last.self_ticks),
        steal_ticks: cpus.iter().map(|(a, b)| b.steal - a.steal).collect(),
        busy_ticks: cpus.iter().map(|(a, b)| b.busy - a.busy).collect(),
        timeline_rps: timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: f64) -> LoadConfig {
        LoadConfig {
            driver: Driver::Client,
            addr: "127.0.0.1:1".parse().unwrap(),
            workload: Workload::BenchmarkMessage,
            conns: 2,
            depth: 2,
            callers: 0,
            rate,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(6),
            drain: Duration::ZERO,
            server_pid: None,
            tls_ca: None,
        }
    }

    #[test]
    fn open_loop_slots_of_a_connection_share_its_schedule_until_the_window_ends() {
        // 1000 calls/s over 2 connections: each carries one call every 2 ms; connection 1
        // starts 1 ms in.
        let slot = Pacing::new(&config(1000.0), 1, 6_000_000);
        let other_slot = slot.clone();
        assert_eq!(slot.next_send(0), Some(1_000_000));
        assert_eq!(
            other_slot.next_send(4_500_000),
            Some(3_000_000),
            "late: due time kept"
        );
        assert_eq!(slot.next_send(0), Some(5_000_000));
        assert_eq!(other_slot.next_send(0), None, "7 ms is past the window");
    }

    #[test]
    fn closed_loop_slots_send_at_once_until_the_window_ends() {
        let slot = Pacing::new(&config(0.0), 0, 6_000_000);
        assert_eq!(slot.next_send(10), Some(10));
        assert_eq!(slot.next_send(5_999_999), Some(5_999_999));
        assert_eq!(slot.next_send(6_000_000), None);
    }
}
