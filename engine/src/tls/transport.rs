//! [`Transport`]: one accepted connection as a driver holds it.
//!
//! With TLS, after every step it tells the connection's link what the session holds
//! (`Session::publish`), so the shard's byte counters, push backpressure and timeouts
//! count TLS records like the core's own bytes.

use std::io::{self, IoSlice};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;

use super::session::Session;
use crate::conn::{Call, Connection, Link, SendPieces};
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
                tls.publish(None);
                Poll::Ready(n)
            }
            Poll::Ready(Err(e)) => {
                tls.handle_io_error();
                self.core.handle_io_error(e);
                tls.publish(None);
                Poll::Ready(0)
            }
        }
    }

    /// See [`Connection::handle_chunk`]; with TLS the chunk is decrypted and released at once.
    pub fn handle_chunk(&mut self, chunk: Bytes) {
        match &mut self.tls {
            None => self.core.handle_chunk(chunk),
            Some(tls) => {
                tls.handle_ciphertext(&mut self.core, &chunk);
                tls.publish(None);
            }
        }
    }

    /// See [`Connection::handle_received`].
    pub fn handle_received(&mut self, bytes: &[u8]) {
        match &mut self.tls {
            None => self.core.handle_received(bytes),
            Some(tls) => {
                tls.handle_ciphertext(&mut self.core, bytes);
                tls.publish(None);
            }
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

    /// See [`Connection::poll_call`]; with TLS, once the core has no call left, a partly
    /// received record counts as a frame half received while the core reads.
    pub fn poll_call(&mut self, now: impl Fn() -> Instant) -> Option<Call> {
        let call = self.core.poll_call(now);
        if let (None, Some(tls)) = (&call, &self.tls) {
            tls.publish(Some(self.core.wants_read()));
        }
        call
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
        let dropped_before = self.core.is_output_dropped();
        self.core.handle_link();
        if let Some(tls) = &mut self.tls {
            if !dropped_before && self.core.is_output_dropped() {
                // The send timeout, also after the core closed: the records go with the
                // core's output. (A TLS failure also drops the core's output, but its alert
                // is still sent.)
                tls.handle_io_error();
            }
            tls.publish(None);
        }
    }

    /// See [`Connection::poll_transmit`] (the drivers send with
    /// [`Transport::transmit_slices`] or [`Transport::poll_transmit_owned`]).
    #[cfg(test)]
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        let Some(tls) = &mut self.tls else {
            return self.core.poll_transmit();
        };
        tls.pull(&mut self.core);
        tls.publish(None);
        (!tls.out().is_empty()).then_some(tls.out())
    }

    /// See [`Connection::transmit_slices`]; with TLS, the ciphertext as one slice.
    pub fn transmit_slices<'a>(&'a mut self, dst: &mut [IoSlice<'a>]) -> usize {
        let Some(tls) = &mut self.tls else {
            return self.core.transmit_slices(dst);
        };
        tls.pull(&mut self.core);
        tls.publish(None);
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
            Some(tls) => {
                tls.handle_sent(n);
                self.core.link().count_sent(n);
                tls.publish(None);
            }
        }
    }

    /// See [`Connection::poll_transmit_owned`].
    pub fn poll_transmit_owned(&mut self) -> Option<Bytes> {
        let Some(tls) = &mut self.tls else {
            return self.core.poll_transmit_owned();
        };
        tls.pull(&mut self.core);
        let out = tls.take_out();
        tls.publish(None);
        out
    }

    /// See [`Connection::poll_transmit_owned_into`]. With TLS: the sealed records, as one
    /// piece.
    pub fn poll_transmit_owned_into(&mut self, dst: &mut SendPieces, max: usize) -> usize {
        if self.tls.is_none() {
            return self.core.poll_transmit_owned_into(dst, max);
        }
        let mut taken = 0;
        while taken < max {
            match self.poll_transmit_owned() {
                Some(piece) => dst.push(piece),
                None => break,
            }
            taken += 1;
        }
        taken
    }

    /// See [`Connection::handle_sent_owned`]. With TLS the core's plaintext left it when it
    /// was sealed; what the kernel takes is ciphertext, counted by the session.
    pub fn handle_sent_owned(&mut self, n: usize) {
        match &mut self.tls {
            None => self.core.handle_sent_owned(n),
            Some(tls) => {
                tls.handle_sent_owned(n);
                self.core.link().count_sent(n);
                tls.publish(None);
            }
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
        self.core.handle_io_error(error);
        if let Some(tls) = &mut self.tls {
            tls.handle_io_error();
            tls.publish(None);
        }
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

    /// The hand-over to kernel TLS (not built: the kernels here lack `CONFIG_TLS`; README
    /// "TLS"): once the handshake is done and the session holds no byte in or out, takes
    /// the session out and returns its traffic secrets and record sequence numbers (for
    /// `setsockopt(SOL_TLS, TLS_TX/TLS_RX)`); from then on the connection is plain and the
    /// driver moves plaintext, which the kernel seals. `None`: no TLS, or not at such a
    /// point yet. Needs `TlsConfig::kernel_tls_secrets`; without it rustls refuses, and
    /// the connection closes (its session is gone).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the kernel TLS hand-over has no driver yet")
    )]
    pub(crate) fn take_kernel_tls_secrets(
        &mut self,
    ) -> Option<Result<rustls::ExtractedSecrets, rustls::Error>> {
        if !self.tls.as_ref().is_some_and(|tls| tls.is_quiet()) {
            return None;
        }
        let session = self.tls.take()?;
        let secrets = session.extract_secrets();
        if let Err(e) = &secrets {
            self.core
                .handle_transport_error(CloseCause::Tls(e.to_string()));
        }
        Some(secrets)
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
