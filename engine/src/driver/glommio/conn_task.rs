//! The glommio driver of one connection: moves bytes between the socket and the sans-IO
//! [`Connection`], runs handlers, enforces deadlines.
//!
//! One task per connection, polled as a single state machine (`drive`): read into the
//! connection's buffer, dispatch every complete frame, send everything those frames produced
//! in one `send`, repeat. A handler is polled once inline; only if it is not finished then
//! does it get a task of its own (raced against its deadline), so fast handlers cost no
//! allocation and no scheduling.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite};
use glommio::net::TcpStream;
use tracing::Instrument;

use super::ShardCtx;
use crate::runtime::policy::{close_step, CloseStep, Linger, LINGER};
use crate::runtime::Opened;
use crate::tls::Transport;

/// Reads a connection may do in one poll before it lets the shard's other tasks run.
const READ_BUDGET: usize = 32;

/// Serves one accepted connection until it closes, then leaves the shard's table.
pub(super) async fn serve(shard: Rc<ShardCtx>, stream: TcpStream, opened: Opened, key: usize) {
    let Opened {
        mut conn,
        span,
        peer,
    } = opened;
    async {
        let mut stream = stream;
        poll_fn(|cx| drive(cx, &mut stream, &mut conn)).await;
        if close_step(conn.take_cause(), shard.core.id, &peer) == CloseStep::Linger {
            linger_close(&mut stream).await;
        }
    }
    .instrument(span)
    .await;
    shard.remove_conn(key, conn.link().peer_addr());
}

/// One turn of the connection's state machine; `Ready` once the connection is closed.
fn drive(cx: &mut Context<'_>, stream: &mut TcpStream, conn: &mut Transport) -> Poll<()> {
    conn.link().set_waker(cx.waker());
    for _ in 0..READ_BUDGET {
        conn.handle_link();
        let mut progress = false;
        while let Some(call) = conn.poll_call(Instant::now) {
            progress = true;
            if let Some(call) = conn.poll_inline(cx, call) {
                let link = conn.link().clone();
                glommio::spawn_local(crate::run_call::run_call(call, link)).detach();
            }
        }
        while let Some(bytes) = conn.poll_transmit() {
            match Pin::new(&mut *stream).poll_write(cx, bytes) {
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
        if conn.wants_read() {
            let read = conn.handle_read(|buf| Pin::new(&mut *stream).poll_read(cx, buf));
            progress |= read.is_ready();
        }
        if !progress {
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
    let mut linger = Linger::start(Instant::now());
    let mut sink = [0u8; 4096];
    while !linger.is_over(Instant::now()) {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) if !linger.discard(n) => break,
            Ok(_) => {}
        }
    }
}
