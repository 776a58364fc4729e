//! The glommio driver of one connection: moves bytes between the socket and the sans-IO
//! [`Connection`], runs handlers, enforces deadlines.
//!
//! One task per connection, polled as a single state machine (`drive`): read into the
//! connection's buffer, dispatch every complete frame, send everything those frames produced
//! in one (vectored) `send`, repeat. A handler is polled once inline; only if it is not finished then
//! does it get a task of its own (raced against its deadline), so fast handlers cost no
//! allocation and no scheduling.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite};
use glommio::net::TcpStream;
use tracing::Instrument;

use super::{vectored, ShardCtx};
use crate::runtime::dispatch::SpawnCall;
use crate::runtime::handler_tasks::Hangup;
use crate::runtime::policy::{close_step, CloseStep, Linger, LINGER};
use crate::runtime::{Opened, ShardCore};
use crate::tls::Transport;

/// Reads a connection may do in one poll before it lets the shard's other tasks run.
const READ_BUDGET: usize = 32;
/// Pieces of output one vectored send takes (reply heads and payloads kept by reference).
const SLICES_MAX: usize = 32;

/// Starts handler tasks on the shard's glommio executor.
struct GlommioSpawner;

impl SpawnCall for GlommioSpawner {
    fn spawn_call(&self, task: impl std::future::Future<Output = ()> + 'static) {
        glommio::spawn_local(task).detach();
    }
}

/// Serves one accepted connection until it closes, then leaves the shard's table.
///
/// Not an `async fn`: its arguments would be stored in the task twice (once as arguments,
/// once as the locals they are moved into), and the connection is most of an idle
/// connection's memory. The block below captures each value once.
pub(super) fn serve(
    shard: Rc<ShardCtx>,
    stream: TcpStream,
    opened: Opened,
    key: usize,
) -> impl Future<Output = ()> {
    let Opened {
        mut conn,
        span,
        peer,
        hangup,
    } = opened;
    let mut stream = stream;
    async move {
        async {
            poll_fn(|cx| drive(cx, &shard.core, &mut stream, &mut conn, &hangup)).await;
            // Closed: whatever its handlers still do can never be answered.
            hangup.fire();
            if close_step(conn.take_cause(), shard.core.id, &peer) == CloseStep::Linger {
                linger_close(&mut stream).await;
            }
        }
        .instrument(span)
        .await;
        shard.remove_conn(key, conn.link().peer_addr());
    }
}

/// One turn of the connection's state machine; `Ready` once the connection is closed.
fn drive(
    cx: &mut Context<'_>,
    core: &ShardCore,
    stream: &mut TcpStream,
    conn: &mut Transport,
    hangup: &Rc<Hangup>,
) -> Poll<()> {
    conn.link().set_waker(cx.waker());
    for _ in 0..READ_BUDGET {
        conn.handle_link();
        let dispatched = core.dispatch(conn, cx, hangup, &GlommioSpawner);
        let mut progress = dispatched.progress;
        loop {
            let mut slices = [IoSlice::new(&[]); SLICES_MAX];
            let result = match conn.transmit_slices(&mut slices) {
                0 => break,
                1 => Pin::new(&mut *stream).poll_write(cx, &slices[0]),
                n => match vectored::try_send(&*stream, &slices[..n]) {
                    Some(result) => Poll::Ready(result),
                    // Full: the stream's own write arms the wake-up for when it has room.
                    None => Pin::new(&mut *stream).poll_write(cx, &slices[0]),
                },
            };
            match result {
                Poll::Ready(Ok(0)) => conn.handle_io_error(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    conn.handle_sent(n);
                    progress = true;
                    continue;
                }
                Poll::Ready(Err(e)) => conn.handle_io_error(e),
                Poll::Pending => {}
            }
            break;
        }
        if conn.is_closed() {
            return Poll::Ready(());
        }
        if conn.wants_read() && !dispatched.at_cap {
            let read = conn.handle_read(|buf| Pin::new(&mut *stream).poll_read(cx, buf));
            progress |= read.is_ready();
        }
        if !progress {
            // Quiet until the socket or the link wakes it: nothing kept that is not needed.
            conn.release_idle_buffers();
            return Poll::Pending;
        }
    }
    // Budget spent with work left: yield to the shard's other connections, come back soon.
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// Sends FIN after the last reply, then reads and discards what the peer still sends for a
/// short while ([`Linger`]), so that unread bytes do not make the kernel reset the connection.
async fn linger_close(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).await.is_err() {
        return;
    }
    if stream.set_read_timeout(Some(LINGER)).is_err() {
        return;
    }
    let mut linger = Linger::start(std::time::Instant::now());
    // On the heap, and only while lingering: an array here would sit in every connection's
    // task for its whole life (a future holds its largest state).
    let mut sink = vec![0u8; 4096];
    while !linger.is_over(std::time::Instant::now()) {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) if !linger.discard(n) => break,
            Ok(_) => {}
        }
    }
}
