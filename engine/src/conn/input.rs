//! Received bytes not yet parsed: a shared chunk (a kernel-chosen receive buffer) and a spill
//! buffer for the one frame that straddles two chunks.
//!
//! A driver that reads into the connection's own buffer (glommio) only ever fills the spill,
//! and [`next_frame`] then behaves exactly like `codec::decode` on it. A driver whose kernel
//! picks the buffer (io_uring provided buffers) hands each filled buffer over as a `Bytes`
//! chunk: frames wholly inside it are decoded where they lie, without a copy; only a frame
//! cut by the end of a chunk is copied, into the spill, and completed from the next chunk.
//! As soon as a chunk holds no more complete frames its remaining bytes are copied and the
//! chunk is released, so a connection never keeps a receive buffer for a partial frame.
//!
//! The spill grows with the bytes that arrived (doubling), never with the length a header
//! announces: a peer that sends a 16-byte header promising 16 MiB costs 16 bytes.
//! Frames come out with gzip payloads still compressed (`decode_frame_compressed`): the
//! connection inflates only what it will run.
//!
//! Invariant: when both are non-empty, the spill's bytes come before the chunk's.

use bytes::{Buf, Bytes, BytesMut};

use crate::prefetch::prefetch;
use ringrpc_codec::{decode_frame_compressed, frame_len, DecodeError, Frame, Limits, HEADER_LEN};

/// Splits the next complete frame off the received bytes; `Ok(None)` while none is complete.
pub(super) fn next_frame(
    spill: &mut BytesMut,
    chunk: &mut Bytes,
    limits: &Limits,
) -> Result<Option<Frame>, DecodeError> {
    if spill.is_empty() {
        if let Some(len) = frame_len(chunk, limits)? {
            if chunk.len() >= len {
                // The whole frame is in the chunk: decoded in place. The next frame's head
                // is asked for now, to arrive while this one is routed and answered.
                let frame = chunk.split_to(len);
                prefetch(chunk);
                return decode_frame_compressed(frame, limits).map(Some);
            }
        }
        // A partial frame (or nothing): keep its bytes, let the chunk go.
        spill.extend_from_slice(chunk);
        *chunk = Bytes::new();
        return Ok(None);
    }
    loop {
        let want = frame_len(spill, limits)?;
        match want {
            Some(len) if spill.len() >= len => {
                return decode_frame_compressed(spill.split_to(len).freeze(), limits).map(Some)
            }
            _ => {
                if !fill(spill, chunk, want.unwrap_or(HEADER_LEN)) {
                    return Ok(None);
                }
            }
        }
    }
}

/// Moves bytes from the chunk to the spill until it holds `upto` bytes; false if the chunk
/// ran out first. The spill grows by what is moved, not to `upto`.
fn fill(spill: &mut BytesMut, chunk: &mut Bytes, upto: usize) -> bool {
    let n = upto.saturating_sub(spill.len()).min(chunk.len());
    spill.extend_from_slice(&chunk[..n]);
    chunk.advance(n);
    if chunk.is_empty() {
        *chunk = Bytes::new();
    }
    spill.len() >= upto
}

/// Adds a received chunk after whatever is pending. Leftovers of an earlier chunk (the
/// connection stopped parsing, e.g. at its in-flight limit) are copied to the spill first,
/// so at most one chunk is ever kept.
pub(super) fn push_chunk(spill: &mut BytesMut, chunk: &mut Bytes, received: Bytes) {
    if !chunk.is_empty() {
        spill.extend_from_slice(chunk);
    }
    *chunk = received;
}

/// Adds received bytes by copying them (for a driver that must give its buffer back now).
pub(super) fn push_copy(spill: &mut BytesMut, chunk: &mut Bytes, received: &[u8]) {
    if !chunk.is_empty() {
        spill.extend_from_slice(chunk);
        *chunk = Bytes::new();
    }
    spill.extend_from_slice(received);
}

/// The first byte received and not yet parsed, if any.
pub(super) fn first_byte(spill: &[u8], chunk: &[u8]) -> Option<u8> {
    spill.first().or(chunk.first()).copied()
}

/// Moves a held chunk's bytes to the spill, for input parsed only from contiguous bytes
/// (HTTP); the chunk is released.
pub(super) fn take_chunk(spill: &mut BytesMut, chunk: &mut Bytes) {
    if !chunk.is_empty() {
        spill.extend_from_slice(chunk);
        *chunk = Bytes::new();
    }
}

/// Whether a complete frame is waiting (a bad one counts: it must still become a close).
pub(super) fn frame_ready(spill: &[u8], chunk: &[u8], limits: &Limits) -> bool {
    let mut head = [0u8; HEADER_LEN];
    let from_spill = spill.len().min(HEADER_LEN);
    head[..from_spill].copy_from_slice(&spill[..from_spill]);
    let from_chunk = (HEADER_LEN - from_spill).min(chunk.len());
    head[from_spill..from_spill + from_chunk].copy_from_slice(&chunk[..from_chunk]);
    match frame_len(&head[..from_spill + from_chunk], limits) {
        Ok(Some(len)) => spill.len() + chunk.len() >= len,
        Ok(None) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringrpc_codec::payload::SerializeType;
    use ringrpc_codec::{encode_frame, Header, NO_METADATA};

    fn frames(count: u64, payload_len: usize) -> (Vec<u8>, usize) {
        let mut out = BytesMut::new();
        for seq in 0..count {
            let header = Header::request(seq, SerializeType::None);
            let payload = vec![seq as u8; payload_len];
            encode_frame(&mut out, &header, "Echo", "Echo", NO_METADATA, &payload).unwrap();
        }
        let one = out.len() / count as usize;
        (out.to_vec(), one)
    }

    /// Feeds `wire` in chunks of `size` and returns the seqs decoded, and how many frames
    /// were decoded in place (their bytes inside a chunk).
    fn run(wire: &[u8], size: usize) -> (Vec<u64>, usize) {
        let limits = Limits::default();
        let (mut spill, mut chunk) = (BytesMut::new(), Bytes::new());
        let (mut seqs, mut in_place) = (Vec::new(), 0);
        for piece in wire.chunks(size) {
            let received = Bytes::copy_from_slice(piece);
            let range = received.as_ptr() as usize..received.as_ptr() as usize + received.len();
            push_chunk(&mut spill, &mut chunk, received);
            while let Some(frame) = next_frame(&mut spill, &mut chunk, &limits).unwrap() {
                in_place += usize::from(range.contains(&(frame.as_bytes().as_ptr() as usize)));
                seqs.push(frame.seq());
            }
            assert!(
                chunk.is_empty(),
                "a chunk with no complete frame left is released"
            );
        }
        assert!(spill.is_empty());
        (seqs, in_place)
    }

    #[test]
    fn whole_frames_are_decoded_in_place() {
        let (wire, one) = frames(8, 100);
        let (seqs, in_place) = run(&wire, one * 4);
        assert_eq!(seqs, (0..8).collect::<Vec<_>>());
        assert_eq!(in_place, 8);
    }

    #[test]
    fn every_split_point_yields_every_frame_once() {
        let (wire, one) = frames(6, 37);
        for size in 1..=wire.len() {
            let (seqs, in_place) = run(&wire, size);
            assert_eq!(seqs, (0..6).collect::<Vec<_>>(), "chunk size {size}");
            if size >= 2 * one {
                assert!(in_place >= 3, "chunk size {size}: only {in_place} in place");
            }
        }
    }

    #[test]
    fn leftovers_of_a_paused_connection_keep_their_order() {
        let limits = Limits::default();
        let (wire, one) = frames(4, 10);
        let (mut spill, mut chunk) = (BytesMut::new(), Bytes::new());
        push_chunk(
            &mut spill,
            &mut chunk,
            Bytes::copy_from_slice(&wire[..one * 2]),
        );
        assert_eq!(
            next_frame(&mut spill, &mut chunk, &limits)
                .unwrap()
                .unwrap()
                .seq(),
            0
        );
        // Paused with frame 1 unparsed; more bytes arrive, some by copy.
        push_chunk(
            &mut spill,
            &mut chunk,
            Bytes::copy_from_slice(&wire[one * 2..one * 3]),
        );
        push_copy(&mut spill, &mut chunk, &wire[one * 3..]);
        let mut seqs = Vec::new();
        while let Some(frame) = next_frame(&mut spill, &mut chunk, &limits).unwrap() {
            seqs.push(frame.seq());
        }
        assert_eq!(seqs, [1, 2, 3]);
        assert!(spill.is_empty() && chunk.is_empty());
    }

    #[test]
    fn frame_ready_looks_across_spill_and_chunk() {
        let limits = Limits::default();
        let (wire, one) = frames(1, 50);
        for cut in 0..=one {
            for end in cut..=one {
                let ready = frame_ready(&wire[..cut], &wire[cut..end], &limits);
                assert_eq!(ready, end == one, "cut {cut} end {end}");
            }
        }
        assert!(
            frame_ready(b"\x07", b"", &limits),
            "a bad frame must still be acted on"
        );
    }

    #[test]
    fn a_header_announcing_a_large_frame_reserves_nothing() {
        let limits = Limits::default();
        let (wire, _) = frames(1, 10);
        let mut header = wire[..HEADER_LEN].to_vec();
        header[12..16].copy_from_slice(&(limits.max_frame_bytes - 16).to_be_bytes());
        let (mut spill, mut chunk) = (BytesMut::new(), Bytes::new());
        push_chunk(&mut spill, &mut chunk, Bytes::from(header));
        assert!(next_frame(&mut spill, &mut chunk, &limits)
            .unwrap()
            .is_none());
        push_copy(&mut spill, &mut chunk, &[0; 100]);
        assert!(next_frame(&mut spill, &mut chunk, &limits)
            .unwrap()
            .is_none());
        assert!(
            spill.capacity() < 4096,
            "116 bytes arrived, {} reserved",
            spill.capacity()
        );
    }

    #[test]
    fn bad_bytes_are_errors() {
        let limits = Limits::default();
        let (mut spill, mut chunk) = (BytesMut::new(), Bytes::from_static(b"\x07garbage"));
        assert!(matches!(
            next_frame(&mut spill, &mut chunk, &limits),
            Err(DecodeError::BadMagic(7))
        ));
        let (wire, _) = frames(1, 10);
        let mut spill = BytesMut::from(&wire[..3]);
        let mut chunk = Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        // A header whose declared body is shorter than the four length words.
        assert!(next_frame(&mut spill, &mut chunk, &limits).is_err());
    }
}
