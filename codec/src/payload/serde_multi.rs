//! Values that travel under several serialize types, picked per frame.

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{unsupported, DecodePayload, EncodePayload, Json, MsgPack, SerializeType};
use crate::error::PayloadError;

/// A serde value as a [`Payload`](super::Payload): JSON or MsgPack, whichever the frame names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Serde<T>(pub T);

impl<T: DeserializeOwned> DecodePayload for Serde<T> {
    fn decode_as(serialize_type: SerializeType, src: &Bytes) -> Result<Self, PayloadError> {
        match serialize_type {
            SerializeType::Json => Json::decode_value(src).map(Serde),
            SerializeType::MsgPack => MsgPack::decode_value(src).map(Serde),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }
}

impl<T: Serialize> EncodePayload for Serde<T> {
    fn encode_as(
        &self,
        serialize_type: SerializeType,
        dst: &mut BytesMut,
    ) -> Result<(), PayloadError> {
        match serialize_type {
            SerializeType::Json => Json::encode_value(&self.0, dst),
            SerializeType::MsgPack => MsgPack::encode_value(&self.0, dst),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }
}

/// A prost message that also derives serde: JSON, protobuf and MsgPack from one type, so
/// one handler serves clients of all three.
#[cfg(feature = "protobuf")]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProtoSerde<T>(pub T);

#[cfg(feature = "protobuf")]
impl<T: DeserializeOwned + prost::Message + Default> DecodePayload for ProtoSerde<T> {
    fn decode_as(serialize_type: SerializeType, src: &Bytes) -> Result<Self, PayloadError> {
        match serialize_type {
            SerializeType::Protobuf => super::Protobuf::decode_value(src).map(ProtoSerde),
            other => Serde::<T>::decode_as(other, src).map(|Serde(v)| ProtoSerde(v)),
        }
    }
}

#[cfg(feature = "protobuf")]
impl<T: Serialize + prost::Message> EncodePayload for ProtoSerde<T> {
    fn encode_as(
        &self,
        serialize_type: SerializeType,
        dst: &mut BytesMut,
    ) -> Result<(), PayloadError> {
        match serialize_type {
            SerializeType::Protobuf => super::Protobuf::encode_value(&self.0, dst),
            SerializeType::Json => Json::encode_value(&self.0, dst),
            SerializeType::MsgPack => MsgPack::encode_value(&self.0, dst),
            other => Err(unsupported(other, std::any::type_name::<T>())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Args {
        #[serde(rename = "A")]
        a: i32,
    }

    #[test]
    fn picks_the_codec_named_by_the_frame() {
        for st in [SerializeType::Json, SerializeType::MsgPack] {
            let mut dst = BytesMut::new();
            Serde(Args { a: 3 }).encode_as(st, &mut dst).unwrap();
            let back = Serde::<Args>::decode_as(st, &dst.freeze()).unwrap();
            assert_eq!(back.0, Args { a: 3 });
        }
    }

    #[test]
    fn encoding_needs_only_serialize() {
        /// Serialize only: an argument type never has to be decodable.
        #[derive(serde::Serialize)]
        struct OnlyOut {
            #[serde(rename = "A")]
            a: i32,
        }
        let mut dst = BytesMut::new();
        let value = Serde(OnlyOut { a: 5 });
        value.encode_as(SerializeType::Json, &mut dst).unwrap();
        assert_eq!(&dst[..], br#"{"A":5}"#);
        assert_eq!(value.preferred_serialize_type(), None);
    }

    #[test]
    fn thrift_is_reported_as_unsupported() {
        let err = Serde::<Args>::decode_as(SerializeType::Thrift, &Bytes::new()).unwrap_err();
        assert_eq!(err.to_string(), "unsupported serialize type Thrift (4)");
        let err = Serde::<Args>::decode_as(SerializeType::Protobuf, &Bytes::new()).unwrap_err();
        assert!(matches!(err, PayloadError::NotSupportedByType { .. }));
    }
}
