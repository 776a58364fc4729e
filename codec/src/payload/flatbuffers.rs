//! FlatBuffers (serialize type 10): zero-copy payloads. The root table is verified and then
//! read straight from the payload bytes (which are themselves a slice of the receive
//! buffer): nothing is copied or allocated to read a request.

use bytes::BytesMut;
use flatbuffers::{FlatBufferBuilder, Follow, Verifiable};

use super::SerializeType;
use crate::error::PayloadError;

/// Verified, borrowed access to flatbuffers payloads.
pub struct FlatBuffers;

impl FlatBuffers {
    /// The serialize type a frame carrying flatbuffers names.
    pub const SERIALIZE_TYPE: SerializeType = SerializeType::FlatBuffers;

    /// Verifies `src` and returns its root, borrowing `src`.
    pub fn root<'buf, T>(src: &'buf [u8]) -> Result<T::Inner, PayloadError>
    where
        T: 'buf + Follow<'buf> + Verifiable,
    {
        Ok(flatbuffers::root::<T>(src)?)
    }

    /// Appends a finished builder's bytes to `dst`.
    pub fn encode(builder: &FlatBufferBuilder<'_>, dst: &mut BytesMut) {
        dst.extend_from_slice(builder.finished_data());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flatbuffers::Vector;

    #[test]
    fn root_borrows_the_payload() {
        let mut builder = FlatBufferBuilder::new();
        let data = builder.create_vector(&[1u8, 2, 3, 4]);
        builder.finish_minimal(data);
        let mut dst = BytesMut::new();
        FlatBuffers::encode(&builder, &mut dst);
        let payload = dst.freeze();

        let root = FlatBuffers::root::<Vector<u8>>(&payload).unwrap();
        assert_eq!(root.bytes(), &[1, 2, 3, 4]);
        let range = payload.as_ptr_range();
        assert!(
            range.contains(&root.bytes().as_ptr()),
            "root must point into the payload"
        );
    }

    #[test]
    fn garbage_fails_verification() {
        assert!(FlatBuffers::root::<Vector<u8>>(&[0xff; 8]).is_err());
    }
}
