//! Sockets and the two tasks of a tokio connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::{TcpStream, UnixStream};
use ::tokio::time::{sleep_until, timeout};
use bytes::Bytes;

use super::Shared;
use crate::conn::RecvBuf;
use crate::error::{Disconnect, Error};
use crate::options::ClientOptions;
use crate::ServerAddr;

pub(super) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Opens the socket within `options.connect_timeout`.
pub(super) async fn connect(addr: &ServerAddr, options: &ClientOptions) -> Result<Stream, Error> {
    let failed = |source: std::io::Error| Error::Connect {
        addr: addr.to_string(),
        cause: Arc::new(source),
    };
    let timed_out = |_| Error::ConnectTimeout {
        addr: addr.to_string(),
        timeout_ms: u64::try_from(options.connect_timeout.as_millis()).unwrap_or(u64::MAX),
    };
    match addr {
        ServerAddr::Tcp(host_port) => {
            let stream = timeout(
                options.connect_timeout,
                TcpStream::connect(host_port.as_str()),
            )
            .await
            .map_err(timed_out)?
            .map_err(failed)?;
            stream.set_nodelay(options.nodelay).map_err(failed)?;
            Ok(Stream::Tcp(stream))
        }
        ServerAddr::Unix(path) => {
            let stream = timeout(options.connect_timeout, UnixStream::connect(path))
                .await
                .map_err(timed_out)?
                .map_err(failed)?;
            Ok(Stream::Unix(stream))
        }
    }
}

/// Starts the reader and writer tasks of a connected socket.
pub(super) fn spawn(stream: Stream, shared: Arc<Shared>) {
    match stream {
        Stream::Tcp(stream) => {
            let (reader, writer) = stream.into_split();
            ::tokio::spawn(read_loop(reader, shared.clone()));
            ::tokio::spawn(write_loop(writer, shared));
        }
        Stream::Unix(stream) => {
            let (reader, writer) = stream.into_split();
            ::tokio::spawn(read_loop(reader, shared.clone()));
            ::tokio::spawn(write_loop(writer, shared));
        }
    }
}

pub(super) fn unix_nanos() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

/// Reads frames into the core and runs its timer, until the connection stops being open.
async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, shared: Arc<Shared>) {
    let mut recv = RecvBuf::new(shared.options.limits);
    let mut frames = Vec::new();
    // Each round: fire what is due (so deadlines and heartbeats keep their time even
    // while replies arrive back to back), then wait for bytes, the timer or a wake-up.
    while let Some(next_timeout) = shared.with_conn(|conn| conn.handle_due_timers(Instant::now())) {
        recv.reserve_read();
        let timer = async move {
            match next_timeout {
                Some(at) => sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        ::tokio::select! {
            biased;
            read = reader.read_buf(recv.buf_mut()) => match read {
                Ok(0) => shared.disconnect(Disconnect::Eof),
                Ok(_) => {
                    // Decoding (and gunzip) happens here, outside the lock.
                    let decoded = std::iter::from_fn(|| recv.decode().transpose())
                        .try_for_each(|frame| frame.map(|frame| frames.push(frame)));
                    shared.with_conn(|conn| {
                        frames.drain(..).for_each(|frame| conn.handle_frame(frame));
                        if let Err(error) = decoded {
                            conn.handle_disconnect(Disconnect::Decode(error));
                        }
                    });
                }
                Err(error) => shared.disconnect(Disconnect::Io(Arc::new(error))),
            },
            () = timer => shared.with_conn(|conn| conn.handle_timeout(Instant::now())),
            () = shared.reader_wake.notified() => {}
        }
    }
}

/// Writes what the core transmits, one coalesced buffer at a time; on close, flushes what
/// is queued and shuts the socket's write side.
async fn write_loop<W: AsyncWrite + Unpin>(mut writer: W, shared: Arc<Shared>) {
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
                // A write that never finishes (a peer that stopped reading) is abandoned
                // once the reader has declared the connection dead.
                let abandoned = async {
                    while !shared.is_closed() {
                        shared.writer_wake.notified().await;
                    }
                };
                ::tokio::select! {
                    written = writer.write_all(&bytes) => match written {
                        Ok(()) => shared.with_conn(|conn| conn.handle_transmit_done()),
                        Err(error) => {
                            shared.disconnect(Disconnect::Io(Arc::new(error)));
                            break;
                        }
                    },
                    () = abandoned => break,
                }
            }
            Step::Wait => shared.writer_wake.notified().await,
            Step::Exit => break,
        }
    }
    let _ = writer.shutdown().await;
    shared.writer_done.store(true, Ordering::Release);
    shared.finished.notify_waiters();
}
