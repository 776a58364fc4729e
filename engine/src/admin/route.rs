//! [`AdminRoute`]: the admin endpoint's three answers on the rpcx port
//! (`ServerConfig::admin_on_rpcx_port`), an [`HttpRoute`] of every shard.
//!
//! The shards start before the server knows what the status reads (its shards' counters,
//! the address chosen), so the route reads its [`StatusSource`] from a slot the server
//! fills once they run; until then it answers `503`.

use std::sync::{Arc, OnceLock};

use super::{answer, StatusSource};
use crate::http::{HttpRequest, HttpResponse, HttpRoute};

/// Where the routes of every shard find the status once the server has started.
pub(crate) type SourceSlot = Arc<OnceLock<StatusSource>>;

/// Answers `GET`/`HEAD` of `/`, `/metrics` and `/status`; leaves everything else to the
/// next route (or the port's 404).
pub(crate) struct AdminRoute(pub(crate) SourceSlot);

impl HttpRoute for AdminRoute {
    fn handle(&self, request: &HttpRequest) -> Option<HttpResponse> {
        if !matches!(request.method(), "GET" | "HEAD")
            || !matches!(request.path(), "/" | "/metrics" | "/status")
        {
            return None;
        }
        let Some(source) = self.0.get() else {
            return Some(HttpResponse::text(503, "ringrpc is starting\n"));
        };
        let (content_type, body) = answer(source, request.path())?;
        Some(
            HttpResponse::new(200)
                .with_header("Content-Type", content_type)
                .with_header("Cache-Control", "no-store")
                .with_body(body),
        )
    }
}
