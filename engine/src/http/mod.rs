//! HTTP on the rpcx port: rpcx-go's HTTP gateway and JSON-RPC 2.0 endpoint (PROTOCOL.md
//! §7.2–§9), and [`HttpRoute`]s for endpoints of one's own.
//!
//! The connection core (`conn::Connection`) looks at the first byte of a connection: rpcx's
//! magic byte `0x08` means rpcx frames, an upper-case letter (an HTTP method) means
//! HTTP/1.x, anything else goes to the rpcx decoder (which refuses it). An HTTP connection
//! gets an [`session::HttpSession`] that reads requests and turns gateway and JSON-RPC calls
//! into the same rpcx request frames an rpcx client sends, so they pass through the same
//! auth hook, lookup, codec check, `__ServerTimeout` deadline and handlers, and their
//! outcome becomes the HTTP answer rpcx-go gives.
//!
//! What it owns: parsing (httparse, bounded by [`HttpConfig`]), the mapping of requests and
//! outcomes (`gateway.rs`, `jsonrpc.rs`, `cors.rs`, `query.rs`), writing responses
//! (`response.rs`). What it never does: touch a socket or a clock (the head timeout is a
//! timer of the shard's queue, armed with the driver's time), or call a handler itself.
//!
//! Read first: `session.rs`, then `gateway.rs` and `jsonrpc.rs`.

mod config;
mod cors;
mod gateway;
mod jsonrpc;
mod query;
mod read;
mod request;
mod response;
mod route;
pub(crate) mod session;

pub use config::{CorsOptions, HttpConfig};
pub use read::HttpReject;
pub use request::HttpRequest;
pub use response::HttpResponse;
pub use route::HttpRoute;

/// Why an HTTP connection closed (inside [`crate::CloseCause::Http`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpClose {
    /// The client asked for it (`Connection: close`, or HTTP/1.0 without keep-alive), or
    /// the server was draining; the last answer said so.
    #[error("closed after the last HTTP answer, as asked")]
    Done,
    /// A request was refused before it could be served (the refusal was sent).
    #[error("HTTP request refused: {0}")]
    Rejected(#[from] HttpReject),
    /// A request head did not arrive within `HttpConfig::header_timeout`.
    #[error("request head not complete within the header timeout")]
    HeaderTimeout,
}

/// The first byte of an HTTP/1.x request (a method name starts with an upper-case letter).
pub(crate) fn is_http_start(byte: u8) -> bool {
    byte.is_ascii_uppercase()
}
