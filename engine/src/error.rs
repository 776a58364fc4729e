//! Errors of the engine. The connection boundary (`conn::Connection`) is the one place that
//! turns a problem into either an rpcx error reply or a closed connection; [`CloseCause`]
//! records which and why, and the driver logs it once.

use std::borrow::Cow;
use std::io;

use ringrpc_codec::{DecodeError, PayloadError};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    /// glommio needs io_uring and locked memory; this is what fails on a kernel without
    /// io_uring or with a low RLIMIT_MEMLOCK.
    #[error(
        "shard {shard}: cannot create its glommio executor on CPU {cpu}: {reason}. \
         glommio needs io_uring (Linux 5.8 or later, not disabled by sysctl or seccomp) and \
         locked memory: RLIMIT_MEMLOCK is {memlock}, each shard registers {io_memory_kib} KiB \
         of I/O memory plus its rings. Raise the limit (`ulimit -l`, LimitMEMLOCK= in systemd, \
         --ulimit memlock= in docker) or lower ServerConfig::io_memory / the shard count"
    )]
    Executor {
        shard: usize,
        cpu: usize,
        reason: String,
        memlock: String,
        io_memory_kib: usize,
    },
    #[error("shard {shard} failed to start: {reason}")]
    Shard { shard: usize, reason: String },
    /// The io_uring driver cannot run here: `reason` says what is missing, `fix` how to get
    /// it or to use the glommio driver instead.
    #[error("shard {shard}: the io_uring driver cannot start: {reason}. {fix}")]
    Uring {
        shard: usize,
        reason: String,
        fix: String,
    },
}

/// What a handler returns instead of a reply. Its text goes to the client in
/// `__rpcx_error__` (PROTOCOL.md §4.9); the `Display` text of any error converts into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    message: Cow<'static, str>,
}

impl HandlerError {
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<PayloadError> for HandlerError {
    fn from(error: PayloadError) -> Self {
        Self::new(error.to_string())
    }
}

impl From<&'static str> for HandlerError {
    fn from(message: &'static str) -> Self {
        Self::new(message)
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<PushError> for HandlerError {
    fn from(error: PushError) -> Self {
        Self::new(error.to_string())
    }
}

/// A server push could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the connection is closed")]
    Closed,
    #[error("cannot encode the push: {0}")]
    Encode(#[from] ringrpc_codec::EncodeError),
}

/// Why a connection ended. The driver logs it once: a `warn!` for the causes that mean
/// a misbehaving peer or server trouble ([`CloseCause::is_error`]), `debug!` otherwise.
#[derive(Debug, thiserror::Error)]
pub enum CloseCause {
    #[error("peer closed the connection")]
    PeerClosed,
    #[error("idle for longer than the idle timeout")]
    Idle,
    #[error("server shutting down")]
    Shutdown,
    #[error("drain timeout: dropped with {inflight} requests in flight")]
    DrainTimeout { inflight: usize },
    #[error("bad frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("auth failed: {0}")]
    Auth(String),
    #[error("cannot encode a reply: {0}")]
    Encode(#[from] ringrpc_codec::EncodeError),
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    #[error("over the limit of {max} connections per shard")]
    TooManyConnections { max: usize },
}

impl CloseCause {
    /// Whether this ending deserves a warning (as opposed to a normal close).
    pub fn is_error(&self) -> bool {
        match self {
            Self::PeerClosed | Self::Idle | Self::Shutdown => false,
            Self::Io(e) => !matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ),
            Self::DrainTimeout { .. }
            | Self::Decode(_)
            | Self::Auth(_)
            | Self::Encode(_)
            | Self::TooManyConnections { .. } => true,
        }
    }
}
