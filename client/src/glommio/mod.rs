//! The glommio driver: a single-threaded, `Rc`-based [`Client`] for code running on a
//! glommio executor (inside engine shards, in the bench harness). Same methods as the
//! tokio client; a reader task (which also runs the connection's timer) and a writer task
//! are spawned on the current executor.
//!
//! Reads go straight into the connection's own `BytesMut` (glommio's non-buffered stream
//! does a plain `recv` into it), and frames are split off in place.

mod io;
mod sync;

use std::cell::{RefCell, RefMut};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::conn::{Connection, Stats};
use crate::error::{Disconnect, Error};
use crate::message::{Push, Reply, Request};
use crate::options::ClientOptions;
use crate::typed::typed_calls;
use crate::ServerAddr;
use sync::{Done, Notify};

type Waiter = sync::Sender<Result<Reply, Error>>;
type PushHandler = Box<dyn Fn(Push)>;

/// A client connection for glommio. Cheap to clone within its executor; the connection
/// closes when the last clone is dropped (or on [`Client::close`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), ringrpc_client::Error> {
/// use ringrpc_client::{glommio::Client, Serde};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Args { A: i64, B: i64 }
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Reply { C: i64 }
///
/// let client = Client::connect("tcp@127.0.0.1:8972").await?;
/// let Serde(reply): Serde<Reply> = client.call("Arith", "Mul", &Serde(Args { A: 3, B: 4 })).await?;
/// assert_eq!(reply.C, 12);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    handle: Rc<Handle>,
}

/// Owned by user clones only: the connection closes when the last one goes.
struct Handle {
    shared: Rc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.with_conn(Connection::handle_close);
    }
}

/// Connects with options and an optional push handler.
pub struct Builder {
    addr: String,
    options: ClientOptions,
    push_handler: Option<PushHandler>,
}

impl Builder {
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Calls `handler` for every server push, on the reader task (keep it short). Without
    /// a handler, pushes queue up for [`Client::next_push`].
    pub fn on_push(mut self, handler: impl Fn(Push) + 'static) -> Self {
        self.push_handler = Some(Box::new(handler));
        self
    }

    /// Connects and spawns the connection's tasks on the current glommio executor.
    pub async fn connect(self) -> Result<Client, Error> {
        let addr = ServerAddr::parse(&self.addr)?;
        let stream = io::connect(&addr, &self.options).await?;
        let conn = Connection::new(self.options.clone(), Instant::now(), io::unix_nanos());
        let shared = Rc::new(Shared {
            state: RefCell::new(State {
                conn,
                push_waker: None,
            }),
            slots: self
                .options
                .max_in_flight
                .map(|n| glommio::sync::Semaphore::new(n.max(1) as u64)),
            options: self.options,
            addr,
            writer_wake: Notify::default(),
            reader_wake: Notify::default(),
            finished: Done::default(),
            push_handler: self.push_handler,
        });
        io::spawn(stream, shared.clone());
        Ok(Client {
            handle: Rc::new(Handle { shared }),
        })
    }
}

impl Client {
    /// Connects to `addr` (`tcp@host:port`, `unix@/path` or `host:port`) with default options.
    pub async fn connect(addr: &str) -> Result<Self, Error> {
        Self::builder(addr).connect().await
    }

    pub async fn connect_with(addr: &str, options: ClientOptions) -> Result<Self, Error> {
        Self::builder(addr).options(options).connect().await
    }

    pub fn builder(addr: &str) -> Builder {
        Builder {
            addr: addr.to_owned(),
            options: ClientOptions::default(),
            push_handler: None,
        }
    }

    typed_calls!();

    /// Sends a request whose payload is already serialized and waits for the reply. The
    /// connection-level primitive the typed calls and governance build on.
    pub async fn send(&self, request: &Request<'_>) -> Result<Reply, Error> {
        let shared = &self.handle.shared;
        let mut request = *request;
        // With `max_in_flight`, a slot is held until this call is over (or dropped).
        let _slot = match &shared.slots {
            Some(slots) => {
                let now = Instant::now();
                request.deadline = shared.options.deadline_of(&request, now);
                let acquire = slots.acquire_permit(1);
                let permit = match request.deadline {
                    Some(deadline) => {
                        let wait = deadline.saturating_duration_since(now);
                        glommio::timer::timeout(wait, acquire)
                            .await
                            .map_err(|e| match e {
                                glommio::GlommioError::TimedOut(_) => Error::Timeout {
                                    timeout_ms: Error::timeout_ms(deadline, now),
                                },
                                _ => shared.lost(),
                            })?
                    }
                    None => acquire.await.map_err(|_| shared.lost())?,
                };
                Some(permit)
            }
            None => None,
        };
        let (waiter, reply) = sync::oneshot();
        let submitted =
            shared.with_conn(|conn| conn.handle_call(&request, waiter, Instant::now()))?;
        if submitted.wake_timer {
            shared.reader_wake.notify();
        }
        let mut cancel = CancelOnDrop {
            shared,
            seq: Some(submitted.seq),
        };
        let result = reply.await;
        cancel.seq = None;
        result.unwrap_or_else(|()| Err(shared.lost()))
    }

    /// Queues a oneway request (no reply is expected).
    pub fn send_oneway(&self, request: &Request<'_>) -> Result<(), Error> {
        let shared = &self.handle.shared;
        shared
            .with_conn(|conn| conn.handle_oneway(request, Instant::now()))
            .map(drop)
    }

    /// The next message the server pushed; `None` once the connection is closed and the
    /// queue is empty. One reader at a time.
    pub async fn next_push(&self) -> Option<Push> {
        let shared = &self.handle.shared;
        poll_fn(|cx| {
            let mut state = shared.state.borrow_mut();
            if let Some(push) = state.conn.poll_push() {
                return Poll::Ready(Some(push));
            }
            if !state.conn.is_open() {
                return Poll::Ready(None);
            }
            state.push_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Closes the connection: pending calls fail with a retryable error, queued requests
    /// are still written, then the socket is shut down. Returns when that is done.
    pub async fn close(&self) {
        let shared = &self.handle.shared;
        shared.with_conn(Connection::handle_close);
        shared.finished.wait().await;
    }

    /// Whether the connection no longer takes calls. A governance layer drops such a
    /// client and dials again.
    pub fn is_closed(&self) -> bool {
        !self.handle.shared.state.borrow().conn.is_open()
    }

    /// Why the connection stopped, once it has.
    pub fn close_reason(&self) -> Option<Disconnect> {
        self.handle.shared.state.borrow().conn.close_reason()
    }

    pub fn stats(&self) -> Stats {
        self.handle.shared.state.borrow().conn.stats()
    }

    pub fn server_addr(&self) -> &ServerAddr {
        &self.handle.shared.addr
    }

    pub fn options(&self) -> &ClientOptions {
        &self.handle.shared.options
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.handle.shared.addr)
            .finish()
    }
}

/// Frees the pending slot of a call whose future is dropped before its reply.
struct CancelOnDrop<'a> {
    shared: &'a Shared,
    seq: Option<u64>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq {
            self.shared.with_conn(|conn| conn.handle_cancel(seq));
        }
    }
}

struct State {
    conn: Connection<Waiter>,
    push_waker: Option<Waker>,
}

/// What the client handles and the two tasks share.
struct Shared {
    state: RefCell<State>,
    options: ClientOptions,
    addr: ServerAddr,
    writer_wake: Notify,
    /// Wakes the reader to re-arm its timer or to stop.
    reader_wake: Notify,
    finished: Done,
    push_handler: Option<PushHandler>,
    /// Call slots when `ClientOptions::max_in_flight` is set.
    slots: Option<glommio::sync::Semaphore>,
}

impl Shared {
    /// Runs `f` on the core, then, with the borrow released: completes finished calls,
    /// delivers pushes, and wakes the writer (bytes to send, or closed) and the reader.
    fn with_conn<R>(&self, f: impl FnOnce(&mut Connection<Waiter>) -> R) -> R {
        let mut completions = Vec::new();
        let mut pushes = Vec::new();
        let (result, push_waker, wake_writer, open) = {
            let mut state: RefMut<'_, State> = self.state.borrow_mut();
            let result = f(&mut state.conn);
            let conn = &mut state.conn;
            completions.extend(std::iter::from_fn(|| conn.poll_completion()));
            if self.push_handler.is_some() {
                pushes.extend(std::iter::from_fn(|| conn.poll_push()));
            }
            let open = conn.is_open();
            let wake_push = !open || (self.push_handler.is_none() && conn.has_push());
            let wake_writer = conn.has_transmit() || conn.is_closed();
            let push_waker = if wake_push {
                state.push_waker.take()
            } else {
                None
            };
            (result, push_waker, wake_writer, open)
        };
        // Pushes first: a push the server sent before a reply is seen before that
        // reply wakes its caller.
        if let Some(handler) = &self.push_handler {
            pushes.into_iter().for_each(handler);
        }
        for (waiter, result) in completions {
            waiter.send(result);
        }
        if let Some(waker) = push_waker {
            waker.wake();
        }
        if wake_writer {
            self.writer_wake.notify();
        }
        if !open {
            self.reader_wake.notify();
        }
        result
    }

    fn disconnect(&self, reason: Disconnect) {
        self.with_conn(|conn| conn.handle_disconnect(reason));
    }

    /// The error for a call whose waiter vanished with the connection.
    fn lost(&self) -> Error {
        let reason = self.state.borrow().conn.close_reason();
        Error::Disconnected(reason.unwrap_or(Disconnect::Closed))
    }

    fn is_closed(&self) -> bool {
        self.state.borrow().conn.is_closed()
    }
}
