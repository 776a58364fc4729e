//! The glommio runtime: a single-threaded, `Rc`-based [`Client`] for code running on a
//! glommio executor (inside engine shards, in the bench harness). A reader task (which also
//! runs the connection's timer) and a writer task are spawned on the current executor.
//!
//! What it owns: the [`Runtime`] primitives on glommio (`Rc`, a `RefCell`, a
//! single-threaded oneshot, glommio's semaphore, timer and sockets). Reads go straight into
//! the connection's own `BytesMut` (glommio's non-buffered stream does a plain `recv` into
//! it), and frames are split off in place. What it never does: anything the client does
//! the same on every runtime ([`crate::Client`] holds that).

mod sync;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::ToSocketAddrs;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use glommio::net::{TcpStream, UnixStream};

use crate::client::{read_loop, write_loop, ReadHalf, Shared, Socket, WriteHalf};
use crate::conn::RecvBuf;
use crate::message::Push;
use crate::runtime::{sealed, Runtime};
use crate::tls::Connector;
use crate::ServerAddr;

/// A client connection for glommio: single-threaded (`Rc`), cheap to clone within its
/// executor; the connection closes when the last clone is dropped (or on
/// [`Client::close`]).
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
pub type Client = crate::Client<Glommio>;

/// Connects a glommio [`Client`] with options and an optional push handler.
pub type Builder = crate::ClientBuilder<Glommio>;

/// The glommio [`Runtime`]: `Rc`, `RefCell`, a single-threaded oneshot, glommio's
/// semaphore, timer and sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Glommio;

impl sealed::Sealed for Glommio {}

/// Largest single read. Reads go into zero-filled space of the receive buffer (no unsafe
/// for uninitialised memory), and every poll of a read fills its window (a poll that finds
/// nothing too), so the window is what the receive buffer's adaptive window asks for: a
/// few KiB for one reply at a time; at most this much for the rest of a large frame, whose
/// capacity is still reserved at once.
const READ_WINDOW_MAX: usize = 256 << 10;

impl Runtime for Glommio {
    type Shared<T> = Rc<T>;
    type Lock<T> = RefCell<T>;
    type Sender<T> = sync::Sender<T>;
    type Receiver<T> = sync::Receiver<T>;
    type Semaphore = glommio::sync::Semaphore;
    type Permit<'a> = glommio::sync::Permit<'a>;
    type Stream = Stream;
    type PushHandler = dyn Fn(Push);

    fn share<T>(value: T) -> Rc<T> {
        Rc::new(value)
    }

    fn new_lock<T>(value: T) -> RefCell<T> {
        RefCell::new(value)
    }

    fn with_lock<T, U>(lock: &RefCell<T>, f: impl FnOnce(&mut T) -> U) -> U {
        f(&mut lock.borrow_mut())
    }

    fn oneshot<T>() -> (sync::Sender<T>, sync::Receiver<T>) {
        sync::oneshot()
    }

    fn send<T>(sender: sync::Sender<T>, value: T) {
        sender.send(value);
    }

    async fn recv<T>(receiver: sync::Receiver<T>) -> Option<T> {
        receiver.await.ok()
    }

    fn semaphore(permits: usize) -> glommio::sync::Semaphore {
        glommio::sync::Semaphore::new(u64::try_from(permits.max(1)).unwrap_or(u64::MAX))
    }

    async fn acquire(semaphore: &glommio::sync::Semaphore) -> Option<glommio::sync::Permit<'_>> {
        semaphore.acquire_permit(1).await.ok()
    }

    fn now() -> Instant {
        Instant::now()
    }

    async fn sleep_until(deadline: Instant) {
        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
    }

    /// Host names are resolved with the blocking resolver; pass IP addresses on a
    /// latency-sensitive executor.
    fn dial(addr: &ServerAddr, nodelay: bool) -> impl Future<Output = io::Result<Stream>> {
        let addr = addr.clone();
        async move {
            match addr {
                ServerAddr::Tcp(host_port) => {
                    let socket_addr = host_port.to_socket_addrs()?.next().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "name resolved to no address")
                    })?;
                    let stream = TcpStream::connect(socket_addr).await?;
                    stream.set_nodelay(nodelay)?;
                    Ok(Socket::Tcp(stream))
                }
                ServerAddr::Unix(path) => Ok(Socket::Unix(UnixStream::connect(path).await?)),
            }
        }
    }

    async fn start_tls(stream: Stream, connector: Connector) -> io::Result<Stream> {
        let Socket::Tcp(tcp) = stream else {
            return Err(io::Error::other("TLS runs over TCP only"));
        };
        let tls = futures_rustls::TlsConnector::from(connector.config);
        Ok(Socket::Tls(tls.connect(connector.server_name, tcp).await?))
    }

    fn spawn_tasks(stream: Stream, shared: Rc<Shared<Glommio>>) {
        fn start<S: AsyncRead + AsyncWrite + Unpin + 'static>(
            stream: S,
            shared: Rc<Shared<Glommio>>,
        ) {
            let stream = Rc::new(RefCell::new(stream));
            glommio::spawn_local(read_loop::<Glommio, _>(
                Half(stream.clone()),
                shared.clone(),
            ))
            .detach();
            glommio::spawn_local(write_loop::<Glommio, _>(Half(stream), shared)).detach();
        }
        match stream {
            Socket::Tcp(stream) => start(stream, shared),
            Socket::Unix(stream) => start(stream, shared),
            Socket::Tls(stream) => start(stream, shared),
        }
    }
}

/// A connected glommio socket.
type Stream = Socket<TcpStream, UnixStream, futures_rustls::client::TlsStream<TcpStream>>;

impl Builder {
    /// Calls `handler` for every server push, on the reader task (keep it short). Without
    /// a handler, pushes queue up for [`Client::next_push`].
    pub fn on_push(self, handler: impl Fn(Push) + 'static) -> Self {
        self.push_handler(Box::new(handler))
    }
}

/// One task's handle on the socket both tasks use. Each poll borrows the socket only for
/// its own duration, and a single-threaded executor never runs two polls at once.
struct Half<S>(Rc<RefCell<S>>);

impl<S: AsyncRead + Unpin> ReadHalf for Half<S> {
    async fn read_into(&mut self, recv: &mut RecvBuf) -> io::Result<usize> {
        let window = recv.reserve_read().min(READ_WINDOW_MAX);
        let buf = recv.buf_mut();
        poll_fn(|cx| poll_read_into(&mut *self.0.borrow_mut(), buf, window, cx)).await
    }
}

impl<S: AsyncWrite + Unpin> WriteHalf for Half<S> {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        Writer(&self.0).write_all(bytes).await?;
        // A no-op on a plain socket; over TLS it sends records a full socket buffer held
        // back (the write returns once the plaintext is taken).
        Writer(&self.0).flush().await
    }

    async fn shutdown(&mut self) {
        let _ = Writer(&self.0).close().await;
    }
}

/// The socket as an `AsyncWrite`, borrowed for each poll.
struct Writer<'a, S>(&'a RefCell<S>);

impl<S: AsyncWrite + Unpin> AsyncWrite for Writer<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_close(cx)
    }
}

/// Reads up to `window` bytes onto the end of `buf`, in place.
fn poll_read_into<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    window: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    buf.resize(len + window, 0);
    let result = Pin::new(reader).poll_read(cx, &mut buf[len..]);
    let read = match &result {
        Poll::Ready(Ok(read)) => *read,
        _ => 0,
    };
    buf.truncate(len + read);
    result
}
