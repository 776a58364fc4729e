//! Errors of the engine. The connection boundary (`conn::Connection`) is the one place that
//! turns a problem into either an rpcx error reply or a closed connection; [`CloseCause`]
//! records which and why, and the driver logs it once.
//!
//! Every enum here is `#[non_exhaustive]`: a match on one needs a `_` arm, so a variant added
//! later does not break callers.

use std::borrow::Cow;
use std::io;

use ringrpc_codec::{DecodeError, PayloadError};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The [`crate::ServerConfig`] cannot work (e.g. zero shards, an unknown CPU).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A shard's listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: crate::ListenAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// glommio needs io_uring and locked memory; this is what fails on a kernel without
    /// io_uring or with a low RLIMIT_MEMLOCK.
    #[error(
        "shard {shard}: cannot create its glommio executor on CPU {cpu}: {reason}. \
         glommio needs io_uring (Linux 5.8 or later, not disabled by sysctl or seccomp) and \
         locked memory: RLIMIT_MEMLOCK is {memlock}, each shard registers {io_memory_kib} KiB \
         of I/O memory plus its rings. Raise the limit (`ulimit -l`, LimitMEMLOCK= in systemd, \
         --ulimit memlock= in docker) or lower ServerConfig::io_memory_bytes / the shard count"
    )]
    Executor {
        /// The shard's index.
        shard: usize,
        /// The CPU it was to run on.
        cpu: usize,
        /// glommio's error.
        reason: String,
        /// RLIMIT_MEMLOCK as read at the failure, e.g. `65536 bytes` or `unlimited`.
        memlock: String,
        /// `ServerConfig::io_memory_bytes` in KiB.
        io_memory_kib: usize,
    },
    /// A shard thread could not be spawned or stopped before it was ready.
    #[error("shard {shard} failed to start: {reason}")]
    Shard {
        /// The shard's index.
        shard: usize,
        /// What went wrong.
        reason: String,
    },
    /// The io_uring driver cannot run here: `reason` says what is missing, `fix` how to get
    /// it or to use the glommio driver instead.
    #[error("shard {shard}: the io_uring driver cannot start: {reason}. {fix}")]
    Uring {
        /// The shard's index.
        shard: usize,
        /// What the kernel lacks or refused.
        reason: String,
        /// How to get it, or how to use the glommio driver instead.
        fix: String,
    },
    /// `ServerConfig::tls` could not be loaded (a PEM file, the key, the client CA).
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// What a handler returns instead of a reply: a [`HandlerErrorKind`] saying where the error
/// came from, and the text the client receives in `__rpcx_error__` (PROTOCOL.md §4.9).
///
/// The text is the `Display` text of the error converted, exactly what rpcx-go sends for a
/// Go method returning that error; the kind never goes on the wire (rpcx has no error codes)
/// and is there for the server's own logs, metrics and tests. `?` converts the errors
/// handlers meet: [`std::io::Error`], the codec's [`PayloadError`], [`PushError`] and, with
/// the features of the same names (on by default), `serde_json::Error` (`json`),
/// `rmp_serde` encode and decode errors (`msgpack`) and `prost::DecodeError` (`protobuf`).
///
/// ```
/// use ringrpc_engine::{HandlerError, HandlerErrorKind};
///
/// fn parse(text: &str) -> Result<u32, HandlerError> {
///     let n: u32 = serde_json::from_str(text)?;
///     if n == 0 {
///         return Err(HandlerError::new("zero is not allowed"));
///     }
///     Ok(n)
/// }
///
/// assert_eq!(parse("0").unwrap_err().kind(), HandlerErrorKind::Application);
/// assert_eq!(parse("x").unwrap_err().kind(), HandlerErrorKind::Payload);
/// assert_eq!(parse("0").unwrap_err().message(), "zero is not allowed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    kind: HandlerErrorKind,
    message: Cow<'static, str>,
}

/// Where a [`HandlerError`] came from. Stable names for logs and metrics: [`Self::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandlerErrorKind {
    /// The handler's own error: [`HandlerError::new`], a `String` or a `&'static str`.
    Application,
    /// A payload could not be decoded or encoded: the codec's [`PayloadError`] or a
    /// serde_json, rmp-serde or prost error.
    Payload,
    /// An I/O error the handler met ([`std::io::Error`]).
    Io,
    /// A server push could not be queued ([`PushError`]).
    Push,
    /// The handler panicked; the text is rpcx-go's `[service internal error]: <panic>`.
    Panic,
}

impl HandlerErrorKind {
    /// A stable lower-case name: `application`, `payload`, `io`, `push`, `panic`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::Payload => "payload",
            Self::Io => "io",
            Self::Push => "push",
            Self::Panic => "panic",
        }
    }
}

impl std::fmt::Display for HandlerErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl HandlerError {
    /// The handler's own error ([`HandlerErrorKind::Application`]) with this text.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_kind(HandlerErrorKind::Application, message)
    }

    /// An error of `kind` with this text.
    pub fn with_kind(kind: HandlerErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Where the error came from.
    pub fn kind(&self) -> HandlerErrorKind {
        self.kind
    }

    /// The text the client receives in `__rpcx_error__`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An error of `kind` whose text is `error`'s `Display` text.
    fn from_display(kind: HandlerErrorKind, error: impl std::fmt::Display) -> Self {
        Self::with_kind(kind, error.to_string())
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

impl From<PayloadError> for HandlerError {
    fn from(error: PayloadError) -> Self {
        Self::from_display(HandlerErrorKind::Payload, error)
    }
}

impl From<PushError> for HandlerError {
    fn from(error: PushError) -> Self {
        Self::from_display(HandlerErrorKind::Push, error)
    }
}

impl From<io::Error> for HandlerError {
    fn from(error: io::Error) -> Self {
        Self::from_display(HandlerErrorKind::Io, error)
    }
}

#[cfg(feature = "json")]
impl From<serde_json::Error> for HandlerError {
    fn from(error: serde_json::Error) -> Self {
        Self::from_display(HandlerErrorKind::Payload, error)
    }
}

#[cfg(feature = "msgpack")]
impl From<rmp_serde::encode::Error> for HandlerError {
    fn from(error: rmp_serde::encode::Error) -> Self {
        Self::from_display(HandlerErrorKind::Payload, error)
    }
}

#[cfg(feature = "msgpack")]
impl From<rmp_serde::decode::Error> for HandlerError {
    fn from(error: rmp_serde::decode::Error) -> Self {
        Self::from_display(HandlerErrorKind::Payload, error)
    }
}

#[cfg(feature = "protobuf")]
impl From<prost::DecodeError> for HandlerError {
    fn from(error: prost::DecodeError) -> Self {
        Self::from_display(HandlerErrorKind::Payload, error)
    }
}

/// A server push could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The connection the push was for has closed.
    #[error("the connection is closed")]
    Closed,
    /// The push does not fit a frame (a section over the 32-bit lengths).
    #[error("cannot encode the push: {0}")]
    Encode(#[from] ringrpc_codec::EncodeError),
    /// The request came over HTTP (the gateway or JSON-RPC): its connection carries no
    /// rpcx frames, so nothing can be pushed on it.
    #[error("server pushes need an rpcx connection; this one speaks HTTP")]
    Http,
    /// A plugin's `before_write` refused the push; it was not sent.
    #[error("push refused by {limit}: {text}")]
    Refused {
        /// The rule that refused it ([`crate::plugin::Refusal::limit`]).
        limit: &'static str,
        /// Its text.
        text: String,
    },
}

/// Why a connection ended. The driver logs it once: a `warn!` for the causes that mean
/// a misbehaving peer or server trouble ([`CloseCause::is_error`]), `debug!` otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed its side.
    #[error("peer closed the connection")]
    PeerClosed,
    /// Nothing received and nothing in flight for `ServerConfig::idle_timeout`.
    #[error("idle for longer than the idle timeout")]
    Idle,
    /// The server shut down and the connection had nothing left to do.
    #[error("server shutting down")]
    Shutdown,
    /// The server shut down and requests were still running at `ServerConfig::drain_timeout`.
    #[error("drain timeout: dropped with {inflight} requests in flight")]
    DrainTimeout {
        /// Requests still running when the connection was dropped.
        inflight: usize,
    },
    /// The peer sent a malformed frame or one over the limits.
    #[error("bad frame: {0}")]
    Decode(#[from] DecodeError),
    /// The auth hook refused a request; its error reply was sent first.
    #[error("auth failed: {0}")]
    Auth(String),
    /// A reply could not be encoded.
    #[error("cannot encode a reply: {0}")]
    Encode(#[from] ringrpc_codec::EncodeError),
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The first byte on a TLS listener was not a TLS handshake record: plain rpcx (0x08) or
    /// HTTP (a letter) sent to a TLS port. Closed at once, without a TLS alert.
    #[error("not TLS: first byte {first_byte:#04x} (plain rpcx or HTTP on a TLS port?)")]
    NotTls {
        /// The byte received first.
        first_byte: u8,
    },
    /// The TLS handshake or a record failed (rustls's reason; its alert was sent).
    #[error("TLS: {0}")]
    Tls(String),
    /// The TLS handshake did not finish within `TlsConfig::handshake_timeout`.
    #[error("TLS handshake not done after {timeout_ms} ms")]
    TlsHandshakeTimeout {
        /// The timeout.
        timeout_ms: u64,
    },
    /// Accepted while `TlsConfig::max_handshakes_per_shard` handshakes ran; closed at once.
    #[error("over the limit of {max} TLS handshakes per shard")]
    TooManyHandshakes {
        /// The limit.
        max: usize,
    },
    /// An HTTP connection ended: asked by the client, a refused request, or a head that
    /// did not arrive in time.
    #[error("HTTP: {0}")]
    Http(#[from] crate::http::HttpClose),
    /// A frame had begun to arrive and was not complete within
    /// `ServerConfig::frame_timeout` (a slow sender).
    #[error("frame not complete within the frame timeout")]
    FrameTimeout,
    /// Output was waiting and the peer took none of it for `ServerConfig::send_timeout`
    /// (a slow reader); what was left unsent is dropped.
    #[error("peer took no output within the send timeout")]
    SendTimeout,
    /// Accepted over `ServerConfig::max_conns_per_shard` and closed at once.
    #[error("over the limit of {max} connections per shard")]
    TooManyConnections {
        /// The limit.
        max: usize,
    },
}

impl CloseCause {
    /// Whether this ending deserves a warning (as opposed to a normal close).
    pub fn is_error(&self) -> bool {
        match self {
            Self::PeerClosed | Self::Idle | Self::Shutdown => false,
            Self::Http(close) => *close != crate::http::HttpClose::Done,
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
            | Self::FrameTimeout
            | Self::SendTimeout
            | Self::TooManyConnections { .. }
            | Self::NotTls { .. }
            | Self::Tls(_)
            | Self::TlsHandshakeTimeout { .. }
            | Self::TooManyHandshakes { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind and wire text `?` gives an error in a handler-shaped function.
    fn through_question_mark<E>(error: E) -> (HandlerErrorKind, String)
    where
        HandlerError: From<E>,
    {
        let result: Result<(), HandlerError> = (|| Err(error)?)();
        let error = result.unwrap_err();
        (error.kind(), error.message().to_owned())
    }

    #[test]
    fn own_errors_are_application_errors_with_their_text() {
        assert_eq!(
            through_question_mark("bad input"),
            (HandlerErrorKind::Application, "bad input".to_owned())
        );
        assert_eq!(
            through_question_mark(format!("A={}", 3)),
            (HandlerErrorKind::Application, "A=3".to_owned())
        );
        let error = HandlerError::with_kind(HandlerErrorKind::Io, "disk full");
        assert_eq!(
            (error.kind(), error.to_string()),
            (HandlerErrorKind::Io, "disk full".into())
        );
    }

    #[test]
    fn converted_errors_keep_their_display_text_and_name_their_origin() {
        let io = io::Error::new(io::ErrorKind::NotFound, "no such row");
        assert_eq!(
            through_question_mark(io),
            (HandlerErrorKind::Io, "no such row".to_owned())
        );
        // rpcx-go's own text for an unknown serialize type, unchanged.
        assert_eq!(
            through_question_mark(PayloadError::UnknownSerializeType(7)),
            (
                HandlerErrorKind::Payload,
                "can not find codec for 7".to_owned()
            )
        );
        assert_eq!(
            through_question_mark(PushError::Closed),
            (
                HandlerErrorKind::Push,
                "the connection is closed".to_owned()
            )
        );
    }

    #[cfg(feature = "json")]
    #[test]
    fn serde_json_errors_convert() {
        let error = serde_json::from_str::<u32>("x").unwrap_err();
        let text = error.to_string();
        assert_eq!(
            through_question_mark(error),
            (HandlerErrorKind::Payload, text)
        );
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn rmp_serde_errors_convert() {
        let error = rmp_serde::from_slice::<u32>(b"\xc1").unwrap_err();
        let text = error.to_string();
        assert_eq!(
            through_question_mark(error),
            (HandlerErrorKind::Payload, text)
        );
        // An error a serializer reports while encoding.
        let error = rmp_serde::encode::Error::Syntax("bad".to_owned());
        let text = error.to_string();
        assert_eq!(
            through_question_mark(error),
            (HandlerErrorKind::Payload, text)
        );
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn prost_decode_errors_convert() {
        let error = <u32 as prost::Message>::decode(&b"\xff"[..]).unwrap_err();
        let text = error.to_string();
        assert_eq!(
            through_question_mark(error),
            (HandlerErrorKind::Payload, text)
        );
    }

    #[test]
    fn kinds_have_stable_names() {
        let kinds = [
            HandlerErrorKind::Application,
            HandlerErrorKind::Payload,
            HandlerErrorKind::Io,
            HandlerErrorKind::Push,
            HandlerErrorKind::Panic,
        ];
        let names: Vec<String> = kinds.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["application", "payload", "io", "push", "panic"]);
    }
}
