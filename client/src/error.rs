//! Errors of the client. Every error says whether the call may be retried
//! ([`Error::is_retryable`]), so fail modes act on that and never on error strings.
//!
//! The split follows rpcx-go (PROTOCOL.md §11.3): a failure of the connection (refused,
//! connect timeout, lost, heartbeats unanswered, closed) can be retried, on this server or
//! another; the server's own answer (`__rpcx_error__`), a payload that cannot be encoded or
//! decoded, and the caller's own deadline cannot.
//!
//! Every message carries its cause in its own text (no `source()` chain to walk), so a
//! plain `{error}` in a log says everything.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use ringrpc_codec::{DecodeError, EncodeError, PayloadError};

/// Why a connection stopped. Every call pending on it fails with
/// [`Error::Disconnected`] carrying this reason, and so does every later call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server closed the connection (rpcx-go reports `unexpected EOF`).
    #[error("unexpected EOF")]
    Eof,
    /// Reading or writing the socket failed.
    #[error("{0}")]
    Io(Arc<io::Error>),
    /// The server sent bytes that are not an rpcx frame (or break our `Limits`).
    #[error("bad frame from the server: {0}")]
    Decode(DecodeError),
    /// This many heartbeats in a row went unanswered.
    #[error("{misses} heartbeats in a row went unanswered")]
    HeartbeatMissed {
        /// Unanswered heartbeats in a row.
        misses: u32,
    },
    /// This side closed the connection (rpcx-go's `connection is shut down`).
    #[error("connection is shut down")]
    Closed,
}

/// An error of a call or of connecting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not `tcp@host:port`, `unix@/path` or `host:port`.
    #[error("invalid server address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connecting failed (refused, unreachable, name not resolved).
    #[error("connect to {addr} failed: {cause}")]
    Connect {
        /// The server's key.
        addr: String,
        /// The socket error.
        cause: Arc<io::Error>,
    },
    /// The TLS handshake failed on something the client or the server refused (an unknown
    /// CA, an expired certificate, a name mismatch, a missing client certificate), or the
    /// TLS options cannot be used. Final: retrying meets the same certificates.
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        /// The server's key.
        addr: String,
        /// What was refused, as rustls says it.
        reason: String,
    },
    /// Connecting took longer than `ClientOptions::connect_timeout`.
    #[error("connect to {addr} timed out after {timeout_ms} ms")]
    ConnectTimeout {
        /// The server's key.
        addr: String,
        /// The connect timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// The connection is gone; the call may or may not have reached the server.
    #[error("connection lost: {0}")]
    Disconnected(Disconnect),
    /// The call's deadline passed before its reply arrived. Its slot is freed and a late
    /// reply is dropped. Like rpcx-go's `context.DeadlineExceeded`, not retried: the
    /// caller's time is up.
    #[error("call timed out after {timeout_ms} ms")]
    Timeout {
        /// The time the call had, in whole milliseconds (rounded up).
        timeout_ms: u64,
    },
    /// The server answered with an error (`__rpcx_error__`); the text is the server's.
    #[error("{message}")]
    Service {
        /// The server's error text.
        message: String,
    },
    /// The request's arguments cannot be encoded with the chosen serialize type.
    #[error("cannot encode the request payload: {0}")]
    Encode(PayloadError),
    /// The request does not fit an rpcx frame.
    #[error("cannot encode the request frame: {0}")]
    Frame(EncodeError),
    /// A oneway request found the send buffer full (`ClientOptions::send_buffer_max_bytes`):
    /// the server is not reading. Nothing was sent; retryable (later, or elsewhere).
    #[error("send buffer full: {unsent_bytes} bytes unsent, at most {max_bytes}")]
    SendBufferFull {
        /// Bytes queued and not yet taken by the socket.
        unsent_bytes: usize,
        /// `ClientOptions::send_buffer_max_bytes`.
        max_bytes: usize,
    },
    /// The encoded request alone is larger than `ClientOptions::send_buffer_max_bytes`;
    /// not retryable (raise the bound).
    #[error("request of {len} bytes exceeds the send buffer bound of {max_bytes} bytes")]
    RequestTooLarge {
        /// The encoded request's length.
        len: usize,
        /// `ClientOptions::send_buffer_max_bytes`.
        max_bytes: usize,
    },
    /// The reply payload cannot be decoded into the caller's type (rpcx-go types this as
    /// a service error: not retried).
    #[error("cannot decode the reply payload: {0}")]
    Decode(PayloadError),
    /// A client plugin refused the call or the connection (not retried).
    #[error("refused by a client plugin: {message}")]
    Refused {
        /// The plugin's reason.
        message: String,
    },
}

impl Error {
    /// The error of a plugin's refusal.
    pub(crate) fn refused(refusal: crate::plugin::Refusal) -> Self {
        Error::Refused {
            message: refusal.message().to_owned(),
        }
    }

    /// Whole milliseconds from `since` to `deadline`, rounded up, for `Timeout`'s message:
    /// a 100 ms timeout reads "100 ms" even if a few µs passed before the call was queued.
    pub(crate) fn timeout_ms(deadline: Instant, since: Instant) -> u64 {
        let micros = deadline.saturating_duration_since(since).as_micros();
        u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX)
    }

    /// Whether trying the call again (after reconnecting, maybe to another server) can
    /// succeed: true for connection failures, false for the server's own error, local
    /// encode/decode failures, a bad address and an expired deadline.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Disconnected(_)
            | Error::SendBufferFull { .. } => true,
            Error::InvalidAddress { .. }
            | Error::Tls { .. }
            | Error::RequestTooLarge { .. }
            | Error::Timeout { .. }
            | Error::Service { .. }
            | Error::Encode(_)
            | Error::Frame(_)
            | Error::Decode(_)
            | Error::Refused { .. } => false,
        }
    }

    /// Whether this is the server's own error reply (rpcx-go's `ServiceError`).
    pub fn is_service_error(&self) -> bool {
        matches!(self, Error::Service { .. })
    }

    /// Whether the call's deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The server's error text, for [`Error::Service`].
    pub fn service_message(&self) -> Option<&str> {
        match self {
            Error::Service { message } => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_retryable_and_answers_are_not() {
        let io = || Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        let retryable = [
            Error::Connect {
                addr: "tcp@a:1".into(),
                cause: io(),
            },
            Error::ConnectTimeout {
                addr: "tcp@a:1".into(),
                timeout_ms: 1,
            },
            Error::Disconnected(Disconnect::Eof),
            Error::Disconnected(Disconnect::Io(io())),
            Error::Disconnected(Disconnect::Decode(DecodeError::BadMagic(1))),
            Error::Disconnected(Disconnect::HeartbeatMissed { misses: 3 }),
            Error::Disconnected(Disconnect::Closed),
            Error::SendBufferFull {
                unsent_bytes: 10,
                max_bytes: 10,
            },
        ];
        for error in retryable {
            assert!(error.is_retryable(), "{error}");
        }
        let final_ = [
            Error::Service {
                message: "rpcx: can't find method Div".into(),
            },
            Error::Timeout { timeout_ms: 5 },
            Error::RequestTooLarge {
                len: 11,
                max_bytes: 10,
            },
            Error::Decode(PayloadError::UnknownSerializeType(7)),
            Error::InvalidAddress {
                addr: "x".into(),
                reason: "r",
            },
        ];
        for error in final_ {
            assert!(!error.is_retryable(), "{error}");
        }
    }

    #[test]
    fn service_error_displays_the_server_text() {
        let error = Error::Service {
            message: "test failure: A=1 B=2".into(),
        };
        assert_eq!(error.to_string(), "test failure: A=1 B=2");
        assert_eq!(error.service_message(), Some("test failure: A=1 B=2"));
        assert!(error.is_service_error());
    }
}
