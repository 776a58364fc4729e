//! The JSON line a load generator prints for one cell. The Go load generator
//! (`bench-harness/go/cmd/loadgen`) prints the same fields.

use serde::{Deserialize, Serialize};

/// Latency percentiles in microseconds, from an HdrHistogram of good calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencyUs {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// What one load generator measured over one window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// "rust" or "go".
    pub loadgen: String,
    /// The client library: "ringrpc-codec", "rpcx-go", "grpc-go".
    pub client: String,
    pub workload: String,
    pub payload_len: usize,
    /// "window" (closed, D in flight per connection), "callers" (closed, N synchronous
    /// callers) or "open" (fixed arrival rate).
    pub mode: String,
    pub conns: usize,
    pub depth: usize,
    pub callers: usize,
    /// Open loop: the arrival rate asked for, calls/s.
    pub rate_target: f64,
    pub window_s: f64,
    /// Calls sent (open loop: due) inside the window.
    pub sent: u64,
    pub good: u64,
    pub bad: u64,
    pub errors: u64,
    /// Sent in the window, still unanswered after the drain.
    pub unfinished: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Good calls per second of window.
    pub throughput_rps: f64,
    pub latency_us: LatencyUs,
    /// utime+stime of the server over the window, seconds; negative if unknown.
    pub server_cpu_s: f64,
    pub loadgen_cpu_s: f64,
    /// Steal time of each CPU over the window, in clock ticks.
    #[serde(default)]
    pub steal_ticks: Vec<i64>,
    /// user+nice+system time of each CPU over the window (every task's), in clock ticks.
    #[serde(default)]
    pub busy_ticks: Vec<i64>,
    /// Good completions per second in 100 ms steps over the window.
    #[serde(default)]
    pub timeline_rps: Vec<f64>,
}

impl Sample {
    /// Server CPU microseconds per good call, if known.
    pub fn server_cpu_us_per_call(&self) -> Option<f64> {
        (self.server_cpu_s >= 0.0 && self.good > 0)
            .then(|| self.server_cpu_s * 1e6 / self.good as f64)
    }
}
