//! Output that is sent without being copied into the connection's output buffer: the
//! payloads handlers returned as `Bytes` (for the raw echo, a slice of the very receive
//! buffer the request arrived in), each after its reply's head.
//!
//! The heads stay where they were encoded, in the output buffer, between the other replies'
//! bytes: the queue records, for each payload, how many of the buffer's bytes go before it
//! (its *gap*). The wire order is: the first gap's bytes, the first payload, the second gap's
//! bytes, the second payload, ..., then the rest of the buffer. A head is never cut off the
//! buffer on its own (that would share the buffer's memory once more, a reference count
//! taken and dropped per reply); a driver that sends later takes the buffer once per send
//! and the payloads by move ([`SendPieces`]).
//!
//! Drivers send the buffer's ranges and the payloads in one vectored send
//! (`Connection::transmit_slices`, `Connection::poll_transmit_owned_into`). The queue never
//! copies and never allocates once its `VecDeque` has grown to the connection's largest
//! burst.
//!
//! Bounds: its bytes count with the output buffer's against `flush_threshold_bytes` (the
//! connection stops reading at that sum), so it holds at most that plus one reply; one entry
//! per reply. An idle connection frees a queue that grew past [`KEEP_PIECES`] entries.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

/// Reply payloads at least this long are sent by reference; shorter ones are copied, which
/// costs less than one more piece to send.
pub(super) const BY_REFERENCE_MIN_BYTES: usize = 256;
/// Entries an idle connection's queue may keep allocated.
const KEEP_PIECES: usize = 64;

/// One payload and the output buffer's bytes that go before it.
#[derive(Debug)]
struct Queued {
    /// Bytes of the output buffer between the previous payload (or the buffer's start) and
    /// this one.
    gap: usize,
    payload: Bytes,
}

/// Payloads to send, in order, interleaved with the output buffer's bytes.
#[derive(Debug, Default)]
pub(super) struct OutQueue {
    pieces: VecDeque<Queued>,
    /// Payload bytes queued.
    len: usize,
    /// The output buffer's bytes that go before the last payload: the sum of the gaps.
    gaps: usize,
}

impl OutQueue {
    /// Payload bytes queued (the output buffer's bytes are not counted here).
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Queues `payload` behind everything the output buffer holds now (`out_len` bytes);
    /// an empty payload is dropped.
    pub(super) fn push(&mut self, out_len: usize, payload: Bytes) {
        debug_assert!(out_len >= self.gaps, "the buffer lost bytes a gap counts");
        if !payload.is_empty() {
            self.len += payload.len();
            self.pieces.push_back(Queued {
                gap: out_len - self.gaps.min(out_len),
                payload,
            });
            self.gaps = out_len;
        }
    }

    /// Everything waiting, in wire order, as non-empty slices: the buffer's ranges and the
    /// payloads between them.
    pub(super) fn slices<'a>(&'a self, out: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        let mut at = 0;
        self.pieces
            .iter()
            .flat_map(move |queued| {
                let head = out.get(at..at + queued.gap).unwrap_or_default();
                at += queued.gap;
                [head, &queued.payload[..]]
            })
            .chain(std::iter::once(out.get(self.gaps..).unwrap_or_default()))
            .filter(|slice| !slice.is_empty())
    }

    /// `n` bytes of [`OutQueue::slices`] were sent (or sealed): consumes them from the
    /// front of the wire order, from the buffer and the payloads alike.
    pub(super) fn advance(&mut self, out: &mut BytesMut, mut n: usize) {
        while n > 0 {
            let Some(front) = self.pieces.front_mut() else {
                out.advance(n.min(out.len()));
                return;
            };
            if front.gap > 0 {
                let k = n.min(front.gap).min(out.len());
                out.advance(k);
                front.gap -= k;
                self.gaps -= k;
                n -= k;
                if k == 0 {
                    debug_assert!(false, "a gap longer than the buffer");
                    return;
                }
                continue;
            }
            let k = n.min(front.payload.len());
            front.payload.advance(k);
            self.len -= k;
            n -= k;
            if front.payload.is_empty() {
                self.pieces.pop_front();
            }
        }
    }

    /// Takes the first piece in wire order, owned: a gap's bytes cut off the buffer, a
    /// payload, or (nothing queued) the whole buffer.
    pub(super) fn pop(&mut self, out: &mut BytesMut) -> Option<Bytes> {
        let Some(front) = self.pieces.front_mut() else {
            return (!out.is_empty()).then(|| out.split().freeze());
        };
        if front.gap > 0 {
            let gap = std::mem::take(&mut front.gap);
            self.gaps -= gap;
            return Some(out.split_to(gap.min(out.len())).freeze());
        }
        let queued = self.pieces.pop_front()?;
        self.len -= queued.payload.len();
        Some(queued.payload)
    }

    /// Moves up to `max` pieces (in wire order) into `dst`: the buffer's bytes they cover
    /// are cut off it once, as one owner all their ranges point into, and the payloads are
    /// moved. Returns the pieces and the bytes taken.
    pub(super) fn take(
        &mut self,
        out: &mut BytesMut,
        dst: &mut SendPieces,
        max: usize,
    ) -> (usize, usize) {
        // How many entries fit whole, and the buffer's bytes before them.
        let (mut spans, mut entries, mut head_bytes) = (0, 0, 0);
        for queued in &self.pieces {
            let need = 1 + usize::from(queued.gap > 0);
            if spans + need > max {
                break;
            }
            spans += need;
            entries += 1;
            head_bytes += queued.gap;
        }
        // The next entry's gap alone if its payload does not fit; the rest of the buffer if
        // every entry does.
        let partial = match self.pieces.get(entries) {
            Some(next) if spans < max && next.gap > 0 => next.gap,
            _ => 0,
        };
        let tail = if entries == self.pieces.len() && spans < max {
            out.len() - self.gaps.min(out.len())
        } else {
            0
        };
        let block_len = (head_bytes + partial + tail).min(out.len());
        if block_len == 0 && entries == 0 {
            return (0, 0);
        }
        let block = (block_len > 0).then(|| dst.add_block(out.split_to(block_len).freeze()));
        let (mut taken, mut bytes, mut at) = (0, block_len, 0);
        for queued in self.pieces.drain(..entries) {
            if let (Some(block), true) = (block, queued.gap > 0) {
                dst.range(block, at, queued.gap);
                at += queued.gap;
                taken += 1;
            }
            self.len -= queued.payload.len();
            bytes += queued.payload.len();
            dst.push(queued.payload);
            taken += 1;
        }
        if let (Some(block), true) = (block, at < block_len) {
            dst.range(block, at, block_len - at);
            taken += 1;
        }
        if let Some(next) = self.pieces.front_mut() {
            next.gap -= partial;
        }
        self.gaps -= (head_bytes + partial).min(self.gaps);
        (taken, bytes)
    }

    pub(super) fn clear(&mut self) {
        self.pieces.clear();
        self.len = 0;
        self.gaps = 0;
    }

    /// Frees the queue's memory if it is empty and grew large.
    pub(super) fn release_idle(&mut self) {
        if self.is_empty() && self.pieces.capacity() > KEEP_PIECES {
            self.pieces = VecDeque::new();
        }
    }
}

/// Bytes a driver took to send later (io_uring), which must stay put until the kernel has
/// read them, as pieces in wire order. A payload sent by reference is its own piece and owns
/// its `Bytes` (dropped as soon as it is sent); the output buffer's bytes of one take are one
/// block, kept here once whatever the number of replies' heads in it, and its pieces are
/// ranges of it. Reused from send to send: it allocates only to grow to the largest send.
#[derive(Debug, Default)]
pub struct SendPieces {
    pieces: VecDeque<Piece>,
    /// The block of the first take not yet sent (the only one for a driver that takes only
    /// when everything was sent, as the io_uring outbox does), then those of later takes.
    block: Option<Bytes>,
    more_blocks: Vec<Bytes>,
    len: usize,
}

/// One piece to send: a range of a block (0: `block`, then `more_blocks`), or bytes of its
/// own.
#[derive(Debug)]
enum Piece {
    Range {
        block: usize,
        start: usize,
        len: usize,
    },
    Owned(Bytes),
}

impl SendPieces {
    /// Whether nothing is left to send (every block and payload has been let go).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Bytes left to send.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Pieces left to send.
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// How many `Bytes` keep the pieces' memory alive (blocks and payloads).
    pub fn owners(&self) -> usize {
        let owned = self.pieces.iter();
        let owned = owned
            .filter(|piece| matches!(piece, Piece::Owned(_)))
            .count();
        owned + usize::from(self.block.is_some()) + self.more_blocks.len()
    }

    /// Adds `bytes` to send whole after everything already here.
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.pieces.push_back(Piece::Owned(bytes));
        }
    }

    /// The pieces left to send, in wire order.
    pub fn slices(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.pieces.iter().map(|piece| match piece {
            Piece::Owned(bytes) => &bytes[..],
            &Piece::Range { block, start, len } => self
                .block_at(block)
                .and_then(|bytes| bytes.get(start..start + len))
                .unwrap_or_default(),
        })
    }

    /// `n` bytes from the front were sent: a payload sent whole is let go at once, the
    /// blocks when nothing is left.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.pieces.front_mut() else {
                break;
            };
            let left = match front {
                Piece::Owned(bytes) => {
                    let k = n.min(bytes.len());
                    bytes.advance(k);
                    n -= k;
                    self.len -= k;
                    bytes.len()
                }
                Piece::Range { start, len, .. } => {
                    let k = n.min(*len);
                    *start += k;
                    *len -= k;
                    n -= k;
                    self.len -= k;
                    *len
                }
            };
            if left == 0 {
                self.pieces.pop_front();
            }
        }
        if self.pieces.is_empty() {
            self.clear();
        }
    }

    /// Lets everything go (sent, or given up).
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.block = None;
        self.more_blocks.clear();
        self.len = 0;
    }

    /// Keeps a take's block; returns its number for [`SendPieces::range`].
    fn add_block(&mut self, bytes: Bytes) -> usize {
        if self.block.is_none() && self.more_blocks.is_empty() {
            self.block = Some(bytes);
            return 0;
        }
        self.more_blocks.push(bytes);
        self.more_blocks.len()
    }

    fn block_at(&self, block: usize) -> Option<&Bytes> {
        match block {
            0 => self.block.as_ref(),
            n => self.more_blocks.get(n - 1),
        }
    }

    fn range(&mut self, block: usize, start: usize, len: usize) {
        debug_assert!(len > 0, "pieces are never empty");
        self.pieces.push_back(Piece::Range { block, start, len });
        self.len += len;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A buffer holding `heads` with a payload queued after each.
    fn queued(heads: &[&[u8]], payloads: &[&'static [u8]]) -> (OutQueue, BytesMut) {
        let (mut queue, mut out) = (OutQueue::default(), BytesMut::new());
        for (head, payload) in heads.iter().zip(payloads) {
            out.extend_from_slice(head);
            queue.push(out.len(), Bytes::from_static(payload));
        }
        (queue, out)
    }

    fn wire(queue: &OutQueue, out: &[u8]) -> Vec<u8> {
        queue.slices(out).flatten().copied().collect()
    }

    #[test]
    fn heads_stay_in_the_buffer_and_payloads_go_between_them() {
        let (mut queue, mut out) = queued(&[b"h1", b"", b"h3"], &[b"p1", b"p2", b"p3"]);
        out.extend_from_slice(b"tail");
        assert_eq!(queue.len(), 6);
        let slices: Vec<&[u8]> = queue.slices(&out).collect();
        assert_eq!(
            slices,
            [&b"h1"[..], b"p1", b"p2", b"h3", b"p3", b"tail"],
            "no empty slice, wire order"
        );
        // A short send stops inside a head, then inside a payload.
        queue.advance(&mut out, 1);
        assert_eq!(wire(&queue, &out), b"1p1p2h3p3tail");
        queue.advance(&mut out, 3);
        assert_eq!(wire(&queue, &out), b"p2h3p3tail");
        queue.advance(&mut out, 7);
        assert_eq!(wire(&queue, &out), b"ail");
        assert!(queue.is_empty());
        queue.advance(&mut out, 3);
        assert!(out.is_empty());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn an_empty_payload_leaves_its_head_to_the_next_gap() {
        let (mut queue, mut out) = (OutQueue::default(), BytesMut::new());
        out.extend_from_slice(b"h1");
        queue.push(out.len(), Bytes::new());
        out.extend_from_slice(b"h2");
        queue.push(out.len(), Bytes::from_static(b"p2"));
        assert_eq!(queue.slices(&out).count(), 2);
        assert_eq!(wire(&queue, &out), b"h1h2p2");
    }

    #[test]
    fn a_take_cuts_the_buffer_once_and_moves_the_payloads() {
        let (mut queue, mut out) = queued(&[b"h1", b"h2"], &[b"p1", b"p2"]);
        out.extend_from_slice(b"tail");
        let mut dst = SendPieces::default();
        assert_eq!(queue.take(&mut out, &mut dst, 64), (5, 12));
        assert_eq!(dst.owners(), 3, "one buffer block and two payloads");
        let sent: Vec<u8> = dst.slices().flatten().copied().collect();
        assert_eq!(sent, b"h1p1h2p2tail");
        assert!(out.is_empty() && queue.is_empty());
        assert_eq!(queue.len(), 0);
        // Sent in parts: a payload goes as soon as it is sent, the block with the last byte.
        dst.advance(3);
        assert_eq!((dst.len(), dst.owners()), (9, 3), "p1 not wholly sent");
        dst.advance(1);
        assert_eq!((dst.len(), dst.owners()), (8, 2), "p1 let go");
        dst.advance(8);
        assert!(dst.is_empty() && dst.owners() == 0);
    }

    #[test]
    fn a_take_stops_at_max_pieces_and_the_rest_follows_in_order() {
        for max in 1..=6 {
            let (mut queue, mut out) = queued(&[b"h1", b"h2", b"h3"], &[b"p1", b"p2", b"p3"]);
            out.extend_from_slice(b"tail");
            let mut sent: Vec<u8> = Vec::new();
            let mut rounds = 0;
            loop {
                let mut dst = SendPieces::default();
                let (taken, bytes) = queue.take(&mut out, &mut dst, max);
                if taken == 0 {
                    break;
                }
                assert!(taken <= max, "max {max}: {taken} pieces");
                assert_eq!((dst.pieces(), dst.len()), (taken, bytes));
                sent.extend(dst.slices().flatten());
                // Something else is encoded meanwhile: it goes after what was queued.
                if rounds == 0 {
                    out.extend_from_slice(b"+");
                }
                rounds += 1;
                assert!(rounds < 20, "max {max}: no progress");
            }
            assert_eq!(sent, b"h1p1h2p2h3p3tail+", "max {max}");
            assert!(queue.is_empty() && out.is_empty());
        }
    }

    #[test]
    fn pop_hands_out_one_piece_at_a_time() {
        let (mut queue, mut out) = queued(&[b"h1", b""], &[b"p1", b"p2"]);
        out.extend_from_slice(b"tail");
        let mut pieces = Vec::new();
        while let Some(piece) = queue.pop(&mut out) {
            pieces.push(piece);
        }
        assert_eq!(pieces, [&b"h1"[..], b"p1", b"p2", b"tail"]);
    }

    /// One step of a connection's output: bytes encoded into the buffer, a reply whose
    /// payload is queued after its head, or a send of what waits (taken whole by an
    /// io_uring-like driver with a piece limit, or a vectored send the kernel takes part of).
    #[derive(Debug, Clone)]
    enum Step {
        Encode(usize),
        Reply { head: usize, payload: usize },
        Take { max: usize, sent: usize },
        Send { sent: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..40usize).prop_map(Step::Encode),
            (0..30usize, 0..30usize).prop_map(|(head, payload)| Step::Reply { head, payload }),
            (1..8usize, 0..200usize).prop_map(|(max, sent)| Step::Take { max, sent }),
            (0..200usize).prop_map(|sent| Step::Send { sent }),
        ]
    }

    proptest! {
        /// Whatever the interleaving of encodes, replies by reference, bounded takes and
        /// short sends, the bytes leave exactly once and in the order they were produced,
        /// and the queue's figures match what is left.
        #[test]
        fn every_byte_leaves_once_and_in_order(steps in proptest::collection::vec(step(), 0..60)) {
            let (mut queue, mut out) = (OutQueue::default(), BytesMut::new());
            let (mut expected, mut wire) = (Vec::new(), Vec::new());
            let mut next = 0u8;
            let mut fresh = |n: usize| -> Vec<u8> {
                (0..n).map(|_| { next = next.wrapping_add(1); next }).collect()
            };
            // What a driver holds between a take and the kernel taking all of it.
            let mut taken = SendPieces::default();
            for step in steps {
                match step {
                    Step::Encode(n) => {
                        let bytes = fresh(n);
                        expected.extend_from_slice(&bytes);
                        out.extend_from_slice(&bytes);
                    }
                    Step::Reply { head, payload } => {
                        let head = fresh(head);
                        let payload = fresh(payload);
                        expected.extend_from_slice(&head);
                        expected.extend_from_slice(&payload);
                        out.extend_from_slice(&head);
                        queue.push(out.len(), Bytes::from(payload));
                    }
                    Step::Take { max, sent } => {
                        if taken.is_empty() {
                            let (pieces, bytes) = queue.take(&mut out, &mut taken, max);
                            prop_assert!(pieces <= max);
                            prop_assert_eq!((taken.pieces(), taken.len()), (pieces, bytes));
                        }
                        let sent = sent.min(taken.len());
                        let slices: Vec<u8> = taken.slices().flatten().copied().collect();
                        wire.extend_from_slice(&slices[..sent]);
                        taken.advance(sent);
                    }
                    Step::Send { sent } => {
                        if taken.is_empty() {
                            let waiting: Vec<u8> = queue.slices(&out).flatten().copied().collect();
                            let sent = sent.min(waiting.len());
                            wire.extend_from_slice(&waiting[..sent]);
                            queue.advance(&mut out, sent);
                        }
                    }
                }
                let held = taken.len() + queue.len() + out.len();
                prop_assert_eq!(wire.len() + held, expected.len());
            }
            wire.extend(taken.slices().flatten());
            wire.extend(queue.slices(&out).flatten());
            prop_assert_eq!(wire, expected);
        }
    }

    #[test]
    fn an_idle_queue_gives_back_what_a_burst_grew() {
        let (mut queue, mut out) = (OutQueue::default(), BytesMut::new());
        for _ in 0..1000 {
            queue.push(out.len(), Bytes::from_static(b"x"));
        }
        queue.release_idle();
        assert!(queue.pieces.capacity() >= 1000, "not idle: kept");
        while queue.pop(&mut out).is_some() {}
        queue.release_idle();
        assert_eq!(queue.pieces.capacity(), 0);
    }
}
