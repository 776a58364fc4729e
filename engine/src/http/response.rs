//! [`HttpResponse`] and the one function that writes any response onto the connection's
//! output, as Go's `net/http` server writes it (header values with CR/LF turned into spaces
//! and trimmed, `Content-Type` sniffed when none is set, `Content-Length` always).

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// A response a [`crate::HttpRoute`] returns: status, headers and body. `Content-Length`
/// (and `Connection` when the connection is to close) are added when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl HttpResponse {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// Adds a header (a `Content-Length` given here is ignored: the body's length is sent).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in the order added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub(crate) fn write(&self, out: &mut BytesMut, framing: Framing) {
        let headers = self
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name.as_str(), value.as_str()));
        write(out, self.status, headers, &self.body, framing);
    }
}

/// How a response ends: whether the connection closes after it, and whether the request
/// was `HEAD` (length sent, body not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    /// The request was HTTP/1.0: so is the status line.
    pub http10: bool,
    /// `Connection: close` is sent and nothing more is read.
    pub close: bool,
    /// An HTTP/1.0 client asked to keep the connection: `Connection: keep-alive` is sent.
    pub keep_alive_10: bool,
    /// The request was `HEAD`.
    pub head_only: bool,
}

/// Writes a whole response. `Content-Type` is sniffed as Go does when `headers` has none
/// and the body is not empty.
pub(crate) fn write<'a>(
    out: &mut BytesMut,
    status: u16,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    framing: Framing,
) {
    let minor = if framing.http10 { 0 } else { 1 };
    let _ = write!(
        Writer(out),
        "HTTP/1.{minor} {status} {}\r\n",
        reason(status)
    );
    let mut typed = false;
    for (name, value) in headers {
        typed |= name.eq_ignore_ascii_case("content-type");
        header(out, name, value);
    }
    if !typed && !body.is_empty() {
        header(out, "Content-Type", sniff(body));
    }
    // Go sends no length with a status that has no body (1xx, 204, 304).
    if !matches!(status, 100..=199 | 204 | 304) {
        let _ = write!(Writer(out), "Content-Length: {}\r\n", body.len());
    }
    if framing.close {
        header(out, "Connection", "close");
    } else if framing.keep_alive_10 {
        header(out, "Connection", "keep-alive");
    }
    out.put_slice(b"\r\n");
    if !framing.head_only {
        out.put_slice(body);
    }
}

/// One header line; the value as Go writes it (CR and LF become spaces, then trimmed).
fn header(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    let value = value.trim_matches([' ', '\t', '\r', '\n']);
    for &b in value.as_bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

/// Go's `http.DetectContentType` for the bodies rpcx sends: text unless a byte in the first
/// 512 is one that never appears in text.
fn sniff(body: &[u8]) -> &'static str {
    let binary = body
        .iter()
        .take(512)
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F));
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Go's `http.StatusText` for the codes this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes a refusal the way Go's server answers a request it cannot read: a text body,
/// `Connection: close`, no length.
pub(crate) fn write_reject(out: &mut BytesMut, status: u16, text: &str) {
    let _ = write!(
        Writer(out),
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}",
        reason(status)
    );
}

struct Writer<'a>(&'a mut BytesMut);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Framing = Framing {
        http10: false,
        close: false,
        keep_alive_10: false,
        head_only: false,
    };

    #[test]
    fn responses_are_written_as_go_writes_them() {
        let mut out = BytesMut::new();
        write(
            &mut out,
            500,
            [("X-Rpcx-Errormessage", "a\r\nb \n")],
            b"",
            KEEP,
        );
        assert_eq!(
            &out[..],
            b"HTTP/1.1 500 Internal Server Error\r\nX-Rpcx-Errormessage: a  b\r\nContent-Length: 0\r\n\r\n"
        );
        out.clear();
        let close = Framing {
            close: true,
            ..KEEP
        };
        write(&mut out, 200, [], b"{\"C\":2}", close);
        assert_eq!(
            &out[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"C\":2}"
        );
        out.clear();
        let head = Framing {
            head_only: true,
            ..KEEP
        };
        HttpResponse::new(200)
            .with_body(&b"\x81\xa1C\x02"[..])
            .write(&mut out, head);
        assert!(
            out.ends_with(b"Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n")
        );
    }
}
