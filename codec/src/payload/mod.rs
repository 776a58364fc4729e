//! Payload codecs: what the bytes inside `payload` mean, chosen per frame by the serialize
//! nibble (PROTOCOL.md §3). Each codec is a pure bytes ↔ value function pair.
//!
//! Two layers:
//! - [`PayloadCodec`]: one codec, statically chosen (`Json::encode(&value, &mut dst)`).
//! - [`EncodePayload`] / [`DecodePayload`] (both: [`Payload`]): a value that can travel
//!   under several serialize types, decoded with whichever type the request names, as
//!   rpcx-go does. Implemented by `Bytes` (raw), [`Serde`] (JSON + MsgPack), [`Proto`]
//!   (protobuf) and [`ProtoSerde`] (all three); each half asks only for what it needs
//!   (`Serde<T>` encodes with `T: Serialize`, decodes with `T: DeserializeOwned`).

use bytes::{Bytes, BytesMut};

use crate::error::PayloadError;

mod raw;
pub use raw::Raw;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "json")]
pub use json::Json;
#[cfg(feature = "msgpack")]
mod msgpack;
#[cfg(feature = "msgpack")]
pub use msgpack::MsgPack;
#[cfg(feature = "protobuf")]
mod protobuf;
#[cfg(feature = "protobuf")]
pub use protobuf::{Proto, Protobuf};
#[cfg(all(feature = "json", feature = "msgpack"))]
mod serde_multi;
#[cfg(all(feature = "json", feature = "msgpack", feature = "protobuf"))]
pub use serde_multi::ProtoSerde;
#[cfg(all(feature = "json", feature = "msgpack"))]
pub use serde_multi::Serde;
#[cfg(feature = "flatbuffers")]
mod flatbuffers;
#[cfg(feature = "flatbuffers")]
pub use self::flatbuffers::FlatBuffers;
#[cfg(feature = "benchmark-message")]
pub mod benchmark_message;

/// The serialize nibble (byte 3, high 4 bits), numbered as rpcx numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerializeType {
    /// 0: raw bytes, no codec (rpcx-go's `SerializeNone`).
    None,
    /// 1: JSON, Go field names (`encoding/json`).
    Json,
    /// 2: protobuf binary.
    Protobuf,
    /// 3: MsgPack, structs as maps keyed by Go field name. rpcx-go's client default.
    MsgPack,
    /// 4: Thrift binary. Numbered by rpcx; not implemented by ringrpc.
    Thrift,
    /// 10: FlatBuffers. rpcx-go leaves 5..=15 to user-registered codecs; ringrpc uses 10
    /// (register a Go codec under `protocol.SerializeType(10)` to interoperate).
    FlatBuffers,
}

impl SerializeType {
    /// Maps a serialize nibble. Unknown values give rpcx-go's `can not find codec for N`.
    pub fn from_wire(bits: u8) -> Result<Self, PayloadError> {
        Ok(match bits {
            0 => Self::None,
            1 => Self::Json,
            2 => Self::Protobuf,
            3 => Self::MsgPack,
            4 => Self::Thrift,
            10 => Self::FlatBuffers,
            other => return Err(PayloadError::UnknownSerializeType(other)),
        })
    }

    /// The serialize nibble of this type.
    pub const fn to_wire(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Json => 1,
            Self::Protobuf => 2,
            Self::MsgPack => 3,
            Self::Thrift => 4,
            Self::FlatBuffers => 10,
        }
    }
}

/// One payload codec for values of type `T`: pure bytes ↔ value.
pub trait PayloadCodec<T> {
    /// The serialize type a frame carrying this encoding must name.
    const SERIALIZE_TYPE: SerializeType;
    /// Appends the encoding of `value` to `dst`.
    fn encode(value: &T, dst: &mut BytesMut) -> Result<(), PayloadError>;
    /// Decodes a value. `src` is a slice of the receive buffer; codecs that can borrow or
    /// share it (raw bytes, protobuf `bytes` fields) do not copy it.
    fn decode(src: &Bytes) -> Result<T, PayloadError>;
}

/// A value that can be written as a payload under one or more serialize types. Encoding
/// needs only this half, so an argument or reply type needs only `Serialize` (or
/// `prost::Message`), never the decoding side too.
pub trait EncodePayload {
    /// Appends the encoding of `self` under `serialize_type` to `dst`, or says the value
    /// cannot travel under it.
    fn encode_as(
        &self,
        serialize_type: SerializeType,
        dst: &mut BytesMut,
    ) -> Result<(), PayloadError>;

    /// The serialize type this value travels under when the caller names none (a client
    /// then uses it instead of its default): `Proto<T>` says protobuf. `None`: no
    /// preference, the caller's default applies.
    fn preferred_serialize_type(&self) -> Option<SerializeType> {
        None
    }
}

/// A value that can be read from a payload under one or more serialize types, picked at
/// run time from the frame (rpcx-go picks its codec from the request's nibble the same way).
pub trait DecodePayload: Sized {
    /// Decodes `src` (a slice of the receive buffer) as `serialize_type` names it.
    fn decode_as(serialize_type: SerializeType, src: &Bytes) -> Result<Self, PayloadError>;
}

/// A value that travels both ways: implemented for every type that is both
/// [`EncodePayload`] and [`DecodePayload`].
pub trait Payload: EncodePayload + DecodePayload {}

impl<T: EncodePayload + DecodePayload> Payload for T {}

/// The error for a serialize type a value does not support. Thrift gets its own message:
/// rpcx numbers it, ringrpc does not implement it.
pub(crate) fn unsupported(serialize_type: SerializeType, type_name: &'static str) -> PayloadError {
    match serialize_type {
        SerializeType::Thrift => PayloadError::UnsupportedSerializeType(serialize_type),
        _ => PayloadError::NotSupportedByType {
            serialize_type,
            type_name,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_numbers_match_rpcx() {
        for (bits, st) in [
            (0, SerializeType::None),
            (1, SerializeType::Json),
            (2, SerializeType::Protobuf),
            (3, SerializeType::MsgPack),
            (4, SerializeType::Thrift),
            (10, SerializeType::FlatBuffers),
        ] {
            assert_eq!(SerializeType::from_wire(bits).unwrap(), st);
            assert_eq!(st.to_wire(), bits);
        }
        let err = SerializeType::from_wire(7).unwrap_err();
        assert_eq!(err.to_string(), "can not find codec for 7");
    }
}
