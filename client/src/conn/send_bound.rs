//! The send buffer's bound in bytes (`ClientOptions::send_buffer_max_bytes`): what is
//! queued plus the write in flight never exceeds it. A request that would cross it is
//! taken back out of the buffer (its seq too) and refused; the driver makes a call wait
//! for [`Wake::send_space`](super::Wake::send_space) and fails a oneway request at once.
//! Once the buffer is drained, a large allocation is given back rather than kept by an
//! idle connection.

use bytes::BytesMut;

use super::Connection;
use crate::error::Error;

/// Capacity an empty send buffer keeps; a larger one is freed once it is drained.
const IDLE_TRANSMIT_KEEP_BYTES: usize = 64 << 10;

impl<W> Connection<W> {
    /// Request bytes not yet taken by the socket: queued plus the write in flight.
    pub fn unsent_bytes(&self) -> usize {
        self.transmit.len() + self.sending_len
    }

    /// How many sends have completed: a caller refused with `SendBufferFull` at epoch `e`
    /// tries again once this moves past `e` (or the connection closed).
    pub fn sent_epoch(&self) -> u64 {
        self.sent_epoch
    }

    /// Keeps the request just encoded with `seq` after the first `queued_before` bytes of
    /// the buffer if the bound allows it; otherwise takes it back out and refuses it.
    pub(super) fn admit_queued(&mut self, seq: u64, queued_before: usize) -> Result<(), Error> {
        let max_bytes = self.options.send_buffer_max_bytes;
        let len = self.transmit.len() - queued_before;
        let unsent_before = queued_before + self.sending_len;
        let refusal = if len > max_bytes {
            Error::RequestTooLarge { len, max_bytes }
        } else if unsent_before + len > max_bytes {
            self.send_space_wanted = true;
            Error::SendBufferFull {
                unsent_bytes: unsent_before,
                max_bytes,
            }
        } else {
            return Ok(());
        };
        self.transmit.truncate(queued_before);
        // Nothing took a seq since this request's: give it back, so seqs stay dense.
        debug_assert_eq!(self.next_seq, seq.wrapping_add(1));
        self.next_seq = seq;
        Err(refusal)
    }

    /// Frees a drained send buffer's large allocation (after a burst or a large request).
    pub(super) fn release_idle_transmit(&mut self) {
        if self.transmit.is_empty() && self.transmit.capacity() > IDLE_TRANSMIT_KEEP_BYTES {
            self.transmit = BytesMut::new();
        }
    }
}
