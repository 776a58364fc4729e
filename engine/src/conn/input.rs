//! Received bytes not yet parsed: the receive buffers a driver lent (chunks, oldest first)
//! and a spill buffer for a frame that straddles two of them.
//!
//! A driver that reads into the connection's own buffer (glommio) only ever fills the spill,
//! and [`next_frame`] then behaves exactly like `codec::decode` on it. A driver whose kernel
//! picks the buffer (io_uring provided buffers) hands each filled buffer over as a `Bytes`
//! chunk: frames wholly inside one are decoded where they lie, without a copy; only a frame
//! cut by the end of a chunk is copied, into the spill, and completed from the next chunk.
//! Several chunks can arrive before the connection parses (one driver turn reaps every
//! completion first): up to [`CHUNKS_MAX`] wait side by side, so a chunk that arrives behind
//! an unparsed one costs no copy; one more folds the oldest into the spill. As soon as the
//! last chunk holds no more complete frames its remaining bytes are copied and it is
//! released, so a connection never keeps a receive buffer for a partial frame; and a
//! connection that pauses (its budgets are full) keeps only its newest chunk
//! ([`keep_newest`]), so a paused connection holds one receive buffer at most, as before.
//!
//! The spill grows with the bytes that arrived (doubling), never with the length a header
//! announces: a peer that sends a 16-byte header promising 16 MiB costs 16 bytes.
//! Frames come out with gzip payloads still compressed (`decode_frame_compressed`): the
//! connection inflates only what it will run.
//!
//! Invariant: the spill's bytes come before the chunks', and no chunk is empty.

use bytes::{Buf, Bytes, BytesMut};

use crate::prefetch::prefetch;
use ringrpc_codec::{decode_frame_compressed, frame_len, DecodeError, Frame, Limits, HEADER_LEN};

/// Received buffers a connection holds unparsed at most; the receive ring's buffers are
/// shared by the shard's connections, and the driver stops lending them (it copies) when
/// few are left.
pub(super) const CHUNKS_MAX: usize = 8;

/// Lent receive buffers not yet parsed, oldest first: a fixed ring, so holding them
/// allocates nothing, and an idle connection's is [`CHUNKS_MAX`] empty `Bytes`.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    ring: [Bytes; CHUNKS_MAX],
    head: usize,
    len: usize,
}

impl Chunks {
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many chunks are held.
    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.len
    }

    fn front(&self) -> Option<&Bytes> {
        (self.len > 0).then(|| &self.ring[self.head])
    }

    fn front_mut(&mut self) -> Option<&mut Bytes> {
        (self.len > 0).then(|| &mut self.ring[self.head])
    }

    /// Removes and returns the oldest chunk (empty if none).
    fn pop_front(&mut self) -> Bytes {
        if self.len == 0 {
            return Bytes::new();
        }
        let chunk = std::mem::take(&mut self.ring[self.head]);
        self.head = (self.head + 1) % CHUNKS_MAX;
        self.len -= 1;
        chunk
    }

    /// Adds a non-empty chunk after the others; hands it back if all places are taken.
    fn push_back(&mut self, chunk: Bytes) -> Result<(), Bytes> {
        if self.len == CHUNKS_MAX {
            return Err(chunk);
        }
        self.ring[(self.head + self.len) % CHUNKS_MAX] = chunk;
        self.len += 1;
        Ok(())
    }

    fn iter(&self) -> impl Iterator<Item = &Bytes> {
        (0..self.len).map(move |i| &self.ring[(self.head + i) % CHUNKS_MAX])
    }

    /// Drops every chunk (their buffers go back to the driver).
    pub(super) fn clear(&mut self) {
        while !self.is_empty() {
            drop(self.pop_front());
        }
    }

    /// Copies every chunk's bytes to the end of `spill`, in order, and releases them.
    fn move_all_to(&mut self, spill: &mut BytesMut) {
        while !self.is_empty() {
            spill.extend_from_slice(&self.pop_front());
        }
    }
}

/// Splits the next complete frame off the received bytes; `Ok(None)` while none is complete.
pub(super) fn next_frame(
    spill: &mut BytesMut,
    chunks: &mut Chunks,
    limits: &Limits,
) -> Result<Option<Frame>, DecodeError> {
    if spill.is_empty() {
        let Some(chunk) = chunks.front_mut() else {
            return Ok(None);
        };
        if let Some(len) = frame_len(chunk, limits)? {
            if chunk.len() >= len {
                // The whole frame is in the chunk: decoded in place. The next frame's head
                // is asked for now, to arrive while this one is routed and answered. The
                // chunk's last frame takes the chunk's own reference instead of a new one.
                let frame = if chunk.len() == len {
                    std::mem::take(chunk)
                } else {
                    chunk.split_to(len)
                };
                if chunk.is_empty() {
                    drop(chunks.pop_front());
                } else {
                    prefetch(chunk);
                }
                return decode_frame_compressed(frame, limits).map(Some);
            }
        }
        // A partial frame (or nothing) ends this chunk: keep its bytes, let the chunk go,
        // and complete the frame from the next chunk if one is waiting.
        spill.extend_from_slice(&chunks.pop_front());
        if chunks.is_empty() {
            return Ok(None);
        }
    }
    loop {
        let want = frame_len(spill, limits)?;
        match want {
            Some(len) if spill.len() >= len => {
                return decode_frame_compressed(spill.split_to(len).freeze(), limits).map(Some)
            }
            _ => {
                if !fill(spill, chunks, want.unwrap_or(HEADER_LEN)) {
                    return Ok(None);
                }
            }
        }
    }
}

/// Moves bytes from the chunks to the spill until it holds `upto` bytes; false if the
/// chunks ran out first. The spill grows by what is moved, not to `upto`.
fn fill(spill: &mut BytesMut, chunks: &mut Chunks, upto: usize) -> bool {
    while spill.len() < upto {
        let Some(chunk) = chunks.front_mut() else {
            return false;
        };
        let n = (upto - spill.len()).min(chunk.len());
        spill.extend_from_slice(&chunk[..n]);
        chunk.advance(n);
        if chunk.is_empty() {
            drop(chunks.pop_front());
        }
    }
    true
}

/// Adds a received chunk after whatever is pending. With every place taken (the
/// connection stopped parsing, e.g. at its in-flight limit, while more arrived) the oldest
/// chunk's bytes are copied to the spill first, so at most [`CHUNKS_MAX`] are ever kept.
pub(super) fn push_chunk(spill: &mut BytesMut, chunks: &mut Chunks, received: Bytes) {
    if received.is_empty() {
        return;
    }
    if let Err(received) = chunks.push_back(received) {
        // The spill's bytes came before the oldest chunk's, so they stay in order.
        spill.extend_from_slice(&chunks.pop_front());
        let pushed = chunks.push_back(received);
        debug_assert!(pushed.is_ok(), "a place was just freed");
    }
}

/// Copies every chunk but the newest to the spill and releases them: a connection that stops
/// parsing for a while holds one lent buffer at most.
pub(super) fn keep_newest(spill: &mut BytesMut, chunks: &mut Chunks) {
    while chunks.len > 1 {
        spill.extend_from_slice(&chunks.pop_front());
    }
}

/// Adds received bytes by copying them (for a driver that must give its buffer back now).
pub(super) fn push_copy(spill: &mut BytesMut, chunks: &mut Chunks, received: &[u8]) {
    chunks.move_all_to(spill);
    spill.extend_from_slice(received);
}

/// The first byte received and not yet parsed, if any.
pub(super) fn first_byte(spill: &[u8], chunks: &Chunks) -> Option<u8> {
    spill
        .first()
        .or_else(|| chunks.front().and_then(|c| c.first()))
        .copied()
}

/// Moves the held chunks' bytes to the spill, for input parsed only from contiguous bytes
/// (HTTP); the chunks are released.
pub(super) fn take_chunks(spill: &mut BytesMut, chunks: &mut Chunks) {
    chunks.move_all_to(spill);
}

/// Whether a complete frame is waiting (a bad one counts: it must still become a close).
pub(super) fn frame_ready(spill: &[u8], chunks: &Chunks, limits: &Limits) -> bool {
    let mut head = [0u8; HEADER_LEN];
    let mut have = 0;
    for piece in std::iter::once(spill).chain(chunks.iter().map(|c| &c[..])) {
        let n = (HEADER_LEN - have).min(piece.len());
        head[have..have + n].copy_from_slice(&piece[..n]);
        have += n;
        if have == HEADER_LEN {
            break;
        }
    }
    match frame_len(&head[..have], limits) {
        Ok(Some(len)) => spill.len() + chunks.iter().map(Bytes::len).sum::<usize>() >= len,
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

    /// Feeds `wire` in chunks of `size`, `batch` chunks at a time before parsing (a driver
    /// turn that reaped several receives), and returns the seqs decoded and how many frames
    /// were decoded in place (their bytes inside a received chunk).
    fn run(wire: &[u8], size: usize, batch: usize) -> (Vec<u64>, usize) {
        let limits = Limits::default();
        let (mut spill, mut chunks) = (BytesMut::new(), Chunks::default());
        let (mut seqs, mut in_place) = (Vec::new(), 0);
        let mut ranges = Vec::new();
        let pieces: Vec<&[u8]> = wire.chunks(size).collect();
        for group in pieces.chunks(batch) {
            for piece in group {
                let received = Bytes::copy_from_slice(piece);
                let start = received.as_ptr() as usize;
                ranges.push(start..start + received.len());
                push_chunk(&mut spill, &mut chunks, received);
            }
            while let Some(frame) = next_frame(&mut spill, &mut chunks, &limits).unwrap() {
                let at = frame.as_bytes().as_ptr() as usize;
                in_place += usize::from(ranges.iter().any(|r| r.contains(&at)));
                seqs.push(frame.seq());
            }
            assert!(
                chunks.is_empty(),
                "a chunk with no complete frame left is released"
            );
        }
        assert!(spill.is_empty());
        (seqs, in_place)
    }

    #[test]
    fn whole_frames_are_decoded_in_place() {
        let (wire, one) = frames(8, 100);
        let (seqs, in_place) = run(&wire, one * 4, 1);
        assert_eq!(seqs, (0..8).collect::<Vec<_>>());
        assert_eq!(in_place, 8);
    }

    #[test]
    fn every_split_point_yields_every_frame_once() {
        let (wire, one) = frames(6, 37);
        for batch in 1..=CHUNKS_MAX + 1 {
            for size in 1..=wire.len() {
                let (seqs, in_place) = run(&wire, size, batch);
                assert_eq!(seqs, (0..6).collect::<Vec<_>>(), "chunk size {size}");
                if size >= 2 * one {
                    assert!(in_place >= 3, "chunk size {size}: only {in_place} in place");
                }
            }
        }
    }

    #[test]
    fn chunks_that_arrive_together_are_parsed_where_they_lie() {
        // Three receives reaped before the connection parses: 2 frames each, no frame cut.
        let (wire, one) = frames(6, 300);
        let (seqs, in_place) = run(&wire, one * 2, 3);
        assert_eq!(seqs, (0..6).collect::<Vec<_>>());
        assert_eq!(in_place, 6, "no frame copied");
        // Chunks that cut frames: only the cut frames are copied.
        let size = one * 3 / 2;
        let cut = (1..wire.len() / size + 1)
            .filter(|k| (k * size) % one != 0 && k * size < wire.len())
            .count();
        let (seqs, in_place) = run(&wire, size, 4);
        assert_eq!(seqs, (0..6).collect::<Vec<_>>());
        assert_eq!(in_place, 6 - cut, "{cut} frames cut");
    }

    #[test]
    fn one_chunk_more_than_the_places_folds_the_oldest_into_the_spill() {
        let limits = Limits::default();
        let (wire, one) = frames(CHUNKS_MAX as u64 + 1, 64);
        let (mut spill, mut chunks) = (BytesMut::new(), Chunks::default());
        for k in 0..CHUNKS_MAX {
            push_chunk(
                &mut spill,
                &mut chunks,
                Bytes::copy_from_slice(&wire[k * one..(k + 1) * one]),
            );
        }
        assert_eq!((chunks.count(), spill.len()), (CHUNKS_MAX, 0));
        push_chunk(
            &mut spill,
            &mut chunks,
            Bytes::copy_from_slice(&wire[CHUNKS_MAX * one..]),
        );
        assert_eq!(chunks.count(), CHUNKS_MAX);
        assert_eq!(&spill[..], &wire[..one], "the oldest chunk's bytes, copied");
        let mut seqs = Vec::new();
        while let Some(frame) = next_frame(&mut spill, &mut chunks, &limits).unwrap() {
            seqs.push(frame.seq());
        }
        assert_eq!(seqs, (0..=CHUNKS_MAX as u64).collect::<Vec<_>>());
        assert!(spill.is_empty() && chunks.is_empty());
    }

    #[test]
    fn a_paused_connection_keeps_only_its_newest_chunk_and_the_order() {
        let limits = Limits::default();
        let (wire, one) = frames(3, 40);
        let (mut spill, mut chunks) = (BytesMut::new(), Chunks::default());
        for k in 0..3 {
            let piece = Bytes::copy_from_slice(&wire[k * one..(k + 1) * one]);
            push_chunk(&mut spill, &mut chunks, piece);
        }
        keep_newest(&mut spill, &mut chunks);
        assert_eq!(chunks.count(), 1);
        assert_eq!(&spill[..], &wire[..2 * one]);
        let mut seqs = Vec::new();
        while let Some(frame) = next_frame(&mut spill, &mut chunks, &limits).unwrap() {
            seqs.push(frame.seq());
        }
        assert_eq!(seqs, [0, 1, 2]);
    }

    #[test]
    fn leftovers_of_a_paused_connection_keep_their_order() {
        let limits = Limits::default();
        let (wire, one) = frames(4, 10);
        let (mut spill, mut chunks) = (BytesMut::new(), Chunks::default());
        push_chunk(
            &mut spill,
            &mut chunks,
            Bytes::copy_from_slice(&wire[..one * 2]),
        );
        assert_eq!(
            next_frame(&mut spill, &mut chunks, &limits)
                .unwrap()
                .unwrap()
                .seq(),
            0
        );
        // Paused with frame 1 unparsed; more bytes arrive, some by copy.
        push_chunk(
            &mut spill,
            &mut chunks,
            Bytes::copy_from_slice(&wire[one * 2..one * 3]),
        );
        push_copy(&mut spill, &mut chunks, &wire[one * 3..]);
        let mut seqs = Vec::new();
        while let Some(frame) = next_frame(&mut spill, &mut chunks, &limits).unwrap() {
            seqs.push(frame.seq());
        }
        assert_eq!(seqs, [1, 2, 3]);
        assert!(spill.is_empty() && chunks.is_empty());
    }

    fn chunks_of(pieces: &[&[u8]]) -> Chunks {
        let mut chunks = Chunks::default();
        for piece in pieces.iter().filter(|p| !p.is_empty()) {
            chunks.push_back(Bytes::copy_from_slice(piece)).unwrap();
        }
        chunks
    }

    #[test]
    fn frame_ready_looks_across_spill_and_chunks() {
        let limits = Limits::default();
        let (wire, one) = frames(1, 50);
        for cut in 0..=one {
            for end in cut..=one {
                let ready = frame_ready(&wire[..cut], &chunks_of(&[&wire[cut..end]]), &limits);
                assert_eq!(ready, end == one, "cut {cut} end {end}");
                // The header itself cut across two chunks.
                let mid = cut + (end - cut) / 2;
                let two = chunks_of(&[&wire[cut..mid], &wire[mid..end]]);
                assert_eq!(frame_ready(&wire[..cut], &two, &limits), end == one);
            }
        }
        assert!(
            frame_ready(b"\x07", &Chunks::default(), &limits),
            "a bad frame must still be acted on"
        );
    }

    #[test]
    fn a_header_announcing_a_large_frame_reserves_nothing() {
        let limits = Limits::default();
        let (wire, _) = frames(1, 10);
        let mut header = wire[..HEADER_LEN].to_vec();
        header[12..16].copy_from_slice(&(limits.max_frame_bytes - 16).to_be_bytes());
        let (mut spill, mut chunks) = (BytesMut::new(), Chunks::default());
        push_chunk(&mut spill, &mut chunks, Bytes::from(header));
        assert!(next_frame(&mut spill, &mut chunks, &limits)
            .unwrap()
            .is_none());
        push_copy(&mut spill, &mut chunks, &[0; 100]);
        assert!(next_frame(&mut spill, &mut chunks, &limits)
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
        let mut spill = BytesMut::new();
        let mut chunks = chunks_of(&[b"\x07garbage"]);
        assert!(matches!(
            next_frame(&mut spill, &mut chunks, &limits),
            Err(DecodeError::BadMagic(7))
        ));
        let (wire, _) = frames(1, 10);
        let mut spill = BytesMut::from(&wire[..3]);
        let mut chunks = chunks_of(&[b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"]);
        // A header whose declared body is shorter than the four length words.
        assert!(next_frame(&mut spill, &mut chunks, &limits).is_err());
    }
}
