//! [`HttpSession`]: the HTTP side of one connection, sans IO. It reads requests
//! (`read.rs`), decides what each one is, answers at once what needs no handler, and turns
//! the rest into the rpcx request [`Frame`] the connection dispatches exactly as it
//! dispatches frames from rpcx clients (auth, lookup, codec, deadline, handler); the
//! call's outcome comes back through [`HttpSession::answer_ok`] or
//! [`HttpSession::answer_error`] (either may be written, dropped and written again while a
//! plugin's `before_write` rewrites it), then [`HttpSession::answered`].
//!
//! One request at a time: while a call runs nothing more is read, so pipelined requests
//! are answered in order and wait in the socket, as with Go's server.
//!
//! ```text
//!  request ─┬─ CORS preflight (CORS on) ─────────────────────▶ 204, answered here
//!           ├─ X-JSONRPC-2.0: true (JSON-RPC on) ─── call ──▶ JSON-RPC answer
//!           ├─ an X-RPCX-* header (gateway on) ───── call ──▶ gateway answer
//!           ├─ an HttpRoute takes it ─────────────────────────▶ its response
//!           └─ otherwise ────────────────────────────────────▶ 404 saying what is served
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Instant;

use bytes::BytesMut;
use ringrpc_codec::{Frame, Limits};

use super::config::HttpConfig;
use super::cors;
use super::gateway::{self, Echo};
use super::jsonrpc::{self, Id};
use super::read::{HttpReject, Read, Reader};
use super::request::HttpRequest;
use super::response::{write, write_reject, Framing};
use crate::runtime::timers::Sleep;
use crate::services::Services;

/// What the connection does next with its HTTP input.
#[derive(Debug)]
pub(crate) enum Next {
    /// No whole request yet (or a call is running).
    Incomplete,
    /// A request was answered here; `close` once the answer is sent.
    Answered { close: bool },
    /// Dispatch this frame; its outcome goes to `answer_ok` / `answer_error`.
    Call(Frame),
    /// The request was refused (the refusal is written); close once it is sent.
    Reject(HttpReject),
}

/// What the session needs from the connection for one step.
pub(crate) struct Env<'a> {
    pub config: &'a HttpConfig,
    pub limits: &'a Limits,
    pub services: &'a Services,
    /// The connection is draining: every answer says `Connection: close`.
    pub draining: bool,
}

/// The HTTP state of one connection. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct HttpSession {
    reader: Reader,
    awaiting: Option<Awaiting>,
    head_timer: Option<Sleep>,
}

/// The request whose call is running, and what its answer needs.
#[derive(Debug)]
struct Awaiting {
    kind: Kind,
    framing: Framing,
    cors: cors::Headers,
}

#[derive(Debug)]
enum Kind {
    Gateway {
        echo: Echo,
        oneway: bool,
    },
    JsonRpc(Id),
    /// Answered already (an empty 200); the call runs as a oneway one.
    Notification,
}

impl HttpSession {
    /// Whether the connection may read: not while a call runs.
    pub(crate) fn wants_read(&self) -> bool {
        self.awaiting.is_none()
    }

    /// The next step for the bytes in `recv`. `now` is read only when a request head
    /// starts arriving (its timeout starts then); `waker` is woken when it expires.
    pub(crate) fn next(
        &mut self,
        recv: &mut BytesMut,
        out: &mut BytesMut,
        env: &Env<'_>,
        now: &impl Fn() -> Instant,
        waker: &Waker,
    ) -> Next {
        if self.awaiting.is_some() {
            return Next::Incomplete;
        }
        match self.reader.next(recv, env.config, out) {
            Read::Incomplete => {
                if !self.reader.in_head(recv) {
                    self.head_timer = None;
                } else if self.head_timer.is_none() {
                    self.head_timer = Some(Sleep::until(now() + env.config.header_timeout));
                    self.poll_head_timeout(waker);
                }
                Next::Incomplete
            }
            Read::Reject(reject) => {
                let (status, text) = reject.status();
                write_reject(out, status, text);
                Next::Reject(reject)
            }
            Read::Request(request) => {
                self.head_timer = None;
                self.dispatch(&request, out, env)
            }
        }
    }

    /// Whether the head timeout of the request being received has expired.
    pub(crate) fn poll_head_timeout(&mut self, waker: &Waker) -> bool {
        let Some(timer) = &mut self.head_timer else {
            return false;
        };
        let mut cx = Context::from_waker(waker);
        Pin::new(timer).poll(&mut cx).is_ready()
    }

    fn dispatch(&mut self, request: &HttpRequest, out: &mut BytesMut, env: &Env<'_>) -> Next {
        let config = env.config;
        let keep_alive = request.wants_keep_alive() && !env.draining;
        let framing = Framing {
            http10: request.minor_version() == 0,
            close: !keep_alive,
            keep_alive_10: keep_alive && request.minor_version() == 0,
            head_only: request.method() == "HEAD",
        };
        let served = config.gateway || config.jsonrpc;
        let cors_options = config.cors.as_ref().filter(|_| served);
        if let Some(options) = cors_options.filter(|_| cors::is_preflight(request)) {
            let headers = cors::preflight(options, request);
            write(
                out,
                204,
                headers.iter().map(|(n, v)| (*n, v.as_str())),
                b"",
                framing,
            );
            return Next::Answered {
                close: framing.close,
            };
        }
        let cors = cors_options.map_or_else(Vec::new, |options| cors::actual(options, request));
        // The answer's context; its kind is set once the call is known.
        let awaiting = Awaiting {
            kind: Kind::Notification,
            framing,
            cors,
        };
        if config.jsonrpc && request.header("x-jsonrpc-2.0") == Some("true") {
            return self.jsonrpc(request, out, env.limits, awaiting);
        }
        let gateway_call = request.headers().any(|(name, _)| {
            name.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-rpcx-"))
        });
        if config.gateway && gateway_call {
            return self.gateway(request, out, env.limits, awaiting);
        }
        let response = env
            .services
            .http_routes()
            .iter()
            .find_map(|route| route.handle(request));
        match response {
            Some(response) => response.write(out, framing),
            None => not_found(out, config, framing),
        }
        Next::Answered {
            close: framing.close,
        }
    }

    fn gateway(
        &mut self,
        request: &HttpRequest,
        out: &mut BytesMut,
        limits: &Limits,
        mut awaiting: Awaiting,
    ) -> Next {
        let Awaiting { framing, cors, .. } = &awaiting;
        let mut headers: Vec<(&str, &str)> = cors.iter().map(|(n, v)| (*n, v.as_str())).collect();
        match request.method() {
            "GET" | "POST" | "PUT" => {}
            // httprouter's answers for the methods rpcx-go's gateway has no route for.
            "OPTIONS" => {
                headers.insert(0, ("Allow", "GET, OPTIONS, POST, PUT"));
                write(out, 200, headers, b"", *framing);
                return Next::Answered {
                    close: framing.close,
                };
            }
            _ => {
                headers.insert(0, ("Allow", "GET, OPTIONS, POST, PUT"));
                headers.push(("Content-Type", "text/plain; charset=utf-8"));
                headers.push(("X-Content-Type-Options", "nosniff"));
                write(out, 405, headers, b"Method Not Allowed\n", *framing);
                return Next::Answered {
                    close: framing.close,
                };
            }
        }
        match gateway::convert(request, limits) {
            gateway::Converted::Call { frame, echo } => {
                let oneway = frame.header().is_oneway();
                awaiting.kind = Kind::Gateway { echo, oneway };
                self.awaiting = Some(awaiting);
                Next::Call(frame)
            }
            gateway::Converted::Invalid { echo, error } => {
                gateway::write_reply(
                    out,
                    &echo,
                    200,
                    gateway::Outcome::Error(&error),
                    &awaiting.cors,
                    awaiting.framing,
                );
                Next::Answered {
                    close: awaiting.framing.close,
                }
            }
            gateway::Converted::TooLarge => too_large(out),
        }
    }

    fn jsonrpc(
        &mut self,
        request: &HttpRequest,
        out: &mut BytesMut,
        limits: &Limits,
        mut awaiting: Awaiting,
    ) -> Next {
        let close = awaiting.framing.close;
        match jsonrpc::convert(request, limits) {
            jsonrpc::Converted::Call { frame, id } => {
                match id {
                    Some(id) => awaiting.kind = Kind::JsonRpc(id),
                    // A notification is answered now; its handler still runs to its end.
                    None => write_json(out, 200, b"", &awaiting),
                }
                self.awaiting = Some(awaiting);
                Next::Call(frame)
            }
            jsonrpc::Converted::Answer(body) => {
                write_json(out, 200, &body, &awaiting);
                Next::Answered { close }
            }
            jsonrpc::Converted::Silent => {
                write_json(out, 200, b"", &awaiting);
                Next::Answered { close }
            }
            jsonrpc::Converted::TooLarge => too_large(out),
        }
    }

    /// The running call's answer is written: the next request may be read.
    pub(crate) fn answered(&mut self) {
        self.awaiting = None;
    }

    /// Answers the running call with an error: refused by auth (`auth`) or failed in
    /// dispatch or in its handler. Returns whether the connection closes after it.
    pub(crate) fn answer_error(&mut self, auth: bool, text: &str, out: &mut BytesMut) -> bool {
        let Some(awaiting) = &self.awaiting else {
            return false;
        };
        match &awaiting.kind {
            Kind::Gateway { echo, .. } => {
                let status = if auth { 401 } else { 500 };
                gateway::write_reply(
                    out,
                    echo,
                    status,
                    gateway::Outcome::Error(text),
                    &awaiting.cors,
                    awaiting.framing,
                );
            }
            Kind::JsonRpc(id) => {
                let body = jsonrpc::error_body(jsonrpc::INTERNAL_ERROR, text, Some(id));
                write_json(out, 200, &body, awaiting);
            }
            Kind::Notification => {}
        }
        awaiting.framing.close
    }

    /// Answers the running call with its handler's reply. Returns whether the connection
    /// closes after it.
    pub(crate) fn answer_ok(
        &mut self,
        metadata: &[(String, String)],
        payload: &[u8],
        out: &mut BytesMut,
    ) -> bool {
        let Some(awaiting) = &self.awaiting else {
            return false;
        };
        match &awaiting.kind {
            Kind::Gateway { echo, oneway } => {
                let body = gateway::reply_body(*oneway, payload);
                gateway::write_reply(
                    out,
                    echo,
                    200,
                    gateway::Outcome::Reply { metadata, body },
                    &awaiting.cors,
                    awaiting.framing,
                );
            }
            Kind::JsonRpc(id) => match jsonrpc::result_body(payload, id) {
                Ok(body) => write_json(out, 200, &body, awaiting),
                Err(text) => {
                    // Go's `http.Error`.
                    let mut headers: Vec<(&str, &str)> = awaiting
                        .cors
                        .iter()
                        .map(|(n, v)| (*n, v.as_str()))
                        .collect();
                    headers.push(("Content-Type", "text/plain; charset=utf-8"));
                    headers.push(("X-Content-Type-Options", "nosniff"));
                    write(
                        out,
                        500,
                        headers,
                        format!("{text}\n").as_bytes(),
                        awaiting.framing,
                    );
                }
            },
            Kind::Notification => {}
        }
        awaiting.framing.close
    }
}

fn write_json(out: &mut BytesMut, status: u16, body: &[u8], awaiting: &Awaiting) {
    let mut headers: Vec<(&str, &str)> = awaiting
        .cors
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    write(out, status, headers, body, awaiting.framing);
}

fn too_large(out: &mut BytesMut) -> Next {
    let (status, text) = HttpReject::BodyTooLarge.status();
    write_reject(out, status, text);
    Next::Reject(HttpReject::BodyTooLarge)
}

/// The answer to a request nothing serves: what this port does serve.
fn not_found(out: &mut BytesMut, config: &HttpConfig, framing: Framing) {
    let mut text = String::from("404 page not found: this port serves rpcx");
    if config.gateway {
        text.push_str(", the rpcx HTTP gateway (requests with X-RPCX-ServicePath, X-RPCX-ServiceMethod and X-RPCX-SerializeType headers)");
    }
    if config.jsonrpc {
        text.push_str(", JSON-RPC 2.0 (requests with the header X-JSONRPC-2.0: true)");
    }
    text.push('\n');
    let headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
    ];
    write(out, 404, headers, text.as_bytes(), framing);
}
