//! Bounds applied to everything a peer sends. They travel as arguments (never globals), so
//! two servers in one process can use different limits.

/// Receive-side limits. Both are on by default, unlike rpcx-go where both default to
/// "unlimited" (PROTOCOL.md §4.15, §13.1). Start from `Limits::default()` and chain setters:
///
/// ```
/// use ringrpc_codec::Limits;
///
/// let limits = Limits::default().max_frame_bytes(1 << 20);
/// assert_eq!(limits.max_frame_bytes, 1 << 20);
/// assert_eq!(limits.max_decompressed_bytes, Limits::DEFAULT_MAX_DECOMPRESSED_BYTES);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted frame in bytes, fixed part included. Checked as soon as the 16-byte
    /// fixed part is in, before any body byte is buffered.
    pub max_frame_bytes: u32,
    /// Largest accepted payload in bytes after gzip decompression. A decoder never allocates
    /// more than this (plus one byte to detect the overflow), whatever the peer declares.
    pub max_decompressed_bytes: usize,
}

impl Limits {
    /// Default of [`Limits::max_frame_bytes`][Self#structfield.max_frame_bytes]: 16 MiB.
    pub const DEFAULT_MAX_FRAME_BYTES: u32 = 16 << 20;
    /// Default of [`Limits::max_decompressed_bytes`][Self#structfield.max_decompressed_bytes]:
    /// 16 MiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 16 << 20;

    /// Sets the largest accepted frame, in bytes.
    #[must_use]
    pub const fn max_frame_bytes(mut self, bytes: u32) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// Sets the largest accepted payload after decompression, in bytes.
    #[must_use]
    pub const fn max_decompressed_bytes(mut self, bytes: usize) -> Self {
        self.max_decompressed_bytes = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}
