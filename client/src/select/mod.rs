//! Select modes: which server the next call goes to.
//!
//! A selector sees the current, already filtered server list ([`Instance`]s sorted by key),
//! which of them this call must not use (already failed during this call, or behind an open
//! breaker), the call's hash key, and a seeded RNG; it returns an index into the list. It does
//! no IO and reads no clock, so a test drives it with a fixed seed and counts picks.
//!
//! Read [`Select`] first, then [`SelectMode`] for the modes and their rpcx-go names
//! (PROTOCOL.md §11.2). Modes that keep state between picks (round robin's counter, smooth
//! weighted round robin's current weights, consistent hash's slot layout, measured
//! latencies) key it by server key, so a list update or an excluded server does not
//! shuffle it.

mod closest;
mod consistent_hash;
mod lowest_latency;
mod network_quality;
mod random;
mod round_robin;
mod weighted_round_robin;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use closest::{Closest, GeoPoint, EARTH_RADIUS_M};
pub use consistent_hash::{fnv1a_64, ConsistentHash};
pub use lowest_latency::LowestLatency;
pub use network_quality::{weight_of_rtt, NetworkQuality};
pub use random::Random;
pub use round_robin::RoundRobin;
pub use weighted_round_robin::WeightedRoundRobin;

/// One server as discovery reports it: its registry key and its metadata query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    key: String,
    metadata: String,
    weight: u32,
    groups: Vec<String>,
    inactive: bool,
}

impl Instance {
    /// `key` is `network@address` (no `@` means `tcp`), `metadata` the registry value, e.g.
    /// `weight=10&group=test` (PROTOCOL.md §10.6). A metadata string that is not a valid
    /// query string keeps its defaults: weight 1, no group, active.
    pub fn new(key: impl Into<String>, metadata: impl Into<String>) -> Self {
        let key = key.into();
        let metadata = metadata.into();
        let mut weight = 1;
        let mut groups = Vec::new();
        let mut inactive = false;
        for (name, value) in form_urlencoded::parse(metadata.as_bytes()) {
            match &*name {
                "weight" => weight = value.trim().parse().unwrap_or(1),
                "group" => groups.push(value.into_owned()),
                "state" => inactive = value == "inactive",
                _ => {}
            }
        }
        Self {
            key,
            metadata,
            weight,
            groups,
            inactive,
        }
    }

    /// The registry key, `network@address`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The network part of the key (`tcp` when the key has no `@`).
    pub fn network(&self) -> &str {
        self.key
            .split_once('@')
            .map_or("tcp", |(network, _)| network)
    }

    /// The address part of the key, what a client dials.
    pub fn address(&self) -> &str {
        self.key
            .split_once('@')
            .map_or(&self.key, |(_, address)| address)
    }

    /// The metadata string exactly as registered.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// Metadata `weight`; 1 when absent or unparsable.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Whether metadata lists `group=<group>`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Whether metadata says `state=inactive`.
    pub fn is_inactive(&self) -> bool {
        self.inactive
    }
}

/// What one pick sees.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Pick<'a> {
    /// The usable servers, sorted by key.
    pub instances: &'a [Instance],
    /// Same length as `instances`; `true` means "do not pick this one for this call".
    pub excluded: &'a [bool],
    /// The call's hash key (consistent hash); see [`fnv1a_64`].
    pub key: u64,
}

impl Pick<'_> {
    /// Whether instance `index` may be picked.
    pub fn allowed(&self, index: usize) -> bool {
        index < self.instances.len() && !self.excluded.get(index).copied().unwrap_or(false)
    }

    /// Indices that may be picked, in list order.
    pub fn allowed_indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.instances.len()).filter(|&i| self.allowed(i))
    }
}

/// A select mode. `select` returns an index of `pick.instances` for which
/// `pick.allowed(index)` holds, or `None` when no server may be picked.
pub trait Select {
    /// Picks a server.
    fn select(&mut self, pick: &Pick<'_>, rng: &mut fastrand::Rng) -> Option<usize>;

    /// Told when discovery delivers a new list (sorted by key).
    fn update(&mut self, _instances: &[Instance]) {}

    /// Told how a call to `server_key` went: its latency, and whether the server answered
    /// (a service error is an answer; a transport error or timeout is not).
    fn observe(&mut self, _server_key: &str, _latency: Duration, _answered: bool) {}
}

/// The select modes, with the number and name rpcx-go gives the same algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SelectMode {
    /// Uniform random (rpcx `RandomSelect`, 0).
    #[default]
    Random,
    /// Counter modulo list length (rpcx `RoundRobin`, 1).
    RoundRobin,
    /// Smooth weighted round robin on metadata `weight` (rpcx `WeightedRoundRobin`, 2).
    WeightedRoundRobin,
    /// Jump consistent hash of the caller's key (rpcx `ConsistentHash`, 4).
    ConsistentHash,
    /// Lowest measured latency (no rpcx equivalent; rpcx's `WeightedICMP`, 3, pings instead).
    LowestLatency,
    /// Smooth weighted round robin on weights from measured call round-trip times, with
    /// rpcx-go's RTT → weight table (rpcx `WeightedICMP`, 3, which pings with ICMP instead).
    NetworkQuality,
    /// The server nearest to the client's position, from metadata `latitude` and
    /// `longitude` (rpcx `Closest`, 5); the position is `XClientOptions::position`.
    Closest,
}

impl SelectMode {
    /// A fresh selector for this mode ([`Closest`] at latitude 0, longitude 0, rpcx-go's
    /// default; see [`Self::selector_at`]).
    pub fn selector(self) -> Box<dyn Select + Send> {
        self.selector_at(GeoPoint::default())
    }

    /// A fresh selector for this mode, for a client at `position` (only [`Closest`] reads
    /// it).
    pub fn selector_at(self, position: GeoPoint) -> Box<dyn Select + Send> {
        match self {
            Self::Random => Box::new(Random),
            Self::RoundRobin => Box::new(RoundRobin::default()),
            Self::WeightedRoundRobin => Box::new(WeightedRoundRobin::default()),
            Self::ConsistentHash => Box::new(ConsistentHash::default()),
            Self::LowestLatency => Box::new(LowestLatency::default()),
            Self::NetworkQuality => Box::new(NetworkQuality::default()),
            Self::Closest => Box::new(Closest::new(position)),
        }
    }

    /// The name [`FromStr`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::RoundRobin => "round_robin",
            Self::WeightedRoundRobin => "weighted_round_robin",
            Self::ConsistentHash => "consistent_hash",
            Self::LowestLatency => "lowest_latency",
            Self::NetworkQuality => "network_quality",
            Self::Closest => "closest",
        }
    }
}

impl fmt::Display for SelectMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown select or fail mode name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} mode {name:?}, expected one of: {expected}")]
#[non_exhaustive]
pub struct UnknownMode {
    /// `select` or `fail`.
    pub kind: &'static str,
    /// What was given.
    pub name: String,
    /// The accepted names.
    pub expected: &'static str,
}

impl FromStr for SelectMode {
    type Err = UnknownMode;

    /// Accepts the snake_case names, kebab-case, and rpcx-go's names in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normal = s.to_ascii_lowercase().replace(['-', '_'], "");
        Ok(match normal.as_str() {
            "random" | "randomselect" => Self::Random,
            "roundrobin" => Self::RoundRobin,
            "weightedroundrobin" | "weighted" => Self::WeightedRoundRobin,
            "consistenthash" | "hash" => Self::ConsistentHash,
            "lowestlatency" | "latency" => Self::LowestLatency,
            "networkquality" | "weightedicmp" => Self::NetworkQuality,
            "closest" | "geo" => Self::Closest,
            _ => {
                return Err(UnknownMode {
                    kind: "select",
                    name: s.to_owned(),
                    expected: "random, round_robin, weighted_round_robin, consistent_hash, \
                               lowest_latency, network_quality, closest",
                })
            }
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Instances `tcp@10.0.0.<i>:8972` with the given metadata, sorted by key.
    pub(crate) fn instances(metadata: &[&str]) -> Vec<Instance> {
        let mut list: Vec<_> = metadata
            .iter()
            .enumerate()
            .map(|(i, m)| Instance::new(format!("tcp@10.0.0.{i}:8972"), *m))
            .collect();
        list.sort_by(|a, b| a.key().cmp(b.key()));
        list
    }

    /// Runs `n` picks with nothing excluded and counts them per index.
    pub(crate) fn count_picks(
        select: &mut dyn Select,
        list: &[Instance],
        n: usize,
        key: impl Fn(usize) -> u64,
    ) -> Vec<usize> {
        let excluded = vec![false; list.len()];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = vec![0; list.len()];
        select.update(list);
        for i in 0..n {
            let pick = Pick {
                instances: list,
                excluded: &excluded,
                key: key(i),
            };
            let chosen = select.select(&pick, &mut rng).expect("a server");
            counts[chosen] += 1;
        }
        counts
    }

    #[test]
    fn metadata_is_parsed_like_rpcx() {
        let i = Instance::new(
            "tcp@127.0.0.1:8972",
            "weight=10&group=a&group=b%20c&state=inactive",
        );
        assert_eq!(i.weight(), 10);
        assert!(i.in_group("a") && i.in_group("b c") && !i.in_group("c"));
        assert!(i.is_inactive());
        assert_eq!(i.network(), "tcp");
        assert_eq!(i.address(), "127.0.0.1:8972");

        let plain = Instance::new("127.0.0.1:1", "weight=x&state=active");
        assert_eq!((plain.weight(), plain.is_inactive()), (1, false));
        assert_eq!((plain.network(), plain.address()), ("tcp", "127.0.0.1:1"));
    }

    #[test]
    fn modes_parse_from_their_names_and_rpcx_names() {
        for mode in [
            SelectMode::Random,
            SelectMode::RoundRobin,
            SelectMode::WeightedRoundRobin,
            SelectMode::ConsistentHash,
            SelectMode::LowestLatency,
            SelectMode::NetworkQuality,
            SelectMode::Closest,
        ] {
            assert_eq!(mode.name().parse::<SelectMode>(), Ok(mode));
        }
        assert_eq!("RandomSelect".parse::<SelectMode>(), Ok(SelectMode::Random));
        assert_eq!(
            "round-robin".parse::<SelectMode>(),
            Ok(SelectMode::RoundRobin)
        );
        assert_eq!(
            "WeightedICMP".parse::<SelectMode>(),
            Ok(SelectMode::NetworkQuality)
        );
        assert_eq!("Closest".parse::<SelectMode>(), Ok(SelectMode::Closest));
        assert!("nearest".parse::<SelectMode>().is_err());
    }

    #[test]
    fn every_mode_respects_exclusion_and_empty_lists() {
        let located = "latitude=1&longitude=2";
        let list = instances(&[located, located, located]);
        let excluded = [true, false, true];
        let mut rng = fastrand::Rng::with_seed(1);
        let modes = [
            "random",
            "round_robin",
            "weighted",
            "hash",
            "latency",
            "network_quality",
            "closest",
        ];
        for mode in modes {
            let mut select = mode.parse::<SelectMode>().unwrap().selector();
            select.update(&list);
            for key in 0..50 {
                let pick = Pick {
                    instances: &list,
                    excluded: &excluded,
                    key,
                };
                assert_eq!(select.select(&pick, &mut rng), Some(1), "{mode}");
            }
            let none = Pick {
                instances: &list,
                excluded: &[true; 3],
                key: 0,
            };
            assert_eq!(select.select(&none, &mut rng), None, "{mode}");
            let empty = Pick {
                instances: &[],
                excluded: &[],
                key: 0,
            };
            assert_eq!(select.select(&empty, &mut rng), None, "{mode}");
        }
    }
}
