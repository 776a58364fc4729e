//! Closest server by geography (rpcx `Closest`, 5): the allowed server nearest to the
//! client's own position, by great-circle distance.
//!
//! As rpcx-go's `geoSelector` (client/selector.go, geo_utils.go): a server's position is
//! its metadata `latitude` and `longitude` (decimal degrees; the first value of each), a
//! server without both, or with one that does not parse as a number, is never picked, the
//! distance is the haversine formula on a sphere of radius 6 378 100 m, and servers at
//! exactly the same shortest distance share the calls at random. When no allowed server
//! has a position there is no pick (rpcx-go then has no server either).

use std::collections::HashMap;

use super::{Instance, Pick, Select};

/// The earth radius rpcx-go's distance uses, in metres.
pub const EARTH_RADIUS_M: f64 = 6_378_100.0;

/// A position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GeoPoint {
    /// Degrees north (negative: south).
    pub latitude: f64,
    /// Degrees east (negative: west).
    pub longitude: f64,
}

impl GeoPoint {
    /// A position at `latitude`, `longitude` (decimal degrees).
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
        }
    }

    /// The position a server's metadata gives (`latitude=..&longitude=..`), as rpcx-go
    /// reads it; `None` when either is missing or is not a number.
    pub fn from_metadata(metadata: &str) -> Option<Self> {
        let mut latitude = None;
        let mut longitude = None;
        for (name, value) in form_urlencoded::parse(metadata.as_bytes()) {
            // Go's `url.Values.Get` returns the first value of a name.
            match &*name {
                "latitude" if latitude.is_none() => latitude = Some(value),
                "longitude" if longitude.is_none() => longitude = Some(value),
                _ => {}
            }
        }
        Some(Self::new(latitude?.parse().ok()?, longitude?.parse().ok()?))
    }

    /// Great-circle distance to `other` in metres (haversine, as rpcx-go's
    /// `getDistanceFrom`).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let (la1, lo1) = (self.latitude.to_radians(), self.longitude.to_radians());
        let (la2, lo2) = (other.latitude.to_radians(), other.longitude.to_radians());
        let hsin = |theta: f64| (theta / 2.0).sin().powi(2);
        let h = hsin(la2 - la1) + la1.cos() * la2.cos() * hsin(lo2 - lo1);
        2.0 * EARTH_RADIUS_M * h.sqrt().asin()
    }
}

/// Picks the allowed server nearest to the client's position.
#[derive(Debug, Clone, Default)]
pub struct Closest {
    position: GeoPoint,
    /// Server positions by key, parsed once per list update.
    servers: HashMap<String, GeoPoint>,
}

impl Closest {
    /// A selector for a client at `position`.
    pub fn new(position: GeoPoint) -> Self {
        Self {
            position,
            servers: HashMap::new(),
        }
    }
}

impl Select for Closest {
    fn select(&mut self, pick: &Pick<'_>, rng: &mut fastrand::Rng) -> Option<usize> {
        let mut nearest: Vec<usize> = Vec::new();
        let mut shortest = f64::MAX;
        for i in pick.allowed_indices() {
            let Some(at) = self.servers.get(pick.instances[i].key()) else {
                continue;
            };
            let distance = self.position.distance_m(at);
            if distance < shortest {
                shortest = distance;
                nearest.clear();
                nearest.push(i);
            } else if distance == shortest {
                nearest.push(i);
            }
        }
        match nearest.len() {
            0 => None,
            1 => nearest.first().copied(),
            n => nearest.get(rng.usize(..n)).copied(),
        }
    }

    fn update(&mut self, instances: &[Instance]) {
        self.servers = instances
            .iter()
            .filter_map(|i| Some((i.key().to_owned(), GeoPoint::from_metadata(i.metadata())?)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::tests::{count_picks, instances};

    const BEIJING: &str = "latitude=39.9042&longitude=116.4074";
    const SHANGHAI: &str = "latitude=31.2304&longitude=121.4737";
    const NEW_YORK: &str = "latitude=40.7128&longitude=-74.0060";

    #[test]
    fn distance_matches_the_haversine_rule() {
        let beijing = GeoPoint::from_metadata(BEIJING).unwrap();
        let shanghai = GeoPoint::from_metadata(SHANGHAI).unwrap();
        // 1 068 km with rpcx-go's radius (1 067 km with the mean radius 6 371 km).
        let d = beijing.distance_m(&shanghai);
        assert!((d - 1_068_000.0).abs() < 2_000.0, "{d}");
        assert_eq!(beijing.distance_m(&beijing), 0.0);
        // A quarter of the equator.
        let quarter = GeoPoint::new(0.0, 0.0).distance_m(&GeoPoint::new(0.0, 90.0));
        assert!((quarter - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
    }

    #[test]
    fn metadata_positions_are_read_like_rpcx() {
        let p = GeoPoint::from_metadata("weight=2&latitude=1.5&longitude=-2&latitude=9").unwrap();
        assert_eq!(p, GeoPoint::new(1.5, -2.0));
        assert_eq!(GeoPoint::from_metadata("latitude=1"), None);
        assert_eq!(GeoPoint::from_metadata("latitude=x&longitude=1"), None);
        assert_eq!(GeoPoint::from_metadata(""), None);
    }

    #[test]
    fn the_nearest_server_gets_every_call() {
        let list = instances(&[NEW_YORK, BEIJING, SHANGHAI]);
        // A client in Hangzhou: Shanghai is nearest.
        let mut select = Closest::new(GeoPoint::new(30.27, 120.15));
        assert_eq!(count_picks(&mut select, &list, 100, |_| 0), [0, 0, 100]);
        // A client in Boston: New York.
        let mut select = Closest::new(GeoPoint::new(42.36, -71.06));
        assert_eq!(count_picks(&mut select, &list, 100, |_| 0), [100, 0, 0]);
    }

    #[test]
    fn servers_without_a_position_are_never_picked() {
        let list = instances(&["weight=5", BEIJING, "latitude=1"]);
        let mut select = Closest::new(GeoPoint::new(0.0, 0.0));
        assert_eq!(count_picks(&mut select, &list, 50, |_| 0), [0, 50, 0]);
        let none = instances(&["", "weight=1"]);
        let mut select = Closest::new(GeoPoint::default());
        select.update(&none);
        let pick = Pick {
            instances: &none,
            excluded: &[false, false],
            key: 0,
        };
        assert_eq!(select.select(&pick, &mut fastrand::Rng::with_seed(1)), None);
    }

    #[test]
    fn equally_near_servers_share_calls_at_random() {
        let list = instances(&[BEIJING, SHANGHAI, BEIJING, NEW_YORK]);
        let mut select = Closest::new(GeoPoint::new(39.9, 116.4));
        let counts = count_picks(&mut select, &list, 10_000, |_| 0);
        assert_eq!(counts[1] + counts[3], 0, "{counts:?}");
        for count in [counts[0], counts[2]] {
            assert!((4_700..=5_300).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn an_excluded_nearest_server_falls_back_to_the_next() {
        let list = instances(&[BEIJING, SHANGHAI]);
        let mut select = Closest::new(GeoPoint::new(39.9, 116.4));
        select.update(&list);
        let pick = Pick {
            instances: &list,
            excluded: &[true, false],
            key: 0,
        };
        let mut rng = fastrand::Rng::with_seed(2);
        assert_eq!(select.select(&pick, &mut rng), Some(1));
    }
}
