//! Runs one paced client process for one cell and reads its CPU from /proc at both ends
//! of its window: when it prints [`WINDOW_START`] and when it prints its counts. Then it
//! closes the client's stdin, which is the client's signal to exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::line::{WindowCounts, WINDOW_START};
use super::mark::{ProcDelta, ProcMark};

/// How long a client may take to exit once told to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One client process over one window: its own counts and what /proc says it cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRun {
    #[serde(flatten)]
    pub counts: WindowCounts,
    pub round: usize,
    pub cpu_ns: u64,
    pub ticks: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    pub threads_exited: usize,
}

impl ClientRun {
    /// CPU per completed call in microseconds (`None` if no call completed).
    pub fn cpu_us_per_call(&self) -> Option<f64> {
        let calls = self.counts.calls();
        (calls > 0).then(|| self.cpu_ns as f64 / 1e3 / calls as f64)
    }

    fn new(counts: WindowCounts, round: usize, delta: ProcDelta) -> Self {
        Self {
            counts,
            round,
            cpu_ns: delta.cpu_ns,
            ticks: delta.ticks,
            voluntary_switches: delta.voluntary,
            involuntary_switches: delta.involuntary,
            threads_exited: delta.threads_exited,
        }
    }
}

/// Starts `command` (already pinned), waits for its window, and returns what it counted
/// and cost. Gives up `deadline` after the start.
pub fn run_client(mut command: Command, round: usize, deadline: Duration) -> Result<ClientRun> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {command:?}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().context("client stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let result = read_window(&rx, pid, round, Instant::now() + deadline);
    // Closing stdin tells the client to exit; one that does not is killed.
    drop(child.stdin.take());
    let exit_by = Instant::now() + EXIT_TIMEOUT;
    while child.try_wait()?.is_none() && Instant::now() < exit_by {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait()?.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

fn read_window(
    lines: &mpsc::Receiver<String>,
    pid: u32,
    round: usize,
    deadline: Instant,
) -> Result<ClientRun> {
    let mut first = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => bail!("the client did not finish in time"),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the client exited early"),
        };
        if line == WINDOW_START {
            first = Some(ProcMark::take(pid).context("client gone at window start")?);
            continue;
        }
        let Ok(counts) = serde_json::from_str::<WindowCounts>(&line) else {
            continue; // anything else the client prints
        };
        let last = ProcMark::take(pid).context("client gone at window end")?;
        let first = first.context("counts came before the window started")?;
        return Ok(ClientRun::new(counts, round, first.delta(&last)));
    }
}
