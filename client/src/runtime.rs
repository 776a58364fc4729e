//! The runtime trait the client is written over: the few things one connection needs from
//! an async runtime. [`Client`](crate::Client), its builder, the reader and writer tasks and
//! the in-flight cap are written once on top of it; the tokio and glommio modules only
//! implement it.
//!
//! What it owns: a shared pointer and a lock (how handles and tasks share a connection),
//! a oneshot (how a call's caller is woken), a semaphore (the in-flight cap), a clock and a
//! timer, sockets and spawning the connection's two tasks. What it never does: protocol
//! logic, which lives in the sans-IO core ([`crate::conn`]), or deciding whom to wake
//! (the core's [`Events`](crate::conn::Events) say).
//!
//! The trait is sealed: its implementations are [`Tokio`](crate::tokio::Tokio) (`Arc` and
//! a `Mutex`: a `Send + Sync` client) and [`Glommio`](crate::glommio::Glommio) (`Rc` and a
//! `RefCell`: a single-threaded client). Its items are how the client is built, not an API
//! to call, and are hidden from the documentation.

use std::future::Future;
use std::io;
use std::ops::Deref;
use std::time::Instant;

use crate::addr::ServerAddr;
use crate::client::Shared;
use crate::message::Push;
use crate::tls::Connector;

pub(crate) mod sealed {
    /// Keeps [`Runtime`](super::Runtime) implemented by this crate only.
    pub trait Sealed {}
}

/// The async runtime a [`Client`](crate::Client) runs on: [`Tokio`](crate::tokio::Tokio)
/// or [`Glommio`](crate::glommio::Glommio). Sealed; see the [module docs](self).
pub trait Runtime: sealed::Sealed + Sized + 'static {
    /// How client handles and the connection's tasks share it: `Arc` or `Rc`.
    #[doc(hidden)]
    type Shared<T>: Clone + Deref<Target = T>;
    /// Puts `value` behind a [`Self::Shared`].
    #[doc(hidden)]
    fn share<T>(value: T) -> Self::Shared<T>;

    /// The lock around the connection core: a `Mutex` or a `RefCell`. It is held only for
    /// non-blocking calls on the core, never across an await.
    #[doc(hidden)]
    type Lock<T>;
    /// A lock holding `value`.
    #[doc(hidden)]
    fn new_lock<T>(value: T) -> Self::Lock<T>;
    /// Runs `f` with the lock held.
    #[doc(hidden)]
    fn with_lock<T, U>(lock: &Self::Lock<T>, f: impl FnOnce(&mut T) -> U) -> U;

    /// The sending half of a oneshot: completes one call.
    #[doc(hidden)]
    type Sender<T>;
    /// The receiving half of a oneshot: the caller waits on it.
    #[doc(hidden)]
    type Receiver<T>;
    /// A new oneshot.
    #[doc(hidden)]
    fn oneshot<T>() -> (Self::Sender<T>, Self::Receiver<T>);
    /// Sends `value`; a receiver that is gone is ignored.
    #[doc(hidden)]
    fn send<T>(sender: Self::Sender<T>, value: T);
    /// The sent value, or `None` if the sender was dropped without sending.
    #[doc(hidden)]
    fn recv<T>(receiver: Self::Receiver<T>) -> impl Future<Output = Option<T>>;

    /// A counting semaphore, for `ClientOptions::max_in_flight`.
    #[doc(hidden)]
    type Semaphore;
    /// One unit of a [`Self::Semaphore`], given back on drop.
    #[doc(hidden)]
    type Permit<'a>;
    /// A semaphore with `permits` units.
    #[doc(hidden)]
    fn semaphore(permits: usize) -> Self::Semaphore;
    /// Waits for a unit; `None` if the semaphore was closed.
    #[doc(hidden)]
    fn acquire(semaphore: &Self::Semaphore) -> impl Future<Output = Option<Self::Permit<'_>>>;

    /// The runtime's clock (tokio's can be paused in tests).
    #[doc(hidden)]
    fn now() -> Instant;
    /// Sleeps until `deadline` of [`Self::now`]'s clock.
    #[doc(hidden)]
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()>;

    /// A connected socket.
    #[doc(hidden)]
    type Stream;
    /// Opens a socket to `addr` (the caller bounds it with the connect timeout).
    #[doc(hidden)]
    fn dial(addr: &ServerAddr, nodelay: bool) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Runs a TLS handshake on a connected socket (`Socket::Tcp`) and returns the socket as
    /// `Socket::Tls` (the caller bounds it with the connect timeout).
    #[doc(hidden)]
    fn start_tls(
        stream: Self::Stream,
        connector: Connector,
    ) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Spawns the connection's reader and writer tasks on the current runtime.
    #[doc(hidden)]
    fn spawn_tasks(stream: Self::Stream, shared: Self::Shared<Shared<Self>>);

    /// What a push handler is: `dyn Fn(Push) + Send + Sync` or `dyn Fn(Push)`.
    #[doc(hidden)]
    type PushHandler: ?Sized + Fn(Push);
}
