//! The rpcx wire format, sans-IO: bytes in, frames out, and back.
//!
//! This crate owns the frame (PROTOCOL.md in this crate, with byte offsets), its flags and
//! enums, payload codecs and gzip. It never touches sockets, runtimes, clocks, globals or
//! logs: every error comes back as a value, every bound comes in as [`Limits`].
//!
//! Read first: [`decode`] (how a frame is split off a receive buffer without copying),
//! [`Frame`] (what a decoded frame lets you see), [`Reply`] (how responses are derived
//! from requests), then [`payload`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

pub mod compress;
mod decode;
mod encode;
mod error;
mod frame;
pub mod fuzzing;
mod header;
mod limits;
pub mod payload;
mod response;

pub use decode::{decode, decode_frame, decode_frame_compressed, frame_len};
pub use encode::{encode_frame, encode_frame_head, encode_request, NO_METADATA};
pub use error::{DecodeError, EncodeError, PayloadError, Section};
pub use frame::{Frame, Metadata, MetadataIter};
pub use header::{CompressType, Header, MessageType, StatusType, HEADER_LEN, MAGIC};
pub use limits::Limits;
pub use payload::{DecodePayload, EncodePayload, Payload, PayloadCodec, SerializeType};
pub use response::{encode_heartbeat_reply, heartbeat_reply, Reply, ERROR_KEY};

/// Metadata key of the auth token (`XClient.Auth`).
pub const AUTH_KEY: &str = "__AUTH";
/// Metadata key of the caller's remaining deadline in milliseconds.
pub const SERVER_TIMEOUT_KEY: &str = "__ServerTimeout";
