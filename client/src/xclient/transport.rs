//! How an XClient reaches one server ([`Transport`]), and the real transport: one
//! [`Client`] per server on tokio or glommio ([`ClientTransport`]).

use std::future::{pending, Future};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::fail::Retryable;
use crate::plugin::Plugins;
use crate::runtime::Runtime;
use crate::select::Instance;
use crate::{Client, ClientOptions, Error, Reply, Request};

/// How an XClient reaches one server, and the clock and timer it runs on.
pub trait Transport {
    /// A connection, cloned out of the cache for each call (a cheap handle).
    type Conn: Clone;
    /// A successful call's reply.
    type Reply;
    /// A failed call's error; fail modes read its retryability.
    type Error: Retryable + std::error::Error;

    /// Opens a connection to `server`.
    fn connect(&self, server: &Instance) -> impl Future<Output = Result<Self::Conn, Self::Error>>;
    /// One call on `conn`.
    fn send(
        &self,
        conn: &Self::Conn,
        request: &Request<'_>,
    ) -> impl Future<Output = Result<Self::Reply, Self::Error>>;
    /// Whether a cached connection can still carry calls.
    fn is_usable(&self, conn: &Self::Conn) -> bool;
    /// A timer of the runtime the connections live on.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
    /// The clock [`sleep`](Self::sleep) runs on: deadlines, breakers and latencies are
    /// measured with it (a test transport can make it virtual).
    fn now(&self) -> Instant;
    /// The plugins whose node selection hooks the XClient runs (read once, when it is
    /// made). None by default.
    fn plugins(&self) -> Plugins {
        Plugins::new()
    }
}

/// Connections with a [`Client`] on runtime `R`; `options` apply to every connection.
/// Use it as [`TokioTransport`] or [`GlommioTransport`] (for an XClient living on a glommio
/// executor).
#[non_exhaustive]
pub struct ClientTransport<R: Runtime> {
    /// The options of every connection.
    pub options: ClientOptions,
    runtime: PhantomData<fn() -> R>,
}

/// Connections with [`crate::tokio::Client`].
#[cfg(feature = "tokio")]
pub type TokioTransport = ClientTransport<crate::tokio::Tokio>;

/// Connections with [`crate::glommio::Client`].
#[cfg(feature = "glommio")]
pub type GlommioTransport = ClientTransport<crate::glommio::Glommio>;

impl<R: Runtime> ClientTransport<R> {
    /// A transport whose connections use `options`.
    pub fn new(options: ClientOptions) -> Self {
        Self {
            options,
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> Default for ClientTransport<R> {
    fn default() -> Self {
        Self::new(ClientOptions::default())
    }
}

impl<R: Runtime> Clone for ClientTransport<R> {
    fn clone(&self) -> Self {
        Self::new(self.options.clone())
    }
}

impl<R: Runtime> std::fmt::Debug for ClientTransport<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTransport")
            .field("options", &self.options)
            .finish()
    }
}

impl<R: Runtime> Transport for ClientTransport<R> {
    type Conn = Client<R>;
    type Reply = Reply;
    type Error = Error;

    async fn connect(&self, server: &Instance) -> Result<Client<R>, Error> {
        Client::connect_with(server.key(), self.options.clone()).await
    }

    async fn send(&self, conn: &Client<R>, request: &Request<'_>) -> Result<Reply, Error> {
        conn.send(request).await
    }

    fn is_usable(&self, conn: &Client<R>) -> bool {
        !conn.is_closed()
    }

    async fn sleep(&self, duration: Duration) {
        match R::now().checked_add(duration) {
            Some(deadline) => R::sleep_until(deadline).await,
            None => pending().await,
        }
    }

    fn now(&self) -> Instant {
        R::now()
    }

    /// The connections' plugins: one registration covers calls, connections and
    /// selection.
    fn plugins(&self) -> Plugins {
        self.options.plugins.clone()
    }
}
