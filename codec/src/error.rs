//! Errors of the codec. Every variant carries the values a log reader needs; none of them
//! is ever produced by a panic. The enums are `#[non_exhaustive]`: a match needs a `_` arm,
//! so a variant added later (or one behind a cargo feature) breaks no caller.

use crate::payload::SerializeType;

/// A received frame is malformed or breaks a [`crate::Limits`] bound. After any of these
/// the byte stream cannot be trusted: a server closes the connection (as rpcx-go does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Byte 0 is not [`crate::MAGIC`]; the value found.
    #[error("wrong magic number: {0}")]
    BadMagic(u8),
    /// The declared frame length is over [`crate::Limits`]`::max_frame_bytes`.
    #[error("message is too long: {len} bytes, limit {max}")]
    FrameTooLarge {
        /// The declared length, fixed part included.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The body is shorter than the four 32-bit section lengths it must start with.
    #[error("frame body of {len} bytes cannot hold the four section lengths (16 bytes)")]
    BodyTooShort {
        /// The body length.
        len: u32,
    },
    /// A section's declared length runs past the end of the frame.
    #[error("{section} length {len} at offset {offset} runs past the frame end ({frame_len})")]
    SectionOverrun {
        /// The section.
        section: Section,
        /// Where its length field is, from the frame start.
        offset: usize,
        /// The declared length.
        len: u32,
        /// The frame length.
        frame_len: usize,
    },
    /// The payload length field disagrees with the bytes left after the other sections.
    #[error("payload length {declared} disagrees with the {actual} bytes left in the frame")]
    PayloadLenMismatch {
        /// The declared payload length.
        declared: u32,
        /// The bytes actually left.
        actual: usize,
    },
    /// A metadata record is cut short (rpcx-go's own text).
    #[error(
        "wrong metadata lines. some keys or values are missing \
         (record at offset {offset} of a {section_len}-byte section)"
    )]
    MetadataKvMissing {
        /// Where the broken record starts, in the section.
        offset: usize,
        /// The section length.
        section_len: usize,
    },
    /// The metadata section holds more records than [`crate::Limits`]`::max_metadata_count`.
    #[error("too many metadata records: more than {max}")]
    TooManyMetadata {
        /// The limit.
        max: usize,
    },
    /// A text section is not UTF-8.
    #[error("{section} is not valid UTF-8")]
    InvalidUtf8 {
        /// The section.
        section: Section,
    },
    /// The compress bits name no compressor rpcx knows; the value found.
    #[error("unsupported compressor {0}")]
    UnknownCompressType(u8),
    /// A gzip payload inflates past [`crate::Limits`]`::max_decompressed_bytes`.
    #[error("decompressed size exceeds the maximum allowed size ({max} bytes)")]
    DecompressedTooLarge {
        /// The limit.
        max: usize,
    },
    /// A gzip payload is not valid gzip; flate2's message.
    #[error("corrupt gzip payload: {0}")]
    CorruptGzip(String),
}

/// The part of a frame an error points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The service name.
    ServicePath,
    /// The method name.
    ServiceMethod,
    /// The metadata records.
    Metadata,
    /// The payload.
    Payload,
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Section::ServicePath => "service_path",
            Section::ServiceMethod => "service_method",
            Section::Metadata => "metadata",
            Section::Payload => "payload",
        })
    }
}

/// A frame cannot be built: a section does not fit the 32-bit lengths of the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// One section is 4 GiB or more.
    #[error("{section} of {len} bytes does not fit a 32-bit length")]
    SectionTooLarge {
        /// The section.
        section: Section,
        /// Its length.
        len: usize,
    },
    /// The whole body is 4 GiB or more.
    #[error("frame body of {len} bytes does not fit a 32-bit length")]
    FrameTooLarge {
        /// The body length.
        len: usize,
    },
    /// gzip failed; flate2's message.
    #[error("gzip compression failed: {0}")]
    Compress(String),
}

/// A payload cannot be turned into a value or back. The `Display` texts of the first two
/// variants are rpcx-go's own, because clients may match on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// A serialize nibble that no codec is registered for.
    #[error("can not find codec for {0}")]
    UnknownSerializeType(u8),
    /// A serialize type rpcx numbers but ringrpc does not implement (Thrift).
    #[error("unsupported serialize type {0:?} ({n})", n = .0.to_wire())]
    UnsupportedSerializeType(SerializeType),
    /// The value's Rust type has no representation in this serialize type
    /// (for example a serde-only type asked for protobuf).
    #[error("{type_name} cannot be carried as {serialize_type:?}")]
    NotSupportedByType {
        /// The serialize type asked for.
        serialize_type: SerializeType,
        /// The Rust type that cannot travel under it.
        type_name: &'static str,
    },
    /// JSON encoding or decoding failed.
    #[cfg(feature = "json")]
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// MsgPack encoding failed.
    #[cfg(feature = "msgpack")]
    #[error("{0}")]
    MsgPackEncode(#[from] rmp_serde::encode::Error),
    /// MsgPack decoding failed.
    #[cfg(feature = "msgpack")]
    #[error("{0}")]
    MsgPackDecode(#[from] rmp_serde::decode::Error),
    /// Protobuf decoding failed.
    #[cfg(feature = "protobuf")]
    #[error("{0}")]
    ProtobufDecode(#[from] prost::DecodeError),
    /// Protobuf encoding failed.
    #[cfg(feature = "protobuf")]
    #[error("{0}")]
    ProtobufEncode(#[from] prost::EncodeError),
    /// A flatbuffers payload failed verification.
    #[cfg(feature = "flatbuffers")]
    #[error("{0}")]
    FlatBuffers(#[from] flatbuffers::InvalidFlatbuffer),
}
