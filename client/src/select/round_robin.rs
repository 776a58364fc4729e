//! Round robin (rpcx `RoundRobin`): a counter modulo the list length.
//!
//! Unlike rpcx-go, whose list order comes from a Go map and changes on each update, the list
//! is sorted by key, so the rotation order is the same in every client. An excluded server is
//! skipped and the next allowed one takes its turn.

use super::{Pick, Select};

/// Counter modulo list length, kept across list updates.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Select for RoundRobin {
    fn select(&mut self, pick: &Pick<'_>, _rng: &mut fastrand::Rng) -> Option<usize> {
        let len = pick.instances.len();
        let start = self.next;
        let chosen = (0..len)
            .map(|step| (start + step) % len)
            .find(|&i| pick.allowed(i))?;
        self.next = start.wrapping_add(1);
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::{count_picks, instances};

    #[test]
    fn picks_rotate_exactly() {
        let list = instances(&["", "", ""]);
        let counts = count_picks(&mut RoundRobin::default(), &list, 3_000, |_| 0);
        assert_eq!(counts, vec![1_000, 1_000, 1_000]);
    }

    #[test]
    fn sequence_is_in_key_order() {
        let list = instances(&["", "", ""]);
        let mut select = RoundRobin::default();
        let mut rng = fastrand::Rng::with_seed(0);
        let excluded = [false; 3];
        let pick = Pick {
            instances: &list,
            excluded: &excluded,
            key: 0,
        };
        let seq: Vec<_> = (0..6)
            .map(|_| select.select(&pick, &mut rng).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
    }
}
