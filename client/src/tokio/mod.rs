//! The tokio runtime: a `Send + Sync` [`Client`] whose connection is driven by a reader
//! task (which also runs the connection's timer) and a writer task spawned on the current
//! tokio runtime. Connect from inside a runtime with I/O and time enabled (`enable_all`).
//!
//! What it owns: the [`Runtime`] primitives on tokio (`Arc`, a `std::sync::Mutex` held only
//! for the core's non-blocking calls, tokio's oneshot, semaphore and timer, tokio sockets).
//! What it never does: anything the client does the same on every runtime
//! ([`crate::Client`] holds that).

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::{TcpStream, UnixStream};
use ::tokio::sync::{oneshot, Semaphore, SemaphorePermit};

use crate::client::{read_loop, write_loop, ReadHalf, Shared, Socket, WriteHalf};
use crate::conn::RecvBuf;
use crate::message::Push;
use crate::runtime::{sealed, Runtime};
use crate::tls::Connector;
use crate::ServerAddr;

/// A client connection for tokio: `Send + Sync`, cheap to clone; all clones share the
/// connection, which closes when the last clone is dropped (or on [`Client::close`]).
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
pub type Client = crate::Client<Tokio>;

/// Connects a tokio [`Client`] with options and an optional push handler.
pub type Builder = crate::ClientBuilder<Tokio>;

/// The tokio [`Runtime`]: `Arc`, `Mutex`, tokio's oneshot, semaphore, timer and sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl sealed::Sealed for Tokio {}

impl Runtime for Tokio {
    type Shared<T> = Arc<T>;
    type Lock<T> = Mutex<T>;
    type Sender<T> = oneshot::Sender<T>;
    type Receiver<T> = oneshot::Receiver<T>;
    type Semaphore = Semaphore;
    type Permit<'a> = SemaphorePermit<'a>;
    type Stream = Stream;
    type PushHandler = dyn Fn(Push) + Send + Sync;

    fn share<T>(value: T) -> Arc<T> {
        Arc::new(value)
    }

    fn new_lock<T>(value: T) -> Mutex<T> {
        Mutex::new(value)
    }

    fn with_lock<T, U>(lock: &Mutex<T>, f: impl FnOnce(&mut T) -> U) -> U {
        // The lock only guards non-panicking state-machine calls; if a panic ever
        // poisoned it, the state is still consistent enough to fail calls with.
        f(&mut lock.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn oneshot<T>() -> (oneshot::Sender<T>, oneshot::Receiver<T>) {
        oneshot::channel()
    }

    fn send<T>(sender: oneshot::Sender<T>, value: T) {
        let _ = sender.send(value);
    }

    async fn recv<T>(receiver: oneshot::Receiver<T>) -> Option<T> {
        receiver.await.ok()
    }

    fn semaphore(permits: usize) -> Semaphore {
        Semaphore::new(permits.max(1))
    }

    async fn acquire(semaphore: &Semaphore) -> Option<SemaphorePermit<'_>> {
        semaphore.acquire().await.ok()
    }

    fn now() -> Instant {
        ::tokio::time::Instant::now().into_std()
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> {
        ::tokio::time::sleep_until(deadline.into())
    }

    fn dial(addr: &ServerAddr, nodelay: bool) -> impl Future<Output = io::Result<Stream>> {
        let addr = addr.clone();
        async move {
            match addr {
                ServerAddr::Tcp(host_port) => {
                    let stream = TcpStream::connect(host_port.as_str()).await?;
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
        let tls = tokio_rustls::TlsConnector::from(connector.config);
        Ok(Socket::Tls(tls.connect(connector.server_name, tcp).await?))
    }

    fn spawn_tasks(stream: Stream, shared: Arc<Shared<Tokio>>) {
        fn start<H, W>(halves: (H, W), shared: Arc<Shared<Tokio>>)
        where
            H: AsyncRead + Unpin + Send + 'static,
            W: AsyncWrite + Unpin + Send + 'static,
        {
            ::tokio::spawn(read_loop::<Tokio, _>(Half(halves.0), shared.clone()));
            ::tokio::spawn(write_loop::<Tokio, _>(Half(halves.1), shared));
        }
        match stream {
            Socket::Tcp(stream) => start(stream.into_split(), shared),
            Socket::Unix(stream) => start(stream.into_split(), shared),
            Socket::Tls(stream) => start(::tokio::io::split(stream), shared),
        }
    }
}

/// A connected tokio socket.
type Stream = Socket<TcpStream, UnixStream, tokio_rustls::client::TlsStream<TcpStream>>;

impl Builder {
    /// Calls `handler` for every server push, on the reader task (keep it short). Without
    /// a handler, pushes queue up for [`Client::next_push`].
    pub fn on_push(self, handler: impl Fn(Push) + Send + Sync + 'static) -> Self {
        self.push_handler(Box::new(handler))
    }
}

/// One owned half of a split tokio socket.
pub(crate) struct Half<T>(pub(crate) T);

impl<T: AsyncRead + Unpin> ReadHalf for Half<T> {
    async fn read_into(&mut self, recv: &mut RecvBuf) -> io::Result<usize> {
        recv.reserve_read();
        self.0.read_buf(recv.buf_mut()).await
    }
}

impl<T: AsyncWrite + Unpin> WriteHalf for Half<T> {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).await?;
        // A no-op on a plain socket; over TLS it sends records a full socket buffer held
        // back (the write returns once the plaintext is taken).
        self.0.flush().await
    }

    async fn shutdown(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::Client;
    use crate::Request;

    /// Compiles only if the futures of a tokio client's calls can cross threads (so
    /// `tokio::spawn` takes them).
    #[allow(dead_code)]
    fn calls_are_send(client: &Client) {
        fn send_sync<T: Send + Sync>(_: T) {}
        send_sync(client.call::<_, Bytes>("Echo", "Echo", &Bytes::new()));
        send_sync(client.send(&Request::new("Echo", "Echo", b"")));
        send_sync(client.next_push());
        send_sync(client.close());
    }

    #[test]
    fn the_client_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Client>();
    }
}
