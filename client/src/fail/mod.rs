//! Fail modes: what a call does when an attempt fails, driven only by the error's
//! retryability (PROTOCOL.md §11.3), plus the two fan-outs, broadcast and fork (§11.5).
//!
//! | mode | attempts | on a retryable error |
//! |---|---|---|
//! | [`FailMode::Failfast`] | 1 | returned |
//! | [`FailMode::Failover`] | up to retries + 1 | next attempt on another server (all tried: any) |
//! | [`FailMode::Failtry`] | up to retries + 1 | next attempt on the same server |
//! | [`FailMode::Failbackup`] | 1, + 1 backup | a second server gets the same call |
//!
//! A non-retryable error (the service answered with an error, the deadline passed) ends the
//! call at once in every mode. Failbackup sends the backup after `backup_latency`, or at once
//! if the first attempt fails retryably before that, and returns the first *answer*; rpcx-go
//! returns whichever completes first, even a transport error.
//!
//! The loops run over `Attempts` (crate-internal), which the XClient implements with real selection,
//! breakers and connections, and the tests here implement with a script.

mod policy;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

pub use policy::{FailMode, FailPolicy};

/// Whether an error may succeed if the call is tried again (elsewhere).
pub trait Retryable {
    /// `true` for transport errors (dial, broken connection, no server); `false` when the
    /// server answered with an error, the deadline passed, or the request itself is bad.
    fn is_retryable(&self) -> bool;

    /// Whether the server answered (with an error): breakers count that as the server being
    /// alive, anything else as the server failing. By default, whatever is not retryable.
    fn is_answer(&self) -> bool {
        !self.is_retryable()
    }
}

impl Retryable for crate::Error {
    fn is_retryable(&self) -> bool {
        crate::Error::is_retryable(self)
    }

    fn is_answer(&self) -> bool {
        self.is_service_error() || matches!(self, crate::Error::Decode(_))
    }
}

/// What the fail loops need from their caller.
pub(crate) trait Attempts {
    /// Identifies a picked server.
    type Server: Clone + PartialEq;
    type Reply;
    type Error: Retryable;

    /// Picks a server, avoiding those in `avoid` (and any the caller cannot use now).
    fn pick(&self, avoid: &[Self::Server]) -> Result<Self::Server, Self::Error>;
    /// One attempt of the call on `server`.
    fn attempt(
        &self,
        server: Self::Server,
    ) -> impl Future<Output = Result<Self::Reply, Self::Error>>;
    /// A timer.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// Runs one call under `policy`.
pub(crate) async fn run<A: Attempts>(policy: &FailPolicy, a: &A) -> Result<A::Reply, A::Error> {
    match policy.mode {
        FailMode::Failfast => a.attempt(a.pick(&[])?).await,
        FailMode::Failover => failover(policy, a).await,
        FailMode::Failtry => failtry(policy, a).await,
        FailMode::Failbackup => failbackup(policy.backup_latency, a).await,
    }
}

async fn failover<A: Attempts>(policy: &FailPolicy, a: &A) -> Result<A::Reply, A::Error> {
    let mut tried = Vec::new();
    let mut last = None;
    for n in 0..=policy.retries {
        let picked = match a.pick(&tried) {
            Err(_) if !tried.is_empty() => {
                tried.clear();
                a.pick(&tried)
            }
            picked => picked,
        };
        let server = match (picked, last) {
            (Ok(server), _) => server,
            (Err(_), Some(last)) => return Err(last),
            (Err(e), None) => return Err(e),
        };
        match a.attempt(server.clone()).await {
            Err(e) if e.is_retryable() => {
                tried.push(server);
                last = Some(e);
                if n < policy.retries && !policy.retry_interval.is_zero() {
                    a.sleep(policy.retry_interval).await;
                }
            }
            done => return done,
        }
    }
    Err(last.expect("the loop made at least one attempt"))
}

async fn failtry<A: Attempts>(policy: &FailPolicy, a: &A) -> Result<A::Reply, A::Error> {
    let server = a.pick(&[])?;
    let mut n = 0;
    loop {
        match a.attempt(server.clone()).await {
            Err(e) if e.is_retryable() && n < policy.retries => {
                n += 1;
                if !policy.retry_interval.is_zero() {
                    a.sleep(policy.retry_interval).await;
                }
            }
            done => return done,
        }
    }
}

async fn failbackup<A: Attempts>(latency: Duration, a: &A) -> Result<A::Reply, A::Error> {
    let first_server = a.pick(&[])?;
    let mut first = Some(Box::pin(a.attempt(first_server.clone())));
    let mut delay = Some(Box::pin(a.sleep(latency)));
    let mut backup = None;
    let mut backup_sent = false;
    let mut last = None;
    poll_fn(|cx| {
        if let Some(Poll::Ready(result)) = first.as_mut().map(|f| f.as_mut().poll(cx)) {
            first = None;
            match result {
                Err(e) if e.is_retryable() => last = Some(e),
                done => return Poll::Ready(done),
            }
        }
        if !backup_sent {
            let due = first.is_none()
                || delay
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
            if due {
                backup_sent = true;
                delay = None;
                let avoid = [first_server.clone()];
                match a.pick(&avoid).or_else(|_| a.pick(&[])) {
                    Ok(server) => backup = Some(Box::pin(a.attempt(server))),
                    Err(e) => last = last.take().or(Some(e)),
                }
            }
        }
        if let Some(Poll::Ready(result)) = backup.as_mut().map(|f| f.as_mut().poll(cx)) {
            backup = None;
            match result {
                Err(e) if e.is_retryable() => last = Some(e),
                done => return Poll::Ready(done),
            }
        }
        match (&first, &backup, backup_sent) {
            (None, None, true) => Poll::Ready(Err(last.take().expect("an attempt failed"))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// Broadcast: every call must succeed. Returns the first reply once all succeeded, or the
/// first error as soon as it happens (the other calls are dropped). `calls` must not be empty.
pub(crate) async fn broadcast<R, E, F: Future<Output = Result<R, E>>>(
    calls: Vec<F>,
) -> Result<R, E> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        calls.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut first = None;
    poll_fn(|cx| {
        for slot in &mut pending {
            if let Some(Poll::Ready(result)) = slot.as_mut().map(|f| f.as_mut().poll(cx)) {
                *slot = None;
                match result {
                    Ok(reply) => first = first.take().or(Some(reply)),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(Ok(first.take().expect("calls is not empty")))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Fork: the first success wins (the other calls are dropped); if every call fails, the last
/// error. `calls` must not be empty.
pub(crate) async fn fork<R, E, F: Future<Output = Result<R, E>>>(calls: Vec<F>) -> Result<R, E> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        calls.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut last = None;
    poll_fn(|cx| {
        for slot in &mut pending {
            if let Some(Poll::Ready(result)) = slot.as_mut().map(|f| f.as_mut().poll(cx)) {
                *slot = None;
                match result {
                    Ok(reply) => return Poll::Ready(Ok(reply)),
                    Err(e) => last = Some(e),
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(Err(last.take().expect("calls is not empty")))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// The loops on tokio's paused clock: every sleep (attempt latencies, retry intervals,
/// backup latency) passes in virtual time, so elapsed times are exact.
#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use tokio::time::Instant;

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Outcome {
        Ok,
        Transport,
        Service,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Fail(Outcome, &'static str);

    impl Retryable for Fail {
        fn is_retryable(&self) -> bool {
            self.0 == Outcome::Transport
        }
    }

    /// Servers `a`, `b`, `c`, picked in order (skipping `avoid`); `script(server, n)` says how
    /// the n-th attempt overall ends and after how many milliseconds.
    struct Script<F> {
        script: F,
        log: RefCell<Vec<&'static str>>,
    }

    impl<F: Fn(&'static str, usize) -> (Outcome, u64)> Attempts for Script<F> {
        type Server = &'static str;
        type Reply = &'static str;
        type Error = Fail;

        fn pick(&self, avoid: &[&'static str]) -> Result<&'static str, Fail> {
            ["a", "b", "c"]
                .into_iter()
                .find(|s| !avoid.contains(s))
                .ok_or(Fail(Outcome::Transport, "no server"))
        }

        async fn attempt(&self, server: &'static str) -> Result<&'static str, Fail> {
            let n = {
                let mut log = self.log.borrow_mut();
                log.push(server);
                log.len() - 1
            };
            let (outcome, ms) = (self.script)(server, n);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            match outcome {
                Outcome::Ok => Ok(server),
                other => Err(Fail(other, server)),
            }
        }

        async fn sleep(&self, duration: Duration) {
            tokio::time::sleep(duration).await;
        }
    }

    fn script<F: Fn(&'static str, usize) -> (Outcome, u64)>(f: F) -> Script<F> {
        Script {
            script: f,
            log: RefCell::new(Vec::new()),
        }
    }

    fn policy(mode: FailMode) -> FailPolicy {
        FailPolicy::new(mode)
    }

    #[tokio::test(start_paused = true)]
    async fn failfast_makes_one_attempt() {
        let s = script(|_, _| (Outcome::Transport, 0));
        assert_eq!(
            run(&policy(FailMode::Failfast), &s).await,
            Err(Fail(Outcome::Transport, "a"))
        );
        assert_eq!(*s.log.borrow(), ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn failover_moves_to_other_servers_on_transport_errors_only() {
        let s = script(|server, _| {
            if server == "c" {
                (Outcome::Ok, 0)
            } else {
                (Outcome::Transport, 0)
            }
        });
        assert_eq!(run(&policy(FailMode::Failover), &s).await, Ok("c"));
        assert_eq!(*s.log.borrow(), ["a", "b", "c"]);

        let s = script(|_, _| (Outcome::Service, 0));
        assert_eq!(
            run(&policy(FailMode::Failover), &s).await,
            Err(Fail(Outcome::Service, "a"))
        );
        assert_eq!(
            *s.log.borrow(),
            ["a"],
            "a service error is an answer: no retry"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failover_makes_retries_plus_one_attempts_then_returns_the_last_error() {
        let s = script(|_, _| (Outcome::Transport, 0));
        let p = FailPolicy {
            retries: 4,
            ..policy(FailMode::Failover)
        };
        assert_eq!(run(&p, &s).await, Err(Fail(Outcome::Transport, "b")));
        assert_eq!(
            *s.log.borrow(),
            ["a", "b", "c", "a", "b"],
            "all tried: start over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failtry_stays_on_one_server_and_sleeps_between_attempts() {
        let s = script(|_, n| {
            if n == 2 {
                (Outcome::Ok, 0)
            } else {
                (Outcome::Transport, 0)
            }
        });
        let p = FailPolicy {
            retry_interval: Duration::from_millis(100),
            ..policy(FailMode::Failtry)
        };
        let start = Instant::now();
        assert_eq!(run(&p, &s).await, Ok("a"));
        assert_eq!(*s.log.borrow(), ["a", "a", "a"]);
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "two retry intervals"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failbackup_answers_from_the_backup_when_the_first_server_stalls() {
        let s = script(|server, _| match server {
            "a" => (Outcome::Ok, 10_000),
            _ => (Outcome::Ok, 5),
        });
        let start = Instant::now();
        assert_eq!(run(&policy(FailMode::Failbackup), &s).await, Ok("b"));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(10 + 5),
            "backup latency, then the backup's answer"
        );
        assert_eq!(*s.log.borrow(), ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn failbackup_sends_no_backup_when_the_first_answers_in_time() {
        let s = script(|_, _| (Outcome::Service, 3));
        assert_eq!(
            run(&policy(FailMode::Failbackup), &s).await,
            Err(Fail(Outcome::Service, "a"))
        );
        assert_eq!(*s.log.borrow(), ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn failbackup_sends_the_backup_at_once_after_a_transport_error() {
        let s = script(|server, _| match server {
            "a" => (Outcome::Transport, 1),
            _ => (Outcome::Ok, 1),
        });
        let p = FailPolicy {
            backup_latency: Duration::from_secs(5),
            ..policy(FailMode::Failbackup)
        };
        let start = Instant::now();
        assert_eq!(run(&p, &s).await, Ok("b"));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(1 + 1),
            "no wait for the backup latency"
        );

        let s = script(|_, _| (Outcome::Transport, 1));
        assert_eq!(
            run(&policy(FailMode::Failbackup), &s).await,
            Err(Fail(Outcome::Transport, "b"))
        );
    }

    type Boxed = Pin<Box<dyn Future<Output = Result<&'static str, Fail>>>>;

    fn boxed(outcome: Outcome, ms: u64, name: &'static str) -> Boxed {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            match outcome {
                Outcome::Ok => Ok(name),
                other => Err(Fail(other, name)),
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn broadcast_needs_every_success_and_fails_at_the_first_error() {
        let ok = broadcast(vec![boxed(Outcome::Ok, 5, "a"), boxed(Outcome::Ok, 1, "b")]).await;
        assert_eq!(ok, Ok("b"));
        let start = Instant::now();
        let failed = broadcast(vec![
            boxed(Outcome::Ok, 50, "a"),
            boxed(Outcome::Service, 2, "b"),
        ])
        .await;
        assert_eq!(failed, Err(Fail(Outcome::Service, "b")));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(2),
            "did not wait for the slow call"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fork_takes_the_first_success() {
        let won = fork(vec![
            boxed(Outcome::Transport, 1, "a"),
            boxed(Outcome::Ok, 5, "b"),
            boxed(Outcome::Ok, 9, "c"),
        ])
        .await;
        assert_eq!(won, Ok("b"));
        let lost = fork(vec![
            boxed(Outcome::Transport, 1, "a"),
            boxed(Outcome::Service, 5, "b"),
        ])
        .await;
        assert_eq!(lost, Err(Fail(Outcome::Service, "b")));
    }
}
