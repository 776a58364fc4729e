//! [`spawn`]: a task on the current shard, on either driver. Each driver installs its way of
//! starting a task in a thread-local of the shard thread when the shard starts
//! ([`set_spawner`]) and removes it when the shard stops; this file never knows which driver
//! that is.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

/// A task as a driver starts it (boxed once: spawning is not on the request path).
pub(crate) type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

/// How the shard's driver starts a task.
pub(crate) type Spawner = Box<dyn Fn(LocalTask)>;

thread_local! {
    static SPAWNER: RefCell<Option<Spawner>> = const { RefCell::new(None) };
}

/// Installs (`Some`) or removes (`None`) the current thread's spawner.
pub(crate) fn set_spawner(spawner: Option<Spawner>) {
    // Swapped out first, so a spawner dropped here cannot find the cell borrowed.
    let old = SPAWNER.with(|cell| cell.replace(spawner));
    drop(old);
}

/// Starts `future` as a task of the current shard, next to the handlers: it runs on this
/// thread (it may hold `!Send` state) until it finishes or the shard stops. Works on both
/// drivers; call it from a handler, the setup function, or a task it spawned.
///
/// # Panics
///
/// If called on a thread that is not a running shard (there is nothing to run the task).
///
/// ```no_run
/// use ringrpc_engine::{HandlerError, Request, Response};
///
/// async fn audit(request: Request) -> Result<Response, HandlerError> {
///     let seq = request.seq();
///     // Runs later on this shard; the reply does not wait for it.
///     ringrpc_engine::spawn(async move {
///         ringrpc_engine::sleep(std::time::Duration::from_millis(10)).await;
///         println!("request {seq} answered 10 ms ago");
///     });
///     Ok(Response::new(request.into_payload()))
/// }
/// ```
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    let task: LocalTask = Box::pin(future);
    SPAWNER.with(|cell| match cell.borrow().as_ref() {
        Some(spawner) => spawner(task),
        None => panic!("ringrpc_engine::spawn called outside a shard thread"),
    });
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::{Context, Waker};

    use super::*;

    #[test]
    fn spawn_goes_to_the_installed_spawner() {
        let queue: Rc<RefCell<Vec<LocalTask>>> = Rc::default();
        let sink = queue.clone();
        set_spawner(Some(Box::new(move |task| sink.borrow_mut().push(task))));
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        spawn(async move { flag.set(true) });
        let mut cx = Context::from_waker(Waker::noop());
        for mut task in queue.borrow_mut().drain(..) {
            assert!(task.as_mut().poll(&mut cx).is_ready());
        }
        assert!(ran.get());
        set_spawner(None);
        let off_shard = std::panic::catch_unwind(|| spawn(async {}));
        assert!(off_shard.is_err(), "no shard, no spawn");
    }
}
