//! How a received request is routed (PROTOCOL.md §4.2–4.7): answered by the connection
//! (heartbeat, error reply, auth failure) or started as a [`Call`], whose request bytes
//! then count against the in-flight budgets.
//!
//! A gzip payload is inflated here, last, and only for a request that will run, to at most
//! the connection's in-flight budget: a heartbeat is echoed as received (never inflated),
//! and a refused or misaddressed request costs no inflation.
//!
//! Server plugins (`before_handle`) run here, after auth and before the lookup, for rpcx
//! and HTTP gateway calls alike: a refusal is answered before any byte is held, a rewrite
//! changes the name the handler is looked up by, and a delay or a span rides on the started
//! [`Call`], whose held bytes are released with its completion (or the connection's close).

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Instant;

use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{encode_heartbeat_reply, Frame, Reply, AUTH_KEY};

use super::answer;
use super::call::{server_timeout, Call, ReplyTo, Timeout};
use super::connection::{buffer, Connection};
use super::http::Proto;
use super::DEADLINE_EXCEEDED;
use crate::error::CloseCause;
use crate::plugin::{Incoming, Status, Watch};
use crate::runtime::timers::Sleep;
use crate::services::{Lookup, Route, Services};

impl Connection {
    /// Decides what one request becomes, in rpcx-go's order (PROTOCOL.md §4.2–4.7): answered
    /// here (heartbeat, error reply, auth failure) or a started [`Call`] (`start`).
    ///
    /// A gzip payload is inflated last, only for a request that will run: a heartbeat is
    /// echoed as received and a refused or misaddressed request costs no inflation.
    pub(super) fn route(&mut self, mut frame: Frame, now: &impl Fn() -> Instant) -> Option<Call> {
        buffer(&mut self.out);
        // Where this request's reply head will be written, asked for before the handler
        // runs (the output buffer is cold after the shard served other connections).
        crate::prefetch::prefetch_at(self.out.spare_capacity_mut().as_ptr());
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
        let mut plan = Plan::default();
        // The one branch plugins cost when none is registered. They decide before the
        // handler starts and before any byte is held or inflated, so a refusal holds none.
        let route = if services.plugins().is_empty() {
            services.lookup(frame.service_path_bytes(), frame.service_method_bytes())
        } else {
            let plugins = services.plugins();
            let now = plugins.now();
            let mut incoming = Incoming::new(&frame, self.link.peer_addr(), services.shard(), now);
            if let Err((refusal, seen)) = plugins.before_handle(&mut incoming) {
                self.reply_error(&frame, format_args!("{}", refusal.text()));
                plugins.refused(&frame, &refusal, seen);
                return None;
            }
            plan.span = incoming.span.take();
            plan.delay_until = incoming.delay_until;
            plan.watch = Some(Watch::new(services.clone(), frame.clone(), now));
            plan.rewrite = Some((
                incoming.service_path().to_owned(),
                incoming.service_method().to_owned(),
            ));
            let (path, method) = plan.names(&frame);
            services.lookup(path.as_bytes(), method.as_bytes())
        };
        let route = match route {
            Lookup::Found(route) => route.clone(),
            Lookup::NoService => {
                let (path, _) = plan.names(&frame);
                self.reply_error(&frame, format_args!("rpcx: can't find service {path}"));
                return plan.unrouted(Status::Error);
            }
            Lookup::NoMethod => {
                let (_, method) = plan.names(&frame);
                self.reply_error(&frame, format_args!("rpcx: can't find method {method}"));
                return plan.unrouted(Status::Error);
            }
        };
        let serialize_type = match SerializeType::from_wire(header.serialize_bits()) {
            Ok(serialize_type) => serialize_type,
            Err(e) => {
                self.reply_error(&frame, format_args!("{e}"));
                return plan.unrouted(Status::Error);
            }
        };
        let deadline = match server_timeout(&frame, now) {
            Timeout::None => None,
            Timeout::At(deadline) => Some(deadline),
            Timeout::Expired => {
                self.reply_error(&frame, format_args!("{DEADLINE_EXCEEDED}"));
                return plan.unrouted(Status::Expired);
            }
        };
        if frame.is_compressed() {
            let Some(inflated_bytes) = self.inflate(&mut frame) else {
                return plan.unrouted(Status::Error);
            };
            plan.inflated_bytes = inflated_bytes;
        }
        // By reference: the plan is large (a watch, the rewritten names) and a move would
        // copy it whole for every request, plugins or not.
        Some(self.start(frame, route, serialize_type, deadline, &mut plan))
    }

    /// Inflates a gzip payload, to at most the frame limit and the connection's in-flight
    /// budget, and returns the bytes it produced; `None` (and a close) if it fails.
    #[cold]
    fn inflate(&mut self, frame: &mut Frame) -> Option<usize> {
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
                if !self.http_auth_error(&text) {
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
        route: Rc<Route>,
        serialize_type: SerializeType,
        deadline: Option<Instant>,
        plan: &mut Plan,
    ) -> Call {
        // Released in `handle_completion`, or all at once when the connection closes.
        let held_bytes = frame.as_bytes().len() + plan.inflated_bytes;
        self.held_bytes += held_bytes;
        self.link.bounds().acquire(held_bytes);
        let header = *frame.header();
        let span = plan.span.take().unwrap_or_else(|| {
            tracing::debug_span!(
                "req",
                seq = header.seq(),
                service_path = frame.service_path(),
                service_method = frame.service_method()
            )
        });
        // Without a plugin the reply echoes the route's names, equal to the request's: the
        // frame moves to the handler and the call keeps only its header (no reference
        // count taken on the receive buffer). A plugin sees the request after the handler
        // (and may have rewritten the names the handler was found by): the call keeps the
        // frame.
        let kept_frame =
            (plan.watch.is_some() || plan.rewrite.is_some()).then(|| Box::new(frame.clone()));
        let mut slot = {
            let _entered = span.enter();
            route
                .handler
                .start(frame, serialize_type, deadline, self.link.clone())
        };
        // The call's state is written where it lives, in the slot (`CallState`).
        let state = slot.state_mut();
        state.reply_to = match kept_frame {
            None => ReplyTo::Routed(header, route),
            Some(frame) => ReplyTo::Frame(frame),
        };
        state.serialize_type = serialize_type;
        state.deadline = deadline;
        state.span = span;
        state.held_bytes = held_bytes;
        if let Some(at) = plan.delay_until {
            state.delay = Some(Box::new(Sleep::until(at)));
        }
        if let Some(watch) = plan.watch.take() {
            state.watch = Some(Box::new(watch));
        }
        self.inflight_count += 1;
        Call { slot }
    }

    /// Answers `frame` with an error reply (status Error and `__rpcx_error__`), unless it
    /// is oneway (over HTTP a oneway call is answered too, as rpcx-go does). The plugins see
    /// it (`before_write`) like any reply.
    pub(super) fn reply_error(&mut self, frame: &Frame, message: std::fmt::Arguments<'_>) {
        let http = matches!(self.proto, Proto::Http(_));
        if !http && frame.header().is_oneway() {
            return;
        }
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let _ = text.write_fmt(message);
        tracing::debug!(seq = frame.seq(), error = %text, "error reply");
        // Only when plugins are registered: they may rewrite it.
        let services = (!self.services.plugins().is_empty()).then(|| Rc::clone(&self.services));
        let plugins = services.as_deref().map(Services::plugins);
        self.write_answer(
            &Reply::to(frame),
            &answer::error(&text),
            plugins,
            Status::Error,
            None,
        );
        self.text = text;
    }
}

/// What the plugins decided for a request on its way to its handler (nothing when no
/// plugin is registered), and the bytes its payload inflated to.
#[derive(Default)]
struct Plan {
    span: Option<tracing::Span>,
    delay_until: Option<Instant>,
    watch: Option<Watch>,
    /// The names the plugins route the request by (`Incoming::service_path`, ...).
    rewrite: Option<(String, String)>,
    inflated_bytes: usize,
}

impl Plan {
    /// The names the request is routed by: the plugins' if any ran, else the frame's.
    fn names<'a>(&'a self, frame: &'a Frame) -> (&'a str, &'a str) {
        match &self.rewrite {
            Some((path, method)) => (path, method),
            None => (frame.service_path(), frame.service_method()),
        }
    }

    /// The request was answered before reaching a handler (it holds no bytes): its plugins
    /// hear how.
    fn unrouted(self, status: Status) -> Option<Call> {
        if let Some(watch) = self.watch {
            watch.finish(status);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Waker};

    use bytes::BytesMut;
    use ringrpc_codec::compress::gzip;
    use ringrpc_codec::{encode_frame, CompressType, Header, NO_METADATA};

    use super::*;
    use crate::conn::{ConnConfig, Link};
    use crate::handler::Request;

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
                while let Some(n) = conn.poll_transmit().map(<[u8]>::len) {
                    conn.handle_sent(n);
                }
            }
            seqs.push(0);
        }
        assert_eq!(
            seqs,
            [1, 2, 0, 3, 0, 0],
            "1.4 MiB in the first batch, then a new one"
        );
    }

    /// Refuses seq 1, holds seq 2 back for an hour, lets the rest through.
    struct Gate;

    impl crate::plugin::Plugin for Gate {
        fn before_handle<'a>(
            &'a self,
            request: &mut Incoming<'a>,
        ) -> Result<(), crate::plugin::Refusal> {
            match request.frame().seq() {
                1 => Err(crate::plugin::Refusal::new("gate", "gate: refused")),
                2 => {
                    let later = request.now() + std::time::Duration::from_secs(3600);
                    request.delay_until(later);
                    Ok(())
                }
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn plugin_refusals_hold_no_bytes_and_started_calls_give_theirs_back() {
        let mut services = Services::new();
        services.register("Echo", "Echo", |request: Request| async move {
            Ok::<_, crate::HandlerError>(crate::Response::new(request.into_payload()))
        });
        services.plugin(Gate);
        let bounds = Rc::new(crate::conn::ShardBounds::unlimited());
        let held = || {
            let stats = bounds.stats();
            stats
                .inflight_bytes
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let mut conn = Connection::new(
            Rc::new(services),
            Rc::new(ConnConfig::default()),
            Link::detached_with(bounds.clone()),
        );
        let mut cx = Context::from_waker(Waker::noop());

        conn.handle_received(&frame(1, false, None, b"refused"));
        assert!(conn.poll_call(Instant::now).is_none());
        let reply = conn.poll_transmit().expect("an error reply").to_vec();
        assert!(reply.windows(13).any(|w| w == b"gate: refused"));
        conn.handle_sent(reply.len());
        assert_eq!(held(), 0, "a refused request holds nothing");

        conn.handle_received(&frame(3, false, Some(&[7u8; 4096]), b""));
        let call = conn.poll_call(Instant::now).expect("a started call");
        assert!(
            held() > 4096,
            "frame and inflated payload held while it runs"
        );
        assert!(conn.poll_inline(&mut cx, call).is_none());
        assert_eq!(held(), 0, "given back with its reply");

        conn.handle_received(&frame(2, false, None, b"delayed"));
        let call = conn.poll_call(Instant::now).expect("a started call");
        let call = conn
            .poll_inline(&mut cx, call)
            .expect("held back by the plugin");
        assert!(held() > 0, "a delayed call holds its bytes while it waits");
        drop(call);
        drop(conn);
        assert_eq!(held(), 0, "given back when the connection goes");
    }
}
