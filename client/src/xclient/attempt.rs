//! One attempt of an XClient call on one server: its connection (cached, or dialled once
//! per server at a time), the call, the attempt timeout, and what the outcome teaches the
//! breaker, the selector and the connection cache. Never picks a server or retries: the
//! fail loops in [`crate::fail`] do, over [`super::call::Call`].
//!
//! With `XClientOptions::attempt_timeout`, the attempt, from its start to the reply, races
//! one deadline: the dial (or the wait for another call's dial) and then the call. When the
//! deadline comes first the attempt fails with the retryable [`XError::AttemptTimeout`]:
//! the connection leaves the cache like any failed one, and a dial this attempt owned
//! counts as a failed dial (the server goes into back-off), so a silent server (a
//! partition: no RST, no reply) is skipped by the next calls instead of costing each of
//! them an attempt timeout.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::pool::Lookup;
use super::servers::Outcome;
use super::{millis_ceil, Transport, XClient, XError};
use crate::fail::Retryable;
use crate::race::{race, Either};
use crate::Request;

/// Why no connection came for an attempt.
enum NoConn<E> {
    /// The server is in dial back-off for this long: no dial was made.
    Backoff(Duration),
    /// The dial failed.
    Failed(E),
    /// The attempt's deadline came first.
    TimedOut,
}

/// How an attempt that reached a server (or tried to) failed.
enum Failure<E> {
    /// The transport's error.
    Transport(E),
    /// The attempt's deadline came first.
    TimedOut,
}

impl<T: Transport> XClient<T> {
    /// `future`'s output, or `None` if `deadline` (on the transport's clock) comes first.
    /// The future is pinned where the caller keeps it: moving a call's future through
    /// more frames costs stack, which debug builds spend generously.
    async fn within<F: Future>(
        &self,
        deadline: Option<Instant>,
        future: Pin<&mut F>,
    ) -> Option<F::Output> {
        let Some(deadline) = deadline else {
            return Some(future.await);
        };
        let left = deadline.saturating_duration_since(self.transport.now());
        match race(future, self.transport.sleep(left)).await {
            Either::Left(output) => Some(output),
            Either::Right(()) => None,
        }
    }

    /// One attempt of `request` on `server`: its connection, the call, and what the
    /// outcome teaches the breaker, the selector and the connection cache.
    pub(super) async fn attempt(
        &self,
        server: String,
        request: &Request<'_>,
    ) -> Result<T::Reply, XError<T::Error>> {
        let started = self.transport.now();
        let deadline = self
            .options
            .attempt_timeout
            .and_then(|t| started.checked_add(t));
        let generation = self.lock().servers.generation(&server);
        let result = match self.conn(&server, deadline).await {
            Ok(conn) => {
                let send = pin!(self.transport.send(&conn, request));
                self.within(deadline, send)
                    .await
                    .map_or(Err(Failure::TimedOut), |r| r.map_err(Failure::Transport))
            }
            Err(NoConn::Failed(error)) => Err(Failure::Transport(error)),
            Err(NoConn::TimedOut) => Err(Failure::TimedOut),
            // Nothing was tried, so nothing is learnt.
            Err(NoConn::Backoff(wait)) => {
                return Err(XError::Backoff {
                    service_path: self.service_path.clone(),
                    retry_in_ms: millis_ceil(wait),
                })
            }
        };
        let outcome = match &result {
            Ok(_) => Outcome::Answered,
            Err(Failure::Transport(e)) if e.is_answer() => Outcome::Answered,
            Err(_) => Outcome::Failed,
        };
        let now = self.transport.now();
        let mut inner = self.lock();
        if matches!(&result, Err(Failure::TimedOut))
            || matches!(&result, Err(Failure::Transport(e)) if e.is_retryable())
        {
            inner.pool.remove(&server);
        }
        let latency = now.saturating_duration_since(started);
        inner
            .servers
            .record(&server, latency, outcome, generation, now);
        drop(inner);
        result.map_err(|failure| match failure {
            Failure::Transport(source) => XError::Server { server, source },
            Failure::TimedOut => XError::AttemptTimeout {
                server,
                timeout_ms: self.options.attempt_timeout.map_or(0, millis_ceil),
            },
        })
    }

    /// The cached connection to `key`, or a new one: one dial per key at a time, none
    /// while the key is in back-off, nothing past `deadline`.
    async fn conn(
        &self,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<T::Conn, NoConn<T::Error>> {
        // Each round ends in a result, or waits for a dial in flight to end; after that the
        // key has a connection, a back-off, or (the dialler gave up) no dial in flight.
        loop {
            let now = self.transport.now();
            let lookup = self
                .lock()
                .pool
                .lookup(key, |conn| self.transport.is_usable(conn), now);
            match lookup {
                Lookup::Ready(conn) => return Ok(conn),
                Lookup::Backoff(wait) => return Err(NoConn::Backoff(wait)),
                Lookup::Dial => return self.dial(key, deadline).await,
                Lookup::Wait => {}
            }
            let dial_over = pin!(poll_fn(|cx| {
                match self.lock().pool.wait_dial(key, cx.waker()) {
                    true => Poll::Pending,
                    false => Poll::Ready(()),
                }
            }));
            if self.within(deadline, dial_over).await.is_none() {
                return Err(NoConn::TimedOut);
            }
        }
    }

    /// Dials `key` (this call owns the dial) and caches the connection if discovery still
    /// lists the server. A dial still running at `deadline` is given up and counts as
    /// failed.
    async fn dial(
        &self,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<T::Conn, NoConn<T::Error>> {
        let mut guard = DialGuard {
            client: self,
            key,
            failed: None,
        };
        let instance = self.lock().servers.instance(key);
        let connect = pin!(self.transport.connect(&instance));
        let Some(result) = self.within(deadline, connect).await else {
            guard.failed = Some(true);
            return Err(NoConn::TimedOut);
        };
        guard.failed = Some(result.is_err());
        if let Ok(conn) = &result {
            let mut inner = self.lock();
            if inner.servers.is_listed(key) {
                inner.pool.insert(key, conn.clone());
            }
        }
        result.map_err(NoConn::Failed)
    }
}

/// Ends a dial and wakes the calls waiting for it, also when the dialling call is dropped.
struct DialGuard<'a, T: Transport> {
    client: &'a XClient<T>,
    key: &'a str,
    /// How the dial ended; `None` while it runs (a dropped call abandons it).
    failed: Option<bool>,
}

impl<T: Transport> Drop for DialGuard<'_, T> {
    fn drop(&mut self) {
        let now = self.client.transport.now();
        let waiters = self.client.lock().pool.end_dial(self.key, self.failed, now);
        waiters.into_iter().for_each(Waker::wake);
    }
}
