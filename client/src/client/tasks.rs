//! The two tasks of a connection, written once for every runtime: the reader (frames in,
//! and the connection's timer) and the writer (one coalesced buffer at a time out). A
//! runtime provides the socket halves ([`ReadHalf`], [`WriteHalf`]) and spawns the tasks.

use std::future::{pending, poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use ringrpc_codec::{DecodeError, Frame, Header};

use crate::conn::{Connection, Received, RecvBuf, Screen};
use crate::error::{Disconnect, Error};
use crate::options::ClientOptions;
use crate::race::{race, Either};
use crate::runtime::Runtime;
use crate::ServerAddr;

use super::Shared;

/// A connected socket of a runtime: TCP, unix, or TLS over TCP.
#[derive(Debug)]
pub enum Socket<Tcp, Unix, Tls> {
    /// A TCP connection.
    Tcp(Tcp),
    /// A unix socket connection.
    Unix(Unix),
    /// A TLS connection over TCP (`ClientOptions::tls`).
    Tls(Tls),
}

/// The read side of a connection's socket.
pub(crate) trait ReadHalf {
    /// Reads once into `recv` (reserving what [`RecvBuf::reserve_read`] asks); `Ok(0)` at
    /// end of stream.
    fn read_into(&mut self, recv: &mut RecvBuf) -> impl Future<Output = io::Result<usize>>;
}

/// The write side of a connection's socket.
pub(crate) trait WriteHalf {
    /// Writes all of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>>;
    /// Shuts the write side down (errors are of no use by then and are ignored).
    fn shutdown(&mut self) -> impl Future<Output = ()>;
}

/// Opens the socket, and runs the TLS handshake if `options.tls` asks for it, within
/// `options.connect_timeout`.
pub(crate) async fn connect<R: Runtime>(
    addr: &ServerAddr,
    options: &ClientOptions,
) -> Result<R::Stream, Error> {
    let timed_out = || Error::ConnectTimeout {
        addr: addr.to_string(),
        timeout_ms: u64::try_from(options.connect_timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let timer = async {
        match R::now().checked_add(options.connect_timeout) {
            Some(deadline) => R::sleep_until(deadline).await,
            None => pending().await,
        }
    };
    let connector = match &options.tls {
        Some(tls) => Some(tls.connector(addr)?),
        None => None,
    };
    // The error says whether the socket or the TLS handshake failed.
    let open = async {
        let stream = R::dial(addr, options.nodelay).await.map_err(Either::Left)?;
        match connector {
            None => Ok(stream),
            Some(connector) => R::start_tls(stream, connector).await.map_err(Either::Right),
        }
    };
    match race(open, timer).await {
        Either::Left(Ok(stream)) => Ok(stream),
        Either::Left(Err(Either::Right(error))) => Err(crate::tls::handshake_error(addr, error)),
        Either::Left(Err(Either::Left(error))) if error.kind() == io::ErrorKind::TimedOut => {
            Err(timed_out())
        }
        Either::Left(Err(Either::Left(error))) => Err(Error::Connect {
            addr: addr.to_string(),
            cause: Arc::new(error),
        }),
        Either::Right(()) => Err(timed_out()),
    }
}

/// Reads frames into the core and runs its timer, until the connection stops being open.
///
/// The timer is armed for the core's next timeout and kept while that timeout moves later
/// (each call's deadline, one call after another): it may then fire early, which only
/// runs the loop once more. It is re-armed when the core needs an earlier time. A timer
/// is not free on every runtime (on glommio it is an io_uring operation and an
/// allocation), so at one call in flight the reader no longer arms one per reply.
pub(crate) async fn read_loop<R: Runtime, H: ReadHalf>(
    mut reader: H,
    shared: R::Shared<Shared<R>>,
) {
    let mut recv = RecvBuf::new(shared.options.limits);
    let mut frames = Vec::new();
    let mut timer = pin!(None);
    let mut armed_at: Option<Instant> = None;
    // Each round: fire what is due (so deadlines and heartbeats keep their time even
    // while replies arrive back to back), then wait for bytes, the timer or a wake-up.
    while let Some(next_timeout) = shared.with_conn(|conn| conn.handle_due_timers(R::now())) {
        if let Some(at) = next_timeout {
            if armed_at.is_none_or(|armed| at < armed) {
                timer.set(Some(R::sleep_until(at)));
                armed_at = Some(at);
            }
        }
        let fired = poll_fn(|cx| match timer.as_mut().as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Pending,
        });
        let woken = race(fired, shared.reader_woken());
        match race(reader.read_into(&mut recv), woken).await {
            Either::Left(Ok(0)) => shared.disconnect(Disconnect::Eof),
            Either::Left(Ok(len)) => {
                let more = recv.handle_read(len);
                // Decoding (and gunzip) happens here, outside the lock, and only for frames
                // the core wants (see `Connection::screen`).
                let decoded = split_frames(&mut recv, &shared, &mut frames);
                recv.release_idle();
                shared.with_conn(|conn| {
                    frames.drain(..).for_each(|frame| conn.handle_frame(frame));
                    if let Err(error) = decoded {
                        conn.handle_disconnect(Disconnect::Decode(error));
                    }
                });
                if more {
                    // A socket that never runs dry must not keep the callers just completed
                    // (or failed by their deadline) from running on a one-thread executor.
                    yield_now().await;
                }
            }
            Either::Left(Err(error)) => shared.io_error(error),
            Either::Right(Either::Left(())) => {
                // Fired: what is due runs at the top of the loop (nothing, if it fired early).
                timer.set(None);
                armed_at = None;
            }
            Either::Right(Either::Right(())) => {}
        }
    }
}

/// Lets the executor run its other tasks once, then resumes.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// Splits every complete frame off `recv` into `frames`, in order. A frame that must be
/// screened is screened under the lock (with the frames before it handed over first, so
/// the verdict sees them) and decoded as the core says, outside it.
fn split_frames<R: Runtime>(
    recv: &mut RecvBuf,
    shared: &Shared<R>,
    frames: &mut Vec<Frame>,
) -> Result<(), DecodeError> {
    let take_pushes = shared.takes_pushes();
    while let Some(received) = recv.next_frame()? {
        let raw = match received {
            Received::Frame(frame) => {
                frames.push(frame);
                continue;
            }
            Received::Raw(raw) => raw,
        };
        let Some(header) = Header::peek(&raw).copied() else {
            continue;
        };
        let verdict = shared.with_conn(|conn| {
            frames.drain(..).for_each(|frame| conn.handle_frame(frame));
            conn.screen(&header, take_pushes)
        });
        match verdict {
            Screen::Decode => frames.push(recv.decode_raw(raw, false, None)?),
            Screen::Push { room_bytes: None } => frames.push(recv.decode_raw(raw, false, None)?),
            // A push that inflates past the room left is dropped, as a full queue drops it.
            Screen::Push { room_bytes } => match recv.decode_raw(raw, true, room_bytes) {
                Ok(frame) => frames.push(frame),
                Err(_) => shared.with_conn(Connection::handle_push_dropped),
            },
            _ => {}
        }
    }
    Ok(())
}

/// Writes what the core transmits, one coalesced buffer at a time; on close, flushes what
/// is queued and shuts the socket's write side.
pub(crate) async fn write_loop<R: Runtime, H: WriteHalf>(
    mut writer: H,
    shared: R::Shared<Shared<R>>,
) {
    while let Some(bytes) = shared.next_transmit().await {
        // A write that never finishes (a peer that stopped reading) is abandoned once the
        // reader has declared the connection dead.
        match race(writer.write_all(&bytes), shared.closed()).await {
            Either::Left(Ok(())) => shared.with_conn(Connection::handle_transmit_done),
            Either::Left(Err(error)) => {
                shared.io_error(error);
                break;
            }
            Either::Right(()) => break,
        }
    }
    writer.shutdown().await;
    shared.finish_writer();
}
