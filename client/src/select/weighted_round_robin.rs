//! Smooth weighted round robin (rpcx `WeightedRoundRobin`, nginx's algorithm).
//!
//! Each pick adds every allowed server's weight to its current weight, picks the largest, and
//! subtracts the total weight of the allowed servers from the winner. Over Σweights picks each
//! server is chosen exactly `weight` times, spread out rather than in runs. Current weights
//! are kept per server key, so a list update keeps the phase of the servers that stay;
//! rpcx-go rebuilds its ring from scratch instead. Weight 0 means "never, unless nothing else".

use std::collections::HashMap;

use super::{Instance, Pick, Select};

/// Smooth weighted round robin over metadata `weight`.
#[derive(Debug, Clone, Default)]
pub struct WeightedRoundRobin {
    current: HashMap<String, i64>,
}

impl Select for WeightedRoundRobin {
    fn select(&mut self, pick: &Pick<'_>, _rng: &mut fastrand::Rng) -> Option<usize> {
        smooth_pick(&mut self.current, pick, |i| pick.instances[i].weight())
    }

    fn update(&mut self, instances: &[Instance]) {
        self.current
            .retain(|key, _| instances.iter().any(|i| i.key() == key));
    }
}

/// One smooth weighted round robin pick over the allowed servers of `pick`, with the
/// current weights in `current` (by server key) and each server's weight from `weight`
/// (by index). Weight 0 is used only when every allowed server has weight 0.
pub(super) fn smooth_pick(
    current: &mut HashMap<String, i64>,
    pick: &Pick<'_>,
    weight: impl Fn(usize) -> u32,
) -> Option<usize> {
    let weighted = pick.allowed_indices().any(|i| weight(i) > 0);
    let weight = |i: usize| match weight(i) {
        0 if !weighted => 1,
        w => i64::from(w),
    };
    let mut total = 0;
    let mut best: Option<(usize, i64)> = None;
    for i in pick.allowed_indices() {
        let w = weight(i);
        total += w;
        let value = current
            .entry(pick.instances[i].key().to_owned())
            .or_insert(0);
        *value += w;
        if best.is_none_or(|(_, max)| *value > max) {
            best = Some((i, *value));
        }
    }
    let (chosen, _) = best?;
    if let Some(value) = current.get_mut(pick.instances[chosen].key()) {
        *value -= total;
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::{count_picks, instances};

    #[test]
    fn weights_are_respected_exactly_per_cycle() {
        let list = instances(&["weight=5", "weight=1", "weight=1"]);
        let counts = count_picks(&mut WeightedRoundRobin::default(), &list, 7 * 100, |_| 0);
        assert_eq!(counts, vec![500, 100, 100]);
    }

    #[test]
    fn sequence_is_smooth_like_nginx() {
        // nginx's documented sequence for weights a=5, b=1, c=1: a a b a c a a.
        let list = instances(&["weight=5", "weight=1", "weight=1"]);
        let mut select = WeightedRoundRobin::default();
        let mut rng = fastrand::Rng::with_seed(0);
        let excluded = [false; 3];
        let pick = Pick {
            instances: &list,
            excluded: &excluded,
            key: 0,
        };
        let seq: Vec<_> = (0..7)
            .map(|_| select.select(&pick, &mut rng).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn zero_weight_is_used_only_when_alone() {
        let list = instances(&["weight=0", "weight=2"]);
        assert_eq!(
            count_picks(&mut WeightedRoundRobin::default(), &list, 10, |_| 0),
            [0, 10]
        );
        let alone = instances(&["weight=0"]);
        assert_eq!(
            count_picks(&mut WeightedRoundRobin::default(), &alone, 3, |_| 0),
            [3]
        );
    }
}
