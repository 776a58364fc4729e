//! Uniform random choice among the allowed servers (rpcx `RandomSelect`).

use super::{Pick, Select};

/// Picks uniformly among the allowed servers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Random;

impl Select for Random {
    fn select(&mut self, pick: &Pick<'_>, rng: &mut fastrand::Rng) -> Option<usize> {
        let allowed = pick.allowed_indices().count();
        if allowed == 0 {
            return None;
        }
        pick.allowed_indices().nth(rng.usize(..allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::{count_picks, instances};

    #[test]
    fn picks_are_uniform_within_five_percent() {
        let list = instances(&["", "", "", ""]);
        let n = 40_000;
        let counts = count_picks(&mut Random, &list, n, |_| 0);
        for count in counts {
            let share = count as f64 / n as f64;
            assert!((share - 0.25).abs() < 0.05 * 0.25, "share {share}");
        }
    }
}
