//! [`HttpConfig`]: what the HTTP side of the rpcx port answers and its limits, and
//! [`CorsOptions`], rpcx-go's `SetCORS` options.

use std::time::Duration;

/// The HTTP side of the port (PROTOCOL.md §7.2–§9): the gateway, JSON-RPC 2.0, CORS and the
/// bounds on every request. Part of [`crate::ServerConfig`] (`ServerConfig::http`); start from
/// `HttpConfig::default()` and chain setters:
///
/// ```
/// use std::time::Duration;
/// use ringrpc_engine::{CorsOptions, HttpConfig, ServerConfig};
///
/// let config = ServerConfig::default().http(
///     HttpConfig::default()
///         .jsonrpc(false)
///         .cors(Some(CorsOptions::allow_all()))
///         .body_max_bytes(1 << 20)
///         .header_timeout(Duration::from_secs(5)),
/// );
/// assert!(config.http.gateway && !config.http.jsonrpc);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Serve HTTP requests carrying `X-RPCX-*` headers as rpcx calls (rpcx-go's gateway;
    /// `false` is its `DisableHTTPGateway`). Default on.
    pub gateway: bool,
    /// Serve requests carrying `X-JSONRPC-2.0: true` as JSON-RPC 2.0 calls (`false` is
    /// rpcx-go's `DisableJSONRPC`). Default on.
    pub jsonrpc: bool,
    /// CORS for the gateway and JSON-RPC, as rpcx-go's `Server.SetCORS`. Default off.
    pub cors: Option<CorsOptions>,
    /// Largest request head (request line and headers). A larger one gets
    /// `431 Request Header Fields Too Large` and the connection closes. Default 64 KiB.
    pub header_max_bytes: usize,
    /// Most headers in one request; more get a 431 and the connection closes. Default 100.
    pub header_max_count: usize,
    /// Largest request body. A larger one gets `413 Request Entity Too Large` (before any of
    /// it is read when `Content-Length` announces it) and the connection closes. Default
    /// 16 MiB, the default frame limit.
    pub body_max_bytes: usize,
    /// Time from the first byte of a request head to its end. A peer that takes longer is
    /// disconnected without an answer. Default 10 s.
    pub header_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            gateway: true,
            jsonrpc: true,
            cors: None,
            header_max_bytes: 64 << 10,
            header_max_count: 100,
            body_max_bytes: 16 << 20,
            header_timeout: Duration::from_secs(10),
        }
    }
}

impl HttpConfig {
    /// Turns the gateway on or off.
    #[must_use]
    pub fn gateway(mut self, on: bool) -> Self {
        self.gateway = on;
        self
    }

    /// Turns the JSON-RPC 2.0 endpoint on or off.
    #[must_use]
    pub fn jsonrpc(mut self, on: bool) -> Self {
        self.jsonrpc = on;
        self
    }

    /// Sets the CORS options (`None`: no CORS headers, no preflight answers).
    #[must_use]
    pub fn cors(mut self, cors: Option<CorsOptions>) -> Self {
        self.cors = cors;
        self
    }

    /// Sets the largest request head.
    #[must_use]
    pub fn header_max_bytes(mut self, bytes: usize) -> Self {
        self.header_max_bytes = bytes;
        self
    }

    /// Sets the most headers in one request.
    #[must_use]
    pub fn header_max_count(mut self, count: usize) -> Self {
        self.header_max_count = count;
        self
    }

    /// Sets the largest request body.
    #[must_use]
    pub fn body_max_bytes(mut self, bytes: usize) -> Self {
        self.body_max_bytes = bytes;
        self
    }

    /// Sets how long a request head may take to arrive.
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }
}

/// CORS as rpcx-go applies it (`Server.SetCORS`, the `rs/cors` package): a preflight
/// (`OPTIONS` with `Access-Control-Request-Method`) is answered here with 204, and every
/// other gateway or JSON-RPC response gets `Vary: Origin` and, for an allowed origin,
/// `Access-Control-Allow-Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorsOptions {
    /// Origins allowed; `"*"` allows all, one `*` inside an origin matches any text
    /// (`http://*.example.com`). Compared case-insensitively. Empty: all. Default empty.
    pub allowed_origins: Vec<String>,
    /// Methods allowed. Empty: `GET`, `POST`, `HEAD`. Default empty.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for; `"*"` allows any. Empty: `Accept`,
    /// `Content-Type`, `X-Requested-With`. Default empty.
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show the page (`Access-Control-Expose-Headers`).
    pub exposed_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds: 0 sends none, a negative value sends 0.
    pub max_age_secs: i64,
    /// Sends `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
}

impl CorsOptions {
    /// rpcx-go's `AllowAllCORSOptions()`: any origin, `HEAD GET POST PUT PATCH DELETE`,
    /// any header, no credentials.
    pub fn allow_all() -> Self {
        Self {
            allowed_origins: vec!["*".to_owned()],
            allowed_methods: ["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"]
                .map(str::to_owned)
                .to_vec(),
            allowed_headers: vec!["*".to_owned()],
            ..Self::default()
        }
    }

    /// Sets the allowed origins.
    #[must_use]
    pub fn allowed_origins<S: Into<String>>(
        mut self,
        origins: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the allowed methods.
    #[must_use]
    pub fn allowed_methods<S: Into<String>>(
        mut self,
        methods: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the allowed request headers.
    #[must_use]
    pub fn allowed_headers<S: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the exposed response headers.
    #[must_use]
    pub fn exposed_headers<S: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exposed_headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `Access-Control-Max-Age`.
    #[must_use]
    pub fn max_age_secs(mut self, secs: i64) -> Self {
        self.max_age_secs = secs;
        self
    }

    /// Sets whether credentials are allowed.
    #[must_use]
    pub fn allow_credentials(mut self, on: bool) -> Self {
        self.allow_credentials = on;
        self
    }
}
