//! The Rust load generator: C pipelined connections on one thread, in a closed loop (D
//! calls in flight per connection) or an open loop (a fixed arrival rate, latency from
//! the intended send time: coordinated omission corrected, as wrk2 does).
//!
//! Two drivers share the counting and the output:
//! - [`Driver::Client`] (default): ringrpc's own pipelining client, its glommio driver.
//! - [`Driver::Codec`]: a bare epoll loop over the codec (see `codec_driver`), the lowest
//!   cost per call a Rust generator can have; the gap between the two is the client's.

mod client_driver;
mod codec_driver;
mod conn;
mod recorder;
mod workload;

use std::net::SocketAddr;
use std::time::Duration;

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
        Driver::Codec => codec_driver::run(cfg)?,
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
