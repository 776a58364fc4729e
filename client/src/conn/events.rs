//! What the connection core tells its driver after an input: the calls to complete, the
//! pushes to deliver and which tasks to wake. The driver only performs these; it never
//! works them out from the core's state itself.

use crate::error::Error;
use crate::message::{Push, Reply};

/// The work a driver must do after feeding the connection, taken with
/// [`Connection::poll_events`](super::Connection::poll_events). Deliver `pushes` before
/// completing `completions`, and wake tasks last, after releasing the connection.
#[derive(Debug)]
#[non_exhaustive]
pub struct Events<W> {
    /// Finished calls in order: the waiter given to `handle_call` and the call's result.
    pub completions: Vec<(W, Result<Reply, Error>)>,
    /// Server pushes in order, when the driver asked to take them (it has a push handler).
    pub pushes: Vec<Push>,
    /// Which of the driver's tasks must run.
    pub wake: Wake,
}

/// Which of a driver's tasks must run after an input. Each flag holds for as long as its
/// condition does, so a task that checks its condition and parks under the same lock never
/// misses a wake-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wake {
    /// The writer has work: bytes wait and no send is in flight, or the connection is
    /// closed (it flushes and shuts the socket, or stops).
    pub writer: bool,
    /// The reader must come round: a call's deadline (or the close deadline) is earlier
    /// than the timer it sleeps on, or the connection is closed (it stops).
    pub reader: bool,
    /// Whoever waits for the next push: one is queued, or the connection stopped being
    /// open (no more will come).
    pub push_reader: bool,
    /// Callers refused for want of send space: a send completed (room may have been made)
    /// or the connection closed. Each tries again.
    pub send_space: bool,
}
