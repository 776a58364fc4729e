//! The servers compared, how each is started (pinned with `taskset`) and stopped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::scenario::WorkloadName;

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// The engine's example server (`engine/examples/server.rs`), one shard, on its default
    /// driver (io_uring).
    Ringrpc,
    /// The same server on the glommio driver (`--driver glommio`).
    RingrpcGlommio,
    /// The io_uring server with the metrics plugin on (`--metrics`): compared with
    /// `ringrpc`, the CPU per call metrics cost.
    RingrpcMetrics,
    /// `bench-harness/go/cmd/rpcxserver`, GOMAXPROCS=1.
    RpcxGo,
    /// `bench-harness/go/cmd/grpcserver`, GOMAXPROCS=1.
    GrpcGo,
    /// `tonic-server` (`src/bin/tonic_server.rs`): tonic on one current-thread tokio
    /// runtime, the Rust incumbent.
    Tonic,
    /// `volo-server` (`bench-harness/volo-peer/`, a crate outside the workspace): CloudWeGo's
    /// volo-grpc on one current-thread tokio runtime, the other Rust gRPC server. Plaintext
    /// only.
    #[serde(rename = "volo-grpc")]
    Volo,
    /// `ringrpc-ceiling`: splits frames and echoes them (a BenchmarkMessage request made to
    /// read as its reply in place), nothing else.
    Ceiling,
}

/// How to start one server.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, &'static str)>,
    /// Start of the line the server prints once it accepts connections.
    pub ready: &'static str,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ringrpc => "ringrpc",
            Self::RingrpcGlommio => "ringrpc-glommio",
            Self::RingrpcMetrics => "ringrpc-metrics",
            Self::RpcxGo => "rpcx-go",
            Self::GrpcGo => "grpc-go",
            Self::Tonic => "tonic",
            Self::Volo => "volo-grpc",
            Self::Ceiling => "ceiling",
        }
    }

    /// A gRPC server: the load generators drive it with their gRPC client (grpc-go's
    /// client from Go, tonic's from Rust) instead of an rpcx client.
    pub fn speaks_grpc(self) -> bool {
        matches!(self, Self::GrpcGo | Self::Tonic | Self::Volo)
    }

    /// Whether this server can serve TLS cells (the ceiling frames plaintext only; the volo
    /// peer is built without volo-grpc's TLS features).
    pub fn serves_tls(self) -> bool {
        !matches!(self, Self::Ceiling | Self::Volo)
    }

    /// Whether this server can serve the workload (both load generators drive every
    /// server; the ceiling also answers BenchmarkMessage frames).
    pub fn can_serve(self, workload: WorkloadName) -> Result<(), String> {
        if workload != WorkloadName::BenchmarkMessage && self.speaks_grpc() {
            return Err(format!(
                "{} runs only benchmark-message (the gRPC service is Hello.Say)",
                self.name()
            ));
        }
        Ok(())
    }

    /// `cpu` is where the runner pins the process; ringrpc's shard is placed there too
    /// (its executor pins itself, so it must be told the same CPU).
    /// With `tls` (certificate, key), the server serves TLS only (if [`Self::serves_tls`]).
    pub fn launch(
        self,
        root: &Path,
        bin_dir: &Path,
        addr: SocketAddr,
        cpu: usize,
        tls: Option<(&Path, &Path)>,
    ) -> Launch {
        let mut launch = self.launch_plain(root, bin_dir, addr, cpu);
        if let Some((cert, key)) = tls {
            let (cert_flag, key_flag) = match self {
                Self::Ringrpc | Self::RingrpcGlommio | Self::RingrpcMetrics => {
                    ("--tls-cert", "--tls-key")
                }
                Self::RpcxGo | Self::GrpcGo | Self::Ceiling => ("-tls-cert", "-tls-key"),
                Self::Tonic => ("--tls-cert", "--tls-key"),
                // Scenario validation keeps it out of TLS groups (`serves_tls`).
                Self::Volo => unreachable!("volo-grpc has no TLS"),
            };
            launch.args.extend([
                cert_flag.into(),
                cert.display().to_string(),
                key_flag.into(),
                key.display().to_string(),
            ]);
        }
        launch
    }

    fn launch_plain(self, root: &Path, bin_dir: &Path, addr: SocketAddr, cpu: usize) -> Launch {
        let go_bin = root.join("bench-harness/go/bin");
        let addr = addr.to_string();
        let driver = if self == Self::RingrpcGlommio {
            "glommio"
        } else {
            "uring"
        };
        match self {
            Self::Ringrpc | Self::RingrpcGlommio | Self::RingrpcMetrics => Launch {
                program: bin_dir.join("examples/server"),
                args: [
                    "--driver",
                    driver,
                    "--listen",
                    &addr,
                    "--shards",
                    "1",
                    "--cpus",
                    &cpu.to_string(),
                ]
                .into_iter()
                .chain((self == Self::RingrpcMetrics).then_some("--metrics"))
                .map(String::from)
                .collect(),
                env: vec![],
                ready: "ringrpc listening on",
            },
            Self::RpcxGo => Launch {
                program: go_bin.join("rpcxserver"),
                args: vec!["-addr".into(), addr],
                env: vec![("GOMAXPROCS", "1")],
                ready: "rpcxserver listening on",
            },
            Self::GrpcGo => Launch {
                program: go_bin.join("grpcserver"),
                args: vec!["-addr".into(), addr],
                env: vec![("GOMAXPROCS", "1")],
                ready: "grpcserver listening on",
            },
            // The runtime is current-thread: one thread, pinned by `start` like the rest.
            Self::Tonic => Launch {
                program: bin_dir.join("tonic-server"),
                args: vec!["--listen".into(), addr],
                env: vec![],
                ready: "tonic-server listening on",
            },
            // Same shape as tonic's: one current-thread runtime, pinned by `start`.
            Self::Volo => Launch {
                program: bin_dir.join("volo-server"),
                args: vec!["--listen".into(), addr],
                env: vec![],
                ready: "volo-server listening on",
            },
            Self::Ceiling => Launch {
                program: bin_dir.join("ringrpc-ceiling"),
                args: vec!["--listen".into(), addr],
                env: vec![],
                ready: "ringrpc-ceiling listening on",
            },
        }
    }
}

/// A server process started for one cell.
pub struct RunningServer {
    child: Child,
    pub pid: u32,
}

impl RunningServer {
    /// Starts `launch` pinned to `cpu` and waits for its ready line. Its stderr goes
    /// to `log`.
    pub fn start(launch: &Launch, cpu: usize, log: &File) -> Result<Self> {
        if !launch.program.exists() {
            bail!("{} is not built", launch.program.display());
        }
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .arg(&launch.program)
            .args(&launch.args)
            .envs(launch.env.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("spawn {}", launch.program.display()))?;
        // taskset execs the server: the pid is the server's.
        let pid = child.id();
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Once the runner stops listening, keep draining so the server never blocks.
                let _ = tx.send(line);
            }
        });
        let mut server = Self { child, pid };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) if line.starts_with(launch.ready) => return Ok(server),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {
                    if let Some(status) = server.child.try_wait()? {
                        bail!(
                            "{} exited before it was ready: {status}",
                            launch.program.display()
                        );
                    }
                }
                Err(_) => {
                    server.stop();
                    bail!(
                        "{} printed no ready line ({:?})",
                        launch.program.display(),
                        launch.ready
                    );
                }
            }
        }
    }

    /// `Some(reason)` if the server is no longer running.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("server exited during the cell: {status}")),
            Ok(None) => None,
            Err(e) => Some(format!("server state unknown: {e}")),
        }
    }

    /// Threads of the server allowed on CPUs other than `cpu` (an engine that re-pins
    /// itself would make the comparison unfair).
    pub fn pinning_violations(&self, cpu: usize) -> Vec<String> {
        let want = cpu.to_string();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return Vec::new();
        };
        tasks
            .flatten()
            .filter_map(|t| {
                let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                let allowed = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
                    .trim()
                    .to_owned();
                (allowed != want).then(|| {
                    format!(
                        "thread {} allowed on CPUs {allowed}",
                        t.file_name().to_string_lossy()
                    )
                })
            })
            .collect()
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
