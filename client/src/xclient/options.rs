//! The settings of an XClient, with rpcx-go's defaults where it has one.

use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::fail::FailPolicy;
use crate::select::{GeoPoint, SelectMode};
use crate::SerializeType;

/// Settings of an XClient. Defaults follow rpcx-go's where it has one. Built with
/// [`XClientOptions::new`] and its setters, or by changing the fields of the default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct XClientOptions {
    /// How a server is picked per call. Random, as rpcx-go's examples.
    pub select: SelectMode,
    /// What a failed attempt leads to. Failover with 3 retries, as rpcx-go.
    pub fail: FailPolicy,
    /// Per-server circuit breaker; `None` (off), as rpcx-go.
    pub breaker: Option<BreakerConfig>,
    /// Deadline of calls whose options set none; covers all attempts. `None`: no deadline.
    pub timeout: Option<Duration>,
    /// Longest one attempt may take (its dial, if one is needed, and its call). An attempt
    /// still unanswered then fails with the retryable [`XError::AttemptTimeout`]: the
    /// breaker counts it as a failure, the connection leaves the cache, a dial cut short
    /// counts as a failed dial (back-off), and the fail mode retries within the call's
    /// deadline (Failover on another server). `None` (default, as rpcx-go): an attempt
    /// runs until the call's deadline. Only for idempotent calls: the server may still
    /// run a request whose attempt timed out.
    ///
    /// [`XError::AttemptTimeout`]: super::XError::AttemptTimeout
    pub attempt_timeout: Option<Duration>,
    /// Serialize type of typed calls whose options and argument name none. MsgPack, as
    /// rpcx-go.
    pub serialize_type: SerializeType,
    /// Seed of the selection RNG (and of the dial back-off jitter); `None` seeds from the
    /// OS.
    pub seed: Option<u64>,
    /// This client's position, for [`SelectMode::Closest`]. Latitude 0, longitude 0, as
    /// rpcx-go's until `ConfigGeoSelector` is called.
    pub position: GeoPoint,
    /// Back-off after the first failed dial to a server: no call dials it again for a
    /// random delay in `[min/2, min]`; each further failure in a row doubles it. 100 ms;
    /// zero turns the back-off off (every attempt may dial).
    pub dial_backoff_min: Duration,
    /// Longest dial back-off (the jittered delay never exceeds it). 5 s.
    pub dial_backoff_max: Duration,
}

impl Default for XClientOptions {
    fn default() -> Self {
        Self {
            select: SelectMode::Random,
            fail: FailPolicy::default(),
            breaker: None,
            timeout: None,
            attempt_timeout: None,
            serialize_type: SerializeType::MsgPack,
            seed: None,
            position: GeoPoint::default(),
            dial_backoff_min: Duration::from_millis(100),
            dial_backoff_max: Duration::from_secs(5),
        }
    }
}

impl XClientOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`select`](Self::select).
    pub fn select(mut self, select: SelectMode) -> Self {
        self.select = select;
        self
    }

    /// Sets [`fail`](Self::fail).
    pub fn fail(mut self, fail: FailPolicy) -> Self {
        self.fail = fail;
        self
    }

    /// Turns the per-server breaker on with `breaker`.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Sets the default deadline of a call, retries included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`attempt_timeout`](Self::attempt_timeout): the longest one attempt may take
    /// before the fail mode retries the call.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Sets [`serialize_type`](Self::serialize_type).
    pub fn serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = serialize_type;
        self
    }

    /// Sets [`position`](Self::position) (rpcx-go's `ConfigGeoSelector`).
    pub fn position(mut self, latitude: f64, longitude: f64) -> Self {
        self.position = GeoPoint::new(latitude, longitude);
        self
    }

    /// Sets the dial back-off: `min` after the first failed dial, doubling up to `max`.
    pub fn dial_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.dial_backoff_min = min;
        self.dial_backoff_max = max;
        self
    }

    /// Seeds the selection RNG (reproducible picks).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}
