//! [`RateLimit`] (requests) and [`ConnRateLimit`] (new connections): token buckets, one per
//! shard, on the chain's clock.
//!
//! A server-wide rate `R` over `N` shards is `R / N` per shard: shards share nothing, so
//! each bucket sees only its own shard's traffic (with SO_REUSEPORT spreading connections,
//! the sum is close to `R`).

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::{ConnInfo, Incoming, Plugin, Refusal};

/// The error text of a refused request: rpcx-go's `ErrReqReachLimit`
/// (`serverplugin/req_rate_limiting.go`).
pub const RATE_LIMIT_TEXT: &str = "request reached rate limit";

/// The metrics label of a request refused by [`RateLimit`].
const REQUEST_LIMIT: &str = "rate_limit";
/// The metrics label of a connection refused by [`ConnRateLimit`].
const CONN_LIMIT: &str = "conn_rate_limit";

/// A token bucket: `rate_per_s` tokens a second, at most `burst` saved up. Taking may go
/// into debt (a reservation) down to `-debt_max` tokens.
#[derive(Debug)]
struct Bucket {
    rate_per_s: f64,
    burst: f64,
    tokens: Cell<f64>,
    last: Cell<Option<Instant>>,
}

impl Bucket {
    fn new(rate_per_s: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate_per_s: rate_per_s.max(f64::MIN_POSITIVE),
            burst,
            tokens: Cell::new(burst),
            last: Cell::new(None),
        }
    }

    fn refill(&self, now: Instant) {
        let elapsed = self.last.get().map_or(0.0, |last| {
            now.saturating_duration_since(last).as_secs_f64()
        });
        self.last.set(Some(now.max(self.last.get().unwrap_or(now))));
        let tokens = (self.tokens.get() + elapsed * self.rate_per_s).min(self.burst);
        self.tokens.set(tokens);
    }

    /// Takes a token if one is there now.
    fn take(&self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens.get() >= 1.0 {
            self.tokens.set(self.tokens.get() - 1.0);
            return true;
        }
        false
    }

    /// Reserves a token: when it will be ours, if that is at most `wait_max` away.
    fn reserve(&self, now: Instant, wait_max: Duration) -> Option<Instant> {
        self.refill(now);
        let after = self.tokens.get() - 1.0;
        let wait = if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.rate_per_s)
        };
        if wait > wait_max {
            return None;
        }
        self.tokens.set(after);
        Some(now + wait)
    }
}

/// Limits the requests a shard starts to `rate_per_s` a second (bursts of `burst`), as
/// rpcx-go's `ReqRateLimitingPlugin`: a request over the rate gets the error reply
/// [`RATE_LIMIT_TEXT`], or, with [`RateLimit::wait_max`], waits for its token (its handler
/// starts later) unless that wait would be longer than `wait_max`.
#[derive(Debug)]
pub struct RateLimit {
    bucket: Bucket,
    wait_max: Option<Duration>,
}

impl RateLimit {
    /// `rate_per_s` requests a second on this shard, `burst` at once after a quiet time.
    pub fn new(rate_per_s: f64, burst: u32) -> Self {
        Self {
            bucket: Bucket::new(rate_per_s, burst),
            wait_max: None,
        }
    }

    /// Requests over the rate wait for their token (rpcx-go's `block` mode), at most
    /// `wait_max`: one that would wait longer is refused. Waiting requests count against
    /// the connection's in-flight limit, so a connection's memory stays bounded.
    #[must_use]
    pub fn wait_max(mut self, wait_max: Duration) -> Self {
        self.wait_max = Some(wait_max);
        self
    }
}

impl Plugin for RateLimit {
    fn before_handle<'a>(&'a self, request: &mut Incoming<'a>) -> Result<(), Refusal> {
        let now = request.now();
        match self.wait_max {
            None if self.bucket.take(now) => Ok(()),
            Some(wait_max) => match self.bucket.reserve(now, wait_max) {
                Some(at) if at > now => {
                    request.delay_until(at);
                    Ok(())
                }
                Some(_) => Ok(()),
                None => Err(Refusal::new(REQUEST_LIMIT, RATE_LIMIT_TEXT)),
            },
            None => Err(Refusal::new(REQUEST_LIMIT, RATE_LIMIT_TEXT)),
        }
    }
}

/// Limits the connections a shard accepts to `rate_per_s` a second (bursts of `burst`);
/// one over the rate is closed at once.
#[derive(Debug)]
pub struct ConnRateLimit {
    bucket: Bucket,
}

impl ConnRateLimit {
    /// `rate_per_s` new connections a second on this shard, `burst` at once.
    pub fn new(rate_per_s: f64, burst: u32) -> Self {
        Self {
            bucket: Bucket::new(rate_per_s, burst),
        }
    }
}

impl Plugin for ConnRateLimit {
    fn on_accept(&self, conn: &ConnInfo) -> Result<(), Refusal> {
        if self.bucket.take(conn.now) {
            return Ok(());
        }
        Err(Refusal::new(CONN_LIMIT, "connection rate limit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_its_rate_and_caps_at_its_burst() {
        let t0 = Instant::now();
        let bucket = Bucket::new(10.0, 2);
        assert!(bucket.take(t0) && bucket.take(t0));
        assert!(!bucket.take(t0), "burst spent");
        assert!(!bucket.take(t0 + Duration::from_millis(50)), "half a token");
        assert!(bucket.take(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(60);
        assert!(bucket.take(later) && bucket.take(later));
        assert!(!bucket.take(later), "never more than the burst saved up");
    }

    #[test]
    fn reservations_wait_in_line_up_to_their_bound() {
        let t0 = Instant::now();
        let bucket = Bucket::new(100.0, 1);
        assert_eq!(bucket.reserve(t0, Duration::from_millis(25)), Some(t0));
        let ms = |n| t0 + Duration::from_millis(n);
        let waits: Vec<_> = (0..3)
            .map(|_| bucket.reserve(t0, Duration::from_millis(25)))
            .collect();
        let rounded: Vec<_> = waits
            .iter()
            .map(|at| at.map(|at| (at - t0).as_millis()))
            .collect();
        assert_eq!(
            rounded,
            [Some(10), Some(20), None],
            "the third would wait 30 ms"
        );
        assert!(bucket.reserve(ms(20), Duration::from_millis(25)).is_some());
    }
}
