//! Consistent hash on the caller's key (rpcx `ConsistentHash`): jump consistent hash
//! (Lamping & Veach) over a slot table, with rpcx's "double jump" for holes.
//!
//! Slots keep servers in the order they were first seen; the first list fills them in key
//! order, so clients that saw the same list history place keys the same way (rpcx-go's
//! placement depends on Go map order and cannot be reproduced, PROTOCOL.md §13.20). A removed
//! server leaves a hole that the next new server fills. A key whose slot is a hole, or whose
//! server is excluded for this call, jumps again over the allowed servers only; so removing or
//! excluding one server moves only the keys it owned, and adding one moves about 1/n of them.

use super::{Instance, Pick, Select};

/// FNV-1a 64 of `bytes`, the hash rpcx-go uses for consistent-hash keys.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Jump consistent hash: a bucket in `0..buckets` for `key` (`buckets > 0`).
fn jump(mut key: u64, buckets: usize) -> usize {
    let (mut bucket, mut next) = (0u64, 0u64);
    while next < buckets as u64 {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as u64;
    }
    bucket as usize
}

/// splitmix64's finaliser: a second, independent hash of the key for the fallback jump.
fn rehash(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Jump hash over a slot table that remembers first-seen order.
#[derive(Debug, Clone, Default)]
pub struct ConsistentHash {
    slots: Vec<Option<String>>,
}

impl ConsistentHash {
    fn index_of(instances: &[Instance], key: &str) -> Option<usize> {
        instances.binary_search_by(|i| i.key().cmp(key)).ok()
    }
}

impl Select for ConsistentHash {
    fn select(&mut self, pick: &Pick<'_>, _rng: &mut fastrand::Rng) -> Option<usize> {
        if self.slots.is_empty() {
            self.update(pick.instances);
        }
        if !self.slots.is_empty() {
            let slot = &self.slots[jump(pick.key, self.slots.len())];
            let owner = slot
                .as_deref()
                .and_then(|key| Self::index_of(pick.instances, key));
            if let Some(index) = owner.filter(|&i| pick.allowed(i)) {
                return Some(index);
            }
        }
        let allowed: Vec<usize> = pick.allowed_indices().collect();
        if allowed.is_empty() {
            return None;
        }
        Some(allowed[jump(rehash(pick.key), allowed.len())])
    }

    fn update(&mut self, instances: &[Instance]) {
        for slot in &mut self.slots {
            if slot
                .as_deref()
                .is_some_and(|key| Self::index_of(instances, key).is_none())
            {
                *slot = None;
            }
        }
        for instance in instances {
            if self
                .slots
                .iter()
                .any(|s| s.as_deref() == Some(instance.key()))
            {
                continue;
            }
            match self.slots.iter_mut().find(|s| s.is_none()) {
                Some(hole) => *hole = Some(instance.key().to_owned()),
                None => self.slots.push(Some(instance.key().to_owned())),
            }
        }
        if self.slots.iter().all(Option::is_none) {
            self.slots.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::{count_picks, instances};

    fn placement(select: &mut ConsistentHash, list: &[Instance], keys: u64) -> Vec<String> {
        let excluded = vec![false; list.len()];
        let mut rng = fastrand::Rng::with_seed(0);
        select.update(list);
        (0..keys)
            .map(|k| {
                let pick = Pick {
                    instances: list,
                    excluded: &excluded,
                    key: fnv1a_64(&k.to_be_bytes()),
                };
                list[select.select(&pick, &mut rng).unwrap()]
                    .key()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn keys_spread_evenly_within_ten_percent() {
        let list = instances(&["", "", ""]);
        let n = 30_000;
        let counts = count_picks(&mut ConsistentHash::default(), &list, n, |i| {
            fnv1a_64(&i.to_be_bytes())
        });
        for count in counts {
            assert!((count as f64 - 10_000.0).abs() < 1_000.0, "{count}");
        }
    }

    #[test]
    fn same_key_same_server_and_same_in_another_client() {
        let list = instances(&["", "", ""]);
        let first = placement(&mut ConsistentHash::default(), &list, 1_000);
        let again = placement(&mut ConsistentHash::default(), &list, 1_000);
        assert_eq!(first, again);
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let list = instances(&["", "", "", ""]);
        let mut select = ConsistentHash::default();
        let before = placement(&mut select, &list, 4_000);
        let removed = list[1].key().to_owned();
        let shorter: Vec<_> = list
            .iter()
            .filter(|i| i.key() != removed)
            .cloned()
            .collect();
        let after = placement(&mut select, &shorter, 4_000);
        for (b, a) in before.iter().zip(&after) {
            if *b != removed {
                assert_eq!(a, b);
            }
        }
        // The server coming back takes its old keys again (it fills its old hole).
        let back = placement(&mut select, &list, 4_000);
        assert_eq!(back, before);
    }

    #[test]
    fn adding_a_server_moves_about_one_nth() {
        let list = instances(&["", "", ""]);
        let mut select = ConsistentHash::default();
        let before = placement(&mut select, &list, 9_000);
        let more = instances(&["", "", "", ""]);
        let after = placement(&mut select, &more, 9_000);
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert!((1_800..=2_700).contains(&moved), "moved {moved} of 9000");
        assert!(before
            .iter()
            .zip(&after)
            .all(|(b, a)| b == a || a == more[3].key()));
    }

    #[test]
    fn excluded_owner_falls_back_deterministically() {
        let list = instances(&["", "", ""]);
        let mut select = ConsistentHash::default();
        let mut rng = fastrand::Rng::with_seed(0);
        select.update(&list);
        let key = (0..).map(|k: u64| fnv1a_64(&k.to_be_bytes())).find(|&k| {
            let pick = Pick {
                instances: &list,
                excluded: &[false; 3],
                key: k,
            };
            select.select(&pick, &mut rng) == Some(0)
        });
        let key = key.unwrap();
        let excluded = [true, false, false];
        let pick = Pick {
            instances: &list,
            excluded: &excluded,
            key,
        };
        let fallback = select.select(&pick, &mut rng).unwrap();
        assert_ne!(fallback, 0);
        assert_eq!(select.select(&pick, &mut rng), Some(fallback));
    }
}
