//! [`HttpRoute`]: the hook for HTTP endpoints of one's own on the rpcx port (a metrics page,
//! a status page), next to the gateway and JSON-RPC.

use super::request::HttpRequest;
use super::response::HttpResponse;

/// Answers plain HTTP requests on the rpcx port. Requests that carry `X-RPCX-*` headers
/// (while the gateway is on) or `X-JSONRPC-2.0: true` (while JSON-RPC is on) never reach a
/// route; every other request is offered to the routes in the order they were added
/// ([`crate::Services::add_http_route`]), and the first `Some` is sent. A request no route
/// takes gets `404 Not Found` with a text saying what the port serves.
///
/// Routes run on the shard thread, inline: they must answer at once (no I/O, no waiting).
///
/// ```
/// use ringrpc_engine::{HttpRequest, HttpResponse, Services};
///
/// let mut services = Services::new();
/// services.add_http_route(|request: &HttpRequest| {
///     (request.method() == "GET" && request.path() == "/healthz")
///         .then(|| HttpResponse::text(200, "ok\n"))
/// });
/// ```
pub trait HttpRoute {
    /// The response to `request`, or `None` to leave it to the next route.
    fn handle(&self, request: &HttpRequest) -> Option<HttpResponse>;
}

impl<F> HttpRoute for F
where
    F: Fn(&HttpRequest) -> Option<HttpResponse>,
{
    fn handle(&self, request: &HttpRequest) -> Option<HttpResponse> {
        self(request)
    }
}
