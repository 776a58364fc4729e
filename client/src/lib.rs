//! A pipelining rpcx client: many calls in flight on one connection, replies matched by
//! seq in any order, and errors that say whether a call may be retried.
//!
//! What it owns: the client side of one rpcx connection, and calls to a service over many
//! servers ([`xclient`]). What it never does: its own framing (every byte goes through
//! `ringrpc_codec`).
//!
//! Read first: [`conn::Connection`], the sans-IO core (seqs, pending table, write
//! coalescing, deadlines, heartbeats, pushes) with time as an input, which returns the
//! events its driver acts on. Then [`Client`], written once over the [`runtime::Runtime`]
//! trait, and used as [`tokio::Client`] (Send + Sync, the default feature) or
//! [`glommio::Client`] (single-threaded, Rc-based, for glommio executors; feature
//! `glommio`). Its methods: `call`, `call_with`, `call_response`, `oneway`, `send`,
//! `send_oneway`, `next_push`, `close`. [`Error::is_retryable`] is what fail modes read.
//! TLS: [`TlsOptions`] in [`ClientOptions::tls`], on every runtime (`tls.rs`).
//! Hooks into calls, connections and node selection: [`plugin`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod breaker;
pub mod discovery;
pub mod fail;
pub mod plugin;
pub mod runtime;
pub mod select;
pub mod xclient;

mod addr;
mod client;
pub mod conn;
mod error;
mod message;
mod options;
mod race;
mod tls;
mod typed;

#[cfg(feature = "glommio")]
pub mod glommio;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use addr::ServerAddr;
pub use client::{Client, ClientBuilder};
pub use error::{Disconnect, Error};
pub use message::{Push, Reply, Request, Response};
pub use options::{CallOptions, ClientOptions};
pub use ringrpc_codec::payload::{DecodePayload, EncodePayload, Payload, Proto, Serde};
pub use ringrpc_codec::{Limits, Metadata, SerializeType};
pub use tls::TlsOptions;

/// The README's Rust blocks, compiled (not run: they talk to servers) by `cargo test --doc`,
/// so the README cannot drift from the API.
#[cfg(all(doctest, feature = "glommio", feature = "etcd"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
