//! Which protocol a [`Connection`] speaks ([`Proto`], decided by its first byte), and the
//! connection's HTTP steps: requests read by its `HttpSession`, their calls routed exactly
//! as rpcx frames are (`Connection::route`), their outcomes answered in HTTP.

use std::time::Instant;

use super::call::Call;
use super::connection::{Connection, State};
use super::input;
use super::link::Link;
use crate::error::CloseCause;
use crate::http::session::{Env, HttpSession, Next};
use crate::http::{is_http_start, HttpClose};

/// The protocol of a connection, decided once by its first byte (PROTOCOL.md §7.2).
#[derive(Debug)]
pub(super) enum Proto {
    /// Nothing received yet.
    Unknown,
    /// rpcx frames (the magic byte, or anything that is not HTTP: the decoder refuses it).
    Rpcx,
    /// HTTP/1.x: the gateway, JSON-RPC and the HTTP routes.
    Http(Box<HttpSession>),
}

impl Proto {
    /// The protocol of a connection whose first byte is `byte`. An HTTP connection cannot
    /// carry server pushes, so its link refuses them.
    pub(super) fn detect(byte: u8, link: &Link) -> Self {
        if is_http_start(byte) {
            link.refuse_pushes();
            Self::Http(Box::default())
        } else {
            Self::Rpcx
        }
    }

    /// False while an HTTP call runs (requests are served one at a time).
    pub(super) fn wants_read(&self) -> bool {
        match self {
            Self::Http(session) => session.wants_read(),
            Self::Unknown | Self::Rpcx => true,
        }
    }
}

impl Connection {
    /// The connection's protocol, decided by its first byte once one has arrived.
    pub(super) fn poll_proto(&mut self) -> Option<&Proto> {
        if matches!(self.proto, Proto::Unknown) {
            let byte = input::first_byte(&self.recv, &self.chunks)?;
            self.proto = Proto::detect(byte, &self.link);
        }
        Some(&self.proto)
    }

    /// `poll_call` for an HTTP connection: answers what needs no handler, returns the call
    /// of a gateway or JSON-RPC request.
    pub(super) fn poll_http(&mut self, now: &impl Fn() -> Instant) -> Option<Call> {
        loop {
            if !matches!(self.state, State::Open | State::Draining)
                || self.out.len() >= self.config.flush_threshold_bytes
            {
                return None;
            }
            input::take_chunks(&mut self.recv, &mut self.chunks);
            let Proto::Http(session) = &mut self.proto else {
                return None;
            };
            let env = Env {
                config: &self.config.http,
                limits: &self.config.limits,
                services: &self.services,
                draining: self.state == State::Draining,
            };
            let waker = self.link.waker();
            match session.next(&mut self.recv, &mut self.out, &env, now, &waker) {
                Next::Incomplete => {
                    if self.state == State::Draining && session.wants_read() {
                        // Nothing more will be read: a partial request never completes.
                        self.recv.clear();
                    }
                    self.update_state();
                    return None;
                }
                Next::Answered { close } => self.after_http_answer(close),
                Next::Reject(reject) => {
                    self.close_after_flush(CloseCause::Http(HttpClose::Rejected(reject)));
                    return None;
                }
                Next::Call(frame) => {
                    if let Some(call) = self.route(frame, now) {
                        return Some(call);
                    }
                }
            }
        }
    }

    /// Answers the running HTTP call refused by the auth hook (401, or a JSON-RPC error).
    /// Returns false if the connection is not HTTP.
    pub(super) fn http_auth_error(&mut self, text: &str) -> bool {
        let Proto::Http(session) = &mut self.proto else {
            return false;
        };
        let close = session.answer_error(true, text, &mut self.out);
        session.answered();
        self.after_http_answer(close);
        true
    }

    /// Closes a connection whose request head took longer than the header timeout.
    pub(super) fn poll_http_timeout(&mut self) {
        let Proto::Http(session) = &mut self.proto else {
            return;
        };
        if session.poll_head_timeout(&self.link.waker()) {
            self.close_after_flush(CloseCause::Http(HttpClose::HeaderTimeout));
        }
    }

    pub(super) fn after_http_answer(&mut self, close: bool) {
        if close {
            self.close_after_flush(CloseCause::Http(HttpClose::Done));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::ConnConfig;
    use crate::http::{HttpConfig, HttpRequest, HttpResponse};
    use crate::runtime::timers;
    use crate::{HandlerError, Request, Response, Services};

    async fn echo(request: Request) -> Result<Response, HandlerError> {
        Ok(Response::new(request.payload().clone()).with_metadata_from(request.metadata()))
    }

    /// Pending once: the driver must run it away from `poll_inline`.
    async fn later(request: Request) -> Result<Response, HandlerError> {
        let mut first = true;
        std::future::poll_fn(|cx| {
            if std::mem::take(&mut first) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(())
        })
        .await;
        Ok(Response::new(request.payload().clone()))
    }

    async fn push(request: Request) -> Result<Response, HandlerError> {
        request
            .pusher()
            .push("Test", "Push", [("n", "0")], b"x")
            .await?;
        Ok(Response::new(bytes::Bytes::new()))
    }

    fn connection(config: HttpConfig) -> Connection {
        let mut services = Services::new();
        services
            .service("Echo")
            .method("Echo", echo)
            .method("Later", later)
            .method("Push", push);
        services.set_auth(|_, token| {
            (token == "secret")
                .then_some(())
                .ok_or_else(|| "auth: invalid token".to_owned())
        });
        services.add_http_route(|request: &HttpRequest| {
            (request.path() == "/healthz").then(|| HttpResponse::text(200, "ok\n"))
        });
        let config = ConnConfig {
            http: config,
            ..ConnConfig::default()
        };
        Connection::new(Rc::new(services), Rc::new(config), Link::detached())
    }

    /// Feeds `input` (in pieces of `step` bytes) at virtual time `now`, running calls: the
    /// ones pending on their first poll are finished only after everything was fed.
    fn exchange(conn: &mut Connection, input: &[u8], step: usize, now: Instant) -> String {
        let (mut out, mut parked) = (Vec::new(), Vec::new());
        let pump = |conn: &mut Connection, parked: &mut Vec<Call>, out: &mut Vec<u8>| {
            let mut cx = Context::from_waker(Waker::noop());
            conn.handle_link();
            while let Some(call) = conn.poll_call(|| now) {
                if let Some(call) = conn.poll_inline(&mut cx, call) {
                    parked.push(call);
                }
            }
            while let Some(bytes) = conn.poll_transmit() {
                out.extend_from_slice(bytes);
                let n = bytes.len();
                conn.handle_sent(n);
            }
        };
        for piece in input.chunks(step.max(1)) {
            conn.handle_received(piece);
            pump(conn, &mut parked, &mut out);
        }
        let mut cx = Context::from_waker(Waker::noop());
        while let Some(mut call) = parked.pop() {
            assert!(
                !conn.wants_read(),
                "nothing is read while an HTTP call runs"
            );
            while call.poll(&mut cx).is_pending() {}
            conn.handle_completion(call.finish());
            pump(conn, &mut parked, &mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    const CALL: &str = "POST /Echo HTTP/1.1\r\nHost: h\r\nX-RPCX-ServiceMethod: Echo\r\n\
        X-RPCX-SerializeType: 0\r\nX-RPCX-Meta: k=v\r\nAuthorization: secret\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn a_gateway_call_split_at_every_byte_is_answered_the_same() {
        let now = Instant::now();
        let whole = exchange(
            &mut connection(HttpConfig::default()),
            CALL.as_bytes(),
            CALL.len(),
            now,
        );
        assert!(whole.starts_with("HTTP/1.1 200 OK\r\n"), "{whole}");
        assert!(
            whole.contains("X-Rpcx-Meta: __AUTH=secret&k=v\r\n"),
            "{whole}"
        );
        assert!(whole.ends_with("\r\n\r\nhello"), "{whole}");
        for step in [1, 2, 7, 50] {
            let mut conn = connection(HttpConfig::default());
            assert_eq!(
                exchange(&mut conn, CALL.as_bytes(), step, now),
                whole,
                "step {step}"
            );
            assert!(!conn.is_closed());
        }
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_one_call_at_a_time() {
        let slow = CALL
            .replace("ServiceMethod: Echo", "ServiceMethod: Later")
            .replace("hello", "first");
        let input = format!("{slow}{CALL}GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n");
        let out = exchange(
            &mut connection(HttpConfig::default()),
            input.as_bytes(),
            input.len(),
            Instant::now(),
        );
        let first = out.find("first").expect("the slow call answered");
        let second = out.find("hello").expect("the second call answered");
        let third = out.find("ok\n").expect("the route answered");
        assert!(first < second && second < third, "{out}");
    }

    #[test]
    fn auth_failures_get_401_and_the_connection_stays() {
        let bad = CALL.replace("secret", "wrong");
        let mut conn = connection(HttpConfig::default());
        let out = exchange(
            &mut conn,
            format!("{bad}{CALL}").as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(out.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{out}");
        assert!(
            out.contains("X-Rpcx-Errormessage: auth: invalid token\r\n"),
            "{out}"
        );
        assert!(out.ends_with("hello"), "the next request is served: {out}");
        assert!(!conn.is_closed());
    }

    #[test]
    fn oneway_calls_are_answered_and_their_errors_too() {
        let oneway = CALL.replace("X-RPCX-Meta", "X-RPCX-Oneway: 1\r\nX-RPCX-Meta");
        let out = exchange(
            &mut connection(HttpConfig::default()),
            oneway.as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("Content-Length: 0\r\n\r\n"),
            "{out}"
        );
        let unknown = oneway.replace("ServiceMethod: Echo", "ServiceMethod: Nope");
        let out = exchange(
            &mut connection(HttpConfig::default()),
            unknown.as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(
            out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{out}"
        );
        assert!(
            out.contains("X-Rpcx-Errormessage: rpcx: can't find method Nope\r\n"),
            "{out}"
        );
    }

    #[test]
    fn jsonrpc_calls_notifications_and_errors() {
        let rpc = |body: &str| {
            format!(
                "POST / HTTP/1.1\r\nHost: h\r\nX-JSONRPC-2.0: true\r\nAuthorization: secret\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let input = [
            rpc(r#"{"jsonrpc":"2.0","method":"Echo.Echo","params":{"a": [1, "<"]},"id":3}"#),
            rpc(r#"{"jsonrpc":"2.0","method":"Echo.Later","params":{}}"#),
            rpc(r#"{"jsonrpc":"2.0","method":"Echo.Nope","params":{},"id":"x"}"#),
        ]
        .concat();
        let out = exchange(
            &mut connection(HttpConfig::default()),
            input.as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(
            out.contains(r#"{"jsonrpc":"2.0","result":{"a":[1,"\u003c"]},"id":3}"#),
            "{out}"
        );
        assert!(
            out.contains("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            "notification: {out}"
        );
        assert!(
            out.ends_with(r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"rpcx: can't find method Nope","data":null},"id":"x"}"#),
            "{out}"
        );
    }

    #[test]
    fn pushes_fail_on_an_http_connection() {
        let input = CALL.replace("ServiceMethod: Echo", "ServiceMethod: Push");
        let out = exchange(
            &mut connection(HttpConfig::default()),
            input.as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(out.starts_with("HTTP/1.1 500"), "{out}");
        assert!(
            out.contains("server pushes need an rpcx connection"),
            "{out}"
        );
    }

    #[test]
    fn disabled_protocols_and_unknown_requests_get_404() {
        let config = HttpConfig::default().gateway(false).jsonrpc(false);
        let out = exchange(
            &mut connection(config),
            CALL.as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
        assert!(!out.contains("gateway"), "says only what is served: {out}");
        let get = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
        let out = exchange(
            &mut connection(HttpConfig::default()),
            get.as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(
            out.starts_with("HTTP/1.1 404 Not Found\r\n") && out.contains("X-JSONRPC-2.0"),
            "{out}"
        );
    }

    #[test]
    fn connection_close_and_bad_requests_close() {
        let close = CALL.replace("Host: h\r\n", "Host: h\r\nConnection: close\r\n");
        let mut conn = connection(HttpConfig::default());
        let out = exchange(
            &mut conn,
            format!("{close}{CALL}").as_bytes(),
            1000,
            Instant::now(),
        );
        assert!(
            out.contains("Connection: close\r\n") && out.matches("HTTP/1.1").count() == 1,
            "{out}"
        );
        assert!(conn.is_closed());
        let mut conn = connection(HttpConfig::default());
        let out = exchange(
            &mut conn,
            b"GET /\x01 HTTP/1.1\r\n\r\n",
            1000,
            Instant::now(),
        );
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(conn.is_closed());
        assert!(matches!(
            conn.take_cause(),
            Some(CloseCause::Http(HttpClose::Rejected(_)))
        ));
    }

    #[test]
    fn a_head_that_does_not_complete_in_time_closes_the_connection_on_virtual_time() {
        // An hour ahead of the wall clock: only the timer queue's virtual time reaches it.
        let t0 = Instant::now() + Duration::from_secs(3600);
        let config = HttpConfig::default().header_timeout(Duration::from_secs(2));
        let mut conn = connection(config);
        let out = exchange(&mut conn, b"POST /Echo HTTP/1.1\r\nHost", 1, t0);
        assert!(out.is_empty());
        let mut due = Vec::new();
        timers::with(|t| t.fire(t0 + Duration::from_millis(1999), &mut due));
        conn.handle_link();
        assert!(!conn.is_closed() && due.is_empty());
        timers::with(|t| t.fire(t0 + Duration::from_secs(2), &mut due));
        assert_eq!(due.len(), 1, "the head timer fired");
        conn.handle_link();
        assert!(conn.is_closed());
        assert!(matches!(
            conn.take_cause(),
            Some(CloseCause::Http(HttpClose::HeaderTimeout))
        ));
    }

    #[test]
    fn an_rpcx_first_byte_keeps_rpcx_and_garbage_goes_to_the_decoder() {
        let mut conn = connection(HttpConfig::default());
        conn.handle_received(b"\x07garbage");
        assert!(conn.poll_call(Instant::now).is_none());
        assert!(matches!(conn.proto, Proto::Rpcx));
        assert!(matches!(conn.take_cause(), Some(CloseCause::Decode(_))));
    }
}
