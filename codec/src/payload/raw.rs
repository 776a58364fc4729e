//! Raw bytes (serialize type 0): the payload is the value.

use bytes::{Bytes, BytesMut};

use super::{DecodePayload, EncodePayload, PayloadCodec, SerializeType};
use crate::error::PayloadError;

/// rpcx-go's `ByteCodec`: no transformation. Decoding shares the receive buffer.
pub struct Raw;

impl PayloadCodec<Bytes> for Raw {
    const SERIALIZE_TYPE: SerializeType = SerializeType::None;

    fn encode(value: &Bytes, dst: &mut BytesMut) -> Result<(), PayloadError> {
        dst.extend_from_slice(value);
        Ok(())
    }

    fn decode(src: &Bytes) -> Result<Bytes, PayloadError> {
        Ok(src.clone())
    }
}

/// Raw bytes pass through under any serialize type: a handler taking `Bytes` sees the
/// payload as sent (an echo service serves JSON and msgpack clients alike).
impl DecodePayload for Bytes {
    fn decode_as(_: SerializeType, src: &Bytes) -> Result<Self, PayloadError> {
        Ok(src.clone())
    }
}

impl EncodePayload for Bytes {
    fn encode_as(&self, _: SerializeType, dst: &mut BytesMut) -> Result<(), PayloadError> {
        dst.extend_from_slice(self);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_shares_the_buffer() {
        let src = Bytes::from_static(b"hello");
        let value = Raw::decode(&src).unwrap();
        assert_eq!(value.as_ptr(), src.as_ptr());
    }
}
