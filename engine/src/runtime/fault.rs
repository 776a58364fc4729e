//! Faults a shard meets that are no peer's doing: handler code that panics where no request
//! can absorb it (a hand-written `Handler::call`, the auth hook, a task started with
//! [`crate::spawn`]), and a shard loop that cannot go on (a fatal io_uring error, or a panic
//! that escaped the shard loop).
//!
//! Each is contained where it happens (the connection it broke is closed, or the task
//! dropped), counted in the shard's counters ([`crate::ShardStats`]), logged once, and then
//! handled as [`FaultPolicy`] says: by default the process ends with a message naming the
//! shard and the fault, because a server that silently lost a core, or whose handlers panic
//! halfway through their work, is worse than one that restarts.
//!
//! What it never does: decide what happens to a connection (the caller closes it), or catch
//! a panic inside a handler's future (those become `[service internal error]` replies, as in
//! rpcx-go, in `inflight.rs`).

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use super::ShardCounters;

/// Exit status of a process ended by [`FaultPolicy::Exit`] (EX_SOFTWARE).
pub(crate) const FAULT_EXIT_STATUS: i32 = 70;

/// What a shard does after a fault (see the module docs of `runtime/fault.rs`): a panic in
/// handler code outside a handler's future, or a shard loop that had to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FaultPolicy {
    /// Log the fault and end the process with exit status 70 and a message on stderr. The
    /// default: a supervisor restarts a whole server, instead of it running on with fewer
    /// cores or with half-done handler work.
    #[default]
    Exit,
    /// Count the fault and carry on: the broken connection is closed (or the panicking task
    /// dropped); a failed shard stays stopped, visible in [`crate::Server::stats`] and
    /// [`crate::Server::is_healthy`].
    Contain,
}

/// A shard's fault reporter: counts, logs, applies the policy.
#[derive(Debug)]
pub(crate) struct Faults {
    shard: usize,
    policy: FaultPolicy,
    counters: Arc<ShardCounters>,
}

thread_local! {
    /// The reporter of the shard running on this thread, for tasks started with `spawn`.
    static CURRENT: RefCell<Option<Rc<Faults>>> = const { RefCell::new(None) };
}

impl Faults {
    pub(crate) fn new(shard: usize, policy: FaultPolicy, counters: Arc<ShardCounters>) -> Self {
        Self {
            shard,
            policy,
            counters,
        }
    }

    /// Handler code panicked where no request could absorb it; the caller has dropped what
    /// it broke (a connection, a task).
    pub(crate) fn handler_panicked(&self, panic: &(dyn Any + Send), wherein: &str) {
        self.counters.handler_panics.fetch_add(1, Ordering::Relaxed);
        let text = panic_text(panic);
        self.apply(&format!("handler code panicked in {wherein}: {text}"));
    }

    /// The shard's loop stopped for good (`what` says why).
    pub(crate) fn shard_failed(&self, what: &str) {
        self.counters.failed.store(true, Ordering::Relaxed);
        self.apply(&format!("the shard stopped: {what}"));
    }

    fn apply(&self, fault: &str) {
        let shard = self.shard;
        match self.policy {
            FaultPolicy::Exit => {
                tracing::error!(
                    shard,
                    fault,
                    "fault; ending the process (FaultPolicy::Exit)"
                );
                eprintln!(
                    "ringrpc: shard {shard}: {fault}. Ending the process (exit status \
                     {FAULT_EXIT_STATUS}); ServerConfig::fault_policy(FaultPolicy::Contain) \
                     would count it and keep serving instead"
                );
                std::process::exit(FAULT_EXIT_STATUS);
            }
            FaultPolicy::Contain => {
                tracing::error!(shard, fault, "fault contained (FaultPolicy::Contain)");
            }
        }
    }

    /// Makes `faults` the reporter of this thread's shard (`None` when the shard stops).
    pub(crate) fn install(faults: Option<Rc<Faults>>) {
        let old = CURRENT.with(|cell| cell.replace(faults));
        drop(old);
    }
}

/// Runs `f`, catching a panic: `Err` carries its payload for [`Faults::handler_panicked`].
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(f))
}

/// `future`, with a panic in any of its polls caught and reported to the shard's reporter
/// (the task then ends). Wraps the tasks of [`crate::spawn`].
pub(crate) async fn contained(future: impl Future<Output = ()>) {
    let mut future = pin!(future);
    let outcome = std::future::poll_fn(|cx| match contain(|| future.as_mut().poll(cx)) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(())) => Poll::Ready(None),
        Err(panic) => Poll::Ready(Some(panic)),
    })
    .await;
    if let Some(panic) = outcome {
        let reporter = CURRENT.with(|cell| cell.borrow().clone());
        match reporter {
            Some(faults) => faults.handler_panicked(panic.as_ref(), "a spawned task"),
            None => tracing::error!(panic = panic_text(panic.as_ref()), "a task panicked"),
        }
    }
}

/// The text of a panic payload (`&str` or `String`), else "panic".
pub(crate) fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Waker};

    use super::*;

    #[test]
    fn contained_faults_are_counted_and_spawned_panics_reported() {
        let counters = Arc::new(ShardCounters::default());
        let faults = Rc::new(Faults::new(0, FaultPolicy::Contain, counters.clone()));
        let panic = contain(|| panic!("boom")).unwrap_err();
        assert_eq!(panic_text(panic.as_ref()), "boom");
        faults.handler_panicked(panic.as_ref(), "Handler::call");
        assert_eq!(counters.handler_panics.load(Ordering::Relaxed), 1);

        Faults::install(Some(faults.clone()));
        let mut task = Box::pin(contained(async { panic!("{}", String::from("late")) }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut cx).is_ready(), "the task ends");
        assert_eq!(counters.handler_panics.load(Ordering::Relaxed), 2);
        Faults::install(None);

        faults.shard_failed("io_uring_enter: EBADF");
        assert!(counters.failed.load(Ordering::Relaxed));
    }
}
