//! One call in flight: picking a server, its cached connection, one attempt, and what the
//! outcome teaches the breaker and the selector. The fail loops in [`crate::fail`] drive it.

use std::future::poll_fn;
use std::sync::{MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::{State, Transport, XClient, XError};
use crate::breaker::Breaker;
use crate::fail::{Attempts, Retryable};
use crate::select::{Instance, Pick};
use crate::{CallOptions, Request, SerializeType};

impl<T: Transport> XClient<T> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State<T::Conn>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached connection to `key`, or a new one (one dial per key at a time).
    async fn conn(&self, instance: &Instance) -> Result<T::Conn, T::Error> {
        let key = instance.key();
        loop {
            {
                let mut state = self.lock();
                match state.conns.get(key) {
                    Some(conn) if self.transport.is_usable(conn) => return Ok(conn.clone()),
                    Some(_) => drop(state.conns.remove(key)),
                    None => {}
                }
                if !state.dialing.contains_key(key) {
                    state.dialing.insert(key.to_owned(), Vec::new());
                    break;
                }
            }
            poll_fn(|cx| {
                let mut state = self.lock();
                match state.dialing.get_mut(key) {
                    Some(waiters) => {
                        waiters.push(cx.waker().clone());
                        Poll::Pending
                    }
                    None => Poll::Ready(()),
                }
            })
            .await;
            if !self.lock().conns.contains_key(key) {
                // The dial we waited for failed: dial ourselves, without coalescing.
                let result = self.transport.connect(instance).await;
                if let Ok(conn) = &result {
                    self.lock().conns.insert(key.to_owned(), conn.clone());
                }
                return result;
            }
        }
        let guard = DialGuard { client: self, key };
        let result = self.transport.connect(instance).await;
        if let Ok(conn) = &result {
            self.lock().conns.insert(key.to_owned(), conn.clone());
        }
        drop(guard);
        result
    }

    fn record(&self, key: &str, started: Instant, outcome: Outcome) {
        let mut state = self.lock();
        state
            .selector
            .observe(key, started.elapsed(), outcome != Outcome::Failed);
        if let Some(breaker) = state.breakers.get_mut(key) {
            match outcome {
                Outcome::Failed => breaker.handle_failure(Instant::now()),
                Outcome::Answered => breaker.handle_success(),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Answered,
    Failed,
}

/// Removes the dialing mark and wakes waiters, also when the dialing call is dropped.
struct DialGuard<'a, T: Transport> {
    client: &'a XClient<T>,
    key: &'a str,
}

impl<T: Transport> Drop for DialGuard<'_, T> {
    fn drop(&mut self) {
        let waiters = self
            .client
            .lock()
            .dialing
            .remove(self.key)
            .unwrap_or_default();
        waiters.into_iter().for_each(Waker::wake);
    }
}

pub(super) fn refresh<C>(state: &mut State<C>) {
    if state.watch.refresh() {
        state.servers = state.watch.current().clone();
        let servers = state.servers.clone();
        state.selector.update(&servers);
    }
}

pub(super) struct Prepared<'a> {
    pub(super) service_path: String,
    pub(super) method: &'a str,
    pub(super) payload: &'a [u8],
    pub(super) options: &'a CallOptions,
    pub(super) serialize_type: Option<SerializeType>,
    pub(super) hash: u64,
}

impl<'a> Prepared<'a> {
    pub(super) fn request(&'a self, deadline: &Option<Instant>) -> Request<'a> {
        Request {
            service_path: &self.service_path,
            service_method: self.method,
            metadata: &self.options.metadata,
            payload: self.payload,
            serialize_type: self.serialize_type,
            compress: self.options.compress,
            deadline: *deadline,
        }
    }
}

/// One call in flight: what the fail loops drive.
pub(super) struct Call<'a, T: Transport> {
    pub(super) client: &'a XClient<T>,
    pub(super) request: Request<'a>,
    pub(super) hash: u64,
}

impl<T: Transport> Attempts for Call<'_, T> {
    type Server = String;
    type Reply = T::Reply;
    type Error = XError<T::Error>;

    fn pick(&self, avoid: &[String]) -> Result<String, Self::Error> {
        let client = self.client;
        let mut state = client.lock();
        refresh(&mut state);
        let state = &mut *state;
        let servers = state.servers.clone();
        if servers.is_empty() {
            return Err(XError::NoServer {
                service_path: client.service_path.clone(),
            });
        }
        let now = Instant::now();
        let blocked = |s: &Instance| state.breakers.get(s.key()).is_some_and(|b| !b.ready(now));
        let excluded: Vec<bool> = servers
            .iter()
            .map(|s| avoid.iter().any(|a| a == s.key()) || blocked(s))
            .collect();
        let pick = Pick {
            instances: &servers,
            excluded: &excluded,
            key: self.hash,
        };
        let Some(index) = state.selector.select(&pick, &mut state.rng) else {
            return Err(if servers.iter().all(blocked) {
                XError::BreakerOpen {
                    service_path: client.service_path.clone(),
                }
            } else {
                XError::NoServer {
                    service_path: client.service_path.clone(),
                }
            });
        };
        let key = servers[index].key().to_owned();
        if let Some(config) = client.options.breaker {
            state
                .breakers
                .entry(key.clone())
                .or_insert_with(|| Breaker::new(config))
                .handle_attempt(now);
        }
        Ok(key)
    }

    async fn attempt(&self, server: String) -> Result<T::Reply, Self::Error> {
        let client = self.client;
        let instance = client
            .lock()
            .servers
            .iter()
            .find(|s| s.key() == server)
            .cloned();
        let instance = instance.unwrap_or_else(|| Instance::new(server.clone(), ""));
        let started = Instant::now();
        let wrap = |source| XError::Server {
            server: server.clone(),
            source,
        };
        let conn = match client.conn(&instance).await {
            Ok(conn) => conn,
            Err(e) => {
                client.record(&server, started, Outcome::Failed);
                return Err(wrap(e));
            }
        };
        let result = client.transport.send(&conn, &self.request).await;
        let outcome = match &result {
            Ok(_) => Outcome::Answered,
            Err(e) if e.is_answer() => Outcome::Answered,
            Err(_) => Outcome::Failed,
        };
        if let Err(e) = &result {
            if e.is_retryable() {
                client.lock().conns.remove(&server);
            }
        }
        client.record(&server, started, outcome);
        result.map_err(wrap)
    }

    async fn sleep(&self, duration: Duration) {
        self.client.transport.sleep(duration).await;
    }
}
