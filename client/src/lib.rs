//! A pipelining rpcx client: many calls in flight on one connection, replies matched by
//! seq in any order, and errors that say whether a call may be retried.
//!
//! What it owns: the client side of one rpcx connection. What it never does: its own
//! framing (every byte goes through `ringrpc_codec`).
//!
//! Read first: [`conn::Connection`], the sans-IO core (seqs, pending table, write
//! coalescing, deadlines, heartbeats, pushes) with time as an input. Then one driver:
//! [`tokio::Client`] (Send + Sync, a reader and a writer task per connection) or
//! [`glommio::Client`] (single-threaded, Rc-based, for glommio executors). Both have the
//! same methods: `call`, `call_with`, `oneway`, `send`, `send_oneway`, `next_push`, `close`.
//! [`Error::is_retryable`] is what fail modes read.

pub mod breaker;
pub mod discovery;
pub mod fail;
pub mod select;
pub mod xclient;

mod addr;
pub mod conn;
mod error;
mod message;
mod options;
mod typed;

#[cfg(feature = "glommio")]
pub mod glommio;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use addr::ServerAddr;
pub use error::{Disconnect, Error};
pub use message::{Push, Reply, Request, Response};
pub use options::{CallOptions, ClientOptions};
pub use ringrpc_codec::payload::{Payload, Proto, Serde};
pub use ringrpc_codec::{Metadata, SerializeType};
