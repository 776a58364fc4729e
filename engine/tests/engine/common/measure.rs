//! Figures the hostile-peer tests read from outside the server: the shard's counters, the
//! process's resident memory, one thread's CPU time, and a bounded wait for a condition.

use std::time::{Duration, Instant};

use ringrpc_engine::{Server, ShardStats};

/// Shard 0's counters now.
pub fn shard0(server: &Server) -> ShardStats {
    server.stats()[0]
}

/// Resident memory of this process (`/proc/self/statm`, second field, in pages).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}

/// CPU time (user + system) thread `tid` of this process has used so far, from
/// `/proc/self/task/<tid>/stat` (clock ticks, 10 ms on Linux).
pub fn thread_cpu(tid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("stat");
    // Fields after the `(comm)`, which may hold spaces: utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// The calling thread's id (for [`thread_cpu`] from another thread).
pub fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Polls `condition` every millisecond until it holds; panics with `what` after `limit`.
/// Returns how long it took.
pub fn wait_for(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    start.elapsed()
}

/// Calls `write` (one non-blocking write, returning what the kernel took) until the peer has
/// taken nothing for 200 ms: a client pipelining requests without reading replies, until
/// the server stops reading. Returns the bytes written.
pub fn write_until_stalled(mut write: impl FnMut() -> std::io::Result<usize>) -> usize {
    let (mut written, mut last_progress) = (0usize, Instant::now());
    while last_progress.elapsed() < Duration::from_millis(200) {
        match write() {
            Ok(n) => {
                written += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => break,
        }
        assert!(written < 1 << 30, "the server never stopped reading");
    }
    written
}

/// Waits (at most 30 s) until shard 0 has no connection open, for `what`; how long that
/// took, and the shard's counters then.
pub fn wait_all_closed(server: &Server, what: &str) -> (Duration, ShardStats) {
    let took = wait_for(Duration::from_secs(30), what, || {
        shard0(server).connections_open == 0
    });
    (took, shard0(server))
}
