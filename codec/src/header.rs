//! The fixed 16-byte part of every rpcx frame (PROTOCOL.md §1): magic, version, flags,
//! serialize nibble, seq and the total length of what follows.
//!
//! [`Header`] is a `#[repr(C)]` zerocopy struct, so a received header is read in place with
//! `ref_from_prefix` and never copied out of the receive buffer.

use zerocopy::big_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::DecodeError;
use crate::payload::SerializeType;

/// The only magic byte rpcx knows.
pub const MAGIC: u8 = 0x08;
/// Size of the fixed part: 12 header bytes plus the 4-byte total length.
pub const HEADER_LEN: usize = 16;

const TYPE_MASK: u8 = 0x80;
const HEARTBEAT_MASK: u8 = 0x40;
const ONEWAY_MASK: u8 = 0x20;
const COMPRESS_MASK: u8 = 0x1C;
const COMPRESS_SHIFT: u8 = 2;
const STATUS_MASK: u8 = 0x03;
/// Flag bits a response inherits from its request (PROTOCOL.md §4.8): heartbeat, oneway, status.
const RESPONSE_INHERITED_MASK: u8 = HEARTBEAT_MASK | ONEWAY_MASK | STATUS_MASK;

/// Bit 7 of byte 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 0: a request (or a server push, which rpcx sends as a request).
    Request,
    /// 1: a response.
    Response,
}

/// Bits 1..0 of byte 2. Values 2 and 3 are unused by rpcx and kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    /// 0: a normal reply.
    Normal,
    /// 1: an error reply; the text is in the `__rpcx_error__` metadata.
    Error,
    /// 2 or 3: never produced by rpcx, copied through unchanged.
    Other(u8),
}

/// Bits 4..2 of byte 2. rpcx registers only `None` (0) and `Gzip` (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressType {
    /// 0: the payload as it is.
    None,
    /// 1: the payload gzip'ed.
    Gzip,
}

impl CompressType {
    /// Maps the 3-bit wire value; anything but 0 and 1 is unknown to rpcx and to us.
    pub fn from_wire(bits: u8) -> Result<Self, DecodeError> {
        match bits {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            other => Err(DecodeError::UnknownCompressType(other)),
        }
    }

    /// The 3-bit wire value.
    pub fn to_wire(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
        }
    }
}

/// The fixed part of a frame, exactly as it sits on the wire.
///
/// Byte 3 is kept whole: its high nibble is the serialize type, its low nibble is unused
/// by rpcx but copied into responses, so we keep it too.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Header {
    magic: u8,
    version: u8,
    flags: u8,
    serialize: u8,
    seq: U64,
    body_len: U32,
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_LEN);

impl Header {
    /// A request header with the given seq and serialize type, every flag clear.
    pub const fn request(seq: u64, serialize_type: SerializeType) -> Self {
        Self {
            magic: MAGIC,
            version: 0,
            flags: 0,
            serialize: serialize_type.to_wire() << 4,
            seq: U64::new(seq),
            body_len: U32::new(0),
        }
    }

    /// The header of the response to a request with this header (PROTOCOL.md §4.8):
    /// version, serialize byte and seq are copied; heartbeat, oneway and status bits are
    /// copied; compress bits are cleared; the type bit is set.
    pub fn response_to(request: &Header) -> Self {
        Self {
            flags: (request.flags & RESPONSE_INHERITED_MASK) | TYPE_MASK,
            body_len: U32::new(0),
            ..*request
        }
    }

    /// Reads a header in place from the front of `src`; `None` if fewer than 16 bytes.
    pub fn peek(src: &[u8]) -> Option<&Header> {
        Header::ref_from_prefix(src).ok().map(|(header, _)| header)
    }

    /// Byte 0: [`MAGIC`] in every valid frame.
    pub fn magic(&self) -> u8 {
        self.magic
    }
    /// Byte 1: the protocol version (0 from rpcx-go).
    pub fn version(&self) -> u8 {
        self.version
    }
    /// Byte 2: message type, heartbeat, oneway, compress and status bits.
    pub fn flags(&self) -> u8 {
        self.flags
    }
    /// Bytes 4..12: the sequence number pairing a reply with its request.
    pub fn seq(&self) -> u64 {
        self.seq.get()
    }
    /// Number of bytes that follow the 16-byte fixed part.
    pub fn body_len(&self) -> u32 {
        self.body_len.get()
    }
    /// Total frame length: the fixed part plus the body.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len.get() as usize
    }

    /// Request or response (bit 7 of byte 2).
    pub fn message_type(&self) -> MessageType {
        if self.flags & TYPE_MASK == 0 {
            MessageType::Request
        } else {
            MessageType::Response
        }
    }
    /// Whether this is a heartbeat (bit 6 of byte 2).
    pub fn is_heartbeat(&self) -> bool {
        self.flags & HEARTBEAT_MASK != 0
    }
    /// Whether the request wants no reply (bit 5 of byte 2).
    pub fn is_oneway(&self) -> bool {
        self.flags & ONEWAY_MASK != 0
    }
    /// The raw 3-bit compress value; see [`CompressType::from_wire`].
    pub fn compress_bits(&self) -> u8 {
        (self.flags & COMPRESS_MASK) >> COMPRESS_SHIFT
    }
    /// The compress type, or the error for a value rpcx does not know.
    pub fn compress_type(&self) -> Result<CompressType, DecodeError> {
        CompressType::from_wire(self.compress_bits())
    }
    /// The status bits (1..0 of byte 2).
    pub fn status(&self) -> StatusType {
        match self.flags & STATUS_MASK {
            0 => StatusType::Normal,
            1 => StatusType::Error,
            other => StatusType::Other(other),
        }
    }
    /// The raw serialize nibble (0..=15); see [`SerializeType::from_wire`].
    pub fn serialize_bits(&self) -> u8 {
        self.serialize >> 4
    }
    /// The serialize type, or rpcx's `can not find codec for N` error.
    pub fn serialize_type(&self) -> Result<SerializeType, crate::PayloadError> {
        SerializeType::from_wire(self.serialize_bits())
    }

    /// Sets the sequence number.
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = U64::new(seq);
    }
    pub(crate) fn set_body_len(&mut self, len: u32) {
        self.body_len = U32::new(len);
    }
    /// Sets request or response.
    pub fn set_message_type(&mut self, message_type: MessageType) {
        self.set_bit(TYPE_MASK, message_type == MessageType::Response);
    }
    /// Sets or clears the heartbeat bit.
    pub fn set_heartbeat(&mut self, on: bool) {
        self.set_bit(HEARTBEAT_MASK, on);
    }
    /// Sets or clears the oneway bit.
    pub fn set_oneway(&mut self, on: bool) {
        self.set_bit(ONEWAY_MASK, on);
    }
    /// Sets the compress bits.
    pub fn set_compress_type(&mut self, compress: CompressType) {
        self.flags = (self.flags & !COMPRESS_MASK) | (compress.to_wire() << COMPRESS_SHIFT);
    }
    /// Sets the status bits (`Other` values keep only their low two bits).
    pub fn set_status(&mut self, status: StatusType) {
        let bits = match status {
            StatusType::Normal => 0,
            StatusType::Error => 1,
            StatusType::Other(bits) => bits & STATUS_MASK,
        };
        self.flags = (self.flags & !STATUS_MASK) | bits;
    }
    /// Sets the serialize nibble.
    pub fn set_serialize_type(&mut self, serialize_type: SerializeType) {
        self.serialize = (self.serialize & 0x0F) | (serialize_type.to_wire() << 4);
    }

    fn set_bit(&mut self, mask: u8, on: bool) {
        if on {
            self.flags |= mask;
        } else {
            self.flags &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_header_follows_rpcx_clone_rules() {
        // Request flags: heartbeat | oneway | gzip | status 2; serialize byte with a low nibble.
        let raw = [
            0x08,
            0x07,
            0x40 | 0x20 | 0x04 | 0x02,
            0x3A,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            9,
            0,
            0,
            0,
            0,
        ];
        let request = Header::peek(&raw).unwrap();
        let response = Header::response_to(request);
        assert_eq!(response.flags(), 0x80 | 0x40 | 0x20 | 0x02);
        assert_eq!(response.version(), 0x07);
        assert_eq!(response.serialize_bits(), 3);
        assert_eq!(
            response.as_bytes()[3],
            0x3A,
            "low nibble of byte 3 is copied"
        );
        assert_eq!(response.seq(), 9);
        assert_eq!(response.compress_bits(), 0);
    }

    #[test]
    fn setters_clear_before_setting() {
        let mut header = Header::request(1, SerializeType::Json);
        header.set_compress_type(CompressType::Gzip);
        header.set_status(StatusType::Error);
        header.set_oneway(true);
        assert_eq!(header.flags(), 0x04 | 0x01 | 0x20);
        header.set_compress_type(CompressType::None);
        header.set_status(StatusType::Normal);
        header.set_oneway(false);
        header.set_message_type(MessageType::Response);
        assert_eq!(header.flags(), 0x80);
        header.set_message_type(MessageType::Request);
        assert_eq!(header.flags(), 0);
    }

    #[test]
    fn compress_values_beyond_gzip_are_unknown() {
        assert_eq!(
            CompressType::from_wire(2),
            Err(DecodeError::UnknownCompressType(2))
        );
    }
}
