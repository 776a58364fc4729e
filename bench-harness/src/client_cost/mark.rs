//! A client process's CPU and scheduling counters at one instant, read from /proc from
//! outside the process (the same way for the Rust and the Go clients).
//!
//! CPU comes from each thread's `schedstat` (nanoseconds on the CPU, so a window of a few
//! seconds at 1k calls/s is measured to well under 1 %), with utime+stime in clock ticks
//! from `stat` alongside as a cross-check. Voluntary context switches count how often a
//! thread blocked (an executor parking, a goroutine scheduler sleeping in the poller).

use std::collections::HashMap;
use std::fs;

/// One thread's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ThreadMark {
    cpu_ns: u64,
    voluntary: u64,
    involuntary: u64,
}

/// Counters of every live thread of a process, and the process's utime+stime.
#[derive(Debug, Clone, Default)]
pub struct ProcMark {
    threads: HashMap<u32, ThreadMark>,
    ticks: u64,
}

/// What a process did between two marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcDelta {
    pub cpu_ns: u64,
    /// utime+stime in clock ticks (exited threads included).
    pub ticks: u64,
    pub voluntary: u64,
    pub involuntary: u64,
    /// Threads that existed at the first mark and were gone at the second: their time
    /// after the first mark is missing from `cpu_ns` (the ticks still hold it).
    pub threads_exited: usize,
}

impl ProcMark {
    /// Reads the counters of `pid`; `None` if the process is gone.
    pub fn take(pid: u32) -> Option<Self> {
        let ticks = crate::procstat::process_ticks(pid)?;
        let mut threads = HashMap::new();
        for entry in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let path = entry.path();
            let (Ok(schedstat), Ok(status)) = (
                fs::read_to_string(path.join("schedstat")),
                fs::read_to_string(path.join("status")),
            ) else {
                continue; // the thread exited while we looked
            };
            threads.insert(tid, parse_thread(&schedstat, &status));
        }
        Some(Self { threads, ticks })
    }

    /// What happened from `self` to `later`.
    pub fn delta(&self, later: &Self) -> ProcDelta {
        let mut delta = ProcDelta {
            ticks: later.ticks.saturating_sub(self.ticks),
            threads_exited: self
                .threads
                .keys()
                .filter(|tid| !later.threads.contains_key(tid))
                .count(),
            ..ProcDelta::default()
        };
        for (tid, end) in &later.threads {
            // A thread born in the window counts from zero.
            let start = self.threads.get(tid).copied().unwrap_or_default();
            delta.cpu_ns += end.cpu_ns.saturating_sub(start.cpu_ns);
            delta.voluntary += end.voluntary.saturating_sub(start.voluntary);
            delta.involuntary += end.involuntary.saturating_sub(start.involuntary);
        }
        delta
    }
}

/// `schedstat` is "run_ns wait_ns timeslices"; `status` holds the two switch counters.
fn parse_thread(schedstat: &str, status: &str) -> ThreadMark {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    ThreadMark {
        cpu_ns: schedstat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        voluntary: field("voluntary_ctxt_switches:"),
        involuntary: field("nonvoluntary_ctxt_switches:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counters_come_from_schedstat_and_status() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        let mark = parse_thread("123456 789 10\n", status);
        assert_eq!(
            mark,
            ThreadMark {
                cpu_ns: 123_456,
                voluntary: 12,
                involuntary: 3
            }
        );
    }

    #[test]
    fn a_delta_counts_new_threads_from_zero_and_flags_exited_ones() {
        let thread = |cpu_ns, voluntary| ThreadMark {
            cpu_ns,
            voluntary,
            involuntary: 0,
        };
        let first = ProcMark {
            threads: HashMap::from([(1, thread(100, 5)), (2, thread(50, 1))]),
            ticks: 7,
        };
        let second = ProcMark {
            threads: HashMap::from([(1, thread(400, 9)), (3, thread(20, 2))]),
            ticks: 10,
        };
        let delta = first.delta(&second);
        assert_eq!(delta.cpu_ns, 320);
        assert_eq!(delta.voluntary, 6);
        assert_eq!(delta.ticks, 3);
        assert_eq!(delta.threads_exited, 1);
    }

    #[test]
    fn this_process_can_be_marked() {
        let mark = ProcMark::take(std::process::id()).unwrap();
        assert!(!mark.threads.is_empty());
    }
}
