//! The tokio driver: a `Send + Sync` [`Client`] over one connection, driven by a reader task
//! (which also runs the connection's timer) and a writer task.
//!
//! The [`Connection`] core sits behind a `std::sync::Mutex` held only for its non-blocking
//! `handle_*`/`poll_*` calls; callers wait on a oneshot, never on the lock. Waking callers,
//! running the push handler and notifying tasks all happen after the lock is released.
//!
//! Connect from inside a tokio runtime with I/O and time enabled (`enable_all`); the two
//! tasks are spawned on it.

mod io;

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Instant;

use ::tokio::sync::{oneshot, Notify, Semaphore};
use ::tokio::time::timeout_at;

use crate::conn::{Connection, Stats};
use crate::error::{Disconnect, Error};
use crate::message::{Push, Reply, Request};
use crate::options::ClientOptions;
use crate::typed::typed_calls;
use crate::ServerAddr;

type Waiter = oneshot::Sender<Result<Reply, Error>>;
type PushHandler = Box<dyn Fn(Push) + Send + Sync>;

/// A client connection for tokio. Cheap to clone; all clones share the connection, which
/// closes when the last clone is dropped (or on [`Client::close`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), ringrpc_client::Error> {
/// use ringrpc_client::{tokio::Client, Serde};
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
    handle: Arc<Handle>,
}

/// Owned by user clones only: the connection closes when the last one goes.
struct Handle {
    shared: Arc<Shared>,
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
    pub fn on_push(mut self, handler: impl Fn(Push) + Send + Sync + 'static) -> Self {
        self.push_handler = Some(Box::new(handler));
        self
    }

    /// Connects and starts the connection's tasks on the current tokio runtime.
    pub async fn connect(self) -> Result<Client, Error> {
        let addr = ServerAddr::parse(&self.addr)?;
        let stream = io::connect(&addr, &self.options).await?;
        let now = Instant::now();
        let conn = Connection::new(self.options.clone(), now, io::unix_nanos());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                conn,
                push_waker: None,
            }),
            slots: self.options.max_in_flight.map(|n| Semaphore::new(n.max(1))),
            options: self.options,
            addr,
            writer_wake: Notify::new(),
            reader_wake: Notify::new(),
            finished: Notify::new(),
            writer_done: AtomicBool::new(false),
            push_handler: self.push_handler,
        });
        io::spawn(stream, shared.clone());
        Ok(Client {
            handle: Arc::new(Handle { shared }),
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
                let acquire = slots.acquire();
                let permit = match request.deadline {
                    Some(deadline) => {
                        timeout_at(deadline.into(), acquire)
                            .await
                            .map_err(|_| Error::Timeout {
                                timeout_ms: Error::timeout_ms(deadline, now),
                            })?
                    }
                    None => acquire.await,
                };
                Some(permit.map_err(|_| shared.lost())?)
            }
            None => None,
        };
        let (waiter, reply) = oneshot::channel();
        let submitted =
            shared.with_conn(|conn| conn.handle_call(&request, waiter, Instant::now()))?;
        if submitted.wake_timer {
            shared.reader_wake.notify_one();
        }
        let mut cancel = CancelOnDrop {
            shared,
            seq: Some(submitted.seq),
        };
        let result = reply.await;
        cancel.seq = None;
        result.unwrap_or_else(|_| Err(shared.lost()))
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
            let mut state = shared.lock();
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
        loop {
            let finished = shared.finished.notified();
            ::tokio::pin!(finished);
            finished.as_mut().enable();
            if shared.writer_done.load(Ordering::Acquire) {
                return;
            }
            finished.await;
        }
    }

    /// Whether the connection no longer takes calls. A governance layer drops such a
    /// client and dials again.
    pub fn is_closed(&self) -> bool {
        !self.handle.shared.lock().conn.is_open()
    }

    /// Why the connection stopped, once it has.
    pub fn close_reason(&self) -> Option<Disconnect> {
        self.handle.shared.lock().conn.close_reason()
    }

    pub fn stats(&self) -> Stats {
        self.handle.shared.lock().conn.stats()
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
    state: Mutex<State>,
    options: ClientOptions,
    addr: ServerAddr,
    writer_wake: Notify,
    /// Wakes the reader to re-arm its timer or to stop.
    reader_wake: Notify,
    finished: Notify,
    writer_done: AtomicBool,
    push_handler: Option<PushHandler>,
    /// Call slots when `ClientOptions::max_in_flight` is set.
    slots: Option<Semaphore>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock only guards non-panicking state-machine calls; if a panic ever
        // poisoned it, the state is still consistent enough to fail calls with.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the core, then, with the lock released: completes finished calls,
    /// delivers pushes, and wakes the writer (bytes to send, or closed) and the reader.
    fn with_conn<R>(&self, f: impl FnOnce(&mut Connection<Waiter>) -> R) -> R {
        let mut completions = Vec::new();
        let mut pushes = Vec::new();
        let (result, push_waker, wake_writer, open) = {
            let mut state = self.lock();
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
            let _ = waiter.send(result);
        }
        if let Some(waker) = push_waker {
            waker.wake();
        }
        if wake_writer {
            self.writer_wake.notify_one();
        }
        if !open {
            self.reader_wake.notify_one();
        }
        result
    }

    fn disconnect(&self, reason: Disconnect) {
        self.with_conn(|conn| conn.handle_disconnect(reason));
    }

    /// The error for a call whose waiter vanished with the connection.
    fn lost(&self) -> Error {
        Error::Disconnected(
            self.lock()
                .conn
                .close_reason()
                .unwrap_or(Disconnect::Closed),
        )
    }

    fn is_closed(&self) -> bool {
        self.lock().conn.is_closed()
    }
}
