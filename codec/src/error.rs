//! Errors of the codec. Every variant carries the values a log reader needs; none of them
//! is ever produced by a panic.

use crate::payload::SerializeType;

/// A received frame is malformed or breaks a [`crate::Limits`] bound. After any of these
/// the byte stream cannot be trusted: a server closes the connection (as rpcx-go does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("wrong magic number: {0}")]
    BadMagic(u8),
    #[error("message is too long: {len} bytes, limit {max}")]
    FrameTooLarge { len: u64, max: u32 },
    #[error("frame body of {len} bytes cannot hold the four section lengths (16 bytes)")]
    BodyTooShort { len: u32 },
    #[error("{section} length {len} at offset {offset} runs past the frame end ({frame_len})")]
    SectionOverrun {
        section: Section,
        offset: usize,
        len: u32,
        frame_len: usize,
    },
    #[error("payload length {declared} disagrees with the {actual} bytes left in the frame")]
    PayloadLenMismatch { declared: u32, actual: usize },
    #[error(
        "wrong metadata lines. some keys or values are missing \
         (record at offset {offset} of a {section_len}-byte section)"
    )]
    MetadataKvMissing { offset: usize, section_len: usize },
    #[error("{section} is not valid UTF-8")]
    InvalidUtf8 { section: Section },
    #[error("unsupported compressor {0}")]
    UnknownCompressType(u8),
    #[error("decompressed size exceeds the maximum allowed size ({max} bytes)")]
    DecompressedTooLarge { max: usize },
    #[error("corrupt gzip payload: {0}")]
    CorruptGzip(String),
}

/// The part of a frame an error points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    ServicePath,
    ServiceMethod,
    Metadata,
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
pub enum EncodeError {
    #[error("{section} of {len} bytes does not fit a 32-bit length")]
    SectionTooLarge { section: Section, len: usize },
    #[error("frame body of {len} bytes does not fit a 32-bit length")]
    FrameTooLarge { len: usize },
    #[error("gzip compression failed: {0}")]
    Compress(String),
}

/// A payload cannot be turned into a value or back. The `Display` texts of the first two
/// variants are rpcx-go's own, because clients may match on them.
#[derive(Debug, thiserror::Error)]
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
        serialize_type: SerializeType,
        type_name: &'static str,
    },
    #[cfg(feature = "json")]
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[cfg(feature = "msgpack")]
    #[error("{0}")]
    MsgPackEncode(#[from] rmp_serde::encode::Error),
    #[cfg(feature = "msgpack")]
    #[error("{0}")]
    MsgPackDecode(#[from] rmp_serde::decode::Error),
    #[cfg(feature = "protobuf")]
    #[error("{0}")]
    ProtobufDecode(#[from] prost::DecodeError),
    #[cfg(feature = "protobuf")]
    #[error("{0}")]
    ProtobufEncode(#[from] prost::EncodeError),
    #[cfg(feature = "flatbuffers")]
    #[error("{0}")]
    FlatBuffers(#[from] flatbuffers::InvalidFlatbuffer),
}
