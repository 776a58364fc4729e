//! Incremental decoding: bytes in, frames out (PROTOCOL.md §1, §2.1).
//!
//! The length of a frame is known as soon as its 16-byte fixed part is in, so a driver can
//! size its next read with [`frame_len`]; [`decode`] then splits complete frames off the
//! front of a `BytesMut` without copying them.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::frame::{Frame, Layout};
use crate::header::{CompressType, Header, HEADER_LEN, MAGIC};
use crate::limits::Limits;

/// The four section length words: the smallest possible body.
const MIN_BODY_LEN: u32 = 16;

/// Length of the frame at the front of `src`, once its fixed part is in.
///
/// `Ok(None)`: fewer than 16 bytes so far. The magic byte is checked as soon as one byte is
/// in, and the declared length against `limits.max_frame_bytes` before any body is buffered.
pub fn frame_len(src: &[u8], limits: &Limits) -> Result<Option<usize>, DecodeError> {
    match src.first() {
        None => return Ok(None),
        Some(&magic) if magic != MAGIC => return Err(DecodeError::BadMagic(magic)),
        Some(_) => {}
    }
    let Some(header) = Header::peek(src) else {
        return Ok(None);
    };
    let body_len = header.body_len();
    let len = HEADER_LEN as u64 + u64::from(body_len);
    if len > u64::from(limits.max_frame_bytes) {
        return Err(DecodeError::FrameTooLarge {
            len,
            max: limits.max_frame_bytes,
        });
    }
    if body_len < MIN_BODY_LEN {
        return Err(DecodeError::BodyTooShort { len: body_len });
    }
    Ok(Some(header.frame_len()))
}

/// Splits one complete frame off the front of `src`; `Ok(None)` while it is incomplete.
///
/// On `Ok(Some(_))` the frame's bytes were removed from `src` and are shared (not copied)
/// by the returned [`Frame`]. After an error the stream cannot be trusted any more: the
/// caller closes the connection, as rpcx-go does.
pub fn decode(src: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, DecodeError> {
    let Some(len) = frame_len(src, limits)? else {
        return Ok(None);
    };
    if src.len() < len {
        return Ok(None);
    }
    let layout = Layout::parse(src.get(..len).unwrap_or_default(), limits)?;
    let raw = src.split_to(len).freeze();
    finish(raw, layout, limits, true).map(Some)
}

/// Decodes one complete frame already cut to length (`raw.len()` is exactly 16 + L).
pub fn decode_frame(raw: Bytes, limits: &Limits) -> Result<Frame, DecodeError> {
    let layout = check_cut(&raw, limits)?;
    finish(raw, layout, limits, true)
}

/// Like [`decode_frame`], but a gzip payload is left compressed: [`Frame::is_compressed`]
/// says so and [`Frame::inflate`] inflates it. A server decides first whether the frame
/// deserves the work (a heartbeat is echoed as received; an unauthenticated request is
/// refused) and how much memory the connection may spend on it.
pub fn decode_frame_compressed(raw: Bytes, limits: &Limits) -> Result<Frame, DecodeError> {
    let layout = check_cut(&raw, limits)?;
    finish(raw, layout, limits, false)
}

/// Checks a frame cut to length and parses its sections.
fn check_cut(raw: &Bytes, limits: &Limits) -> Result<Layout, DecodeError> {
    match frame_len(raw, limits)? {
        Some(len) if len == raw.len() => {}
        _ => {
            return Err(DecodeError::PayloadLenMismatch {
                declared: Header::peek(raw).map_or(0, |h| h.body_len()),
                actual: raw.len().saturating_sub(HEADER_LEN),
            })
        }
    }
    Layout::parse(raw, limits)
}

fn finish(
    raw: Bytes,
    layout: Layout,
    limits: &Limits,
    inflate: bool,
) -> Result<Frame, DecodeError> {
    let compress = Header::peek(&raw).map_or(Ok(CompressType::None), |h| h.compress_type())?;
    let compressed = compress == CompressType::Gzip;
    if inflate && compressed {
        let mut frame = Frame::new(raw, layout, compressed);
        frame.inflate(limits.max_decompressed_bytes)?;
        return Ok(frame);
    }
    // Built where it is returned: a frame built on the stack and then moved would be copied
    // in 16-byte words just after being written in 8-byte ones (a stalled load per word).
    Ok(Frame::new(raw, layout, compressed))
}
