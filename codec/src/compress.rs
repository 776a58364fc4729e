//! Gzip payload compression (PROTOCOL.md §1.6) with rpcx's 1024-byte rule and a hard cap on
//! decompressed size.

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{DecodeError, EncodeError};

/// rpcx compresses a payload only when it is longer than this many bytes (PROTOCOL.md §4.12, §6.3).
pub const COMPRESS_THRESHOLD: usize = 1024;

/// The rpcx rule for both directions: compress only when compression is wanted (the client's
/// option, or a compressed request for a response) and the payload is over 1024 bytes.
pub fn should_compress(wanted: bool, payload_len: usize) -> bool {
    wanted && payload_len > COMPRESS_THRESHOLD
}

/// Appends the gzip stream of `payload` (default level, as Go's `compress/gzip`) to `dst`.
pub fn gzip(payload: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
    let mut encoder = GzEncoder::new(dst.writer(), Compression::default());
    encoder
        .write_all(payload)
        .map_err(|e| EncodeError::Compress(e.to_string()))?;
    encoder
        .finish()
        .map_err(|e| EncodeError::Compress(e.to_string()))?;
    Ok(())
}

/// Decompresses a gzip payload (one or more members, as Go accepts) into at most `max`
/// bytes. Reading stops at `max + 1` bytes, so a gzip bomb costs at most that much memory.
pub fn gunzip(payload: &[u8], max: usize) -> Result<Bytes, DecodeError> {
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(payload.len().saturating_mul(4).min(max));
    MultiGzDecoder::new(payload)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::CorruptGzip(e.to_string()))?;
    if out.len() > max {
        return Err(DecodeError::DecompressedTooLarge { max });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        let mut dst = BytesMut::new();
        gzip(&payload, &mut dst).unwrap();
        assert!(dst.len() < payload.len());
        assert_eq!(gunzip(&dst, 1 << 20).unwrap(), payload);
    }

    #[test]
    fn bomb_is_capped() {
        let zeros = vec![0u8; 8 << 20];
        let mut dst = BytesMut::new();
        gzip(&zeros, &mut dst).unwrap();
        assert!(
            dst.len() < 64 << 10,
            "8 MiB of zeros compress to {} bytes",
            dst.len()
        );
        assert_eq!(
            gunzip(&dst, 1 << 20),
            Err(DecodeError::DecompressedTooLarge { max: 1 << 20 })
        );
    }

    #[test]
    fn corrupt_stream_is_an_error() {
        assert!(matches!(
            gunzip(b"\x1f\x8b\x08garbage", 1024),
            Err(DecodeError::CorruptGzip(_))
        ));
    }

    #[test]
    fn rule_is_strictly_greater_than_1024() {
        assert!(!should_compress(true, 1024));
        assert!(should_compress(true, 1025));
        assert!(!should_compress(false, 1 << 20));
    }
}
