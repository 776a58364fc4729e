//! Output that is sent without being copied into the connection's output buffer: a reply's
//! encoded head, cut off the buffer, followed by the payload the handler returned as
//! `Bytes` (for the raw echo, a slice of the very receive buffer the request arrived in).
//!
//! The queue holds pieces in wire order, ahead of whatever is encoded in the output buffer
//! after them. Drivers send its pieces and the buffer's bytes in one vectored send
//! (`Connection::transmit_slices`, `Connection::poll_transmit_owned`). It never copies and
//! never allocates once its `VecDeque` has grown to the connection's largest burst.
//!
//! Bounds: its bytes count with the output buffer's against `flush_threshold_bytes` (the
//! connection stops reading at that sum), so it holds at most that plus one reply; at most
//! two pieces per reply. An idle connection frees a queue that grew past
//! [`KEEP_PIECES`] entries.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

/// Reply payloads at least this long are sent by reference; shorter ones are copied, which
/// costs less than one more piece to send.
pub(super) const BY_REFERENCE_MIN_BYTES: usize = 256;
/// Entries an idle connection's queue may keep allocated.
const KEEP_PIECES: usize = 64;

/// Pieces to send, in order, before the output buffer's bytes.
#[derive(Debug, Default)]
pub(super) struct OutQueue {
    pieces: VecDeque<Bytes>,
    len: usize,
}

impl OutQueue {
    /// Bytes queued.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a piece (empty ones are dropped).
    pub(super) fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.len += piece.len();
            self.pieces.push_back(piece);
        }
    }

    /// The pieces, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces.iter()
    }

    /// Takes the first piece.
    pub(super) fn pop(&mut self) -> Option<Bytes> {
        let piece = self.pieces.pop_front()?;
        self.len -= piece.len();
        Some(piece)
    }

    /// `n` bytes were sent: consumes them from the front; returns how many of them were
    /// beyond the queue (taken from what follows it).
    pub(super) fn advance(&mut self, mut n: usize) -> usize {
        while n > 0 {
            let Some(front) = self.pieces.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.len -= k;
            n -= k;
            if front.is_empty() {
                self.pieces.pop_front();
            }
        }
        n
    }

    pub(super) fn clear(&mut self) {
        self.pieces.clear();
        self.len = 0;
    }

    /// Frees the queue's memory if it is empty and grew large.
    pub(super) fn release_idle(&mut self) {
        if self.is_empty() && self.pieces.capacity() > KEEP_PIECES {
            self.pieces = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_leave_in_order_and_short_sends_resume_inside_a_piece() {
        let mut queue = OutQueue::default();
        queue.push(Bytes::from_static(b"head"));
        queue.push(Bytes::new());
        queue.push(Bytes::from_static(b"payload"));
        assert_eq!(queue.len(), 11);
        assert_eq!(queue.advance(6), 0);
        let left: Vec<&[u8]> = queue.iter().map(|b| &b[..]).collect();
        assert_eq!(left, [&b"yload"[..]]);
        assert_eq!(queue.advance(8), 3, "three bytes came from after the queue");
        assert!(queue.is_empty() && queue.pop().is_none());
    }

    #[test]
    fn an_idle_queue_gives_back_what_a_burst_grew() {
        let mut queue = OutQueue::default();
        for _ in 0..1000 {
            queue.push(Bytes::from_static(b"x"));
        }
        queue.release_idle();
        assert!(queue.pieces.capacity() >= 1000, "not idle: kept");
        while queue.pop().is_some() {}
        queue.release_idle();
        assert_eq!(queue.pieces.capacity(), 0);
    }
}
