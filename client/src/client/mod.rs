//! The client of one rpcx connection, written once over the [`Runtime`] trait: the handle
//! users clone and call, its builder, and the reader and writer tasks ([`tasks`]). The
//! protocol is the sans-IO core's ([`crate::conn`]); this module only locks it, feeds it
//! and performs the events it returns ([`shared`]).
//!
//! What it never does: touch a runtime directly. `tokio::Client` and `glommio::Client` are
//! this type with the runtime filled in.
// Without a runtime feature no `Runtime` exists, and nothing here can be used.
#![cfg_attr(
    not(any(feature = "tokio", feature = "glommio")),
    allow(dead_code, unused_imports)
)]

mod shared;
mod tasks;
#[cfg(all(test, feature = "tokio", feature = "glommio"))]
mod tests;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Instrument;

use crate::conn::{Connection, Stats};
use crate::error::{Disconnect, Error};
use crate::message::{Push, Reply, Request};
use crate::options::ClientOptions;
use crate::plugin::OutgoingCall;
use crate::runtime::Runtime;
use crate::ServerAddr;
pub use shared::Shared;
pub use tasks::Socket;
pub(crate) use tasks::{read_loop, write_loop, ReadHalf, WriteHalf};

/// A client connection on runtime `R`; use it as [`tokio::Client`](crate::tokio::Client)
/// (`Send + Sync`) or [`glommio::Client`](crate::glommio::Client) (single-threaded, `Rc`).
/// Cheap to clone; all clones share the connection, which closes when the last clone is
/// dropped (or on [`Client::close`]).
///
/// Typed calls: [`call`](Self::call), [`call_with`](Self::call_with),
/// [`call_response`](Self::call_response), [`oneway`](Self::oneway). Byte-level:
/// [`send`](Self::send), [`send_oneway`](Self::send_oneway). Server pushes:
/// [`next_push`](Self::next_push) or [`ClientBuilder`]'s `on_push`.
pub struct Client<R: Runtime> {
    handle: R::Shared<Handle<R>>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
        }
    }
}

/// Owned by user clones only: the connection closes when the last one goes.
struct Handle<R: Runtime> {
    shared: R::Shared<Shared<R>>,
}

impl<R: Runtime> Drop for Handle<R> {
    fn drop(&mut self) {
        self.shared.with_conn(|conn| conn.handle_close(R::now()));
    }
}

/// Connects a [`Client`] with options and, per runtime, a push handler (`on_push`). Made
/// by [`Client::builder`].
pub struct ClientBuilder<R: Runtime> {
    addr: String,
    options: ClientOptions,
    push_handler: Option<Box<R::PushHandler>>,
}

impl<R: Runtime> ClientBuilder<R> {
    /// The connection's options (default: [`ClientOptions::default`]).
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the push handler; each runtime's `on_push` boxes it.
    pub(crate) fn push_handler(mut self, handler: Box<R::PushHandler>) -> Self {
        self.push_handler = Some(handler);
        self
    }

    /// Connects and spawns the connection's reader and writer tasks on the current
    /// runtime (for tokio: a runtime with I/O and time enabled).
    pub async fn connect(self) -> Result<Client<R>, Error> {
        let plugins = &self.options.plugins;
        let dialled = match ServerAddr::parse(&self.addr) {
            Ok(addr) => tasks::connect::<R>(&addr, &self.options)
                .await
                .map(|stream| (addr, stream)),
            Err(error) => Err(error),
        };
        let (addr, stream) = dialled.inspect_err(|error| plugins.conn_failed(&self.addr, error))?;
        plugins.conn_opened(&addr)?;
        let conn = Connection::new(self.options, R::now(), unix_nanos());
        let shared = R::share(Shared::new(conn, addr, self.push_handler));
        R::spawn_tasks(stream, shared.clone());
        Ok(Client {
            handle: R::share(Handle { shared }),
        })
    }
}

impl<R: Runtime> Client<R> {
    /// Connects to `addr` (`tcp@host:port`, `unix@/path` or `host:port`) with default options.
    pub async fn connect(addr: &str) -> Result<Self, Error> {
        Self::builder(addr).connect().await
    }

    /// Connects to `addr` with `options`.
    pub async fn connect_with(addr: &str, options: ClientOptions) -> Result<Self, Error> {
        Self::builder(addr).options(options).connect().await
    }

    /// A builder, for options and a push handler.
    pub fn builder(addr: &str) -> ClientBuilder<R> {
        ClientBuilder {
            addr: addr.to_owned(),
            options: ClientOptions::default(),
            push_handler: None,
        }
    }

    /// Sends a request whose payload is already serialized and waits for the reply. The
    /// connection-level primitive the typed calls and governance build on. Runs the call
    /// hooks of the client's plugins around it.
    pub async fn send(&self, request: &Request<'_>) -> Result<Reply, Error> {
        let plugins = &self.handle.shared.options.plugins;
        if plugins.is_empty() {
            return self.send_unhooked(request).await;
        }
        let started = R::now();
        let mut call = OutgoingCall::new(self.server_addr(), request, false);
        let (hooks, allowed) = plugins.before_call(&mut call);
        let result = match allowed {
            Ok(()) => {
                let sent = call.request(request);
                self.send_unhooked(&sent)
                    .instrument(hooks.span.clone())
                    .await
            }
            Err(refused) => Err(refused),
        };
        hooks.after_call(&call, result.as_ref().map(Some), R::now() - started);
        result
    }

    /// [`Self::send`] without the plugins.
    async fn send_unhooked(&self, request: &Request<'_>) -> Result<Reply, Error> {
        let shared = &*self.handle.shared;
        let mut request = *request;
        // With `max_in_flight`, a slot is held until this call is over (or dropped). The
        // wait for it, and for room in a full send buffer, counts against the deadline.
        let now = R::now();
        request.deadline = shared.options.deadline_of(&request, now);
        let _slot = shared.acquire_slot(request.deadline, now).await?;
        let (seq, reply) = shared.queue_call(&request, now).await?;
        let mut cancel = CancelOnDrop {
            shared,
            seq: Some(seq),
        };
        let result = R::recv(reply).await;
        cancel.seq = None;
        result.unwrap_or_else(|| Err(shared.lost()))
    }

    /// Queues a oneway request (no reply is expected). Runs the call hooks of the
    /// client's plugins around it; it ends when queued. Fails at once with the retryable
    /// [`Error::SendBufferFull`] when the send buffer is full (the server is not reading).
    pub fn send_oneway(&self, request: &Request<'_>) -> Result<(), Error> {
        let shared = &self.handle.shared;
        let queue = |request: &Request<'_>| {
            shared
                .with_conn(|conn| conn.handle_oneway(request, R::now()))
                .map(drop)
        };
        let plugins = &shared.options.plugins;
        if plugins.is_empty() {
            return queue(request);
        }
        let started = R::now();
        let mut call = OutgoingCall::new(self.server_addr(), request, true);
        let (hooks, allowed) = plugins.before_call(&mut call);
        let result = allowed.and_then(|()| hooks.span.in_scope(|| queue(&call.request(request))));
        hooks.after_call(&call, result.as_ref().map(|()| None), R::now() - started);
        result
    }

    /// The next message the server pushed; `None` once the connection is closed and the
    /// queue is empty. One reader at a time.
    pub async fn next_push(&self) -> Option<Push> {
        self.handle.shared.next_push().await
    }

    /// Closes the connection: pending calls fail with a retryable error, queued requests
    /// are still written (for at most `ClientOptions::close_timeout`; a server that does
    /// not read loses them), then the socket is shut down. Returns when that is done.
    pub async fn close(&self) {
        let shared = &self.handle.shared;
        shared.with_conn(|conn| conn.handle_close(R::now()));
        shared.writer_finished().await;
    }

    /// Whether the connection no longer takes calls. A governance layer drops such a
    /// client and dials again.
    pub fn is_closed(&self) -> bool {
        !self.handle.shared.inspect(Connection::is_open)
    }

    /// Why the connection stopped, once it has.
    pub fn close_reason(&self) -> Option<Disconnect> {
        self.handle.shared.inspect(Connection::close_reason)
    }

    /// The connection's counters.
    pub fn stats(&self) -> Stats {
        self.handle.shared.inspect(Connection::stats)
    }

    /// The server this client is connected to.
    pub fn server_addr(&self) -> &ServerAddr {
        &self.handle.shared.addr
    }

    /// The options the client was connected with.
    pub fn options(&self) -> &ClientOptions {
        &self.handle.shared.options
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.handle.shared.addr)
            .finish()
    }
}

impl<R: Runtime> std::fmt::Debug for ClientBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("addr", &self.addr)
            .field("options", &self.options)
            .field("push_handler", &self.push_handler.is_some())
            .finish()
    }
}

/// Frees the pending slot of a call whose future is dropped before its reply.
struct CancelOnDrop<'a, R: Runtime> {
    shared: &'a Shared<R>,
    seq: Option<u64>,
}

impl<R: Runtime> Drop for CancelOnDrop<'_, R> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq {
            self.shared.with_conn(|conn| conn.handle_cancel(seq));
        }
    }
}

/// The wall clock now, for heartbeat payloads (rpcx-go sends its `UnixNano`).
fn unix_nanos() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}
