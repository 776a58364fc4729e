//! What is measured from outside the server while an attack runs: its resident memory
//! (VmRSS, sampled every 20 ms, peak kept), its CPU time (`/proc/<pid>/stat`), and how long a
//! well-behaved caller on another connection waits for its replies (the probe).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{self, FrameConn, NoFrame};
use crate::procstat::{self, CLOCK_TICKS_PER_SECOND};

/// How long the probe waits between two calls.
const PROBE_PAUSE: Duration = Duration::from_millis(20);
/// The longest the probe waits for one reply once the attack is over.
const PROBE_GRACE: Duration = Duration::from_secs(10);

/// VmRSS of a process in KiB; `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Samples a process's VmRSS until stopped; keeps the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let (stop2, peak2) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    peak2.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { stop, peak, thread }
    }

    /// Stops sampling; the peak VmRSS seen, in KiB.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// CPU seconds a process has used (all threads).
pub fn cpu_s(pid: u32) -> f64 {
    procstat::process_ticks(pid).unwrap_or(0) as f64 / CLOCK_TICKS_PER_SECOND
}

/// What the probe saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeFigures {
    pub calls: u64,
    /// The longest wait for a reply (a call still unanswered counts with its wait so far).
    pub worst: Duration,
    /// Calls that got no correct reply (connection closed, or nothing within the grace).
    pub failed: u64,
}

/// A well-behaved caller: `Arith.Mul` on its own connection, one call at a time.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ProbeFigures>,
}

impl Probe {
    /// `auth`: the token the server requires, if any.
    pub fn start(addr: SocketAddr, auth: Option<&'static str>) -> anyhow::Result<Self> {
        let mut conn = FrameConn::connect(addr)?;
        // One call before the attack: the probe's connection is open and served.
        conn.send(&wire::mul(0, auth))?;
        conn.recv_until(Instant::now() + Duration::from_secs(5))
            .map_err(|e| anyhow::anyhow!("the probe got no first reply: {e:?}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || probe_loop(conn, auth, &stop2));
        Ok(Self { stop, thread })
    }

    pub fn finish(self) -> ProbeFigures {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn probe_loop(mut conn: FrameConn, auth: Option<&str>, stop: &AtomicBool) -> ProbeFigures {
    let mut figures = ProbeFigures::default();
    let mut seq = 1;
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        figures.calls += 1;
        if conn.send(&wire::mul(seq, auth)).is_err() {
            figures.failed += 1;
            break;
        }
        // Wait in slices so the end of the attack is noticed; after it, at most the grace.
        let answered = loop {
            let slice = Instant::now() + Duration::from_millis(100);
            match conn.recv_until(slice) {
                Ok(frame) => break frame.seq() == seq,
                Err(NoFrame::Closed) => break false,
                Err(NoFrame::Timeout) => {
                    let over = stop.load(Ordering::Relaxed);
                    if over && sent.elapsed() > PROBE_GRACE {
                        break false;
                    }
                }
            }
        };
        figures.worst = figures.worst.max(sent.elapsed());
        if !answered {
            figures.failed += 1;
            break;
        }
        seq += 1;
        std::thread::sleep(PROBE_PAUSE);
    }
    figures
}
