//! TLS on either driver: rustls driven sans IO between the bytes a driver moves and the
//! connection core, written once for both drivers.
//!
//! What it owns: [`TlsConfig`] (certificate, key, client CA, ALPN, bounds) and loading it
//! into rustls; `Transport`, the connection as every driver holds it (the core, behind a
//! TLS session when the server has TLS); the per-connection [`session::Session`]; the
//! per-shard state (`shard.rs`: the configuration new connections get, reload, the
//! handshake cap and timers); what a session holds, reported to the shard's byte counters
//! (`Session::publish`; `records.rs` finds a partial record). What it never does: touch
//! a socket or a clock (the shard's timer tells a session its handshake time is up), or
//! parse rpcx frames (the core does, from the plaintext).
//!
//! Why rustls's buffered `ServerConnection` and not its unbuffered API: the buffered one
//! handles every record type after the handshake (tickets, key updates, alerts) itself and
//! caps its own buffers (`set_buffer_limit`); the unbuffered one would save one copy of
//! each record but leaves that state machine to us. The copy is small next to the AEAD
//! and the syscall (README "TLS").
//!
//! Read first: `Transport` (`transport.rs`), then `session.rs`.

mod config;
mod records;
mod session;
mod shard;
#[cfg(any(test, feature = "test-certs"))]
pub mod test_certs;
#[cfg(test)]
mod tests;
mod transport;

pub use config::{TlsConfig, TlsError};
pub(crate) use shard::{spawn_handshake_timer, ShardTls, TlsShared};
pub(crate) use transport::Transport;
