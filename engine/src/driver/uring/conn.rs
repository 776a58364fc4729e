//! The io_uring side of one connection: its socket, its multishot recv, its outbox, and the
//! way it feeds the sans-IO [`Connection`] and closes.
//!
//! ```text
//!  accept ──▶ Serving ── connection closed, last send done ──┬─ socket error ──▶ Closing
//!              recv armed while the connection wants bytes,  │
//!              cancelled while it pauses                     └─ else: FIN sent ──▶ Lingering
//!  Lingering: received bytes discarded until EOF, 1 MiB or 250 ms ──▶ Closing
//!  Closing:   recv cancelled; once no operation is in the kernel, the slot and socket go
//! ```
//!
//! Received buffers are held (frames parsed in place, handlers see slices of the buffer)
//! while the shard has at least a quarter of its buffers free, and copied into the
//! connection's spill buffer otherwise, so slow handlers cannot starve the ring.
//!
//! Faults close the one connection they touch: received bytes whose buffer cannot be
//! accounted for (a hole in the byte stream would misframe everything after it), a send
//! that cannot be queued (its bytes are given up, so the slot does not wait for a
//! completion that never comes), a panic of handler code in the dispatch step.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Instant;

use io_uring::cqueue;

use super::buf_ring::{BufError, Taken};
use super::executor::ConnId;
use super::ops::{self, Op};
use super::outbox::Outbox;
use super::shard::Shard;
use crate::runtime::handler_tasks::Hangup;
use crate::runtime::policy::{close_step, CloseStep, Linger};
use crate::runtime::watch::ConnWatch;
use crate::runtime::Opened;
use crate::tls::Transport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recv {
    Idle,
    Armed,
    Cancelling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Serving,
    Lingering(Linger),
    Closing,
}

pub(super) struct ConnSlot {
    fd: OwnedFd,
    pub(super) conn: Transport,
    waker: Waker,
    span: tracing::Span,
    peer: String,
    recv: Recv,
    pub(super) starved: bool,
    outbox: Outbox,
    pub(super) phase: Phase,
    pub(super) queued: bool,
    watch: ConnWatch,
    send_cancelled: bool,
    hangup: Rc<Hangup>,
    /// The shard was at its handler-task cap at the last dispatch: do not read.
    at_cap: bool,
}

impl ConnSlot {
    pub(super) fn new(opened: Opened, fd: OwnedFd, waker: Waker) -> Self {
        let Opened {
            conn,
            span,
            peer,
            hangup,
        } = opened;
        conn.link().set_waker(&waker);
        Self {
            fd,
            watch: ConnWatch::new(conn.link()),
            conn,
            waker,
            span,
            peer,
            recv: Recv::Idle,
            starved: false,
            outbox: Outbox::default(),
            phase: Phase::Serving,
            queued: false,
            send_cancelled: false,
            hangup,
            at_cap: false,
        }
    }

    /// The connection is gone: its running handlers are dropped.
    pub(super) fn hang_up(&self) {
        self.hangup.fire();
    }

    /// One sweep at `now` (`ConnWatch`), for connections still serving.
    pub(super) fn sweep(&mut self, now: Instant) {
        if self.phase == Phase::Serving {
            self.watch.sweep(self.conn.link(), now);
        }
    }

    /// Whether this connection's send in flight can complete without waking the shard: it
    /// still serves, and nothing waits behind the send (see `Shard::enter`).
    pub(super) fn send_is_quiet(&self) -> bool {
        self.phase == Phase::Serving
            && !self.outbox.is_idle()
            && !self.conn.is_closed()
            && !self.conn.has_unsent()
    }

    /// Whether the kernel may still touch this connection's memory.
    pub(super) fn kernel_busy(&self) -> bool {
        self.recv != Recv::Idle || !self.outbox.is_idle()
    }
}

impl Shard {
    pub(super) fn on_recv(&mut self, id: ConnId, result: i32, flags: u32) {
        let len = usize::try_from(result).unwrap_or(0);
        let taken = cqueue::buffer_select(flags).map(|bid| self.bufs.take(bid, len));
        let (received, spare) = Received::classify(result, taken);
        if let Some(spare) = spare {
            self.bufs.recycle(spare);
        }
        let hold = self.bufs.available() >= self.hold_low_water;
        let Some(slot) = self.conns.get_mut(id) else {
            // A completion for a connection already gone: only its buffer matters.
            if let Received::Bytes(taken) = received {
                self.bufs.recycle(taken);
            }
            return;
        };
        if !cqueue::more(flags) {
            slot.recv = Recv::Idle;
        }
        match received {
            Received::Bytes(taken) => {
                if slot.phase != Phase::Serving || slot.conn.is_read_closed() {
                    if let Phase::Lingering(linger) = &mut slot.phase {
                        if !linger.discard(taken.len()) {
                            slot.phase = Phase::Closing;
                        }
                    }
                    self.bufs.recycle(taken);
                } else if hold {
                    slot.conn.handle_chunk(self.bufs.hold(taken));
                } else {
                    slot.conn.handle_received(self.bufs.data(&taken));
                    self.bufs.recycle(taken);
                }
            }
            Received::Lost(why) => slot.io_error(std::io::Error::other(why)),
            Received::End => slot.end_of_stream(),
            Received::NoBuffers => {
                slot.starved = true;
                self.starved.push(id);
                self.core.count_ring_starved();
            }
            Received::Error(errno) => slot.io_error(std::io::Error::from_raw_os_error(errno)),
            Received::Nothing => {}
        }
        self.mark_dirty(id);
    }

    pub(super) fn on_send(&mut self, id: ConnId, result: i32) {
        let Some(slot) = self.conns.get_mut(id) else {
            return;
        };
        if let Ok(sent) = usize::try_from(result) {
            slot.conn.handle_sent_owned(sent);
        }
        match slot.outbox.handle_sent(result) {
            Ok(Some(rest)) => {
                let entry = ops::send(slot.fd.as_raw_fd(), rest, id);
                // SAFETY: `rest` points into the outbox's bytes in flight (or to its boxed
                // `msghdr` and `iovec`s naming them), which the slot keeps untouched until
                // this send's completion (`kernel_busy` holds the slot).
                if let Err(e) = unsafe { ops::push(&mut self.ring, &entry) } {
                    // Not queued, so the kernel reads none of it: give the bytes up, or the
                    // slot would wait for a completion that never comes and never close.
                    slot.outbox.abandon();
                    slot.io_error(e);
                }
                // A new send: cancelled again if the connection dropped its output.
                slot.send_cancelled = false;
            }
            Ok(None) => {}
            Err(e) => slot.io_error(e),
        }
        self.mark_dirty(id);
    }

    /// One step of a connection that something happened to. See the module docs.
    pub(super) fn drive(&mut self, id: ConnId) {
        let Some(slot) = self.conns.get_mut(id) else {
            return;
        };
        slot.queued = false;
        let span = slot.span.clone();
        let _entered = span.enter();
        if slot.phase == Phase::Serving {
            self.serve(id);
        }
        let shard_id = self.core.id;
        let Some(slot) = self.conns.get_mut(id) else {
            return;
        };
        if slot.conn.is_closed() {
            slot.hang_up();
        }
        if slot.phase == Phase::Serving && slot.conn.is_closed() && slot.outbox.is_idle() {
            let step = close_step(slot.conn.take_cause(), shard_id, &slot.peer);
            let fin_sent = step == CloseStep::Linger && {
                // SAFETY: `shutdown` on a descriptor we own; no memory is passed.
                unsafe { libc::shutdown(slot.fd.as_raw_fd(), libc::SHUT_WR) == 0 }
            };
            if fin_sent {
                let linger = Linger::start(Instant::now());
                slot.phase = Phase::Lingering(linger);
                self.lingering.push_back((linger.until(), id));
            } else {
                slot.phase = Phase::Closing;
            }
        }
        let Some(slot) = self.conns.get_mut(id) else {
            return;
        };
        if slot.conn.is_output_dropped() && !slot.outbox.is_idle() && !slot.send_cancelled {
            // Closed without waiting for its output (send timeout, socket error): a send the
            // peer never takes must not hold the slot.
            let entry = ops::cancel(ops::user_data(Op::Send, id));
            // SAFETY: a cancel points to no memory.
            slot.send_cancelled = unsafe { ops::push(&mut self.ring, &entry) }.is_ok();
        }
        if matches!(slot.phase, Phase::Lingering(_)) && slot.starved {
            slot.phase = Phase::Closing;
        }
        let wants_recv = match slot.phase {
            Phase::Serving => slot.conn.wants_read() && !slot.at_cap,
            Phase::Lingering(_) => true,
            Phase::Closing => false,
        };
        match slot.recv {
            Recv::Idle if wants_recv && !slot.starved => {
                let entry = ops::recv(slot.fd.as_raw_fd(), id);
                // SAFETY: the recv writes only into provided buffers, which the shard owns
                // and keeps registered for the ring's whole life.
                match unsafe { ops::push(&mut self.ring, &entry) } {
                    Ok(()) => slot.recv = Recv::Armed,
                    Err(e) => slot.io_error(e),
                }
            }
            Recv::Armed if !wants_recv => {
                let entry = ops::cancel(ops::user_data(Op::Recv, id));
                // SAFETY: a cancel points to no memory.
                if unsafe { ops::push(&mut self.ring, &entry) }.is_ok() {
                    slot.recv = Recv::Cancelling;
                }
            }
            _ => {}
        }
        if slot.phase == Phase::Closing && !slot.kernel_busy() {
            self.remove(id);
        } else if slot.phase == Phase::Serving && slot.outbox.is_idle() {
            // Nothing in the kernel's hands: buffers the connection does not need go back.
            slot.conn.release_idle_buffers();
        }
    }

    /// Dispatches the connection's frames and starts its send.
    fn serve(&mut self, id: ConnId) {
        let Some(slot) = self.conns.get_mut(id) else {
            return;
        };
        let ConnSlot {
            conn,
            waker,
            outbox,
            fd,
            hangup,
            at_cap,
            ..
        } = slot;
        conn.handle_link();
        let mut cx = Context::from_waker(waker);
        *at_cap = self
            .core
            .dispatch(conn, &mut cx, hangup, &*self.executor)
            .at_cap;
        if let Some(buf) = outbox.poll_send(conn) {
            let entry = ops::send(fd.as_raw_fd(), buf, id);
            // SAFETY: `buf` points into the outbox's bytes in flight (or to its boxed
            // `msghdr` and `iovec`s naming them), which the slot keeps untouched until this
            // send's completion (`kernel_busy` holds the slot).
            match unsafe { ops::push(&mut self.ring, &entry) } {
                Ok(()) => self.sent.push(id),
                Err(e) => {
                    outbox.abandon();
                    conn.handle_io_error(e);
                }
            }
        }
    }
}

/// What a recv completion brought, once its buffer (if any) is accounted for.
#[derive(Debug)]
enum Received {
    /// Bytes, in a buffer now owned by user space.
    Bytes(Taken),
    /// Bytes arrived but their buffer cannot be accounted for: they are lost, and the
    /// connection's byte stream has a hole. The connection must close.
    Lost(String),
    /// End of stream.
    End,
    /// The ring had no free buffer (ENOBUFS): the recv must be armed again later.
    NoBuffers,
    /// A socket error (errno).
    Error(i32),
    /// Cancelled, or an empty completion: nothing to do.
    Nothing,
}

impl Received {
    /// `result` of the completion; `taken`: its buffer, if the flags named one. Also returns
    /// a buffer that came with no bytes, to go straight back to the ring.
    fn classify(result: i32, taken: Option<Result<Taken, BufError>>) -> (Self, Option<Taken>) {
        match (result, taken) {
            (n, Some(Ok(taken))) if n > 0 => (Self::Bytes(taken), None),
            (n, Some(Err(e))) if n > 0 => {
                (Self::Lost(format!("receive buffer bookkeeping: {e}")), None)
            }
            (n, None) if n > 0 => (Self::Lost(format!("{n} bytes without a buffer")), None),
            (n, taken) => {
                let what = match n {
                    0 => Self::End,
                    _ if n == -libc::ENOBUFS => Self::NoBuffers,
                    _ if n == -libc::ECANCELED => Self::Nothing,
                    _ if n < 0 => Self::Error(-n),
                    _ => Self::Nothing,
                };
                (what, taken.and_then(Result::ok))
            }
        }
    }
}

impl ConnSlot {
    fn end_of_stream(&mut self) {
        match self.phase {
            Phase::Serving => self.conn.handle_read_closed(),
            Phase::Lingering(_) => self.phase = Phase::Closing,
            Phase::Closing => {}
        }
    }

    fn io_error(&mut self, error: std::io::Error) {
        match self.phase {
            Phase::Serving => self.conn.handle_io_error(error),
            Phase::Lingering(_) => self.phase = Phase::Closing,
            Phase::Closing => {}
        }
    }
}

impl std::fmt::Debug for ConnSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSlot")
            .field("peer", &self.peer)
            .field("recv", &self.recv)
            .field("phase", &self.phase)
            .field("conn", &self.conn)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::buf_ring::BufRing;
    use super::*;

    #[test]
    fn bytes_whose_buffer_is_unaccounted_for_are_lost_not_skipped() {
        let mut ring = BufRing::new(4, 64).unwrap();
        let (received, spare) = Received::classify(10, Some(ring.take(0, 10)));
        assert!(matches!(received, Received::Bytes(_)) && spare.is_none());
        let Received::Bytes(taken) = received else {
            unreachable!()
        };
        // The same buffer reported again before it went back: bookkeeping is broken, the
        // connection must close rather than go on with a hole in its stream.
        let (received, _) = Received::classify(10, Some(ring.take(0, 10)));
        assert!(
            matches!(&received, Received::Lost(why) if why.contains("twice")),
            "{received:?}"
        );
        let (received, _) = Received::classify(7, None);
        assert!(matches!(received, Received::Lost(_)));
        ring.recycle(taken);

        let (received, spare) = Received::classify(0, Some(ring.take(1, 0)));
        assert!(matches!(received, Received::End));
        ring.recycle(spare.expect("an empty buffer goes back"));
        assert_eq!(ring.available(), 4, "no buffer lost");
        let cases = [
            (-libc::ENOBUFS, "NoBuffers"),
            (-libc::ECANCELED, "Nothing"),
            (-libc::ECONNRESET, "Error"),
        ];
        for (result, want) in cases {
            let (received, _) = Received::classify(result, None);
            assert!(
                format!("{received:?}").starts_with(want),
                "{result}: {received:?}"
            );
        }
    }
}
