//! [`HttpRequest`]: one whole HTTP/1.x request (head and body), owned, as the gateway,
//! JSON-RPC and the [`crate::HttpRoute`]s see it.

use std::ops::Range;

use bytes::Bytes;

/// One HTTP/1.x request received on the rpcx port: its head as received (names and values
/// are views of it) and its whole body (de-chunked).
#[derive(Clone)]
pub struct HttpRequest {
    head: Bytes,
    method: Range<usize>,
    target: Range<usize>,
    minor_version: u8,
    headers: Vec<(Range<usize>, Range<usize>)>,
    body: Bytes,
}

impl HttpRequest {
    /// Parses a complete head (`head` ends with its empty line; the caller checked it
    /// parses). `None` if it does not parse or a header value is not UTF-8.
    pub(crate) fn from_head(head: Bytes, header_max_count: usize) -> Option<Self> {
        let mut headers = vec![httparse::EMPTY_HEADER; header_max_count];
        let mut request = httparse::Request::new(&mut headers);
        if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
            return None;
        }
        let base = head.as_ptr() as usize;
        let range = |part: &[u8]| {
            let start = part.as_ptr() as usize - base;
            start..start + part.len()
        };
        let method = range(request.method?.as_bytes());
        let target = range(request.path?.as_bytes());
        let minor_version = request.version?;
        let mut ranges = Vec::with_capacity(request.headers.len());
        for header in request.headers.iter() {
            std::str::from_utf8(header.value).ok()?;
            ranges.push((range(header.name.as_bytes()), range(header.value)));
        }
        Some(Self {
            method,
            target,
            minor_version,
            headers: ranges,
            head,
            body: Bytes::new(),
        })
    }

    pub(crate) fn set_body(&mut self, body: Bytes) {
        self.body = body;
    }

    fn text(&self, range: &Range<usize>) -> &str {
        // Checked at parse time: httparse gives tokens (ASCII) and values were UTF-8.
        self.head
            .get(range.clone())
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }

    /// The method (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        self.text(&self.method)
    }

    /// The request target as sent (`/Arith?x=1`).
    pub fn target(&self) -> &str {
        self.text(&self.target)
    }

    /// The target's path, before any `?`.
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The target's query, after the first `?`.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// The first value of header `name` (compared case-insensitively), as Go's
    /// `Header.Get` returns it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (self.text(name), self.text(value)))
    }

    /// Every value of header `name`, in order.
    pub(crate) fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body (empty if there was none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the client asked to keep the connection open after the response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub(crate) fn wants_keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.header_values("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("minor_version", &self.minor_version)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}
