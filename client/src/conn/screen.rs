//! Screening received frames before their payload is inflated: a frame nobody waits for
//! (a reply to a seq that is not pending, a heartbeat reply that answers none of ours, a
//! push the queue has no room for) is dropped from its header alone, so a server cannot
//! make the client gunzip what it will throw away.
//!
//! The driver splits raw frames off its receive buffer; a frame that is gzip'ed or is a
//! push goes through [`Connection::screen`] first, then is decoded as the verdict says,
//! then handed to [`Connection::handle_frame`]. Plain replies skip the screen: decoding
//! them costs no more than dropping them later.

use ringrpc_codec::{CompressType, Header, MessageType};

use super::Connection;

/// What to do with a received frame before decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Screen {
    /// Nobody waits for it: drop it undecoded (already counted).
    Drop,
    /// Decode it (inflating the payload if gzip'ed) and hand it over.
    Decode,
    /// A push: copy it out of the receive buffer (a queued push must not pin it), decode
    /// it inflating at most `room_bytes` (`None`: the limits' maximum), and hand it over. If
    /// it does not fit, report [`Connection::handle_push_dropped`] instead.
    Push {
        /// The most a queued push may hold, frame included; `None` when a push handler takes
        /// pushes as they come.
        room_bytes: Option<usize>,
    },
}

/// Whether a frame with `header` is a server push (PROTOCOL.md §4.14, §6.4): a oneway
/// request that is not a heartbeat.
pub fn is_push(header: &Header) -> bool {
    header.message_type() == MessageType::Request && header.is_oneway() && !header.is_heartbeat()
}

/// Whether the frame must be screened before it is decoded (see the module docs).
pub fn needs_screen(header: &Header) -> bool {
    is_push(header) || header.compress_type() != Ok(CompressType::None)
}

impl<W> Connection<W> {
    /// The verdict on a received frame with `header`, before its payload is touched.
    /// `take_pushes`: the driver hands pushes to a handler as they come (no queue).
    pub fn screen(&mut self, header: &Header, take_pushes: bool) -> Screen {
        if !self.is_open() {
            return Screen::Drop;
        }
        if is_push(header) {
            if take_pushes {
                return Screen::Push { room_bytes: None };
            }
            return match self.pushes.room_bytes() {
                Some(room) if room >= header.frame_len() => Screen::Push {
                    room_bytes: Some(room),
                },
                _ => {
                    self.handle_push_dropped();
                    Screen::Drop
                }
            };
        }
        let seq = header.seq();
        let heartbeat = header.is_heartbeat()
            && self
                .heartbeat
                .as_ref()
                .is_some_and(|h| h.is_outstanding(seq));
        if heartbeat || self.pending.contains(seq) {
            return Screen::Decode;
        }
        self.stats.late_reply_count += 1;
        self.stats.screened_out_count += 1;
        tracing::trace!(seq, "frame for no pending call dropped before decoding");
        Screen::Drop
    }

    /// A push was dropped before it was queued: no room for it (by count, or by bytes once
    /// inflated).
    pub fn handle_push_dropped(&mut self) {
        self.stats.push_count += 1;
        self.stats.push_dropped_count += 1;
        self.stats.screened_out_count += 1;
        tracing::warn!("push queue full: server push dropped");
    }
}
