//! [`Reader`]: HTTP/1.x requests out of received bytes, sans IO, with every bound checked as
//! the bytes arrive.
//!
//! The head is parsed with `httparse` once its end (an empty line) has arrived; until then
//! only the new bytes are scanned for it, so a head trickled byte by byte costs linear time.
//! The body is framed by `Content-Length` or `Transfer-Encoding: chunked`; it is kept as the
//! received bytes themselves when it arrived whole, and otherwise grows with the bytes that
//! arrived (never pre-sized from a declared length).
//!
//! ```text
//!   Head ── empty line, head parsed ──▶ Body ── body complete ──▶ Head (next request)
//!     │  over header_max_bytes / header_max_count: 431       │ over body_max_bytes: 413
//!     │  malformed: 400, unsupported transfer coding: 501     │ bad chunk framing: 400
//! ```

use bytes::{Buf, BufMut, BytesMut};

use super::config::HttpConfig;
use super::request::HttpRequest;

/// Longest chunk-size line accepted (hex digits and extensions).
const CHUNK_LINE_MAX: usize = 1024;

/// What the received bytes hold now.
#[derive(Debug)]
pub(crate) enum Read {
    /// Not a whole request yet.
    Incomplete,
    /// A whole request, removed from the received bytes.
    Request(HttpRequest),
    /// The request cannot be served; answer it with this and close.
    Reject(HttpReject),
}

/// Why a request is refused before it reaches anything (the answer then closes the
/// connection, as Go's server does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpReject {
    /// Malformed request line, header, length or chunk framing.
    #[error("malformed HTTP request")]
    BadRequest,
    /// An HTTP/1.1 request without `Host`.
    #[error("HTTP/1.1 request without a Host header")]
    MissingHost,
    /// The head is over `header_max_bytes` or has more than `header_max_count` headers.
    #[error("request head over the header limits")]
    HeadTooLarge,
    /// The body is over `body_max_bytes`.
    #[error("request body over the body limit")]
    BodyTooLarge,
    /// A transfer coding other than `chunked`.
    #[error("unsupported transfer encoding")]
    UnsupportedTransferEncoding,
}

impl HttpReject {
    /// The status line and body Go's server sends for it.
    pub(crate) fn status(self) -> (u16, &'static str) {
        match self {
            Self::BadRequest => (400, "400 Bad Request"),
            Self::MissingHost => (400, "400 Bad Request: missing required Host header"),
            Self::HeadTooLarge => (431, "431 Request Header Fields Too Large"),
            Self::BodyTooLarge => (413, "413 Request Entity Too Large"),
            Self::UnsupportedTransferEncoding => (501, "Unsupported transfer encoding"),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Reader {
    state: State,
}

#[derive(Debug)]
enum State {
    Head { scanned: usize },
    Body(Box<Body>),
}

impl Default for State {
    fn default() -> Self {
        Self::Head { scanned: 0 }
    }
}

#[derive(Debug)]
struct Body {
    request: HttpRequest,
    body: BytesMut,
    framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailer { seen: usize },
}

impl Reader {
    /// Whether part of a request head has arrived (the head timeout runs).
    pub(crate) fn in_head(&self, recv: &[u8]) -> bool {
        matches!(self.state, State::Head { .. }) && !recv.is_empty()
    }

    /// Takes the next whole request off `recv`. Writes `100 Continue` to `out` when the
    /// client waits for it before sending its body.
    pub(crate) fn next(
        &mut self,
        recv: &mut BytesMut,
        config: &HttpConfig,
        out: &mut BytesMut,
    ) -> Read {
        if let State::Head { scanned } = &mut self.state {
            let request = match head(recv, scanned, config) {
                Ok(Some(request)) => request,
                Ok(None) => return Read::Incomplete,
                Err(reject) => return Read::Reject(reject),
            };
            let framing = match framing(&request, config) {
                Ok(framing) => framing,
                Err(reject) => return Read::Reject(reject),
            };
            if framing == Framing::Length(0) {
                self.state = State::default();
                return Read::Request(request);
            }
            if let Framing::Length(len) = framing {
                if recv.len() >= len {
                    let mut request = request;
                    request.set_body(recv.split_to(len).freeze());
                    self.state = State::default();
                    return Read::Request(request);
                }
            }
            if wants_continue(&request) {
                out.put_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            self.state = State::Body(Box::new(Body {
                request,
                body: BytesMut::new(),
                framing,
            }));
        }
        let State::Body(body) = &mut self.state else {
            return Read::Incomplete;
        };
        match body.advance(recv, config) {
            Ok(true) => {}
            Ok(false) => return Read::Incomplete,
            Err(reject) => return Read::Reject(reject),
        }
        let State::Body(body) = std::mem::take(&mut self.state) else {
            return Read::Incomplete;
        };
        let Body {
            mut request, body, ..
        } = *body;
        request.set_body(body.freeze());
        Read::Request(request)
    }
}

/// The head, once its end has arrived.
fn head(
    recv: &mut BytesMut,
    scanned: &mut usize,
    config: &HttpConfig,
) -> Result<Option<HttpRequest>, HttpReject> {
    let Some(end) = head_end(recv, *scanned) else {
        *scanned = recv.len().saturating_sub(2);
        if recv.len() > config.header_max_bytes {
            return Err(HttpReject::HeadTooLarge);
        }
        return Ok(None);
    };
    if end > config.header_max_bytes {
        return Err(HttpReject::HeadTooLarge);
    }
    let mut headers = vec![httparse::EMPTY_HEADER; config.header_max_count];
    let len = match httparse::Request::new(&mut headers).parse(recv) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            *scanned = end;
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpReject::HeadTooLarge),
        Err(_) => return Err(HttpReject::BadRequest),
    };
    *scanned = 0;
    let head = recv.split_to(len).freeze();
    let request =
        HttpRequest::from_head(head, config.header_max_count).ok_or(HttpReject::BadRequest)?;
    if request.minor_version() == 1 && request.header("host").is_none() {
        return Err(HttpReject::MissingHost);
    }
    Ok(Some(request))
}

/// Where the head ends (just past its empty line), looking from `from` on.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = buf.get(at..)?.iter().position(|&b| b == b'\n') {
        let newline = at + offset;
        match buf.get(newline + 1..newline + 3) {
            Some([b'\n', _]) => return Some(newline + 2),
            Some(b"\r\n") => return Some(newline + 3),
            Some(_) => {}
            None if buf.get(newline + 1) == Some(&b'\n') => return Some(newline + 2),
            None => return None,
        }
        at = newline + 1;
    }
    None
}

/// How the body is delimited (RFC 9112 §6.3, as Go's server reads it).
fn framing(request: &HttpRequest, config: &HttpConfig) -> Result<Framing, HttpReject> {
    let mut codings = request
        .header_values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .peekable();
    if codings.peek().is_some() {
        let all: Vec<&str> = codings.collect();
        return match all.as_slice() {
            [only] if only.eq_ignore_ascii_case("chunked") => Ok(Framing::ChunkSize),
            _ => Err(HttpReject::UnsupportedTransferEncoding),
        };
    }
    let mut length = None;
    for value in request.header_values("content-length") {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpReject::BadRequest);
        }
        let parsed: u64 = value.parse().map_err(|_| HttpReject::BadRequest)?;
        if length.is_some_and(|earlier| earlier != parsed) {
            return Err(HttpReject::BadRequest);
        }
        length = Some(parsed);
    }
    let length = length.unwrap_or(0);
    match usize::try_from(length) {
        Ok(length) if length <= config.body_max_bytes => Ok(Framing::Length(length)),
        _ => Err(HttpReject::BodyTooLarge),
    }
}

fn wants_continue(request: &HttpRequest) -> bool {
    request.minor_version() == 1
        && request
            .header("expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

impl Body {
    /// Moves body bytes from `recv`; true once the body is complete.
    fn advance(&mut self, recv: &mut BytesMut, config: &HttpConfig) -> Result<bool, HttpReject> {
        loop {
            match self.framing {
                Framing::Length(left) => {
                    let n = left.min(recv.len());
                    self.body.put_slice(&recv[..n]);
                    recv.advance(n);
                    self.framing = Framing::Length(left - n);
                    return Ok(left == n);
                }
                Framing::ChunkSize => match httparse::parse_chunk_size(recv) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        recv.advance(used);
                        let size = usize::try_from(size).map_err(|_| HttpReject::BodyTooLarge)?;
                        if size == 0 {
                            self.framing = Framing::Trailer { seen: 0 };
                        } else if self.body.len().saturating_add(size) > config.body_max_bytes {
                            return Err(HttpReject::BodyTooLarge);
                        } else {
                            self.framing = Framing::ChunkData(size);
                        }
                    }
                    Ok(httparse::Status::Partial) if recv.len() <= CHUNK_LINE_MAX => {
                        return Ok(false)
                    }
                    _ => return Err(HttpReject::BadRequest),
                },
                Framing::ChunkData(left) => {
                    let n = left.min(recv.len());
                    self.body.put_slice(&recv[..n]);
                    recv.advance(n);
                    if n < left {
                        self.framing = Framing::ChunkData(left - n);
                        return Ok(false);
                    }
                    self.framing = Framing::ChunkEnd;
                }
                Framing::ChunkEnd => match recv.get(..2) {
                    None => return Ok(false),
                    Some(b"\r\n") => {
                        recv.advance(2);
                        self.framing = Framing::ChunkSize;
                    }
                    Some(_) => return Err(HttpReject::BadRequest),
                },
                Framing::Trailer { seen } => {
                    let Some(line) = recv.iter().position(|&b| b == b'\n') else {
                        if seen + recv.len() > config.header_max_bytes {
                            return Err(HttpReject::HeadTooLarge);
                        }
                        return Ok(false);
                    };
                    let empty = line == 0 || (line == 1 && recv[0] == b'\r');
                    recv.advance(line + 1);
                    if empty {
                        return Ok(true);
                    }
                    let seen = seen + line + 1;
                    if seen > config.header_max_bytes {
                        return Err(HttpReject::HeadTooLarge);
                    }
                    self.framing = Framing::Trailer { seen };
                }
            }
        }
    }
}

/// One whole request parsed from `wire`, for the tests of the modules that take requests.
#[cfg(test)]
pub(crate) fn parse_one(wire: &str) -> HttpRequest {
    let mut recv = BytesMut::from(wire.as_bytes());
    match Reader::default().next(&mut recv, &HttpConfig::default(), &mut BytesMut::new()) {
        Read::Request(request) => request,
        other => panic!("not a whole request: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(
        wire: &[u8],
        step: usize,
        config: &HttpConfig,
    ) -> (Vec<HttpRequest>, Option<HttpReject>, BytesMut) {
        let mut reader = Reader::default();
        let (mut recv, mut out) = (BytesMut::new(), BytesMut::new());
        let mut requests = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            recv.extend_from_slice(piece);
            loop {
                match reader.next(&mut recv, config, &mut out) {
                    Read::Incomplete => break,
                    Read::Request(request) => requests.push(request),
                    Read::Reject(reject) => return (requests, Some(reject), out),
                }
            }
        }
        (requests, None, out)
    }

    fn chunked_head() -> Vec<u8> {
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
    }

    const TWO: &[u8] = b"POST /Arith HTTP/1.1\r\nHost: x\r\nX-RPCX-ServiceMethod: Mul\r\nContent-Length: 5\r\n\r\nhello\
GET /a?b=c HTTP/1.1\r\nhost: y\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n";

    #[test]
    fn pipelined_requests_parse_at_every_split() {
        for step in 1..=TWO.len() {
            let (requests, reject, _) = read_all(TWO, step, &HttpConfig::default());
            assert_eq!(reject, None, "step {step}");
            assert_eq!(requests.len(), 2, "step {step}");
            assert_eq!(requests[0].method(), "POST");
            assert_eq!(requests[0].path(), "/Arith");
            assert_eq!(requests[0].header("x-rpcx-servicemethod"), Some("Mul"));
            assert_eq!(&requests[0].body()[..], b"hello");
            assert_eq!(requests[1].path(), "/a");
            assert_eq!(requests[1].query(), Some("b=c"));
            assert_eq!(&requests[1].body()[..], b"abcde");
        }
    }

    #[test]
    fn limits_reject_before_buffering() {
        let config = HttpConfig::default().header_max_bytes(64).body_max_bytes(4);
        let long = [b"GET / HTTP/1.1\r\nHost: x\r\nA: ".as_slice(), &[b'a'; 100]].concat();
        assert_eq!(
            read_all(&long, 7, &config).1,
            Some(HttpReject::HeadTooLarge)
        );
        let big = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(
            read_all(big, 1000, &config).1,
            Some(HttpReject::BodyTooLarge)
        );
        let chunked =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n";
        assert_eq!(
            read_all(chunked, 1000, &config).1,
            Some(HttpReject::BodyTooLarge)
        );
        let endless_size = [chunked_head(), "1".repeat(CHUNK_LINE_MAX + 1).into_bytes()].concat();
        assert_eq!(
            read_all(&endless_size, 100, &config).1,
            Some(HttpReject::BadRequest)
        );
        let trailer = [chunked_head(), b"0\r\nT: ".to_vec(), vec![b't'; 100]].concat();
        assert_eq!(
            read_all(&trailer, 10, &config).1,
            Some(HttpReject::HeadTooLarge)
        );
        let config = HttpConfig::default().header_max_count(2);
        let many = b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n";
        assert_eq!(
            read_all(many, 1000, &config).1,
            Some(HttpReject::HeadTooLarge)
        );
    }

    #[test]
    fn malformed_requests_are_rejected() {
        let config = HttpConfig::default();
        for (wire, reject) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], HttpReject::MissingHost),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                HttpReject::BadRequest,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                HttpReject::BadRequest,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                HttpReject::UnsupportedTransferEncoding,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                HttpReject::BadRequest,
            ),
            (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", HttpReject::BadRequest),
        ] {
            assert_eq!(
                read_all(wire, 1000, &config).1,
                Some(reject),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn expect_continue_is_answered_once_and_bodies_grow_with_arrivals() {
        let wire = b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\nab";
        let mut reader = Reader::default();
        let (mut recv, mut out) = (BytesMut::from(&wire[..]), BytesMut::new());
        assert!(matches!(
            reader.next(&mut recv, &HttpConfig::default(), &mut out),
            Read::Incomplete
        ));
        assert_eq!(&out[..], b"HTTP/1.1 100 Continue\r\n\r\n");
        let State::Body(body) = &reader.state else {
            panic!("reading the body")
        };
        assert!(
            body.body.capacity() < 64 << 10,
            "not pre-sized: {}",
            body.body.capacity()
        );
        recv.extend_from_slice(b"cd");
        assert!(matches!(
            reader.next(&mut recv, &HttpConfig::default(), &mut out),
            Read::Incomplete
        ));
        assert_eq!(out.len(), 25, "100 Continue sent once");
    }
}
