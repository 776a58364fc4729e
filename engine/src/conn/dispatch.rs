//! How a received request is routed (PROTOCOL.md §4.2–4.7): answered by the connection
//! (heartbeat, error reply, auth failure) or started as a [`Call`], whose request bytes
//! then count against the in-flight budgets.
//!
//! A gzip payload is inflated here, last, and only for a request that will run, to at most
//! the connection's in-flight budget: a heartbeat is echoed as received (never inflated),
//! and a refused or misaddressed request costs no inflation.

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Instant;

use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{encode_heartbeat_reply, EncodeError, Frame, Reply, AUTH_KEY, NO_METADATA};

use super::call::{server_timeout, Call, Timeout};
use super::connection::{buffer, Connection};
use super::http::Proto;
use super::DEADLINE_EXCEEDED;
use crate::error::CloseCause;
use crate::handler::Request;
use crate::inflight::ErasedHandler;
use crate::services::{Lookup, Services};

impl Connection {
    /// Decides what one request becomes, in rpcx-go's order (PROTOCOL.md §4.2–4.7): answered
    /// here (heartbeat, error reply, auth failure) or a started [`Call`] (`start`).
    ///
    /// A gzip payload is inflated last, only for a request that will run: a heartbeat is
    /// echoed as received and a refused or misaddressed request costs no inflation.
    pub(super) fn route(&mut self, mut frame: Frame, now: &impl Fn() -> Instant) -> Option<Call> {
        buffer(&mut self.out);
        self.batch_work_bytes += frame.as_bytes().len();
        let header = *frame.header();
        if header.is_heartbeat() {
            encode_heartbeat_reply(&frame, &mut self.out);
            return None;
        }
        let services = Rc::clone(&self.services);
        if !self.authorize(&services, &frame) {
            return None;
        }
        let (path, method) = (frame.service_path(), frame.service_method());
        let handler = match services.lookup(path, method) {
            Lookup::Found(handler) => handler,
            Lookup::NoService => {
                self.reply_error(&frame, format_args!("rpcx: can't find service {path}"));
                return None;
            }
            Lookup::NoMethod => {
                self.reply_error(&frame, format_args!("rpcx: can't find method {method}"));
                return None;
            }
        };
        let serialize_type = match SerializeType::from_wire(header.serialize_bits()) {
            Ok(serialize_type) => serialize_type,
            Err(e) => {
                self.reply_error(&frame, format_args!("{e}"));
                return None;
            }
        };
        let deadline = match server_timeout(&frame, now) {
            Timeout::None => None,
            Timeout::At(deadline) => Some(deadline),
            Timeout::Expired => {
                self.reply_error(&frame, format_args!("{DEADLINE_EXCEEDED}"));
                return None;
            }
        };
        let inflated_bytes = self.inflate(&mut frame)?;
        Some(self.start(frame, handler, serialize_type, deadline, inflated_bytes))
    }

    /// Inflates a gzip payload, to at most the frame limit and the connection's in-flight
    /// budget, and returns the bytes it produced; `None` (and a close) if it fails.
    fn inflate(&mut self, frame: &mut Frame) -> Option<usize> {
        if !frame.is_compressed() {
            return Some(0);
        }
        let max_bytes =
            (self.config.limits.max_decompressed_bytes).min(self.config.max_inflight_bytes);
        match frame.inflate(max_bytes) {
            Ok(()) => {
                self.batch_work_bytes += frame.payload().len();
                Some(frame.payload().len())
            }
            Err(e) => {
                self.close_after_flush(CloseCause::Decode(e));
                None
            }
        }
    }

    /// Runs the auth hook, if any (PROTOCOL.md §4.3): a refused request gets the hook's text
    /// as an error reply, then the connection closes.
    fn authorize(&mut self, services: &Services, frame: &Frame) -> bool {
        let Some(auth) = services.auth() else {
            return true;
        };
        let token = frame.metadata().get(AUTH_KEY).unwrap_or("");
        match auth(frame, token) {
            Ok(()) => true,
            Err(text) => {
                // Over HTTP: 401 (or a JSON-RPC error), and the connection stays open.
                if !self.http_error(true, &text) {
                    self.reply_error(frame, format_args!("{text}"));
                    self.close_after_flush(CloseCause::Auth(text));
                }
                false
            }
        }
    }

    /// Starts the handler of a routed request: the one place handler code is entered.
    fn start(
        &mut self,
        frame: Frame,
        handler: &Rc<dyn ErasedHandler>,
        serialize_type: SerializeType,
        deadline: Option<Instant>,
        inflated_bytes: usize,
    ) -> Call {
        let held_bytes = frame.as_bytes().len() + inflated_bytes;
        self.held_bytes += held_bytes;
        self.link.bounds().acquire(held_bytes);
        let header = frame.header();
        let span = tracing::debug_span!(
            "req",
            seq = header.seq(),
            service_path = frame.service_path(),
            service_method = frame.service_method()
        );
        let request = Request::new(frame.clone(), serialize_type, deadline, self.link.clone());
        let slot = span.in_scope(|| handler.start(request));
        self.inflight_count += 1;
        Call {
            reply_to: frame,
            serialize_type,
            slot,
            deadline,
            span,
            held_bytes,
        }
    }

    /// Answers `frame` with an error reply (status Error and `__rpcx_error__`), unless it
    /// is oneway.
    pub(super) fn reply_error(&mut self, frame: &Frame, message: std::fmt::Arguments<'_>) {
        if matches!(self.proto, Proto::Http(_)) {
            // Over HTTP a oneway call is answered too (an error status, as rpcx-go does).
            let text = message.to_string();
            self.http_error(false, &text);
            return;
        }
        if frame.header().is_oneway() {
            return;
        }
        self.text.clear();
        let _ = self.text.write_fmt(message);
        tracing::debug!(seq = frame.seq(), error = %self.text, "error reply");
        let result: Result<(), EncodeError> =
            Reply::to(frame).encode_error(&mut self.out, &self.text, NO_METADATA, &[]);
        if let Err(e) = result {
            self.close_after_flush(CloseCause::Encode(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Waker};

    use bytes::BytesMut;
    use ringrpc_codec::compress::gzip;
    use ringrpc_codec::{encode_frame, CompressType, Header};

    use super::*;
    use crate::conn::{ConnConfig, Link};

    fn connection() -> Connection {
        let mut services = Services::new();
        services.register("Echo", "Echo", |request: Request| async move {
            Ok::<_, crate::HandlerError>(crate::Response::new(request.into_payload()))
        });
        Connection::new(
            Rc::new(services),
            Rc::new(ConnConfig::default()),
            Link::detached(),
        )
    }

    fn frame(seq: u64, heartbeat: bool, gzip_payload: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
        let mut header = Header::request(seq, SerializeType::None);
        header.set_heartbeat(heartbeat);
        let mut zipped = BytesMut::new();
        let payload = match gzip_payload {
            Some(plain) => {
                gzip(plain, &mut zipped).unwrap();
                header.set_compress_type(CompressType::Gzip);
                &zipped[..]
            }
            None => payload,
        };
        let mut out = BytesMut::new();
        encode_frame(&mut out, &header, "Echo", "Echo", NO_METADATA, payload).unwrap();
        out.to_vec()
    }

    #[test]
    fn a_heartbeat_is_echoed_as_received_even_if_it_is_no_gzip() {
        let mut conn = connection();
        let mut wire = frame(1, true, None, b"\x1f\x8bnot gzip");
        wire[2] |= 0x04; // compress: gzip
        conn.handle_received(&wire);
        assert!(conn.poll_call(Instant::now).is_none());
        let mut expected = wire.clone();
        expected[2] |= 0x80;
        assert_eq!(conn.poll_transmit(), Some(&expected[..]));
        assert!(!conn.is_read_closed());
    }

    #[test]
    fn a_batch_of_large_requests_hands_the_shard_back() {
        let mut conn = connection();
        let plain = vec![1u8; 700 << 10];
        let wire = [
            frame(1, false, None, &plain),
            frame(2, false, Some(&plain), b""),
            frame(3, false, None, b"small"),
        ]
        .concat();
        conn.handle_received(&wire);
        let mut cx = Context::from_waker(Waker::noop());
        let mut seqs = Vec::new();
        for _ in 0..3 {
            while let Some(call) = conn.poll_call(Instant::now) {
                seqs.push(call.seq());
                assert!(conn.poll_inline(&mut cx, call).is_none());
                // Replies sent at once: only the batch budget can pause this connection.
                let n = conn.poll_transmit().map_or(0, <[u8]>::len);
                conn.handle_sent(n);
            }
            seqs.push(0);
        }
        assert_eq!(
            seqs,
            [1, 2, 0, 3, 0, 0],
            "1.4 MiB in the first batch, then a new one"
        );
    }
}
