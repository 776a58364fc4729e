//! The sans-IO connection core: received bytes in, handler calls and bytes to send out.
//!
//! Nothing in here touches a socket, a runtime or a clock: the driver passes its clock to
//! [`Connection::poll_call`] (read only for `__ServerTimeout`), so the core runs on virtual
//! time in tests. A driver (the glommio one in `driver/glommio/conn_task.rs`, the io_uring
//! one in `driver/uring/conn.rs`) does four things in a loop:
//!
//! 1. reads into [`Connection::handle_read`] (the connection's own contiguous buffer), or
//!    lends the buffer the kernel filled through [`Connection::handle_chunk`] (frames are
//!    parsed where they lie; only a frame split across two buffers is copied, `input.rs`);
//! 2. takes every [`Call`] from [`Connection::poll_call`] and hands it to
//!    [`Connection::poll_inline`], which answers it if it finishes on its first poll; a call
//!    that does not comes back, and the driver runs it elsewhere (with its deadline) and
//!    delivers the [`Completion`] through the [`Link`];
//! 3. sends [`Connection::poll_transmit`] and reports [`Connection::handle_sent`] (or takes
//!    the bytes with [`Connection::poll_transmit_owned`] when the send completes later, and
//!    reports what the kernel took with [`Connection::handle_sent_owned`]): all replies
//!    produced by one read leave in one send;
//! 4. calls [`Connection::handle_link`] whenever the link wakes it.
//!
//! The first byte of a connection decides its protocol (`http.rs`): rpcx frames, or HTTP/1.x
//! requests (the gateway and JSON-RPC, `crate::http`), whose calls go through the same
//! routing and handlers as frames.
//!
//! Every byte a connection holds is bounded (`bounds.rs` keeps the shard's sums): received
//! bytes grow with what arrived, never with what a header announces; requests in flight
//! hold at most `max_inflight_bytes_per_conn` (plus the frame that crossed it); output stops
//! reading at `flush_threshold_bytes`. What a peer does too slowly (a frame never finished,
//! output never read) the shard's sweep turns into a [`Control`] that closes it.
//!
//! Drivers hold the core through `crate::tls::Transport`, which has these same methods and,
//! when the server has TLS, decrypts before `handle_*` and encrypts after `poll_transmit*`.
//!
//! Read first: [`Connection`] (the state diagram), then [`Link`]. The core's methods are
//! split by concept: bytes in and calls out in `connection.rs`, routing in `dispatch.rs`,
//! replies in `answer.rs`, bytes out in `output.rs`, the end of a connection in `closing.rs`.

mod answer;
mod bounds;
mod buffer_pool;
mod call;
mod closing;
mod connection;
mod dispatch;
mod http;
mod input;
mod link;
mod out_queue;
mod output;
mod push_stats;

pub use crate::config::ConnConfig;
pub use crate::inflight::Outcome;
pub use bounds::{ByteStats, ShardBounds, Timeouts};
pub(crate) use call::CallState;
pub use call::{Call, Completion};
pub use connection::Connection;
pub use link::{Control, Link};
pub use out_queue::SendPieces;
pub use push_stats::PushStats;

/// Error text of a request whose `__ServerTimeout` passed before its handler finished: the
/// text a Go handler returns when it gives up on its context (`ctx.Err()`).
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";
