//! Protobuf (serialize type 2), with prost.

use bytes::{Bytes, BytesMut};

use super::{unsupported, DecodePayload, EncodePayload, PayloadCodec, SerializeType};
use crate::error::PayloadError;

/// Protobuf binary for prost messages. Decoding reads from the shared receive buffer, so
/// `bytes` fields generated as `Bytes` borrow it instead of copying.
pub struct Protobuf;

impl Protobuf {
    /// Appends the protobuf encoding of `value` to `dst` (encoding needs no `Default`).
    pub fn encode_value<T: prost::Message>(
        value: &T,
        dst: &mut BytesMut,
    ) -> Result<(), PayloadError> {
        value.encode(dst)?;
        Ok(())
    }

    /// Decodes a message from `src`, sharing the buffer for `bytes` fields.
    pub fn decode_value<T: prost::Message + Default>(src: &Bytes) -> Result<T, PayloadError> {
        Ok(T::decode(src.clone())?)
    }
}

impl<T: prost::Message + Default> PayloadCodec<T> for Protobuf {
    const SERIALIZE_TYPE: SerializeType = SerializeType::Protobuf;

    fn encode(value: &T, dst: &mut BytesMut) -> Result<(), PayloadError> {
        Self::encode_value(value, dst)
    }

    fn decode(src: &Bytes) -> Result<T, PayloadError> {
        Self::decode_value(src)
    }
}

/// A prost message as a [`Payload`](super::Payload): protobuf only, like rpcx-go's `PBCodec`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proto<T>(pub T);

impl<T: prost::Message + Default> DecodePayload for Proto<T> {
    fn decode_as(serialize_type: SerializeType, src: &Bytes) -> Result<Self, PayloadError> {
        match serialize_type {
            SerializeType::Protobuf => Protobuf::decode_value(src).map(Proto),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }
}

/// Encoding needs only `prost::Message` (no `Default`); protobuf is the only type it
/// travels under, so it asks for it: a client sends `Proto(msg)` as protobuf without a
/// per-call serialize type.
impl<T: prost::Message> EncodePayload for Proto<T> {
    fn preferred_serialize_type(&self) -> Option<SerializeType> {
        Some(SerializeType::Protobuf)
    }

    fn encode_as(
        &self,
        serialize_type: SerializeType,
        dst: &mut BytesMut,
    ) -> Result<(), PayloadError> {
        match serialize_type {
            SerializeType::Protobuf => Protobuf::encode_value(&self.0, dst),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Msg {
        #[prost(int32, tag = "1")]
        a: i32,
    }

    #[test]
    fn proto_asks_for_protobuf_and_round_trips() {
        let value = Proto(Msg { a: 7 });
        assert_eq!(
            value.preferred_serialize_type(),
            Some(SerializeType::Protobuf)
        );
        let mut dst = BytesMut::new();
        value.encode_as(SerializeType::Protobuf, &mut dst).unwrap();
        let back = Proto::<Msg>::decode_as(SerializeType::Protobuf, &dst.freeze()).unwrap();
        assert_eq!(back, value);
        let err = value
            .encode_as(SerializeType::Json, &mut BytesMut::new())
            .unwrap_err();
        assert!(matches!(err, PayloadError::NotSupportedByType { .. }));
    }
}
