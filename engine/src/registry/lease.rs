//! When a lease counts as lost: the keep-alive schedule and the loss deadline of one
//! registration session, with time as an argument (the registrar's task performs it).
//!
//! Keep-alives go out every TTL/6. Each answer that still shows time on the lease moves the
//! deadline to 2/3 of the TTL after it; if no answer comes by then (etcd unreachable, the
//! stream silently stalled, a partition that produces no error) the session is declared
//! lost and a new lease is granted and every key rewritten, while the old lease still has a
//! third of its TTL to run. A TTL too large for the clock means the lease is never lost by
//! time (errors still end the session).

use std::time::{Duration, Instant};

/// etcd's largest lease TTL, in seconds (`MaxLeaseTTL`).
pub(crate) const MAX_LEASE_TTL_SECS: u64 = 9_000_000_000;

/// The lease TTL granted for a configured one: whole seconds, at least 2 (etcd's floor
/// with default election settings), at most etcd's maximum.
pub(crate) fn lease_ttl_secs(ttl: Duration) -> i64 {
    let secs = ttl.as_secs().clamp(2, MAX_LEASE_TTL_SECS);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// One session's lease, as the keep-alive answers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseWatch {
    ttl: Duration,
    last_answer: Instant,
}

/// What an answer to a keep-alive says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The lease lives on.
    Alive,
    /// etcd says the lease is gone (TTL 0): register again at once.
    Expired,
}

impl LeaseWatch {
    /// A lease of `ttl` granted at `now`.
    pub fn new(ttl: Duration, now: Instant) -> Self {
        Self {
            ttl,
            last_answer: now,
        }
    }

    /// How often a keep-alive goes out.
    pub fn keep_alive_every(&self) -> Duration {
        (self.ttl / 6).max(Duration::from_millis(100))
    }

    /// An answer came at `now` with `ttl_left_secs` on the lease.
    pub fn handle_answer(&mut self, ttl_left_secs: i64, now: Instant) -> Answer {
        if ttl_left_secs <= 0 {
            return Answer::Expired;
        }
        self.last_answer = now;
        Answer::Alive
    }

    /// When the session counts as lost if no answer comes first; `None`: never by time.
    pub fn lost_at(&self) -> Option<Instant> {
        self.last_answer.checked_add(self.ttl.checked_mul(2)? / 3)
    }

    /// Whether the lease counts as lost at `now`.
    #[cfg(test)]
    pub fn is_lost(&self, now: Instant) -> bool {
        self.lost_at().is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_lost_after_two_thirds_of_its_ttl_without_an_answer() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(30);
        let mut lease = LeaseWatch::new(ttl, t0);
        assert_eq!(lease.keep_alive_every(), Duration::from_secs(5));
        assert_eq!(lease.lost_at(), Some(t0 + Duration::from_secs(20)));
        assert!(!lease.is_lost(t0 + Duration::from_millis(19_999)));
        assert_eq!(
            lease.handle_answer(28, t0 + Duration::from_secs(5)),
            Answer::Alive
        );
        assert!(
            !lease.is_lost(t0 + Duration::from_secs(20)),
            "the answer moved it"
        );
        assert!(lease.is_lost(t0 + Duration::from_secs(25)));
        assert_eq!(
            lease.handle_answer(0, t0 + Duration::from_secs(6)),
            Answer::Expired
        );
    }

    #[test]
    fn huge_ttls_do_not_panic() {
        let t0 = Instant::now();
        let lease = LeaseWatch::new(Duration::MAX, t0);
        assert_eq!(lease.lost_at(), None);
        assert!(!lease.is_lost(t0 + Duration::from_secs(86_400)));
        assert_eq!(lease_ttl_secs(Duration::MAX), 9_000_000_000);
        assert_eq!(lease_ttl_secs(Duration::from_millis(10)), 2);
    }
}
