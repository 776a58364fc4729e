//! Bounds applied to everything a peer sends. They travel as arguments (never globals), so
//! two servers in one process can use different limits.

/// Receive-side limits. Both are on by default, unlike rpcx-go where both default to
/// "unlimited" (PROTOCOL.md §4.15, §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted frame, fixed part included. Checked as soon as the 16-byte fixed
    /// part is in, before any body byte is buffered.
    pub max_frame: u32,
    /// Largest accepted payload after gzip decompression. A decoder never allocates more
    /// than this (plus one byte to detect the overflow), whatever the peer declares.
    pub max_decompressed: usize,
}

impl Limits {
    pub const DEFAULT_MAX_FRAME: u32 = 16 << 20;
    pub const DEFAULT_MAX_DECOMPRESSED: usize = 16 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: Self::DEFAULT_MAX_FRAME,
            max_decompressed: Self::DEFAULT_MAX_DECOMPRESSED,
        }
    }
}
