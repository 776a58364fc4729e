//! MsgPack (serialize type 3), with rmp-serde. rpcx-go's default client codec.
//!
//! Go's msgpack encodes structs as maps keyed by the Go field name, so we encode with
//! `to_vec_named` semantics (never rmp-serde's default positional arrays); rename Rust
//! fields to the Go names as for JSON. Decoding accepts both maps and arrays.

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{PayloadCodec, SerializeType};
use crate::error::PayloadError;

/// Structs as named maps, as Go's `vmihailenco/msgpack` and tinylib `msgp` write them.
pub struct MsgPack;

impl MsgPack {
    /// Appends the MsgPack (named maps) encoding of `value` to `dst` (encoding needs only `Serialize`).
    pub fn encode_value<T: Serialize>(value: &T, dst: &mut BytesMut) -> Result<(), PayloadError> {
        let mut writer = dst.writer();
        rmp_serde::encode::write_named(&mut writer, value)?;
        Ok(())
    }

    /// Decodes a value from `src` (decoding needs only `DeserializeOwned`).
    pub fn decode_value<T: DeserializeOwned>(src: &Bytes) -> Result<T, PayloadError> {
        Ok(rmp_serde::from_slice(src)?)
    }
}

impl<T: Serialize + DeserializeOwned> PayloadCodec<T> for MsgPack {
    const SERIALIZE_TYPE: SerializeType = SerializeType::MsgPack;

    fn encode(value: &T, dst: &mut BytesMut) -> Result<(), PayloadError> {
        Self::encode_value(value, dst)
    }

    fn decode(src: &Bytes) -> Result<T, PayloadError> {
        Self::decode_value(src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Args {
        #[serde(rename = "A")]
        a: i64,
    }

    #[test]
    fn structs_are_named_maps() {
        let mut dst = BytesMut::new();
        MsgPack::encode(&Args { a: 7 }, &mut dst).unwrap();
        // fixmap(1) "A" 7
        assert_eq!(&dst[..], &[0x81, 0xa1, b'A', 0x07]);
        // Go writes int64 at full width (0xd3); we must read it.
        let go = Bytes::from_static(&[0x81, 0xa1, b'A', 0xd3, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(
            <MsgPack as PayloadCodec<Args>>::decode(&go).unwrap(),
            Args { a: 7 }
        );
    }
}
