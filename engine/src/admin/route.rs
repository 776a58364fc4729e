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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn get(method: &str, target: &str) -> HttpRequest {
        let head = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        HttpRequest::from_head(Bytes::from(head), 8).expect("a valid head")
    }

    #[test]
    fn only_its_three_paths_are_taken_and_they_wait_for_the_start() {
        let route = AdminRoute(SourceSlot::default());
        for (method, target) in [
            ("POST", "/metrics"),
            ("GET", "/metricsx"),
            ("GET", "/Arith"),
        ] {
            assert_eq!(
                route.handle(&get(method, target)),
                None,
                "{method} {target}"
            );
        }
        for target in ["/", "/metrics", "/status?x=1"] {
            let starting = route.handle(&get("HEAD", target)).expect("taken");
            assert_eq!(
                starting.status(),
                503,
                "{target}: before the server has started"
            );
        }
    }
}
