//! Sockets and the two tasks of a glommio connection.

use std::cell::RefCell;
use std::future::{pending, poll_fn};
use std::io;
use std::net::ToSocketAddrs;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures_lite::future::or;
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use glommio::net::{TcpStream, UnixStream};

use super::Shared;
use crate::conn::RecvBuf;
use crate::error::{Disconnect, Error};
use crate::options::ClientOptions;
use crate::ServerAddr;

/// Largest single read. Reads go into zero-filled space of the receive buffer (no unsafe
/// for uninitialised memory), so the window is kept small enough that filling it is cheap
/// next to the `recv` itself; the capacity for a large frame is still reserved at once.
const READ_WINDOW_MAX: usize = 256 << 10;

pub(super) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Opens the socket within `options.connect_timeout`. Host names are resolved with the
/// blocking resolver; pass IP addresses on a latency-sensitive executor.
pub(super) async fn connect(addr: &ServerAddr, options: &ClientOptions) -> Result<Stream, Error> {
    let failed = |source: io::Error| Error::Connect {
        addr: addr.to_string(),
        cause: Arc::new(source),
    };
    let timed_out = || Error::ConnectTimeout {
        addr: addr.to_string(),
        timeout_ms: u64::try_from(options.connect_timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let classify = |error: io::Error| match error.kind() {
        io::ErrorKind::TimedOut => timed_out(),
        _ => failed(error),
    };
    let connect_timeout = options.connect_timeout.max(Duration::from_millis(1));
    match addr {
        ServerAddr::Tcp(host_port) => {
            let socket_addr = host_port
                .to_socket_addrs()
                .map_err(failed)?
                .next()
                .ok_or_else(|| {
                    failed(io::Error::new(
                        io::ErrorKind::NotFound,
                        "name resolved to no address",
                    ))
                })?;
            let stream = TcpStream::connect_timeout(socket_addr, connect_timeout)
                .await
                .map_err(|e| classify(e.into()))?;
            stream
                .set_nodelay(options.nodelay)
                .map_err(|e| failed(e.into()))?;
            Ok(Stream::Tcp(stream))
        }
        ServerAddr::Unix(path) => {
            let connect = async { Some(UnixStream::connect(path).await) };
            let timer = async {
                glommio::timer::sleep(connect_timeout).await;
                None
            };
            match or(connect, timer).await {
                Some(Ok(stream)) => Ok(Stream::Unix(stream)),
                Some(Err(error)) => Err(classify(error.into())),
                None => Err(timed_out()),
            }
        }
    }
}

/// Spawns the reader and writer tasks of a connected socket on the current executor.
pub(super) fn spawn(stream: Stream, shared: Rc<Shared>) {
    fn start<S: AsyncRead + AsyncWrite + Unpin + 'static>(stream: S, shared: Rc<Shared>) {
        let stream = Rc::new(RefCell::new(stream));
        glommio::spawn_local(read_loop(Half(stream.clone()), shared.clone())).detach();
        glommio::spawn_local(write_loop(Half(stream), shared)).detach();
    }
    match stream {
        Stream::Tcp(stream) => start(stream, shared),
        Stream::Unix(stream) => start(stream, shared),
    }
}

pub(super) fn unix_nanos() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

/// One task's handle on the socket both tasks use. Each poll borrows the socket only for
/// its own duration, and a single-threaded executor never runs two polls at once.
struct Half<S>(Rc<RefCell<S>>);

impl<S: AsyncRead + Unpin> AsyncRead for Half<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Half<S> {
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

enum Event {
    Read(io::Result<usize>),
    Timer,
    Woken,
}

/// Reads frames into the core and runs its timer, until the connection stops being open.
async fn read_loop<S: AsyncRead + Unpin>(mut reader: Half<S>, shared: Rc<Shared>) {
    let mut recv = RecvBuf::new(shared.options.limits);
    let mut frames = Vec::new();
    // Each round: fire what is due (so deadlines and heartbeats keep their time even
    // while replies arrive back to back), then wait for bytes, the timer or a wake-up.
    while let Some(next_timeout) = shared.with_conn(|conn| conn.handle_due_timers(Instant::now())) {
        let window = recv.reserve_read().min(READ_WINDOW_MAX);
        let event = {
            let buf = recv.buf_mut();
            let read = async {
                Event::Read(poll_fn(|cx| poll_read_into(&mut reader, buf, window, cx)).await)
            };
            let timer = async {
                match next_timeout {
                    Some(at) => {
                        glommio::timer::sleep(at.saturating_duration_since(Instant::now())).await
                    }
                    None => pending().await,
                }
                Event::Timer
            };
            let woken = async {
                shared.reader_wake.notified().await;
                Event::Woken
            };
            or(read, or(timer, woken)).await
        };
        match event {
            Event::Read(Ok(0)) => shared.disconnect(Disconnect::Eof),
            Event::Read(Ok(_)) => {
                let decoded = std::iter::from_fn(|| recv.decode().transpose())
                    .try_for_each(|frame| frame.map(|frame| frames.push(frame)));
                shared.with_conn(|conn| {
                    frames.drain(..).for_each(|frame| conn.handle_frame(frame));
                    if let Err(error) = decoded {
                        conn.handle_disconnect(Disconnect::Decode(error));
                    }
                });
            }
            Event::Read(Err(error)) => shared.disconnect(Disconnect::Io(Arc::new(error))),
            Event::Timer => shared.with_conn(|conn| conn.handle_timeout(Instant::now())),
            Event::Woken => {}
        }
    }
}

/// Writes what the core transmits, one coalesced buffer at a time; on close, flushes what
/// is queued and shuts the socket's write side.
async fn write_loop<S: AsyncWrite + Unpin>(mut writer: Half<S>, shared: Rc<Shared>) {
    enum Step {
        Write(Bytes),
        Wait,
        Exit,
    }
    loop {
        let step = shared.with_conn(|conn| match conn.poll_transmit() {
            Some(bytes) => Step::Write(bytes),
            None if conn.is_closed() => Step::Exit,
            None => Step::Wait,
        });
        match step {
            Step::Write(bytes) => {
                let write = async { Some(writer.write_all(&bytes).await) };
                // A write that never finishes (a peer that stopped reading) is abandoned
                // once the reader has declared the connection dead.
                let abandoned = async {
                    while !shared.is_closed() {
                        shared.writer_wake.notified().await;
                    }
                    None
                };
                match or(write, abandoned).await {
                    Some(Ok(())) => shared.with_conn(|conn| conn.handle_transmit_done()),
                    Some(Err(error)) => {
                        shared.disconnect(Disconnect::Io(Arc::new(error)));
                        break;
                    }
                    None => break,
                }
            }
            Step::Wait => shared.writer_wake.notified().await,
            Step::Exit => break,
        }
    }
    let _ = writer.close().await;
    shared.finished.set();
}
