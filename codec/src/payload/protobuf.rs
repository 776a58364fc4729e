//! Protobuf (serialize type 2), with prost.

use bytes::{Bytes, BytesMut};

use super::{unsupported, Payload, PayloadCodec, SerializeType};
use crate::error::PayloadError;

/// Protobuf binary for prost messages. Decoding reads from the shared receive buffer, so
/// `bytes` fields generated as `Bytes` borrow it instead of copying.
pub struct Protobuf;

impl<T: prost::Message + Default> PayloadCodec<T> for Protobuf {
    const SERIALIZE_TYPE: SerializeType = SerializeType::Protobuf;

    fn encode(value: &T, dst: &mut BytesMut) -> Result<(), PayloadError> {
        value.encode(dst)?;
        Ok(())
    }

    fn decode(src: &Bytes) -> Result<T, PayloadError> {
        Ok(T::decode(src.clone())?)
    }
}

/// A prost message as a [`Payload`]: protobuf only, like rpcx-go's `PBCodec`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proto<T>(pub T);

impl<T: prost::Message + Default> Payload for Proto<T> {
    fn decode_as(serialize_type: SerializeType, src: &Bytes) -> Result<Self, PayloadError> {
        match serialize_type {
            SerializeType::Protobuf => Protobuf::decode(src).map(Proto),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }

    fn encode_as(
        &self,
        serialize_type: SerializeType,
        dst: &mut BytesMut,
    ) -> Result<(), PayloadError> {
        match serialize_type {
            SerializeType::Protobuf => Protobuf::encode(&self.0, dst),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }
}
