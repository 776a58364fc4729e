//! Encoding frames into a `BytesMut` (PROTOCOL.md §1, §2.3), whole or vectored.
//!
//! [`encode_frame`] writes a complete frame. [`encode_frame_head`] writes everything but the
//! payload bytes, so a driver can send a large payload from its own `Bytes` (vectored write)
//! without copying it into the output buffer.

use bytes::{BufMut, BytesMut};
use zerocopy::IntoBytes;

use crate::compress::{gzip, should_compress};
use crate::error::{EncodeError, Section};
use crate::header::{CompressType, Header, HEADER_LEN};

/// Metadata for frames that carry none (`n3 = 0` on the wire).
pub const NO_METADATA: [(&str, &str); 0] = [];

/// Appends a complete frame. `header`'s total length is computed here; everything else in
/// it is written as given. The payload is written as is: compress it first if the header's
/// compress bits say so (or use [`encode_request`]).
pub fn encode_frame<K, V>(
    dst: &mut BytesMut,
    header: &Header,
    service_path: &str,
    service_method: &str,
    metadata: impl IntoIterator<Item = (K, V)>,
    payload: &[u8],
) -> Result<(), EncodeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    encode_frame_head(
        dst,
        header,
        service_path,
        service_method,
        metadata,
        payload.len(),
    )?;
    dst.extend_from_slice(payload);
    Ok(())
}

/// Appends a frame without its payload bytes: the caller sends `payload_len` bytes of
/// payload right after what this wrote (a vectored write). On error `dst` is unchanged.
pub fn encode_frame_head<K, V>(
    dst: &mut BytesMut,
    header: &Header,
    service_path: &str,
    service_method: &str,
    metadata: impl IntoIterator<Item = (K, V)>,
    payload_len: usize,
) -> Result<(), EncodeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let start = dst.len();
    let result = write_head(
        dst,
        header,
        service_path,
        service_method,
        metadata,
        payload_len,
    );
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

fn write_head<K: AsRef<str>, V: AsRef<str>>(
    dst: &mut BytesMut,
    header: &Header,
    service_path: &str,
    service_method: &str,
    metadata: impl IntoIterator<Item = (K, V)>,
    payload_len: usize,
) -> Result<(), EncodeError> {
    let start = dst.len();
    dst.reserve(HEADER_LEN + 16 + service_path.len() + service_method.len());
    dst.extend_from_slice(header.as_bytes());
    put_section(dst, service_path.as_bytes(), Section::ServicePath)?;
    put_section(dst, service_method.as_bytes(), Section::ServiceMethod)?;

    let metadata_len_at = dst.len();
    dst.put_u32(0);
    for (key, value) in metadata {
        put_section(dst, key.as_ref().as_bytes(), Section::Metadata)?;
        put_section(dst, value.as_ref().as_bytes(), Section::Metadata)?;
    }
    let metadata_len = dst.len() - metadata_len_at - 4;
    patch_u32(
        dst,
        metadata_len_at,
        len_u32(metadata_len, Section::Metadata)?,
    );
    dst.put_u32(len_u32(payload_len, Section::Payload)?);

    let body_len = dst.len() - start - HEADER_LEN + payload_len;
    let body_len =
        u32::try_from(body_len).map_err(|_| EncodeError::FrameTooLarge { len: body_len })?;
    let mut header = *header;
    header.set_body_len(body_len);
    if let Some(slot) = dst.get_mut(start..start + HEADER_LEN) {
        slot.copy_from_slice(header.as_bytes());
    }
    Ok(())
}

/// Appends a request, gzip'ing the payload when `compress` is on and the payload is over
/// 1024 bytes (rpcx's client rule, PROTOCOL.md §6.3). The compress bits of `header` are set
/// to match what was written.
pub fn encode_request<K, V>(
    dst: &mut BytesMut,
    header: &Header,
    service_path: &str,
    service_method: &str,
    metadata: impl IntoIterator<Item = (K, V)>,
    payload: &[u8],
    compress: bool,
) -> Result<(), EncodeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut header = *header;
    if should_compress(compress, payload.len()) {
        let mut zipped = BytesMut::with_capacity(payload.len() / 2);
        gzip(payload, &mut zipped)?;
        header.set_compress_type(CompressType::Gzip);
        encode_frame(
            dst,
            &header,
            service_path,
            service_method,
            metadata,
            &zipped,
        )
    } else {
        header.set_compress_type(CompressType::None);
        encode_frame(
            dst,
            &header,
            service_path,
            service_method,
            metadata,
            payload,
        )
    }
}

fn put_section(dst: &mut BytesMut, bytes: &[u8], section: Section) -> Result<(), EncodeError> {
    dst.put_u32(len_u32(bytes.len(), section)?);
    dst.extend_from_slice(bytes);
    Ok(())
}

fn len_u32(len: usize, section: Section) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::SectionTooLarge { section, len })
}

fn patch_u32(dst: &mut BytesMut, at: usize, value: u32) {
    if let Some(slot) = dst.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}
