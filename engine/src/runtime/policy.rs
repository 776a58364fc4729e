//! The shard policy, sans IO: the rules both drivers follow, each written once, as small
//! state machines that take `now` and return what to do.
//!
//! - [`admits`]: the max-connections rule (the shard counts and logs a rejection,
//!   `ShardCore::admit`).
//! - [`AcceptBackoff`]: after a failed accept, wait 5 ms doubling to 1 s (PROTOCOL.md §4.1).
//! - `watch.rs` (beside this file): the per-connection timeouts of the shard's sweep (idle,
//!   frame completion, send progress).
//! - [`Stop`]: graceful shutdown, drain then abort, with their deadlines.
//! - [`Linger`]: after our FIN, how long and how much unread input is discarded.
//! - [`close_step`]: the one log line of a closed connection, and whether to linger.
//!
//! What it never does: touch a socket, a timer or the clock; the driver performs every step
//! (and reads `now`).

use std::time::{Duration, Instant};

use crate::error::CloseCause;

/// After the drain timeout, how long aborted connections get to close.
pub(crate) const ABORT_GRACE: Duration = Duration::from_secs(1);
/// After closing our side, how long unread request bytes are drained (so that closing does
/// not reset the connection and destroy the last replies in flight).
pub(crate) const LINGER: Duration = Duration::from_millis(250);
/// The most unread bytes drained after closing our side.
pub(crate) const LINGER_BYTES_MAX: usize = 1 << 20;
/// The first accept back-off and its cap (rpcx-go's, PROTOCOL.md §4.1).
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Whether a shard with `open` connections may take one more under `max`.
pub(crate) fn admits(open: usize, max: usize) -> bool {
    open < max
}

/// Accept errors (out of descriptors, out of memory) back off instead of spinning.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AcceptBackoff {
    /// When to accept again, and the back-off that led there.
    retry: Option<(Instant, Duration)>,
}

impl AcceptBackoff {
    /// An accept failed at `now`: logs it once and returns when to accept again.
    pub(crate) fn failed(
        &mut self,
        now: Instant,
        shard: usize,
        error: &dyn std::fmt::Display,
    ) -> Instant {
        let backoff = self
            .retry
            .map_or(ACCEPT_BACKOFF_FIRST, |(_, backoff)| backoff * 2)
            .min(ACCEPT_BACKOFF_MAX);
        tracing::warn!(shard, %error, "accept failed");
        let at = now + backoff;
        self.retry = Some((at, backoff));
        at
    }

    /// An accept succeeded: the next failure starts from the first back-off again.
    pub(crate) fn succeeded(&mut self) {
        self.retry = None;
    }

    /// When the shard may accept again, if it is backing off.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry.map(|(at, _)| at)
    }

    /// Whether the shard may accept at `now`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.retry_at().is_none_or(|at| now >= at)
    }
}

/// Graceful shutdown of a shard, as deadlines.
///
/// ```text
///  Serving ── begin ──▶ Draining ── drain_timeout passed, connections left ──▶ Aborting
///                       (until now + drain_timeout)                            (until + 1 s)
///  Draining or Aborting ── no connection left ──▶ Done;   Aborting ── deadline ──▶ Done
/// ```
///
/// On `begin` the driver stops accepting and asks every connection to drain; on
/// [`StopStep::Abort`] it asks every connection to abort; on [`StopStep::Done`] it exits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop {
    state: StopState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum StopState {
    #[default]
    Serving,
    Draining {
        until: Instant,
    },
    Aborting {
        until: Instant,
    },
    Done,
}

/// What the driver does next about stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopStep {
    /// Not stopping.
    Serve,
    /// Wait for connections to close, at most until `until`.
    Wait { until: Instant },
    /// The drain timeout passed: ask every connection left to abort (returned once).
    Abort,
    /// Every connection is gone, or the abort grace passed: the shard exits.
    Done,
}

impl Stop {
    /// Starts draining at `now`. True the first time only: then the driver stops accepting
    /// and asks every connection to drain.
    pub(crate) fn begin(
        &mut self,
        now: Instant,
        drain_timeout: Duration,
        shard: usize,
        open: usize,
    ) -> bool {
        if self.state != StopState::Serving {
            return false;
        }
        tracing::debug!(shard, connections = open, "draining");
        self.state = StopState::Draining {
            until: now + drain_timeout,
        };
        true
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.state != StopState::Serving
    }

    /// What to do at `now` with `open` connections left.
    pub(crate) fn poll(&mut self, now: Instant, open: usize) -> StopStep {
        match self.state {
            StopState::Serving => StopStep::Serve,
            StopState::Done => StopStep::Done,
            StopState::Draining { .. } | StopState::Aborting { .. } if open == 0 => {
                self.state = StopState::Done;
                StopStep::Done
            }
            StopState::Draining { until } if now >= until => {
                self.state = StopState::Aborting {
                    until: now + ABORT_GRACE,
                };
                StopStep::Abort
            }
            StopState::Aborting { until } if now >= until => {
                self.state = StopState::Done;
                StopStep::Done
            }
            StopState::Draining { until } | StopState::Aborting { until } => {
                StopStep::Wait { until }
            }
        }
    }

    /// The next deadline the driver must wake up for, if stopping.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            StopState::Draining { until } | StopState::Aborting { until } => Some(until),
            StopState::Serving | StopState::Done => None,
        }
    }
}

/// A connection that sent its FIN after its last reply: unread input is discarded until
/// end of stream, [`LINGER_BYTES_MAX`] bytes or [`LINGER`], whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Linger {
    until: Instant,
    discarded_bytes: usize,
}

impl Linger {
    pub(crate) fn start(now: Instant) -> Self {
        Self {
            until: now + LINGER,
            discarded_bytes: 0,
        }
    }

    pub(crate) fn until(&self) -> Instant {
        self.until
    }

    /// `n` more bytes were discarded; whether to keep reading.
    pub(crate) fn discard(&mut self, n: usize) -> bool {
        self.discarded_bytes = self.discarded_bytes.saturating_add(n);
        self.discarded_bytes < LINGER_BYTES_MAX
    }

    /// Whether the linger time is over at `now`.
    pub(crate) fn is_over(&self, now: Instant) -> bool {
        now >= self.until
    }
}

/// How the driver ends a closed connection's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseStep {
    /// Send FIN, then linger ([`Linger`]).
    Linger,
    /// The socket failed, or the peer takes nothing: close it at once.
    Reset,
}

/// Logs why a connection closed, once (a `warn!` for causes that are errors, with the
/// shard and peer repeated so the line is complete where spans are filtered out), and says
/// how to close its socket.
pub(crate) fn close_step(cause: Option<CloseCause>, shard: usize, peer: &str) -> CloseStep {
    match &cause {
        Some(cause) if cause.is_error() => {
            tracing::warn!(shard, peer, %cause, "connection dropped")
        }
        Some(cause) => tracing::debug!(%cause, "connection closed"),
        None => tracing::debug!("connection closed"),
    }
    match cause {
        Some(CloseCause::Io(_) | CloseCause::SendTimeout) => CloseStep::Reset,
        _ => CloseStep::Linger,
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn admission_stops_at_the_limit() {
        assert!(admits(0, 1));
        assert!(admits(15, 16));
        assert!(!admits(16, 16));
        assert!(!admits(0, 0));
    }

    #[test]
    fn accept_backoff_doubles_from_5_ms_to_1_s_and_resets() {
        let t0 = Instant::now();
        let mut backoff = AcceptBackoff::default();
        let error = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(backoff.is_due(t0));
        let waits: Vec<Duration> = (0..10)
            .map(|_| backoff.failed(t0, 0, &error) - t0)
            .collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert!(!backoff.is_due(t0 + 999 * MS));
        assert!(backoff.is_due(t0 + 1000 * MS));
        backoff.succeeded();
        assert_eq!(backoff.retry_at(), None);
        assert_eq!(backoff.failed(t0, 0, &error), t0 + 5 * MS);
    }

    #[test]
    fn drain_ends_when_the_last_connection_closes() {
        let t0 = Instant::now();
        let mut stop = Stop::default();
        assert_eq!(stop.poll(t0, 3), StopStep::Serve);
        assert!(stop.begin(t0, 100 * MS, 0, 3));
        assert!(!stop.begin(t0, 100 * MS, 0, 3), "only once");
        assert!(stop.is_stopping());
        assert_eq!(
            stop.poll(t0 + 50 * MS, 2),
            StopStep::Wait {
                until: t0 + 100 * MS
            }
        );
        assert_eq!(stop.deadline(), Some(t0 + 100 * MS));
        assert_eq!(stop.poll(t0 + 60 * MS, 0), StopStep::Done);
        assert_eq!(
            stop.poll(t0 + 60 * MS, 1),
            StopStep::Done,
            "done stays done"
        );
        assert_eq!(stop.deadline(), None);
    }

    #[test]
    fn drain_timeout_aborts_then_grace_ends_the_shard() {
        let t0 = Instant::now();
        let mut stop = Stop::default();
        stop.begin(t0, 100 * MS, 0, 1);
        assert_eq!(stop.poll(t0 + 100 * MS, 1), StopStep::Abort);
        let grace_end = t0 + 100 * MS + ABORT_GRACE;
        assert_eq!(
            stop.poll(t0 + 100 * MS, 1),
            StopStep::Wait { until: grace_end }
        );
        assert_eq!(
            stop.poll(grace_end - MS, 1),
            StopStep::Wait { until: grace_end }
        );
        assert_eq!(
            stop.poll(grace_end, 1),
            StopStep::Done,
            "stuck connections are left"
        );

        let mut stop = Stop::default();
        stop.begin(t0, 100 * MS, 0, 1);
        assert_eq!(stop.poll(t0 + 200 * MS, 1), StopStep::Abort);
        assert_eq!(
            stop.poll(t0 + 201 * MS, 0),
            StopStep::Done,
            "aborted ones closed"
        );
    }

    #[test]
    fn linger_ends_at_its_time_or_byte_limit() {
        let t0 = Instant::now();
        let mut linger = Linger::start(t0);
        assert_eq!(linger.until(), t0 + LINGER);
        assert!(!linger.is_over(t0 + LINGER - MS));
        assert!(linger.is_over(t0 + LINGER));
        assert!(linger.discard(LINGER_BYTES_MAX - 1));
        assert!(!linger.discard(1));
    }

    #[test]
    fn socket_errors_reset_and_other_closes_linger() {
        let reset = CloseCause::Io(io::ErrorKind::ConnectionReset.into());
        assert_eq!(close_step(Some(reset), 0, "peer"), CloseStep::Reset);
        assert_eq!(
            close_step(Some(CloseCause::Idle), 0, "peer"),
            CloseStep::Linger
        );
        assert_eq!(close_step(None, 0, "peer"), CloseStep::Linger);
        assert_eq!(
            close_step(Some(CloseCause::Auth("no".into())), 0, "peer"),
            CloseStep::Linger
        );
    }
}
