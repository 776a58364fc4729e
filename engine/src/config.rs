//! Server configuration: where to listen, how many shards, and every limit with its default.
//!
//! rpcx-go has no limits by default (PROTOCOL.md §4.15, §13.1); ringrpc has all of them on.

use std::net::SocketAddr;
use std::time::Duration;

use ringrpc_codec::Limits;

use crate::driver::{Driver, UringConfig};

/// How a [`crate::Server`] runs. Start from `ServerConfig::default()` and change fields.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address every shard listens on (SO_REUSEPORT). Port 0 picks a free port; every shard
    /// then binds the port the first one got. Default `127.0.0.1:8972`.
    pub listen: SocketAddr,
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
    /// connection stops reading until replies drain, so memory stays bounded. Default 1024.
    pub max_inflight_per_conn: usize,
    /// Open connections per shard. Connections over the limit are accepted and closed at
    /// once. Default 16384.
    pub max_conns_per_shard: usize,
    /// A connection with nothing in flight that receives nothing for this long is closed
    /// (it is noticed between 1x and 2x this time). `None`: never. Default 300 s.
    pub idle_timeout: Option<Duration>,
    /// On shutdown, how long in-flight requests may run before their connections are
    /// dropped. Default 10 s.
    pub drain_timeout: Duration,
    /// Output buffered before a connection sends it even in the middle of a batch, and above
    /// which it stops reading until the peer takes its replies. Default 256 KiB.
    pub flush_threshold: usize,
    /// Bytes of server pushes a connection buffers before [`crate::Pusher::push`] waits for
    /// the peer to read. Default 1 MiB.
    pub push_buffer_max: usize,
    /// glommio's registered I/O memory per shard. Sockets do not use it; it only has to fit
    /// RLIMIT_MEMLOCK together with the other shards. Default 512 KiB.
    pub io_memory: usize,
    /// Listen backlog of each shard's socket. Default 1024.
    pub backlog: i32,
    /// Which I/O driver runs the shards. Default [`Driver::Auto`]: io_uring where the kernel
    /// allows it, else glommio.
    pub driver: Driver,
    /// Settings of the io_uring driver (ignored by the glommio one).
    pub uring: UringConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8972)),
            shards: 1,
            cpus: Vec::new(),
            limits: Limits::default(),
            max_inflight_per_conn: 1024,
            max_conns_per_shard: 16384,
            idle_timeout: Some(Duration::from_secs(300)),
            drain_timeout: Duration::from_secs(10),
            flush_threshold: 256 << 10,
            push_buffer_max: 1 << 20,
            io_memory: 512 << 10,
            backlog: 1024,
            driver: Driver::default(),
            uring: UringConfig::default(),
        }
    }
}

/// The part of the configuration a connection reads on every frame, shared by all
/// connections of a shard.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    pub limits: Limits,
    pub max_inflight: usize,
    pub flush_threshold: usize,
    pub push_buffer_max: usize,
}

impl ConnConfig {
    pub fn from_server(config: &ServerConfig) -> Self {
        Self {
            limits: config.limits,
            max_inflight: config.max_inflight_per_conn.max(1),
            flush_threshold: config.flush_threshold.max(1),
            push_buffer_max: config.push_buffer_max.max(1),
        }
    }
}

impl Default for ConnConfig {
    fn default() -> Self {
        Self::from_server(&ServerConfig::default())
    }
}
