//! [`Session`]: one connection's TLS, sans IO, between the bytes a driver moves and the
//! connection core.
//!
//! Ciphertext in ([`Session::handle_ciphertext`]): fed to rustls at once, and the plaintext
//! rustls opens goes straight into the core's own receive buffer (`handle_received`), so a
//! receive buffer the io_uring driver lent is released as soon as it is read, and every
//! frame then takes the same path through the core as without TLS. Plaintext out
//! ([`Session::pull`]): the core's output is sealed into records only while this session
//! holds less than `out_buffer_max_bytes` of ciphertext; the rest stays in the core, whose
//! own output limit then pauses reading.
//!
//! ```text
//!  accept ──▶ Handshaking ── handshake done ──▶ Open ── core closed ──▶ Finished
//!              │ first byte not 0x16: plain rpcx or HTTP (no alert)     (close_notify
//!              │ rustls error (its alert is sent), timeout               queued)
//!              └───────────────────────────────────────────────────────▶ Finished
//! ```
//!
//! Bounds per connection: ciphertext waiting to be sent < `out_buffer_max_bytes` plus one
//! flight of records (rustls's own send buffer is capped at the same size); rustls keeps at
//! most one partial record (16 KiB + 256 bytes, or one handshake message of at most 64 KiB
//! while handshaking); plaintext never waits here.
//!
//! What it holds counts in the shard's bounds like the core's own buffers ([`Session::publish`]):
//! the ciphertext not yet taken by the kernel (here, or in a driver's send) as unsent bytes,
//! so the send timeout and push backpressure see it, also after the core closed; a partly
//! received record (every byte received while handshaking) as receive-buffer bytes, and a
//! partial record after the handshake as a frame half received, so the frame timeout
//! closes a peer that starts a record and never finishes it.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, IoSlice, Write};
use std::rc::Rc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rustls::ServerConnection;

use super::records::RecordCursor;
use crate::conn::{Connection, Link};
use crate::error::CloseCause;

/// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1). An rpcx
/// frame starts with 0x08 and an HTTP request with a letter.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Most output pieces sealed by one write: up to this many replies (or reply heads and the
/// payloads kept by reference behind them) share records instead of taking one each.
const SEAL_PIECES: usize = 64;

/// One connection's rustls state. See the module docs.
pub(crate) struct Session {
    tls: ServerConnection,
    /// Encrypted bytes for the driver to send.
    out: BytesMut,
    out_max_bytes: usize,
    /// Encrypted bytes a driver took with `take_out` that the kernel has not taken yet.
    owned_unsent: usize,
    /// Where the received ciphertext stands in its records.
    records: RecordCursor,
    /// Ciphertext received while handshaking (an upper bound of what rustls holds then).
    handshake_in_bytes: usize,
    /// rustls reads no more (the peer's close_notify): it holds no input.
    input_done: bool,
    /// Where this session reports what it holds; reset to nothing when the session goes.
    reported: Reported,
    /// Held while the handshake runs: the shard's handshake count and timer.
    handshake: Option<Handshake>,
    /// The shard's read buffer, for drivers that read into a buffer of ours.
    scratch: Rc<RefCell<Box<[u8]>>>,
    first_byte_seen: bool,
    /// Nothing more will be added to `out` (close_notify queued, or the socket failed).
    finished: bool,
}

/// The link a session reports its bytes to; when the session goes (closed, or handed to
/// kernel TLS), the shard stops counting them.
struct Reported(Rc<Link>);

impl Drop for Reported {
    fn drop(&mut self) {
        self.0.set_transport_unsent(0);
        self.0.set_transport_recv(0, Some(false));
    }
}

/// A connection's place among its shard's handshakes, given back when the handshake ends
/// or the connection goes; and the flag the shard's timer sets when its time is up.
pub(crate) struct Handshake {
    pub(crate) count: Rc<Cell<usize>>,
    pub(crate) expired: Rc<Cell<bool>>,
    pub(crate) timeout_ms: u64,
}

impl Drop for Handshake {
    fn drop(&mut self) {
        self.count.set(self.count.get() - 1);
    }
}

impl Session {
    pub(crate) fn new(
        tls: ServerConnection,
        link: Rc<Link>,
        handshake: Handshake,
        scratch: Rc<RefCell<Box<[u8]>>>,
        out_max_bytes: usize,
    ) -> Self {
        let mut tls = tls;
        tls.set_buffer_limit(Some(out_max_bytes));
        Self {
            tls,
            out: BytesMut::new(),
            out_max_bytes,
            owned_unsent: 0,
            records: RecordCursor::default(),
            handshake_in_bytes: 0,
            input_done: false,
            reported: Reported(link),
            handshake: Some(handshake),
            scratch,
            first_byte_seen: false,
            finished: false,
        }
    }

    /// A session that never starts: the connection is closed with `cause` at once.
    pub(crate) fn refuse(core: &mut Connection, cause: CloseCause) -> Option<Self> {
        core.handle_transport_error(cause);
        None
    }

    pub(crate) fn scratch(&self) -> Rc<RefCell<Box<[u8]>>> {
        self.scratch.clone()
    }

    /// Received ciphertext: decrypted at once, its plaintext handed to `core`.
    pub(crate) fn handle_ciphertext(&mut self, core: &mut Connection, mut bytes: &[u8]) {
        if self.finished || core.is_closed() {
            return;
        }
        if let (false, Some(&first)) = (self.first_byte_seen, bytes.first()) {
            self.first_byte_seen = true;
            if first != HANDSHAKE_RECORD {
                self.fail(core, CloseCause::NotTls { first_byte: first });
                return;
            }
        }
        self.records.handle(bytes);
        if self.tls.is_handshaking() {
            self.handshake_in_bytes += bytes.len();
        }
        while !bytes.is_empty() {
            match self.tls.read_tls(&mut bytes) {
                // After the peer's close_notify rustls reads nothing more: the rest is dropped.
                Ok(0) => {
                    self.input_done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    self.fail(core, CloseCause::Tls(e.to_string()));
                    return;
                }
            }
            let state = match self.tls.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // rustls queued an alert saying why: it goes out before the close.
                    self.collect();
                    self.fail(core, CloseCause::Tls(e.to_string()));
                    return;
                }
            };
            let peer_closed = state.peer_has_closed();
            if self.handshake.is_some() && !self.tls.is_handshaking() {
                self.handshake = None;
                tracing::debug!(
                    version = ?self.tls.protocol_version(),
                    alpn = ?self.tls.alpn_protocol().map(String::from_utf8_lossy),
                    client_cert = self.tls.peer_certificates().is_some(),
                    "TLS handshake done"
                );
            }
            let mut reader = self.tls.reader();
            while let Ok(plain) = reader.fill_buf() {
                if plain.is_empty() {
                    break;
                }
                let n = plain.len();
                core.handle_received(plain);
                reader.consume(n);
            }
            if peer_closed {
                self.input_done = true;
                core.handle_read_closed();
                break;
            }
        }
        self.collect();
    }

    /// Seals the core's output into records (while under the output bound), and queues
    /// close_notify once the core has closed. The pieces waiting are sealed together, in
    /// records of up to 16 KiB, not in a record (and its allocations and tag) each.
    pub(crate) fn pull(&mut self, core: &mut Connection) {
        if !self.tls.is_handshaking() {
            while self.out.len() < self.out_max_bytes {
                let n = {
                    let mut pieces = [IoSlice::new(&[]); SEAL_PIECES];
                    let count = core.transmit_slices(&mut pieces);
                    if count == 0 {
                        break;
                    }
                    let pieces = pieces.get(..count).unwrap_or_default();
                    self.tls.writer().write_vectored(pieces).unwrap_or(0)
                };
                core.handle_sealed(n);
                self.collect();
                if n == 0 {
                    break;
                }
            }
        }
        if core.is_closed() && !self.finished {
            self.finished = true;
            if core.is_output_dropped() {
                // Closed without sending what was left (send timeout): nor is the rest here.
                self.handle_io_error();
            } else {
                self.tls.send_close_notify();
                self.collect();
            }
        }
    }

    /// Closes the connection if its handshake outlived the timeout (the shard's timer set
    /// the flag and woke the connection).
    pub(crate) fn check_handshake_time(&mut self, core: &mut Connection) {
        if let Some(handshake) = &self.handshake {
            if handshake.expired.get() {
                let timeout_ms = handshake.timeout_ms;
                self.fail(core, CloseCause::TlsHandshakeTimeout { timeout_ms });
            }
        }
    }

    /// Encrypted bytes waiting to be sent.
    pub(crate) fn out(&self) -> &[u8] {
        &self.out
    }

    /// Takes every encrypted byte waiting, for a driver whose send completes later; it
    /// reports what the kernel took with [`Session::handle_sent_owned`].
    pub(crate) fn take_out(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            return None;
        }
        let bytes = self.out.split().freeze();
        self.owned_unsent += bytes.len();
        Some(bytes)
    }

    pub(crate) fn handle_sent(&mut self, n: usize) {
        self.out.advance(n.min(self.out.len()));
    }

    /// The kernel took `n` bytes of those [`Session::take_out`] handed out.
    pub(crate) fn handle_sent_owned(&mut self, n: usize) {
        debug_assert!(
            n <= self.owned_unsent || self.finished,
            "more sent than handed out"
        );
        self.owned_unsent -= n.min(self.owned_unsent);
    }

    /// Reports what this session holds to the shard, through the connection's link: its
    /// ciphertext not yet taken by the kernel as unsent bytes, its partial input as
    /// receive-buffer bytes. `core_reads` (known after the core's `poll_call`): whether the
    /// core wants bytes now, so that a partial record after the handshake is a frame the
    /// peer has not finished (the frame timeout); while the core pauses, it is not the
    /// peer's fault. `None`: as last reported.
    pub(crate) fn publish(&self, core_reads: Option<bool>) {
        let link = &self.reported.0;
        link.set_transport_unsent(self.out.len() + self.owned_unsent);
        let held = self.input_held();
        let receiving = core_reads.map(|reads| reads && self.handshake.is_none());
        link.set_transport_recv(held, receiving);
    }

    /// Input bytes rustls holds: while handshaking, at most every byte received so far (it
    /// keeps an unfinished handshake message); after, the partly received record.
    fn input_held(&self) -> usize {
        if self.finished || self.input_done {
            0
        } else if self.handshake.is_some() {
            self.handshake_in_bytes
        } else {
            self.records.partial_bytes()
        }
    }

    /// Whether the driver may read: the encrypted output is under its bound.
    pub(crate) fn wants_read(&self) -> bool {
        self.out.len() < self.out_max_bytes
    }

    /// Whether everything this session will ever send has been taken by the driver.
    pub(crate) fn is_done(&self) -> bool {
        self.finished && self.out.is_empty()
    }

    /// The socket failed, or the output was dropped (send timeout): nothing more is sent,
    /// and what the driver's send still holds is given up with it.
    pub(crate) fn handle_io_error(&mut self) {
        self.finished = true;
        self.out.clear();
        self.owned_unsent = 0;
    }

    /// Whether the session is at a point where kernel TLS could take the connection over:
    /// the handshake is done, and it holds no byte of input or output.
    pub(crate) fn is_quiet(&self) -> bool {
        self.handshake.is_none()
            && !self.finished
            && self.out.is_empty()
            && self.owned_unsent == 0
            && self.records.partial_bytes() == 0
            && !self.tls.wants_write()
    }

    /// The traffic secrets and record sequence numbers of a finished handshake, for
    /// handing the connection to kernel TLS (`TlsConfig::kernel_tls_secrets` must be on).
    pub(crate) fn extract_secrets(self) -> Result<rustls::ExtractedSecrets, rustls::Error> {
        self.tls.dangerous_extract_secrets()
    }

    /// The TLS layer failed: the core closes with `cause` (logged once by the driver);
    /// whatever is already in `out` (an alert) is still sent.
    fn fail(&mut self, core: &mut Connection, cause: CloseCause) {
        self.finished = true;
        self.handshake = None;
        core.handle_transport_error(cause);
    }

    /// Moves what rustls has to send into `out`.
    fn collect(&mut self) {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut (&mut self.out).writer()) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
