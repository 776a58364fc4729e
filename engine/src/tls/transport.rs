//! [`Transport`]: one accepted connection as a driver holds it.

use std::io::{self, IoSlice};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;

use super::session::Session;
use crate::conn::{Call, Connection, Link};
use crate::error::CloseCause;

/// One accepted connection as a driver holds it: the sans-IO connection core, alone or
/// behind a TLS session (`tls/session.rs`). It has the core's driver-facing methods, with the same
/// meaning, so a driver moves bytes the same way with or without TLS (`crate::conn` says
/// how). With TLS, the bytes in and out are ciphertext and the core sees plaintext.
pub(crate) struct Transport {
    core: Connection,
    tls: Option<Box<Session>>,
}

impl Transport {
    /// A connection without TLS.
    pub fn plain(core: Connection) -> Self {
        Self { core, tls: None }
    }

    /// The connection core itself, for tests that drive it without a driver.
    #[cfg(test)]
    pub(crate) fn into_core(self) -> Connection {
        self.core
    }

    /// A connection behind `tls` (`None`: TLS was refused and the core is closed).
    pub(crate) fn secured(core: Connection, tls: Option<Session>) -> Self {
        debug_assert!(
            tls.is_some() || core.is_closed(),
            "a TLS connection without TLS"
        );
        Self {
            core,
            tls: tls.map(Box::new),
        }
    }

    /// See [`Connection::link`].
    pub fn link(&self) -> &Rc<Link> {
        self.core.link()
    }

    /// See [`Connection::handle_read`]; with TLS, `read` fills the shard's ciphertext buffer.
    pub fn handle_read(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<usize> {
        let Some(tls) = &mut self.tls else {
            return self.core.handle_read(read);
        };
        let scratch = tls.scratch();
        let mut buf = scratch.borrow_mut();
        match read(&mut buf[..]) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => {
                self.core.handle_read_closed();
                Poll::Ready(0)
            }
            Poll::Ready(Ok(n)) => {
                let n = n.min(buf.len());
                tls.handle_ciphertext(&mut self.core, &buf[..n]);
                Poll::Ready(n)
            }
            Poll::Ready(Err(e)) => {
                tls.handle_io_error();
                self.core.handle_io_error(e);
                Poll::Ready(0)
            }
        }
    }

    /// See [`Connection::handle_chunk`]; with TLS the chunk is decrypted and released at once.
    pub fn handle_chunk(&mut self, chunk: Bytes) {
        match &mut self.tls {
            None => self.core.handle_chunk(chunk),
            Some(tls) => tls.handle_ciphertext(&mut self.core, &chunk),
        }
    }

    /// See [`Connection::handle_received`].
    pub fn handle_received(&mut self, bytes: &[u8]) {
        match &mut self.tls {
            None => self.core.handle_received(bytes),
            Some(tls) => tls.handle_ciphertext(&mut self.core, bytes),
        }
    }

    /// See [`Connection::handle_read_closed`].
    pub fn handle_read_closed(&mut self) {
        self.core.handle_read_closed();
    }

    /// See [`Connection::wants_read`]; with TLS, also false while the encrypted output is
    /// at its bound.
    pub fn wants_read(&self) -> bool {
        self.core.wants_read() && self.tls.as_ref().is_none_or(|tls| tls.wants_read())
    }

    /// See [`Connection::poll_call`].
    pub fn poll_call(&mut self, now: impl Fn() -> Instant) -> Option<Call> {
        self.core.poll_call(now)
    }

    /// See [`Connection::release_idle_buffers`] (the TLS session keeps its own buffers).
    pub fn release_idle_buffers(&mut self) {
        self.core.release_idle_buffers();
    }

    /// See [`Connection::poll_inline`].
    pub fn poll_inline(&mut self, cx: &mut Context<'_>, call: Call) -> Option<Call> {
        self.core.poll_inline(cx, call)
    }

    /// See [`Connection::handle_link`]; with TLS, also where a handshake that ran out of
    /// time is closed.
    pub fn handle_link(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.check_handshake_time(&mut self.core);
        }
        self.core.handle_link();
    }

    /// See [`Connection::poll_transmit`] (the drivers send with
    /// [`Transport::transmit_slices`] or [`Transport::poll_transmit_owned`]).
    #[cfg(test)]
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        let Some(tls) = &mut self.tls else {
            return self.core.poll_transmit();
        };
        tls.pull(&mut self.core);
        (!tls.out().is_empty()).then_some(tls.out())
    }

    /// See [`Connection::transmit_slices`]; with TLS, the ciphertext as one slice.
    pub fn transmit_slices<'a>(&'a mut self, dst: &mut [IoSlice<'a>]) -> usize {
        let Some(tls) = &mut self.tls else {
            return self.core.transmit_slices(dst);
        };
        tls.pull(&mut self.core);
        match dst.first_mut() {
            Some(slot) if !tls.out().is_empty() => {
                *slot = IoSlice::new(tls.out());
                1
            }
            _ => 0,
        }
    }

    /// See [`Connection::handle_sent`].
    pub fn handle_sent(&mut self, n: usize) {
        match &mut self.tls {
            None => self.core.handle_sent(n),
            Some(tls) => tls.handle_sent(n),
        }
    }

    /// See [`Connection::poll_transmit_owned`].
    pub fn poll_transmit_owned(&mut self) -> Option<Bytes> {
        let Some(tls) = &mut self.tls else {
            return self.core.poll_transmit_owned();
        };
        tls.pull(&mut self.core);
        let out = tls.out_mut();
        (!out.is_empty()).then(|| out.split().freeze())
    }

    /// See [`Connection::handle_sent_owned`]. With TLS the core counted its plaintext as
    /// sent when it was sealed; the ciphertext handed out needs no bookkeeping.
    pub fn handle_sent_owned(&mut self, n: usize) {
        if self.tls.is_none() {
            self.core.handle_sent_owned(n);
        }
    }

    /// See [`Connection::has_unsent`]; with TLS, also sealed records not yet taken.
    pub fn has_unsent(&self) -> bool {
        self.core.has_unsent() || self.tls.as_ref().is_some_and(|tls| !tls.out().is_empty())
    }

    /// See [`Connection::is_output_dropped`].
    pub fn is_output_dropped(&self) -> bool {
        self.core.is_output_dropped()
    }

    /// See [`Connection::handle_io_error`].
    pub fn handle_io_error(&mut self, error: io::Error) {
        if let Some(tls) = &mut self.tls {
            tls.handle_io_error();
        }
        self.core.handle_io_error(error);
    }

    /// See [`Connection::is_closed`]; with TLS, only once the close_notify (or the alert)
    /// was taken by the driver.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
            && (self.core.is_output_dropped() || self.tls.as_ref().is_none_or(|tls| tls.is_done()))
    }

    /// See [`Connection::is_read_closed`].
    pub fn is_read_closed(&self) -> bool {
        self.core.is_read_closed()
    }

    /// See [`Connection::take_cause`].
    pub fn take_cause(&mut self) -> Option<CloseCause> {
        self.core.take_cause()
    }

    /// The TLS session, taken out (tests of the key schedule).
    #[cfg(test)]
    pub(crate) fn take_session(&mut self) -> Option<Session> {
        self.tls.take().map(|tls| *tls)
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("core", &self.core)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}
