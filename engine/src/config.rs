//! Server configuration: where to listen, how many shards, and every limit with its default.
//!
//! rpcx-go has no limits by default (PROTOCOL.md §4.15, §13.1); ringrpc has all of them on.
//!
//! Every public struct here is `#[non_exhaustive]`: start from `Default::default()` and chain
//! its setters (`ServerConfig::default().listen(addr).shards(2)`), so a field added later does
//! not break a caller. The fields stay public to read and to change in place.

use std::net::SocketAddr;
use std::time::Duration;

use ringrpc_codec::Limits;

use crate::driver::{Driver, UringConfig};
use crate::http::HttpConfig;
use crate::runtime::listen_addr::ListenAddr;
use crate::runtime::FaultPolicy;
use crate::tls::TlsConfig;

/// How a [`crate::Server`] runs. Start from `ServerConfig::default()` and chain setters:
///
/// ```
/// use std::time::Duration;
/// use ringrpc_engine::ServerConfig;
///
/// let config = ServerConfig::default()
///     .listen(([127, 0, 0, 1], 8972))
///     .shards(2)
///     .drain_timeout(Duration::from_secs(5));
/// assert_eq!(config.shards, 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where the shards listen: a TCP address (IPv4 or IPv6; every shard binds it with
    /// SO_REUSEPORT; port 0 picks a free port that every shard then binds) or a Unix socket
    /// path (one socket shared by the shards). Default `127.0.0.1:8972`.
    pub listen: ListenAddr,
    /// Number of shards (executor threads). Default 1.
    pub shards: usize,
    /// CPU of each shard (`cpus[i]` for shard `i`). Empty: shard `i` runs on CPU
    /// `i % online CPUs`. Default empty.
    pub cpus: Vec<usize>,
    /// Largest frame and largest decompressed payload accepted. A frame over either limit
    /// closes its connection without a reply, as rpcx-go does with its (off by default)
    /// limits. Default 16 MiB each.
    pub limits: Limits,
    /// Requests of one connection whose handlers are still running. At the limit the
    /// connection stops reading until replies drain. Default 1024.
    pub max_inflight_per_conn: usize,
    /// Request bytes one connection may hold in running requests (each frame as received
    /// plus its inflated payload). At the budget the connection stops reading until replies
    /// drain, so it holds at most this plus the one frame that crossed it. A gzip payload
    /// never inflates past it either. Default 16 MiB.
    pub max_inflight_bytes_per_conn: usize,
    /// Request bytes all connections of one shard may hold in running requests. At the
    /// budget every connection of the shard stops reading until replies drain. Default
    /// 256 MiB.
    pub max_inflight_bytes_per_shard: usize,
    /// Open connections per shard. Connections over the limit are accepted and closed at
    /// once. Default 16384.
    pub max_conns_per_shard: usize,
    /// Handler tasks (calls that did not finish on their first poll) running at once on one
    /// shard. At the cap the shard takes no new request off any connection and its
    /// connections stop reading until a handler finishes; requests wait, none is refused.
    /// Default 16384.
    pub max_handler_tasks_per_shard: usize,
    /// What a panic of handler code outside a handler's future (a hand-written
    /// `Handler::call`, the auth hook, a spawned task) or a failed shard does. Default
    /// [`FaultPolicy::Exit`]: the process ends with a message.
    pub fault_policy: FaultPolicy,
    /// A connection with nothing in flight that receives nothing for this long is closed
    /// (it is noticed between 1x and 2x this time). `None`: never. Default 300 s.
    ///
    /// Only complete frames and output the peer took count as activity: bytes trickled in
    /// without completing a frame do not keep a connection open.
    pub idle_timeout: Option<Duration>,
    /// A frame whose first bytes arrived must be complete within this time, or the
    /// connection is closed (a slow sender). Noticed within a quarter of the shortest
    /// timeout after it passed. `None`: never. Default 30 s.
    pub frame_timeout: Option<Duration>,
    /// A connection with output waiting whose peer takes none of it for this long is
    /// closed and its output dropped (a slow reader). Noticed like `frame_timeout`.
    /// `None`: never. Default 30 s.
    pub send_timeout: Option<Duration>,
    /// On shutdown, how long in-flight requests may run before their connections are
    /// dropped. Default 10 s.
    pub drain_timeout: Duration,
    /// Output buffered before a connection sends it even in the middle of a batch, and above
    /// which it stops reading until the peer takes its replies. Default 256 KiB.
    pub flush_threshold_bytes: usize,
    /// Output bytes a connection may hold unsent (queued pushes, replies, and the bytes a
    /// send in progress holds) before [`crate::Pusher::push`] waits for the peer to read.
    /// Default 1 MiB.
    pub push_buffer_max_bytes: usize,
    /// glommio's registered I/O memory per shard. Sockets do not use it; it only has to fit
    /// RLIMIT_MEMLOCK together with the other shards. Default 512 KiB.
    pub io_memory_bytes: usize,
    /// Listen backlog of each shard's socket. Default 1024.
    pub backlog: i32,
    /// Which I/O driver runs the shards. Default [`Driver::Auto`]: io_uring where the kernel
    /// allows it, else glommio.
    pub driver: Driver,
    /// Settings of the io_uring driver (ignored by the glommio one).
    pub uring: UringConfig,
    /// TLS on every connection (both drivers). Default `None`: plain TCP, as rpcx-go.
    pub tls: Option<TlsConfig>,
    /// The HTTP side of the port: gateway, JSON-RPC, CORS and their limits.
    pub http: HttpConfig,
    /// Count requests, latencies, connections and bytes with the metrics plugin
    /// (`plugin::Metrics`, registered first on every shard); read them with
    /// [`crate::Server::metrics`]. On whenever `admin` or `admin_on_rpcx_port` is set.
    /// Default off.
    pub metrics: bool,
    /// Serve `/metrics`, `/status` and the status page over HTTP on this address, from a
    /// control-plane thread (feature `admin`). Default `None`.
    pub admin: Option<SocketAddr>,
    /// Serve `/metrics`, `/status` and the status page on the rpcx port too, to plain HTTP
    /// `GET`s that are no gateway or JSON-RPC call (feature `admin`; turns metrics on).
    ///
    /// Default off, for two reasons: whoever reaches the rpcx port (often everyone the
    /// service serves) could then read the server's services, load, peers' registry and
    /// limits, which an admin address bound to loopback or a private network keeps to
    /// operators; and there a scrape runs on the shard that accepted it, taking that
    /// shard's time (encoding grows with shards × methods) from its connections, where the
    /// admin address runs off the shards.
    pub admin_on_rpcx_port: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: ListenAddr::from(([127, 0, 0, 1], 8972)),
            shards: 1,
            cpus: Vec::new(),
            limits: Limits::default(),
            max_inflight_per_conn: 1024,
            max_inflight_bytes_per_conn: 16 << 20,
            max_inflight_bytes_per_shard: 256 << 20,
            max_conns_per_shard: 16384,
            max_handler_tasks_per_shard: 16384,
            fault_policy: FaultPolicy::default(),
            idle_timeout: Some(Duration::from_secs(300)),
            frame_timeout: Some(Duration::from_secs(30)),
            send_timeout: Some(Duration::from_secs(30)),
            drain_timeout: Duration::from_secs(10),
            flush_threshold_bytes: 256 << 10,
            push_buffer_max_bytes: 1 << 20,
            io_memory_bytes: 512 << 10,
            backlog: 1024,
            driver: Driver::default(),
            uring: UringConfig::default(),
            tls: None,
            http: HttpConfig::default(),
            metrics: false,
            admin: None,
            admin_on_rpcx_port: false,
        }
    }
}

impl ServerConfig {
    /// Sets where the shards listen (a `SocketAddr`, `([127, 0, 0, 1], 8972)`, or a
    /// [`ListenAddr`] such as `"unix@/run/app.sock".parse()?`).
    #[must_use]
    pub fn listen(mut self, listen: impl Into<ListenAddr>) -> Self {
        self.listen = listen.into();
        self
    }

    /// Sets the number of shards (executor threads).
    #[must_use]
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets the CPU of each shard (`cpus[i]` for shard `i`).
    #[must_use]
    pub fn cpus(mut self, cpus: impl Into<Vec<usize>>) -> Self {
        self.cpus = cpus.into();
        self
    }

    /// Sets the frame and decompressed-payload limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets how many requests of one connection may have their handlers running.
    #[must_use]
    pub fn max_inflight_per_conn(mut self, max: usize) -> Self {
        self.max_inflight_per_conn = max;
        self
    }

    /// Sets how many request bytes one connection may hold in running requests.
    #[must_use]
    pub fn max_inflight_bytes_per_conn(mut self, bytes: usize) -> Self {
        self.max_inflight_bytes_per_conn = bytes;
        self
    }

    /// Sets how many request bytes one shard may hold in running requests.
    #[must_use]
    pub fn max_inflight_bytes_per_shard(mut self, bytes: usize) -> Self {
        self.max_inflight_bytes_per_shard = bytes;
        self
    }

    /// Sets how long a frame may take to arrive once it began (`None`: for ever).
    #[must_use]
    pub fn frame_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// Sets how long output may wait without the peer taking any (`None`: for ever).
    #[must_use]
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets how many connections one shard keeps open.
    #[must_use]
    pub fn max_conns_per_shard(mut self, max: usize) -> Self {
        self.max_conns_per_shard = max;
        self
    }

    /// Sets how many handler tasks one shard runs at once.
    #[must_use]
    pub fn max_handler_tasks_per_shard(mut self, max: usize) -> Self {
        self.max_handler_tasks_per_shard = max;
        self
    }

    /// Sets what a fault (a panic of handler code outside its future, a failed shard) does.
    #[must_use]
    pub fn fault_policy(mut self, policy: FaultPolicy) -> Self {
        self.fault_policy = policy;
        self
    }

    /// Sets how long a connection may stay idle (`None`: for ever).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets how long in-flight requests may run after shutdown starts.
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets the output size at which a connection sends mid-batch and pauses reading.
    #[must_use]
    pub fn flush_threshold_bytes(mut self, bytes: usize) -> Self {
        self.flush_threshold_bytes = bytes;
        self
    }

    /// Sets how many bytes of pushes a connection buffers before `push` waits.
    #[must_use]
    pub fn push_buffer_max_bytes(mut self, bytes: usize) -> Self {
        self.push_buffer_max_bytes = bytes;
        self
    }

    /// Sets glommio's registered I/O memory per shard.
    #[must_use]
    pub fn io_memory_bytes(mut self, bytes: usize) -> Self {
        self.io_memory_bytes = bytes;
        self
    }

    /// Sets the listen backlog of each shard's socket.
    #[must_use]
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets the I/O driver of the shards.
    #[must_use]
    pub fn driver(mut self, driver: Driver) -> Self {
        self.driver = driver;
        self
    }

    /// Sets the io_uring driver's settings.
    #[must_use]
    pub fn uring(mut self, uring: UringConfig) -> Self {
        self.uring = uring;
        self
    }

    /// Serves TLS only, with `tls`.
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the HTTP side of the port (gateway, JSON-RPC, CORS, HTTP limits).
    #[must_use]
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }

    /// Turns the metrics plugin on or off.
    #[must_use]
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Serves the admin endpoint (and turns metrics on) at `addr`.
    #[must_use]
    pub fn admin(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.admin = Some(addr.into());
        self
    }

    /// Serves the admin endpoint on the rpcx port too (and turns metrics on); see the
    /// field for why it is off by default.
    #[must_use]
    pub fn admin_on_rpcx_port(mut self, on: bool) -> Self {
        self.admin_on_rpcx_port = on;
        self
    }
}

/// The part of the configuration a connection reads on every frame, shared by all
/// connections of a shard. Every bound is at least 1: a zero in [`ServerConfig`] would stall
/// every connection.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// `ServerConfig::limits`.
    pub limits: Limits,
    /// `ServerConfig::max_inflight_per_conn`.
    pub max_inflight: usize,
    /// `ServerConfig::max_inflight_bytes_per_conn`.
    pub max_inflight_bytes: usize,
    /// `ServerConfig::flush_threshold_bytes`.
    pub flush_threshold_bytes: usize,
    /// `ServerConfig::push_buffer_max_bytes`.
    pub push_buffer_max_bytes: usize,
    /// `ServerConfig::http`.
    pub http: HttpConfig,
}

impl ConnConfig {
    /// The connection part of `config`.
    pub fn from_server(config: &ServerConfig) -> Self {
        Self {
            limits: config.limits,
            max_inflight: config.max_inflight_per_conn.max(1),
            max_inflight_bytes: config.max_inflight_bytes_per_conn.max(1),
            flush_threshold_bytes: config.flush_threshold_bytes.max(1),
            push_buffer_max_bytes: config.push_buffer_max_bytes.max(1),
            http: config.http.clone(),
        }
    }
}

impl Default for ConnConfig {
    fn default() -> Self {
        Self::from_server(&ServerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_chain_and_keep_the_other_defaults() {
        let config = ServerConfig::default()
            .listen(([127, 0, 0, 1], 0))
            .shards(3)
            .flush_threshold_bytes(4096)
            .uring(UringConfig::default().buffer_count(64));
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.shards, 3);
        assert_eq!(config.flush_threshold_bytes, 4096);
        assert_eq!(config.uring.buffer_count, 64);
        assert_eq!(
            config.uring.ring_entries,
            UringConfig::default().ring_entries
        );
        assert_eq!(config.push_buffer_max_bytes, 1 << 20);
    }

    #[test]
    fn connection_bounds_are_at_least_one() {
        let config = ServerConfig::default()
            .max_inflight_per_conn(0)
            .max_inflight_bytes_per_conn(0)
            .flush_threshold_bytes(0)
            .push_buffer_max_bytes(0);
        let conn = ConnConfig::from_server(&config);
        assert_eq!(
            (
                conn.max_inflight,
                conn.max_inflight_bytes,
                conn.flush_threshold_bytes,
                conn.push_buffer_max_bytes
            ),
            (1, 1, 1, 1)
        );
    }
}
