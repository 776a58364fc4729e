//! What a paced client prints, Rust or Go: the line that opens its measured window, and
//! the JSON line of counts that closes it. `ringrpc-bench client-cost` reads the client's
//! CPU from /proc when each arrives, so the counts and the CPU cover the same window.

use serde::{Deserialize, Serialize};

/// The line a paced client prints when its measured window begins.
pub const WINDOW_START: &str = "window-start";

/// What a paced client counted over its window (printed as one JSON line when it ends).
/// Calls are counted when they complete, so they fall in the same window as the CPU.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WindowCounts {
    /// "glommio", "tokio" or "rpcx-go".
    pub client: String,
    /// Calls/s asked for, over all connections.
    pub rate_target: f64,
    pub conns: usize,
    pub window_s: f64,
    /// Calls completed in the window with the right reply.
    pub good: u64,
    /// Calls completed in the window with an error or a wrong reply.
    pub failed: u64,
    /// Calls sent a whole period (or more) after their due time: the client fell behind.
    pub late: u64,
    /// Heap allocations the client made over the window; -1 when it cannot tell.
    pub allocs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl WindowCounts {
    /// Calls completed in the window.
    pub fn calls(&self) -> u64 {
        self.good + self.failed
    }
}
