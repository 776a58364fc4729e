//! What a client's handles and its connection's two tasks share: the core behind the
//! runtime's lock, and the wakers of the tasks parked on it.
//!
//! Every change to the core goes through [`Shared::with_conn`], which takes the core's
//! [`Events`](crate::conn::Events) under the lock and performs them after releasing it:
//! pushes to the handler, results to the callers, then the wake-ups. A task parks by
//! checking its condition and storing its waker under the same lock, so no wake-up is lost.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use crate::conn::{Connection, Wake};
use crate::error::{Disconnect, Error};
use crate::message::{Push, Reply, Request};
use crate::options::ClientOptions;
use crate::race::{race, Either};
use crate::runtime::Runtime;
use crate::ServerAddr;

/// How the connection wakes a caller: the sending half of its oneshot.
pub(crate) type Waiter<R> = <R as Runtime>::Sender<Result<Reply, Error>>;

/// One connection as its handles and tasks see it.
pub struct Shared<R: Runtime> {
    state: R::Lock<State<R>>,
    pub(crate) options: ClientOptions,
    pub(crate) addr: ServerAddr,
    push_handler: Option<Box<R::PushHandler>>,
    /// Call slots when `ClientOptions::max_in_flight` is set.
    slots: Option<R::Semaphore>,
}

struct State<R: Runtime> {
    conn: Connection<Waiter<R>>,
    parked: Parked,
}

/// The tasks waiting for the connection to change, and what they wait for.
#[derive(Default)]
struct Parked {
    writer: Option<Waker>,
    reader: Option<Waker>,
    /// A reader wake-up came while the reader was not parked: it must still come round.
    reader_woken: bool,
    push_reader: Option<Waker>,
    /// The writer flushed, shut the socket and stopped.
    writer_done: bool,
    /// Callers of `close` waiting for the writer to stop.
    closers: Vec<Waker>,
    /// Calls refused for want of send space, waiting for a send to complete.
    send_space: Vec<Waker>,
}

impl Parked {
    /// Takes the wakers of the tasks `wake` names (without allocating: this runs on every
    /// input).
    fn take(&mut self, wake: Wake) -> Released {
        self.reader_woken |= wake.reader;
        let take = |on: bool, waker: &mut Option<Waker>| if on { waker.take() } else { None };
        Released {
            tasks: [
                take(wake.writer, &mut self.writer),
                take(wake.reader, &mut self.reader),
                take(wake.push_reader, &mut self.push_reader),
            ],
            send_space: if wake.send_space {
                std::mem::take(&mut self.send_space)
            } else {
                Vec::new()
            },
        }
    }
}

/// The wakers one input released, woken once the lock is let go.
struct Released {
    /// The writer, the reader and the push reader, each if named.
    tasks: [Option<Waker>; 3],
    /// Callers that waited for send space.
    send_space: Vec<Waker>,
}

impl Released {
    fn wake(self) {
        self.tasks.into_iter().flatten().for_each(Waker::wake);
        self.send_space.into_iter().for_each(Waker::wake);
    }
}

impl<R: Runtime> Shared<R> {
    pub(crate) fn new(
        conn: Connection<Waiter<R>>,
        addr: ServerAddr,
        push_handler: Option<Box<R::PushHandler>>,
    ) -> Self {
        let options = conn.options().clone();
        Self {
            slots: options.max_in_flight.map(R::semaphore),
            state: R::new_lock(State {
                conn,
                parked: Parked::default(),
            }),
            options,
            addr,
            push_handler,
        }
    }

    /// Runs `f` on the core, then, with the lock released, does what the core says: pushes
    /// to the handler (before the replies that followed them), results to their callers,
    /// wake-ups to the parked tasks.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection<Waiter<R>>) -> T) -> T {
        let take_pushes = self.push_handler.is_some();
        let (result, events, wakers) = R::with_lock(&self.state, |state| {
            let result = f(&mut state.conn);
            let events = state.conn.poll_events(take_pushes);
            let wakers = state.parked.take(events.wake);
            (result, events, wakers)
        });
        if let Some(handler) = &self.push_handler {
            events.pushes.into_iter().for_each(handler);
        }
        for (waiter, result) in events.completions {
            R::send(waiter, result);
        }
        wakers.wake();
        result
    }

    /// Reads the core without changing it.
    pub(crate) fn inspect<T>(&self, f: impl FnOnce(&Connection<Waiter<R>>) -> T) -> T {
        R::with_lock(&self.state, |state| f(&state.conn))
    }

    pub(crate) fn disconnect(&self, reason: Disconnect) {
        self.with_conn(|conn| conn.handle_disconnect(reason));
    }

    /// The error for a call whose waiter vanished with the connection.
    pub(crate) fn lost(&self) -> Error {
        Error::Disconnected(
            self.inspect(Connection::close_reason)
                .unwrap_or(Disconnect::Closed),
        )
    }

    /// Waits for a call slot when the in-flight cap is on, at most until `deadline`.
    pub(crate) async fn acquire_slot(
        &self,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<Option<R::Permit<'_>>, Error> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        let acquire = R::acquire(slots);
        let permit = match deadline {
            Some(deadline) => match race(acquire, R::sleep_until(deadline)).await {
                Either::Left(permit) => permit,
                Either::Right(()) => {
                    return Err(Error::Timeout {
                        timeout_ms: Error::timeout_ms(deadline, now),
                    })
                }
            },
            None => acquire.await,
        };
        permit.map(Some).ok_or_else(|| self.lost())
    }

    /// Queues a call, waiting (at most until its deadline; `since` is when the call began)
    /// while the send buffer is full. Returns its seq and where its result will come.
    pub(crate) async fn queue_call(
        &self,
        request: &Request<'_>,
        since: Instant,
    ) -> Result<(u64, R::Receiver<Result<Reply, Error>>), Error> {
        loop {
            let (waiter, reply) = R::oneshot();
            let queued = self.with_conn(|conn| {
                conn.handle_call_since(request, waiter, since, R::now())
                    .map_err(|error| (error, conn.sent_epoch()))
            });
            match queued {
                Ok(seq) => return Ok((seq, reply)),
                Err((Error::SendBufferFull { .. }, epoch)) => {
                    self.wait_send_space(epoch, request.deadline, since).await?;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Waits until a send completed after `epoch` (or the connection stopped taking calls),
    /// at most until `deadline`.
    async fn wait_send_space(
        &self,
        epoch: u64,
        deadline: Option<Instant>,
        since: Instant,
    ) -> Result<(), Error> {
        let moved = poll_fn(|cx| {
            R::with_lock(&self.state, |state| {
                if state.conn.sent_epoch() != epoch || !state.conn.is_open() {
                    return Poll::Ready(());
                }
                let parked = &mut state.parked.send_space;
                if !parked.iter().any(|w| w.will_wake(cx.waker())) {
                    parked.push(cx.waker().clone());
                }
                Poll::Pending
            })
        });
        let Some(deadline) = deadline else {
            moved.await;
            return Ok(());
        };
        match race(moved, R::sleep_until(deadline)).await {
            Either::Left(()) => Ok(()),
            Either::Right(()) => Err(Error::Timeout {
                timeout_ms: Error::timeout_ms(deadline, since),
            }),
        }
    }

    /// Whether pushes go to a handler as they come (rather than to the queue).
    pub(crate) fn takes_pushes(&self) -> bool {
        self.push_handler.is_some()
    }

    /// The next push, or `None` once the connection stopped and the queue is empty.
    pub(crate) async fn next_push(&self) -> Option<Push> {
        poll_fn(|cx| {
            R::with_lock(&self.state, |state| {
                if let Some(push) = state.conn.poll_push() {
                    return Poll::Ready(Some(push));
                }
                if !state.conn.is_open() {
                    return Poll::Ready(None);
                }
                state.parked.push_reader = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }

    /// The writer's next step: bytes to write, or `None` once the connection is closed
    /// and everything queued went out.
    pub(crate) async fn next_transmit(&self) -> Option<Bytes> {
        poll_fn(|cx| {
            R::with_lock(&self.state, |state| {
                if let Some(bytes) = state.conn.poll_transmit() {
                    return Poll::Ready(Some(bytes));
                }
                if state.conn.is_closed() {
                    return Poll::Ready(None);
                }
                state.parked.writer = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }

    /// Resolves once the connection is closed: a write still in flight is then abandoned
    /// (a peer that stopped reading never finishes it).
    pub(crate) async fn closed(&self) {
        poll_fn(|cx| {
            R::with_lock(&self.state, |state| {
                if state.conn.is_closed() {
                    return Poll::Ready(());
                }
                state.parked.writer = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }

    /// Resolves when the reader must come round (see [`Wake::reader`]).
    pub(crate) async fn reader_woken(&self) {
        poll_fn(|cx| {
            R::with_lock(&self.state, |state| {
                if std::mem::take(&mut state.parked.reader_woken) {
                    return Poll::Ready(());
                }
                state.parked.reader = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }

    /// The writer stopped: releases every `close` waiting for it, and tells the plugins
    /// the connection is closed.
    pub(crate) fn finish_writer(&self) {
        let (closers, reason) = R::with_lock(&self.state, |state| {
            state.parked.writer_done = true;
            let closers = std::mem::take(&mut state.parked.closers);
            (closers, state.conn.close_reason())
        });
        // Before the closers return: `close` comes back after the plugins heard of it.
        if !self.options.plugins.is_empty() {
            let reason = reason.unwrap_or(Disconnect::Closed);
            self.options.plugins.conn_closed(&self.addr, &reason);
        }
        closers.into_iter().for_each(Waker::wake);
    }

    /// Waits until the writer stopped.
    pub(crate) async fn writer_finished(&self) {
        poll_fn(|cx| {
            R::with_lock(&self.state, |state| {
                if state.parked.writer_done {
                    return Poll::Ready(());
                }
                state.parked.closers.push(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }

    /// Fails the connection with a socket error.
    pub(crate) fn io_error(&self, error: std::io::Error) {
        self.disconnect(Disconnect::Io(Arc::new(error)));
    }
}
