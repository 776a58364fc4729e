//! The shard's local executor: handler tasks that did not finish on their first poll, and
//! the wakers of connections.
//!
//! Tasks are `async-task` tasks spawned thread-locally (handlers may hold `!Send` state);
//! their schedule function pushes onto a lock-free queue, so a waker used from another thread
//! (a handler waiting on a cross-thread channel) is still correct: it queues the task and
//! rings the shard's doorbell if the shard is parked. Connection wakers (what a `Link` wakes
//! when a completion, a push or a control request arrives) queue the connection's key the
//! same way. The shard loop drains both queues on every turn.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Wake, Waker};

use async_task::{Runnable, Task};
use crossbeam_queue::SegQueue;

use super::doorbell::Doorbell;

/// What wakers of the shard queue, from any thread.
#[derive(Debug)]
pub(crate) struct ReadyQueue {
    runnables: SegQueue<Runnable>,
    conns: SegQueue<ConnId>,
    doorbell: Arc<Doorbell>,
}

/// A connection's slot key and generation (a reused slot gets a new generation, so a late
/// wake-up of a closed connection is recognised and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnId {
    pub key: u32,
    pub generation: u32,
}

struct ConnWaker {
    id: ConnId,
    ready: Arc<ReadyQueue>,
}

impl Wake for ConnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.conns.push(self.id);
        self.ready.doorbell.notify();
    }
}

/// The shard's tasks. Dropping it cancels (drops) every task still alive, on this thread.
/// Tasks may be spawned while others run (`spawn` takes `&self`: the shard's spawner for
/// [`crate::spawn`] holds a reference); no borrow is held while a task runs.
pub(crate) struct Executor {
    ready: Arc<ReadyQueue>,
    tasks: RefCell<Vec<Option<Task<()>>>>,
    free: RefCell<Vec<usize>>,
    finished: Rc<RefCell<Vec<usize>>>,
}

impl Executor {
    pub(crate) fn new(doorbell: Arc<Doorbell>) -> Self {
        Self {
            ready: Arc::new(ReadyQueue {
                runnables: SegQueue::new(),
                conns: SegQueue::new(),
                doorbell,
            }),
            tasks: RefCell::default(),
            free: RefCell::default(),
            finished: Rc::default(),
        }
    }

    /// The waker a connection's `Link` wakes.
    pub(crate) fn conn_waker(&self, id: ConnId) -> Waker {
        Waker::from(Arc::new(ConnWaker {
            id,
            ready: self.ready.clone(),
        }))
    }

    /// Starts `future` as a task; it is first polled on the next [`Executor::run`].
    pub(crate) fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        let key = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut tasks = self.tasks.borrow_mut();
            tasks.push(None);
            tasks.len() - 1
        });
        let finished = self.finished.clone();
        let future = async move {
            future.await;
            finished.borrow_mut().push(key);
        };
        let ready = self.ready.clone();
        let (runnable, task) = async_task::spawn_local(future, move |runnable| {
            ready.runnables.push(runnable);
            ready.doorbell.notify();
        });
        self.tasks.borrow_mut()[key] = Some(task);
        runnable.schedule();
    }

    /// Polls up to `budget` ready tasks. Returns how many ran.
    pub(crate) fn run(&self, budget: usize) -> usize {
        let mut ran = 0;
        while ran < budget {
            let Some(runnable) = self.ready.runnables.pop() else {
                break;
            };
            runnable.run();
            ran += 1;
        }
        let mut finished = self.finished.borrow_mut();
        if !finished.is_empty() {
            let (mut tasks, mut free) = (self.tasks.borrow_mut(), self.free.borrow_mut());
            for key in finished.drain(..) {
                tasks[key] = None;
                free.push(key);
            }
        }
        ran
    }

    /// A connection woken since the last call.
    pub(crate) fn pop_woken_conn(&self) -> Option<ConnId> {
        self.ready.conns.pop()
    }

    /// Whether anything is queued (then the shard must not block).
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.runnables.is_empty() || !self.ready.conns.is_empty()
    }

    /// Tasks alive (running or waiting).
    #[cfg(test)]
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len() - self.free.borrow().len()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Cancelling drops each future here, on the shard thread, as `spawn_local` requires;
        // then queued runnables of cancelled tasks are dropped here too.
        self.tasks.get_mut().clear();
        while self.ready.runnables.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::task::Poll;

    use super::*;

    fn executor() -> Executor {
        Executor::new(Arc::new(Doorbell::new().unwrap()))
    }

    #[test]
    fn runs_tasks_and_frees_their_slots() {
        let executor = executor();
        let hits = Rc::new(Cell::new(0));
        for _ in 0..3 {
            let hits = hits.clone();
            executor.spawn(async move { hits.set(hits.get() + 1) });
        }
        assert_eq!(executor.task_count(), 3);
        assert_eq!(executor.run(2), 2);
        assert_eq!(executor.run(10), 1);
        assert_eq!(hits.get(), 3);
        assert_eq!(executor.task_count(), 0);
        assert!(!executor.has_ready());
    }

    #[test]
    fn a_task_woken_from_another_thread_runs_again() {
        let executor = executor();
        let slot: Arc<std::sync::Mutex<Option<Waker>>> = Arc::default();
        let done = Rc::new(Cell::new(false));
        let (slot2, done2) = (slot.clone(), done.clone());
        let mut polled = false;
        executor.spawn(async move {
            std::future::poll_fn(|cx| {
                if polled {
                    return Poll::Ready(());
                }
                polled = true;
                *slot2.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            done2.set(true);
        });
        executor.run(10);
        assert!(!done.get() && !executor.has_ready());
        let waker = slot.lock().unwrap().take().unwrap();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        assert!(executor.has_ready());
        executor.run(10);
        assert!(done.get());
    }

    #[test]
    fn conn_wakers_queue_their_id_and_dropping_cancels_tasks() {
        let executor = executor();
        let id = ConnId {
            key: 7,
            generation: 3,
        };
        executor.conn_waker(id).wake();
        assert_eq!(executor.pop_woken_conn(), Some(id));
        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let flag = Flag(dropped.clone());
        executor.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        executor.run(1);
        drop(executor);
        assert!(dropped.get());
    }
}
