//! What leaves a connection: the bytes a driver takes to send (copied into one buffer, as
//! slices for a vectored send, or owned until a later completion) and what it reports sent.
//!
//! Every figure the shard counts for output is kept here: the bytes encoded or kept by
//! reference and not yet taken (`unsent_len`), and those a driver took and the kernel has
//! not (`owned_unsent`), which stay counted after a close until the driver's send ends.

use std::io::IoSlice;

use bytes::Bytes;

use super::connection::{Connection, State};
use super::out_queue::SendPieces;
use crate::error::CloseCause;

impl Connection {
    /// Bytes waiting to be sent, if any: the first of the pieces kept by reference (see
    /// [`Connection::transmit_slices`]), else everything encoded since the last send.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        self.link.take_pushes(&mut self.out);
        if self.state == State::Closed {
            return None;
        }
        self.out_queue.slices(&self.out).next()
    }

    /// Everything waiting to be sent, as up to `dst.len()` slices in wire order, for one
    /// vectored send: reply payloads kept by reference are not copied into one buffer
    /// first. Returns how many slices were filled; report the bytes sent with
    /// [`Connection::handle_sent`].
    pub fn transmit_slices<'a>(&'a mut self, dst: &mut [IoSlice<'a>]) -> usize {
        self.link.take_pushes(&mut self.out);
        if self.state == State::Closed {
            return 0;
        }
        let mut n = 0;
        for (slot, piece) in dst.iter_mut().zip(self.out_queue.slices(&self.out)) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        n
    }

    /// `n` bytes of [`Connection::poll_transmit`] (or [`Connection::transmit_slices`])
    /// were sent.
    pub fn handle_sent(&mut self, n: usize) {
        self.link.count_sent(n);
        self.handle_sealed(n);
    }

    /// `n` bytes of [`Connection::poll_transmit`] were taken by the layer under the core
    /// (TLS sealed them into records): they leave the core's output, and that layer counts
    /// what the kernel takes and what it still holds (`Link::set_transport_unsent`).
    pub fn handle_sealed(&mut self, n: usize) {
        self.out_queue.advance(&mut self.out, n);
        self.update_state();
    }

    /// Takes every byte waiting to be sent, for a driver whose send completes later and must
    /// own the bytes meanwhile (io_uring): the driver sends all of them (the rest of a short
    /// send first) before anything taken later, reports each completion with
    /// [`Connection::handle_sent_owned`], and closes the socket only after its last send
    /// completed, even if the connection is closed by then.
    ///
    /// Several calls may be needed to take everything (pieces kept by reference come one
    /// by one, the rest of the buffer last): the driver sends them in order.
    pub fn poll_transmit_owned(&mut self) -> Option<Bytes> {
        self.link.take_pushes(&mut self.out);
        if self.state == State::Closed {
            return None;
        }
        let piece = self.out_queue.pop(&mut self.out)?;
        self.owned_unsent += piece.len();
        self.update_state();
        Some(piece)
    }

    /// [`Connection::poll_transmit_owned`] for up to `max` pieces at once, appended to `dst`
    /// in wire order; returns how many were taken. The output buffer's bytes among them are
    /// cut off it once, however many replies they hold, and the connection's figures are
    /// updated once for all of them.
    pub fn poll_transmit_owned_into(&mut self, dst: &mut SendPieces, max: usize) -> usize {
        self.link.take_pushes(&mut self.out);
        if self.state == State::Closed {
            return 0;
        }
        let (taken, bytes) = self.out_queue.take(&mut self.out, dst, max);
        if taken > 0 {
            self.owned_unsent += bytes;
            self.update_state();
        }
        taken
    }

    /// The kernel took `n` bytes of those [`Connection::poll_transmit_owned`] handed out.
    /// After the close too: a send the close left in flight counts as unsent (for the shard
    /// and the send timeout) until it completes, or until the driver gives it up and says so
    /// with [`Connection::handle_io_error`].
    pub fn handle_sent_owned(&mut self, n: usize) {
        self.link.count_sent(n);
        if self.state == State::Closed {
            // The send the close left in flight: what it still holds stays unsent.
            self.owned_unsent = self.owned_unsent.saturating_sub(n);
            self.link.set_backlog(self.owned_unsent);
            return;
        }
        debug_assert!(n <= self.owned_unsent, "more sent than handed out");
        self.owned_unsent -= n.min(self.owned_unsent);
        self.update_state();
    }

    /// Whether output waits that no send in flight carries (encoded, kept by reference, or
    /// pushed and not yet taken).
    pub fn has_unsent(&self) -> bool {
        self.unsent_len() > 0 || self.link.has_pushes()
    }

    /// Whether the connection closed without sending what was left (socket error, send
    /// timeout): a driver cancels a send still in flight instead of waiting for it.
    pub fn is_output_dropped(&self) -> bool {
        self.state == State::Closed && self.output_dropped
    }

    /// Bytes encoded or kept by reference and not yet handed to the driver.
    pub(super) fn unsent_len(&self) -> usize {
        self.out.len() + self.out_queue.len()
    }

    /// The send timeout: closes now, dropping the output. Also after the close: output the
    /// layer under the core still holds (a TLS close_notify, a driver's send) that the peer
    /// took none of is given up too (`is_output_dropped`), and the timeout is the cause.
    pub(super) fn drop_output(&mut self) {
        if self.state == State::Closed {
            self.output_dropped = true;
            self.cause = Some(CloseCause::SendTimeout);
        } else {
            self.close_now(CloseCause::SendTimeout);
        }
    }
}
