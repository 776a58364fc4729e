//! The stall detector: whether the host or another process disturbed a cell's measured
//! window (steal time, foreign CPU time on the CPUs in use), or its throughput dipped far
//! under its own median for a 100 ms step. A disturbed cell is re-run (`runner.rs`).

use crate::procstat::CLOCK_TICKS_PER_SECOND;
use crate::sample::Sample;
use crate::summary::median;

/// A 100 ms step under this fraction of the reference throughput is a stall.
const DIP_FRACTION: f64 = 0.25;
/// Steps expected to hold fewer calls than this are too small to judge.
const DIP_MIN_CALLS_PER_STEP: f64 = 20.0;
/// Steal over this fraction of the window (per CPU used) marks the cell.
const STEAL_FRACTION: f64 = 0.01;
/// CPU time of other processes (not the server, not the load generator) on the CPUs in
/// use over this fraction of the window marks the cell: on a shared machine a compiler
/// running next to the benchmark is the commonest disturbance.
const FOREIGN_FRACTION: f64 = 0.03;

/// The stall detector: host steal time on the CPUs in use, or a 100 ms step whose
/// throughput fell far under the cell's own median (open loop: under the target rate).
pub fn disturbances(s: &Sample, cpus: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let window_ticks = s.window_s * CLOCK_TICKS_PER_SECOND * cpus.len() as f64;
    let steal: i64 = cpus.iter().filter_map(|&c| s.steal_ticks.get(c)).sum();
    if steal as f64 > (STEAL_FRACTION * window_ticks).max(2.0) {
        out.push(format!("host stole {} ms of CPU", steal * 10));
    }
    let busy: i64 = cpus.iter().filter_map(|&c| s.busy_ticks.get(c)).sum();
    let ours = (s.server_cpu_s.max(0.0) + s.loadgen_cpu_s.max(0.0)) * CLOCK_TICKS_PER_SECOND;
    let foreign = busy as f64 - ours;
    if !s.busy_ticks.is_empty() && foreign > (FOREIGN_FRACTION * window_ticks).max(3.0) {
        out.push(format!(
            "other processes used {:.0} ms of CPU",
            foreign * 10.0
        ));
    }
    let reference = if s.rate_target > 0.0 {
        s.rate_target
    } else {
        median(&s.timeline_rps).unwrap_or(0.0)
    };
    if reference * 0.1 >= DIP_MIN_CALLS_PER_STEP {
        if let Some((i, low)) = s
            .timeline_rps
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .filter(|(_, v)| **v < DIP_FRACTION * reference)
        {
            out.push(format!(
                "throughput fell to {:.0}% of {:.0}/s for 100 ms at +{:.1} s",
                100.0 * low / reference,
                reference,
                i as f64 * 0.1
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(timeline: Vec<f64>, steal: Vec<i64>) -> Sample {
        Sample {
            window_s: 2.0,
            timeline_rps: timeline,
            steal_ticks: steal,
            ..Sample::default()
        }
    }

    #[test]
    fn other_processes_on_the_cpus_are_marked() {
        let mut s = sample(vec![], vec![0, 0]);
        s.server_cpu_s = 1.9;
        s.loadgen_cpu_s = 1.5;
        s.busy_ticks = vec![160, 185]; // 345 ticks, 340 of them ours
        assert!(disturbances(&s, &[0, 1]).is_empty());
        s.busy_ticks = vec![200, 200];
        let marks = disturbances(&s, &[0, 1]);
        assert_eq!(marks, vec!["other processes used 600 ms of CPU".to_owned()]);
    }

    #[test]
    fn a_clean_window_is_not_marked() {
        let s = sample(vec![50_000.0, 48_000.0, 51_000.0, 30_000.0], vec![0, 1]);
        assert!(disturbances(&s, &[0, 1]).is_empty());
    }

    #[test]
    fn steal_and_dips_are_marked() {
        let s = sample(vec![50_000.0, 48_000.0, 5_000.0, 51_000.0], vec![3, 9]);
        let marks = disturbances(&s, &[0, 1]);
        assert_eq!(marks.len(), 2, "{marks:?}");
        assert!(marks[0].contains("120 ms"));
        assert!(marks[1].contains("+0.2 s"));
    }

    #[test]
    fn open_loop_dips_are_judged_against_the_target_rate() {
        let mut s = sample(vec![1_000.0, 1_000.0, 100.0], vec![0, 0]);
        s.rate_target = 1_000.0;
        assert_eq!(disturbances(&s, &[0, 1]).len(), 1);
        s.rate_target = 100.0; // ten calls per step: too few to judge
        assert!(disturbances(&s, &[0, 1]).is_empty());
    }
}
