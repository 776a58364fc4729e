//! JSON (serialize type 1), with serde_json.
//!
//! rpcx-go's JSON uses Go field names (`A`, `FileName`) unless a `json:"..."` tag renames
//! them, and base64 strings for `[]byte`. To match a Go struct, rename the Rust fields
//! (`#[serde(rename_all = "PascalCase")]` or `#[serde(rename = "A")]`) and encode byte
//! fields as base64 strings.

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{PayloadCodec, SerializeType};
use crate::error::PayloadError;

/// Compact JSON, as Go's `encoding/json` writes it.
pub struct Json;

impl Json {
    /// Appends the JSON encoding of `value` to `dst` (encoding needs only `Serialize`).
    pub fn encode_value<T: Serialize>(value: &T, dst: &mut BytesMut) -> Result<(), PayloadError> {
        serde_json::to_writer(dst.writer(), value)?;
        Ok(())
    }

    /// Decodes a value from `src` (decoding needs only `DeserializeOwned`).
    pub fn decode_value<T: DeserializeOwned>(src: &Bytes) -> Result<T, PayloadError> {
        Ok(serde_json::from_slice(src)?)
    }
}

impl<T: Serialize + DeserializeOwned> PayloadCodec<T> for Json {
    const SERIALIZE_TYPE: SerializeType = SerializeType::Json;

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
    #[serde(rename_all = "PascalCase")]
    struct Args {
        a: i64,
        b: i64,
    }

    #[test]
    fn go_field_names() {
        let mut dst = BytesMut::new();
        Json::encode(&Args { a: 10, b: 20 }, &mut dst).unwrap();
        assert_eq!(&dst[..], br#"{"A":10,"B":20}"#);
        let back: Args = Json::decode(&dst.freeze()).unwrap();
        assert_eq!(back, Args { a: 10, b: 20 });
    }

    #[test]
    fn empty_payload_is_an_error_like_go() {
        let err = <Json as PayloadCodec<Args>>::decode(&Bytes::new()).unwrap_err();
        assert!(err.to_string().contains("EOF"), "{err}");
    }
}
