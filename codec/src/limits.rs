//! Bounds applied to everything a peer sends. They travel as arguments (never globals), so
//! two servers in one process can use different limits.

/// Receive-side limits. All are on by default, unlike rpcx-go where both default to
/// "unlimited" (PROTOCOL.md §4.15, §13.1). Start from `Limits::default()` and chain setters:
///
/// ```
/// use ringrpc_codec::Limits;
///
/// let limits = Limits::default().max_frame_bytes(1 << 20);
/// assert_eq!(limits.max_frame_bytes, 1 << 20);
/// assert_eq!(limits.max_decompressed_bytes, Limits::DEFAULT_MAX_DECOMPRESSED_BYTES);
/// assert_eq!(limits.max_metadata_count, Limits::DEFAULT_MAX_METADATA_COUNT);
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
    /// Most metadata records (key/value pairs) in one frame, duplicates included. Counted
    /// while the section is validated, so a frame over it is refused after at most this
    /// many records were looked at: however many a peer packs into a frame, decoding it
    /// costs time linear in this bound, not in the frame.
    pub max_metadata_count: usize,
}

impl Limits {
    /// Default of [`Limits::max_frame_bytes`][Self#structfield.max_frame_bytes]: 16 MiB.
    pub const DEFAULT_MAX_FRAME_BYTES: u32 = 16 << 20;
    /// Default of [`Limits::max_decompressed_bytes`][Self#structfield.max_decompressed_bytes]:
    /// 16 MiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 16 << 20;
    /// Default of [`Limits::max_metadata_count`][Self#structfield.max_metadata_count]: 1024
    /// records (rpcx-go clients send a handful).
    pub const DEFAULT_MAX_METADATA_COUNT: usize = 1024;

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

    /// Sets the most metadata records accepted in one frame.
    #[must_use]
    pub const fn max_metadata_count(mut self, count: usize) -> Self {
        self.max_metadata_count = count;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_metadata_count: Self::DEFAULT_MAX_METADATA_COUNT,
        }
    }
}
