//! Scenario files (`bench-harness/scenarios/*.toml`): a run as data.
//!
//! A scenario is a list of groups. A group fixes the workload, the load generator and
//! the servers compared; it lists closed-loop shapes (C connections × D in flight, or N
//! callers over C connections) and open-loop loads given as percentages of the slowest
//! server's peak, the peak being the best closed-loop median the same group measured.
//!
//! ```toml
//! name = "quick"
//! rounds = 3
//! warmup_s = 1.0
//! measure_s = 3.0
//!
//! [[group]]
//! name = "bm-go"
//! workload = "benchmark-message"
//! loadgen = "go"
//! servers = ["ringrpc", "rpcx-go", "grpc-go", "tonic", "volo-grpc", "ceiling"]
//! closed = [{ conns = 1, depth = 1 }, { conns = 10, callers = 100 }]
//! open = { conns = 10, depth = 64, load_pct = [50] }
//! # tls = true: every server and generator of the group over TLS
//! ```

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::servers::ServerKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub about: String,
    /// Each cell runs once per round; servers alternate inside a round (A B C A B C ...).
    pub rounds: usize,
    pub warmup_s: f64,
    pub measure_s: f64,
    /// How long a load generator waits for replies after the window.
    #[serde(default = "default_drain_s")]
    pub drain_s: f64,
    /// How many times a cell the host disturbed is run again.
    #[serde(default = "default_retries")]
    pub retries: usize,
    #[serde(rename = "group")]
    pub groups: Vec<Group>,
}

fn default_drain_s() -> f64 {
    3.0
}

fn default_retries() -> usize {
    2
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadName {
    BenchmarkMessage,
    EchoRaw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadgenKind {
    /// `bench-harness/go/cmd/loadgen`: each framework's own Go client.
    Go,
    /// `ringrpc-bench load`: the Rust pipelining generator (ringrpc's client, glommio).
    Rust,
    /// `ringrpc-bench load --driver codec`: every connection in one epoll loop over the
    /// codec (rpcx servers only, plaintext, conns × depth shapes). Its sockets wake it
    /// through epoll, not through io_uring polls: a reply that finds the generator busy
    /// costs the sender no inter-processor interrupt (glommio's rings, built without
    /// cooperative task running, interrupt the generator's CPU from the sender's).
    RustEpoll,
}

impl LoadgenKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Go => "go",
            Self::Rust => "rust",
            Self::RustEpoll => "rust-epoll",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub workload: WorkloadName,
    /// echo-raw only: the payload size in bytes.
    #[serde(default)]
    pub payload_len: usize,
    pub loadgen: LoadgenKind,
    pub servers: Vec<ServerKind>,
    #[serde(default)]
    pub closed: Vec<Shape>,
    #[serde(default)]
    pub open: Option<OpenLoad>,
    /// Every server serves TLS and every generator connects with TLS (certificates made
    /// for the run). Compare with the plaintext group of the same cells for the overhead.
    #[serde(default)]
    pub tls: bool,
}

/// A closed-loop shape: `conns` connections and either `depth` calls in flight on each,
/// or `callers` synchronous callers spread over them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    pub conns: usize,
    #[serde(default = "one")]
    pub depth: usize,
    #[serde(default)]
    pub callers: usize,
}

fn one() -> usize {
    1
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.callers > 0 {
            write!(f, "{} callers/{} conns", self.callers, self.conns)
        } else {
            write!(f, "{}x{}", self.conns, self.depth)
        }
    }
}

/// Open-loop cells: fixed arrival rates at these percentages of the slowest server's
/// closed-loop peak, with at most `depth` calls in flight per connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenLoad {
    pub conns: usize,
    pub depth: usize,
    pub load_pct: Vec<f64>,
}

impl Group {
    pub fn payload_label(&self) -> String {
        match self.workload {
            WorkloadName::BenchmarkMessage => "BenchmarkMessage".into(),
            WorkloadName::EchoRaw => format!("echo-raw {} B", self.payload_len),
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let scenario: Self =
            toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<()> {
        if self.rounds == 0 || self.measure_s <= 0.0 || self.warmup_s < 0.0 {
            bail!(
                "{}: rounds and measure_s must be > 0, warmup_s >= 0",
                self.name
            );
        }
        for g in &self.groups {
            if g.servers.is_empty() {
                bail!("group {}: no servers", g.name);
            }
            if g.workload == WorkloadName::EchoRaw && g.payload_len == 0 {
                bail!("group {}: echo-raw needs payload_len", g.name);
            }
            for s in &g.servers {
                if let Err(why) = s.can_serve(g.workload) {
                    bail!("group {}: {why}", g.name);
                }
                if g.tls && !s.serves_tls() {
                    bail!("group {}: {} has no TLS", g.name, s.name());
                }
            }
            for shape in &g.closed {
                if shape.conns == 0 || shape.depth == 0 {
                    bail!("group {}: a shape needs conns and depth >= 1", g.name);
                }
            }
            if g.loadgen == LoadgenKind::RustEpoll {
                if let Some(s) = g.servers.iter().find(|s| s.speaks_grpc()) {
                    bail!(
                        "group {}: rust-epoll speaks rpcx only, not to {}",
                        g.name,
                        s.name()
                    );
                }
                if g.tls {
                    bail!("group {}: rust-epoll has no TLS", g.name);
                }
                if g.closed.iter().any(|s| s.callers > 0) {
                    bail!(
                        "group {}: rust-epoll runs conns x depth shapes only",
                        g.name
                    );
                }
            }
            if let Some(open) = &g.open {
                if g.closed.is_empty() {
                    bail!(
                        "group {}: open loop needs closed shapes to find the peak",
                        g.name
                    );
                }
                if open.conns == 0 || open.depth == 0 || open.load_pct.iter().any(|p| *p <= 0.0) {
                    bail!(
                        "group {}: open loop needs conns, depth >= 1 and loads > 0",
                        g.name
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether the run meets the method's minimum: ≥ 3 rounds, ≥ 5 s warm-up, ≥ 10 s
    /// measured per cell. Otherwise its figures are indicative only.
    pub fn conforms_to_method(&self) -> bool {
        self.rounds >= 3 && self.warmup_s >= 5.0 && self.measure_s >= 10.0
    }

    /// Cells to run, for the progress bar.
    pub fn cell_count(&self) -> usize {
        self.groups
            .iter()
            .map(|g| {
                let loads = g.closed.len() + g.open.as_ref().map_or(0, |o| o.load_pct.len());
                loads * g.servers.len() * self.rounds
            })
            .sum()
    }

    /// Rough wall time of the whole run, seconds.
    pub fn estimated_s(&self) -> f64 {
        self.cell_count() as f64 * (self.warmup_s + self.measure_s + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = Scenario::load(&path).unwrap();
                assert!(s.cell_count() > 0, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 3, "smoke, quick and full");
    }

    fn one_group(workload: &str, loadgen: &str, server: &str, tls: bool) -> Scenario {
        let text = format!(
            r#"
            name = "x"
            rounds = 1
            warmup_s = 0.0
            measure_s = 1.0
            [[group]]
            name = "g"
            workload = "{workload}"
            payload_len = 16
            loadgen = "{loadgen}"
            servers = ["{server}"]
            closed = [{{ conns = 1 }}]
            tls = {tls}
            "#
        );
        toml::from_str::<Scenario>(&text).unwrap()
    }

    #[test]
    fn a_grpc_server_runs_only_benchmark_message() {
        for server in ["grpc-go", "tonic", "volo-grpc"] {
            for loadgen in ["go", "rust"] {
                let ok = one_group("benchmark-message", loadgen, server, false);
                assert!(ok.validate().is_ok(), "{server} {loadgen}");
                let echo = one_group("echo-raw", loadgen, server, false);
                assert!(echo.validate().is_err(), "{server} {loadgen}");
            }
        }
    }

    #[test]
    fn only_servers_with_tls_join_tls_groups() {
        for (server, tls) in [("grpc-go", true), ("tonic", true), ("volo-grpc", false)] {
            for loadgen in ["go", "rust"] {
                let group = one_group("benchmark-message", loadgen, server, true);
                assert_eq!(group.validate().is_ok(), tls, "{server} {loadgen}");
            }
        }
    }

    #[test]
    fn the_epoll_generator_takes_plaintext_rpcx_depth_cells_only() {
        for server in ["ringrpc", "rpcx-go", "ceiling"] {
            let ok = one_group("echo-raw", "rust-epoll", server, false);
            assert!(ok.validate().is_ok(), "{server}");
            assert_eq!(ok.groups[0].loadgen.name(), "rust-epoll");
        }
        for server in ["grpc-go", "tonic"] {
            let grpc = one_group("benchmark-message", "rust-epoll", server, false);
            assert!(grpc.validate().is_err(), "{server}");
        }
        assert!(one_group("echo-raw", "rust-epoll", "ringrpc", true)
            .validate()
            .is_err());
        let mut callers = one_group("echo-raw", "rust-epoll", "ringrpc", false);
        callers.groups[0].closed[0].callers = 4;
        assert!(callers.validate().is_err());
        callers.groups[0].loadgen = LoadgenKind::Rust;
        assert!(callers.validate().is_ok());
    }

    #[test]
    fn the_ceiling_serves_every_plaintext_cell() {
        for workload in ["benchmark-message", "echo-raw"] {
            for loadgen in ["go", "rust"] {
                let plain = one_group(workload, loadgen, "ceiling", false);
                assert!(plain.validate().is_ok(), "{workload} {loadgen}");
                let tls = one_group(workload, loadgen, "ceiling", true);
                assert!(tls.validate().is_err(), "{workload} {loadgen}");
            }
        }
    }
}
