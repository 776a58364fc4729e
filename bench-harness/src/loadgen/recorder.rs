//! Counting and timing of the calls in the measured window.

use hdrhistogram::Histogram;

use super::workload::Verdict;
use crate::sample::LatencyUs;

/// Lowest and highest latency the histogram tells apart: 1 µs .. 60 s, 3 digits.
const LATENCY_MIN_NS: u64 = 1_000;
const LATENCY_MAX_NS: u64 = 60_000_000_000;

#[derive(Clone)]
/// Counts calls whose send (open loop: intended send) time is in `[start, end)`, and
/// keeps the latency of the good ones.
pub struct Recorder {
    start_ns: u64,
    end_ns: u64,
    hist: Histogram<u64>,
    pub sent: u64,
    pub good: u64,
    pub bad: u64,
    pub errors: u64,
    /// Every good completion, warm-up included: what the timeline samples.
    pub completed: u64,
    pub first_error: Option<String>,
}

impl Recorder {
    pub fn new(start_ns: u64, end_ns: u64) -> Self {
        let hist = Histogram::new_with_bounds(LATENCY_MIN_NS, LATENCY_MAX_NS, 3)
            .expect("valid histogram bounds");
        Self {
            start_ns,
            end_ns,
            hist,
            sent: 0,
            good: 0,
            bad: 0,
            errors: 0,
            completed: 0,
            first_error: None,
        }
    }

    fn measured(&self, sent_ns: u64) -> bool {
        (self.start_ns..self.end_ns).contains(&sent_ns)
    }

    pub fn issued(&mut self, sent_ns: u64) {
        if self.measured(sent_ns) {
            self.sent += 1;
        }
    }

    pub fn finished(&mut self, sent_ns: u64, done_ns: u64, verdict: Verdict) {
        if verdict == Verdict::Good {
            self.completed += 1;
        }
        if !self.measured(sent_ns) {
            return;
        }
        match verdict {
            Verdict::Good => {
                self.good += 1;
                let latency = done_ns
                    .saturating_sub(sent_ns)
                    .clamp(LATENCY_MIN_NS, LATENCY_MAX_NS);
                self.hist.saturating_record(latency);
            }
            Verdict::Bad => self.bad += 1,
            Verdict::Error(text) => {
                self.errors += 1;
                self.first_error.get_or_insert(text);
            }
        }
    }

    pub fn latency(&self) -> LatencyUs {
        let us = |ns: u64| ns as f64 / 1e3;
        let h = &self.hist;
        LatencyUs {
            count: h.len(),
            mean: if h.is_empty() { 0.0 } else { h.mean() / 1e3 },
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_calls_sent_inside_the_window_count() {
        let mut r = Recorder::new(1_000_000, 2_000_000);
        r.issued(500_000);
        r.finished(500_000, 1_500_000, Verdict::Good); // warm-up
        r.issued(1_000_000);
        r.finished(1_000_000, 1_250_000, Verdict::Good);
        r.issued(1_900_000);
        r.finished(1_900_000, 9_900_000, Verdict::Good); // answered after the window: counts
        r.issued(1_950_000);
        r.finished(1_950_000, 1_960_000, Verdict::Error("boom".into()));
        assert_eq!((r.sent, r.good, r.errors, r.completed), (3, 2, 1, 3));
        assert_eq!(r.first_error.as_deref(), Some("boom"));
        let l = r.latency();
        assert_eq!(l.count, 2);
        assert!((l.p50 - 250.0).abs() < 1.0, "{l:?}");
        assert!((l.max - 8000.0).abs() < 10.0, "{l:?}");
    }
}
