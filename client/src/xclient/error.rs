//! The error of an XClient call: no server, every breaker open, the deadline, an attempt
//! that timed out, a local encode/decode failure, or the last attempt's error with the
//! server it came from.

use crate::fail::Retryable;

/// An XClient call's error. `E` is the transport's error ([`crate::Error`] for the real
/// transports).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XError<E> {
    /// Discovery lists no usable server (rpcx-go: `can not found any server`).
    #[error("can not found any server of {service_path}")]
    NoServer {
        /// The service called.
        service_path: String,
    },
    /// Every usable server is behind an open breaker (rpcx-go: `breaker open`).
    #[error("breaker open for every server of {service_path}")]
    BreakerOpen {
        /// The service called.
        service_path: String,
    },
    /// Every usable server failed its last dial and is in back-off: no dial was made.
    /// Retryable, after `retry_in_ms`.
    #[error("every server of {service_path} is in dial back-off; next dial in {retry_in_ms} ms")]
    Backoff {
        /// The service called.
        service_path: String,
        /// When the soonest server may be dialled again, in milliseconds (rounded up).
        retry_in_ms: u64,
    },
    /// The call's deadline passed, retries included.
    #[error("call timed out after {timeout_ms} ms")]
    Timeout {
        /// The time the call had, in whole milliseconds (rounded up).
        timeout_ms: u64,
    },
    /// One attempt on `server` took longer than `XClientOptions::attempt_timeout`.
    /// Retryable: the fail mode tries again within the call's deadline.
    #[error("{server}: attempt timed out after {timeout_ms} ms")]
    AttemptTimeout {
        /// The server's key (`tcp@host:port`).
        server: String,
        /// The attempt timeout, in whole milliseconds (rounded up).
        timeout_ms: u64,
    },
    /// Encoding the arguments or decoding the reply failed (nothing to retry).
    #[error("{0}")]
    Local(#[source] E),
    /// The last attempt's error, with the server it came from.
    #[error("{server}: {source}")]
    Server {
        /// The server's key (`tcp@host:port`).
        server: String,
        /// What the attempt failed with.
        #[source]
        source: E,
    },
}

impl<E: Retryable> Retryable for XError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            XError::NoServer { .. }
            | XError::BreakerOpen { .. }
            | XError::Backoff { .. }
            | XError::AttemptTimeout { .. } => true,
            XError::Timeout { .. } | XError::Local(_) => false,
            XError::Server { source, .. } => source.is_retryable(),
        }
    }

    fn is_answer(&self) -> bool {
        matches!(self, XError::Server { source, .. } if source.is_answer())
    }
}

impl<E: Retryable> XError<E> {
    /// See [`Retryable::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        Retryable::is_retryable(self)
    }

    /// The server's own error, if the last attempt reached one.
    pub fn server_error(&self) -> Option<&E> {
        match self {
            XError::Server { source, .. } => Some(source),
            _ => None,
        }
    }
}
