//! CPU accounting from /proc: a process's utime+stime, each CPU's steal time, and the
//! calling process's own CPU time. Times are in clock ticks (USER_HZ, 100 on Linux).

use std::fs;

/// USER_HZ: the unit of the times in `/proc/<pid>/stat` and /proc/stat.
pub const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// utime+stime of a process, all its threads (exited ones included), from
/// `/proc/<pid>/stat`; `None` if the process is gone.
pub fn process_ticks(pid: u32) -> Option<u64> {
    parse_stat_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process's utime+stime.
pub fn self_ticks() -> Option<u64> {
    parse_stat_ticks(&fs::read_to_string("/proc/self/stat").ok()?)
}

fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces or parentheses: fields resume after the last ')'.
    // There, field 3 (state) comes first, so utime (14) and stime (15) are at 11 and 12.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Where each CPU's time went, from /proc/stat, in ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system: time spent running tasks, ours or anyone's.
    pub busy: i64,
    /// Time the hypervisor gave to someone else.
    pub steal: i64,
}

/// The times of each CPU (`cpu0`, `cpu1`, ...).
pub fn cpu_times() -> Vec<CpuTimes> {
    fs::read_to_string("/proc/stat")
        .map(|s| parse_cpu_times(&s))
        .unwrap_or_default()
}

fn parse_cpu_times(stat: &str) -> Vec<CpuTimes> {
    stat.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .filter_map(|l| {
            let v: Vec<i64> = l
                .split_whitespace()
                .skip(1)
                .map_while(|f| f.parse().ok())
                .collect();
            Some(CpuTimes {
                busy: v.first()? + v.get(1)? + v.get(2)?,
                steal: *v.get(7)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_skip_a_command_with_spaces_and_parens() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 7";
        assert_eq!(parse_stat_ticks(stat), Some(281));
    }

    #[test]
    fn cpu_lines_give_busy_and_steal() {
        let stat = "cpu  1 2 3 4 5 6 7 99 0 0\ncpu0 1 2 3 4 5 6 7 13 0 0\ncpu1 10 0 5 4 5 6 7 11 0 0\nintr 5";
        let busy_steal = |t: CpuTimes| (t.busy, t.steal);
        let times: Vec<_> = parse_cpu_times(stat).into_iter().map(busy_steal).collect();
        assert_eq!(times, vec![(6, 13), (15, 11)]);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(self_ticks().is_some());
        assert!(process_ticks(std::process::id()).is_some());
    }
}
