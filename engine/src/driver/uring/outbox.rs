//! The send side of one connection: at most one send in flight, and everything the
//! connection produced meanwhile leaves in the next one.
//!
//! The bytes of a send in flight are owned here (`SendPieces` taken from the connection:
//! its output buffer's bytes, cut off once per send, and the reply payloads it sends by
//! reference, with ranges over them in wire order), because the kernel reads them after the
//! submission call has returned: they must neither move nor be freed until the completion
//! arrives. Several pieces leave in one `sendmsg` whose `iovec`s and header live here too,
//! the header boxed so that it stays put when the connection's slot moves. The shard keeps a
//! connection's slot, and so its outbox, until that completion arrived.

use std::io;

use crate::conn::SendPieces;
use crate::tls::Transport;

/// Largest single send; a larger output goes out in several.
const SEND_MAX: usize = 1 << 30;
/// Most pieces one send takes (well under the kernel's `UIO_MAXIOV` of 1024).
const PIECES_MAX: usize = 64;

/// Where the kernel must read a send from. Valid until the send's completion is handed to
/// [`Outbox::handle_sent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendBuf {
    /// One contiguous piece.
    One { ptr: *const u8, len: u32 },
    /// Several pieces: a `sendmsg` of this header, `len` bytes in all.
    Vectored {
        msg: *const libc::msghdr,
        len: usize,
    },
}

impl SendBuf {
    /// Bytes this send offers.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        match *self {
            Self::One { len, .. } => len as usize,
            Self::Vectored { len, .. } => len,
        }
    }
}

pub(super) struct Outbox {
    inflight: SendPieces,
    iovecs: Vec<libc::iovec>,
    msg: Box<libc::msghdr>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            inflight: SendPieces::default(),
            iovecs: Vec::new(),
            msg: Box::new(libc::msghdr {
                msg_name: std::ptr::null_mut(),
                msg_namelen: 0,
                msg_iov: std::ptr::null_mut(),
                msg_iovlen: 0,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            }),
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("pieces", &self.inflight.pieces())
            .field("bytes", &self.inflight.len())
            .finish()
    }
}

impl Outbox {
    /// Whether no send is in flight: the kernel reads none of this outbox's bytes.
    pub(super) fn is_idle(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Gives up the bytes of a send that could not be queued (the kernel never saw it, so
    /// nothing reads them): the outbox is idle again and its connection can close.
    pub(super) fn abandon(&mut self) {
        self.inflight.clear();
    }

    /// If no send is in flight, takes all of the connection's output for the next one.
    pub(super) fn poll_send(&mut self, conn: &mut Transport) -> Option<SendBuf> {
        if !self.inflight.is_empty() {
            return None;
        }
        conn.poll_transmit_owned_into(&mut self.inflight, PIECES_MAX);
        self.send_buf()
    }

    /// The completion of the send in flight: `Ok(Some(_))` to send the rest of a short send
    /// (before anything else), `Ok(None)` when all was sent.
    pub(super) fn handle_sent(&mut self, result: i32) -> io::Result<Option<SendBuf>> {
        if self.inflight.is_empty() {
            debug_assert!(false, "send completion with no send in flight");
            return Ok(None);
        }
        let sent = match usize::try_from(result) {
            Err(_) => {
                self.inflight.clear();
                return Err(io::Error::from_raw_os_error(result.saturating_neg()));
            }
            Ok(0) => {
                self.inflight.clear();
                return Err(io::ErrorKind::WriteZero.into());
            }
            Ok(sent) => sent,
        };
        self.inflight.advance(sent);
        Ok(self.send_buf())
    }

    fn send_buf(&mut self) -> Option<SendBuf> {
        match self.inflight.pieces() {
            0 => None,
            1 => self.inflight.slices().next().map(|bytes| SendBuf::One {
                ptr: bytes.as_ptr(),
                len: bytes.len().min(SEND_MAX) as u32,
            }),
            _ => {
                self.iovecs.clear();
                let mut len = 0;
                for piece in self.inflight.slices() {
                    len += piece.len();
                    self.iovecs.push(libc::iovec {
                        iov_base: piece.as_ptr().cast_mut().cast(),
                        iov_len: piece.len(),
                    });
                }
                self.msg.msg_iov = self.iovecs.as_mut_ptr();
                self.msg.msg_iovlen = self.iovecs.len();
                Some(SendBuf::Vectored {
                    msg: &*self.msg,
                    len,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use ringrpc_codec::payload::SerializeType;
    use ringrpc_codec::{encode_frame, Header, NO_METADATA};

    use super::*;
    use crate::conn::{ConnConfig, Connection, Link};
    use crate::services::Services;

    fn heartbeats(seqs: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = BytesMut::new();
        for seq in seqs {
            let mut header = Header::request(seq, SerializeType::None);
            header.set_heartbeat(true);
            encode_frame(&mut out, &header, "", "", NO_METADATA, b"").unwrap();
        }
        out.to_vec()
    }

    fn connection() -> Transport {
        let services = std::rc::Rc::new(Services::new());
        Transport::plain(Connection::new(
            services,
            std::rc::Rc::new(ConnConfig::default()),
            Link::detached(),
        ))
    }

    fn feed(conn: &mut Transport, wire: &[u8]) {
        conn.handle_received(wire);
        assert!(
            conn.poll_call(std::time::Instant::now).is_none(),
            "heartbeats are answered without a handler"
        );
    }

    #[test]
    fn one_send_in_flight_and_replies_batched_behind_it() {
        let mut conn = connection();
        let mut outbox = Outbox::default();
        let one = heartbeats(0..1).len() as u32;
        feed(&mut conn, &heartbeats(0..1));
        let first = outbox.poll_send(&mut conn).unwrap();
        assert_eq!(first.len(), one as usize);
        // Two more replies while the first send is in flight: no second send.
        feed(&mut conn, &heartbeats(1..3));
        assert_eq!(outbox.poll_send(&mut conn), None);
        assert_eq!(outbox.handle_sent(one as i32).unwrap(), None);
        assert!(outbox.is_idle());
        // Both leave together in the next send.
        let batch = outbox.poll_send(&mut conn).unwrap();
        assert_eq!(batch.len(), 2 * one as usize);
        assert_eq!(outbox.handle_sent(batch.len() as i32).unwrap(), None);
        assert_eq!(outbox.poll_send(&mut conn), None);
    }

    #[test]
    fn a_short_send_continues_where_it_stopped() {
        let mut conn = connection();
        let mut outbox = Outbox::default();
        feed(&mut conn, &heartbeats(0..2));
        let first = outbox.poll_send(&mut conn).unwrap();
        let rest = outbox.handle_sent(5).unwrap().unwrap();
        let (
            SendBuf::One { ptr: first, len },
            SendBuf::One {
                ptr: rest_ptr,
                len: rest_len,
            },
        ) = (first, rest)
        else {
            panic!("one piece each");
        };
        assert_eq!(rest_len, len - 5);
        assert_eq!(rest_ptr, first.wrapping_add(5));
        feed(&mut conn, &heartbeats(2..3));
        assert_eq!(
            outbox.poll_send(&mut conn),
            None,
            "the rest goes first, alone"
        );
        assert_eq!(outbox.handle_sent(rest_len as i32).unwrap(), None);
        assert!(outbox.poll_send(&mut conn).is_some());
    }

    #[test]
    fn errors_end_the_send() {
        let mut conn = connection();
        let mut outbox = Outbox::default();
        feed(&mut conn, &heartbeats(0..1));
        outbox.poll_send(&mut conn).unwrap();
        let err = outbox.handle_sent(-libc::EPIPE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(outbox.is_idle());
        feed(&mut conn, &heartbeats(1..2));
        outbox.poll_send(&mut conn).unwrap();
        assert_eq!(
            outbox.handle_sent(0).unwrap_err().kind(),
            io::ErrorKind::WriteZero
        );
    }

    fn echo_connection() -> Transport {
        async fn echo(
            request: crate::handler::Request,
        ) -> Result<crate::handler::Response, crate::error::HandlerError> {
            Ok(crate::handler::Response::new(request.into_payload()))
        }
        let mut services = Services::new();
        services.register("Echo", "Echo", echo);
        Transport::plain(Connection::new(
            std::rc::Rc::new(services),
            std::rc::Rc::new(ConnConfig::default()),
            Link::detached(),
        ))
    }

    /// The bytes a send offers, read through its pointers as the kernel would, and how
    /// many pieces it has.
    fn offered(buf: SendBuf) -> (Vec<u8>, usize) {
        match buf {
            SendBuf::One { ptr, len } => {
                // SAFETY: the outbox keeps the send's bytes alive and unmoved until
                // `handle_sent`, which the caller runs only after this copy.
                let bytes = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
                (bytes.to_vec(), 1)
            }
            SendBuf::Vectored { msg, len } => {
                // SAFETY: as above; the header lives in the outbox until `handle_sent`.
                let msg = unsafe { &*msg };
                // SAFETY: the header's iovecs live in the outbox until `handle_sent`.
                let iovecs = unsafe { std::slice::from_raw_parts(msg.msg_iov, msg.msg_iovlen) };
                let mut bytes = Vec::with_capacity(len);
                for iovec in iovecs {
                    // SAFETY: each iovec points into a piece the outbox holds until
                    // `handle_sent`.
                    let piece = unsafe {
                        std::slice::from_raw_parts(iovec.iov_base.cast::<u8>(), iovec.iov_len)
                    };
                    bytes.extend_from_slice(piece);
                }
                assert_eq!(bytes.len(), len);
                (bytes, iovecs.len())
            }
        }
    }

    #[test]
    fn a_batch_of_more_than_pieces_max_leaves_in_several_sends_in_wire_order() {
        // 150 echoes of payloads kept by reference (300..450 bytes), each reply a head in the
        // output buffer and its payload: about 300 pieces, so the bound of 64 per send is hit.
        let mut conn = echo_connection();
        let mut wire = BytesMut::new();
        let mut expected = BytesMut::new();
        for seq in 0..150u64 {
            let payload: Vec<u8> = (0..300 + seq as usize)
                .map(|i| (i as u64 ^ seq) as u8)
                .collect();
            let header = Header::request(seq, SerializeType::None);
            encode_frame(&mut wire, &header, "Echo", "Echo", NO_METADATA, &payload).unwrap();
            let reply = Header::response_to(&header);
            encode_frame(&mut expected, &reply, "Echo", "Echo", NO_METADATA, &payload).unwrap();
        }
        conn.handle_chunk(wire.freeze());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut outbox = Outbox::default();
        let mut sent = Vec::new();
        let mut sends = Vec::new();
        loop {
            // As the shard does: run what was received (the connection may stop at its
            // output threshold), then send.
            while let Some(call) = conn.poll_call(std::time::Instant::now) {
                assert!(
                    conn.poll_inline(&mut cx, call).is_none(),
                    "echo finishes at once"
                );
            }
            let Some(buf) = outbox.poll_send(&mut conn) else {
                break;
            };
            let (bytes, pieces) = offered(buf);
            assert!(pieces <= PIECES_MAX, "{pieces} pieces in one send");
            // Each send is taken in two halves, as after a short send.
            let half = bytes.len() / 2;
            let rest = outbox.handle_sent(half as i32).unwrap().expect("the rest");
            conn.handle_sent_owned(half);
            let (rest, _) = offered(rest);
            assert_eq!(
                rest,
                bytes[half..],
                "the rest starts where the short send stopped"
            );
            assert_eq!(outbox.handle_sent(rest.len() as i32).unwrap(), None);
            conn.handle_sent_owned(rest.len());
            sent.extend_from_slice(&bytes);
            sends.push(pieces);
        }
        assert_eq!(
            sends.iter().sum::<usize>(),
            300,
            "a head and a payload per reply: {sends:?}"
        );
        assert!(
            sends[..sends.len() - 1].iter().all(|&n| n == PIECES_MAX),
            "every send but the last is cut at the bound: {sends:?}"
        );
        assert_eq!(sent, expected[..], "every reply once, in wire order");
        assert!(outbox.is_idle());
        assert!(!conn.has_unsent());
    }

    #[test]
    fn a_rest_that_cannot_be_queued_is_given_up() {
        let mut conn = connection();
        let mut outbox = Outbox::default();
        feed(&mut conn, &heartbeats(0..2));
        outbox.poll_send(&mut conn).unwrap();
        assert!(outbox.handle_sent(5).unwrap().is_some(), "a rest to send");
        outbox.abandon();
        assert!(
            outbox.is_idle(),
            "nothing left for the kernel: the slot may go"
        );
    }
}
