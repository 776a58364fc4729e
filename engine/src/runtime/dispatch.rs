//! One dispatch step of a connection, the same on both drivers: take the calls its received
//! frames hold, run each once inline, start a task for each that did not finish, within the
//! shard's cap on handler tasks, and contain a panic of handler code that runs here.
//!
//! What it never does: read, write or park (the driver does), or poll a task (the driver's
//! executor does, through [`SpawnCall`]).

use std::future::Future;
use std::rc::Rc;
use std::task::Context;
use std::time::Instant;

use super::fault;
use super::handler_tasks::Hangup;
use super::ShardCore;
use crate::run_call::{run_call, CallTask};
use crate::tls::Transport;

/// How a driver starts a handler task on its executor.
pub(crate) trait SpawnCall {
    fn spawn_call(&self, task: impl Future<Output = ()> + 'static);
}

/// What one dispatch step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dispatched {
    /// At least one request was taken off the receive buffer.
    pub progress: bool,
    /// The shard is at its cap on handler tasks: the connection must not read until woken
    /// (its waker is registered with the cap).
    pub at_cap: bool,
}

impl ShardCore {
    /// Dispatches every call `conn` has ready (see the module docs). `cx` carries the
    /// connection's waker: inline polls register it, and so does the cap when it is reached.
    /// A panic in handler code run here (a hand-written `Handler::call`, the auth hook)
    /// closes the connection and is reported as a fault (`fault.rs`).
    pub(crate) fn dispatch(
        &self,
        conn: &mut Transport,
        cx: &mut Context<'_>,
        hangup: &Rc<Hangup>,
        spawner: &impl SpawnCall,
    ) -> Dispatched {
        let mut step = Dispatched::default();
        let result = fault::contain(|| loop {
            if self.tasks.poll_room(cx).is_pending() {
                step.at_cap = true;
                return;
            }
            let Some(call) = conn.poll_call(Instant::now) else {
                return;
            };
            step.progress = true;
            if let Some(call) = conn.poll_inline(cx, call) {
                let task = CallTask {
                    link: conn.link().clone(),
                    hangup: hangup.clone(),
                    permit: self.tasks.permit(),
                };
                spawner.spawn_call(run_call(call, task));
            }
        });
        if let Err(panic) = result {
            self.faults
                .handler_panicked(panic.as_ref(), "Handler::call or the auth hook");
            conn.handle_io_error(std::io::Error::other(format!(
                "handler code panicked: {}",
                fault::panic_text(panic.as_ref())
            )));
            step.progress = true;
        }
        step
    }
}
