//! How a connection ends (the lower half of [`Connection`]'s state diagram): draining,
//! closing after its output is flushed, closing at once (socket error, send timeout), and
//! what a closed connection gives back.

use std::io;

use bytes::BytesMut;

use super::connection::{Connection, State};
use super::http::Proto;
use super::input;
use crate::error::CloseCause;

impl Connection {
    /// The socket failed: nothing more can be sent or received.
    pub fn handle_io_error(&mut self, error: io::Error) {
        // The socket failed or the driver gave its send up: none of the bytes handed to it
        // are owed any more.
        self.owned_unsent = 0;
        if self.state == State::Closed {
            self.link.set_backlog(0);
        }
        self.close_now(CloseCause::Io(error));
    }

    /// The layer under the core failed (TLS: a bad record, a refused handshake, plain bytes
    /// on a TLS port): the connection closes now with `cause`.
    pub fn handle_transport_error(&mut self, cause: CloseCause) {
        self.close_now(cause);
    }

    /// Whether the driver should close the socket now.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the connection stopped reading for good (draining or closing).
    pub fn is_read_closed(&self) -> bool {
        self.state != State::Open
    }

    /// Why the connection closed (or is closing), taken once for the log.
    pub fn take_cause(&mut self) -> Option<CloseCause> {
        self.cause.take()
    }

    pub(super) fn begin_drain(&mut self, cause: CloseCause) {
        if self.state == State::Open {
            self.state = State::Draining;
            self.cause.get_or_insert(cause);
            self.update_state();
        }
    }

    pub(super) fn close_after_flush(&mut self, cause: CloseCause) {
        if matches!(self.state, State::Open | State::Draining) {
            self.state = State::Closing;
            self.cause = Some(cause);
            self.update_state();
        }
    }

    pub(super) fn close_now(&mut self, cause: CloseCause) {
        if self.state != State::Closed {
            self.cause = Some(cause);
            self.output_dropped = true;
            self.enter_closed();
        }
    }

    /// Closed: gives back every byte the connection held (in-flight budget, receive buffer,
    /// unsent output) and tells the link.
    pub(super) fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.out = BytesMut::new();
        self.out_queue.clear();
        self.recv = BytesMut::new();
        self.chunks.clear();
        self.publish_recv();
        self.link
            .bounds()
            .release(std::mem::take(&mut self.held_bytes));
        self.link.close();
        // A driver's send still in flight (io_uring) holds the bytes handed to it until the
        // kernel takes them or the send is given up: they stay unsent, in the shard's counter
        // and for the send timeout, which then has the driver cancel that send.
        self.link.set_backlog(self.owned_unsent);
    }

    /// After any change: a draining connection with nothing left in flight, to send or to
    /// read, or a closing one with nothing left to send, is closed; otherwise the shard
    /// hears how many bytes wait to go out.
    pub(super) fn update_state(&mut self) {
        let done = match self.state {
            State::Draining => {
                self.inflight_count == 0 && self.unsent_len() == 0 && !self.frame_ready()
            }
            State::Closing => self.unsent_len() == 0,
            State::Open | State::Closed => false,
        };
        if done {
            self.enter_closed();
        } else if self.state != State::Closed {
            self.link.set_backlog(self.unsent_len() + self.owned_unsent);
        }
    }

    /// Whether a whole frame is waiting in the receive buffer (a bad one counts: it still
    /// has to be turned into a close).
    pub(super) fn frame_ready(&self) -> bool {
        match self.proto {
            // Any byte of HTTP input still has to be looked at (`poll_http`).
            Proto::Http(_) => !self.recv.is_empty() || !self.chunks.is_empty(),
            Proto::Unknown | Proto::Rpcx => {
                input::frame_ready(&self.recv, &self.chunks, &self.config.limits)
            }
        }
    }
}
