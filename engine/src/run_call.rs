//! Running one handler call that did not finish on its first poll, on either driver: to its
//! end, to its `__ServerTimeout` deadline (PROTOCOL.md §4.6) or to the close of its
//! connection, whichever comes first, then handing the completion to the connection through
//! its link. The deadline timer is the shard's timer queue (`runtime/timers.rs`), whichever
//! driver fires it; the close is the connection's `Hangup` (`runtime/handler_tasks.rs`).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use crate::conn::{Call, Link};
use crate::runtime::handler_tasks::{Hangup, TaskPermit};
use crate::runtime::timers::Sleep;

/// How a handler task ended.
enum End {
    Finished,
    Expired,
    Hangup,
}

/// What a handler task needs besides its call: the connection's link (for the completion)
/// and hangup, and the task's place under the shard's cap.
pub(crate) struct CallTask {
    pub link: Rc<Link>,
    pub hangup: Rc<Hangup>,
    pub permit: TaskPermit,
}

/// Polls a call to the end, its deadline or its connection's close, whichever comes first.
/// A finished or expired call's completion goes to the link; the handler of a call whose
/// connection closed is dropped at once (its reply could never be sent).
pub(crate) async fn run_call(mut call: Call, task: CallTask) {
    let mut deadline = call.deadline().map(Sleep::until);
    let watch = task.hangup.watch();
    let end = poll_fn(|cx| {
        if watch.poll_fired(cx).is_ready() {
            return Poll::Ready(End::Hangup);
        }
        if call.poll(cx).is_ready() {
            return Poll::Ready(End::Finished);
        }
        match &mut deadline {
            Some(timer) => Pin::new(timer).poll(cx).map(|()| End::Expired),
            None => Poll::Pending,
        }
    })
    .await;
    match end {
        End::Finished => task.link.complete(call.finish()),
        End::Expired => task.link.complete(call.expire()),
        End::Hangup => {
            task.permit.count_cancelled();
            tracing::debug!(seq = call.seq(), "connection closed; handler dropped");
            // `expire` drops the handler's future (catching a panic in its destructor); the
            // completion is dropped with it: the connection is gone.
            drop(call.expire());
        }
    }
    drop(task.permit);
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::task::{Context, Waker};
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use ringrpc_codec::payload::SerializeType;
    use ringrpc_codec::{decode, encode_frame, Header, Limits, ERROR_KEY};

    use super::*;
    use crate::conn::{ConnConfig, Connection, DEADLINE_EXCEEDED};
    use std::sync::Arc;

    use crate::runtime::handler_tasks::HandlerTasks;
    use crate::runtime::{timers, ShardCounters};
    use crate::{HandlerError, Request, Response, Services};

    async fn never(_: Request) -> Result<Response, HandlerError> {
        pending::<()>().await;
        Ok(Response::new(Bytes::new()))
    }

    fn call_task(conn: &Connection) -> (CallTask, Rc<HandlerTasks>) {
        let counters = Arc::new(ShardCounters::default());
        let tasks = Rc::new(HandlerTasks::new(4, counters));
        let task = CallTask {
            link: conn.link().clone(),
            hangup: Rc::new(Hangup::default()),
            permit: tasks.permit(),
        };
        (task, tasks)
    }

    /// A connection whose one request (`Test.Never`, `__ServerTimeout: 50`) arrived at `t0`
    /// and is running away from the driver.
    fn running_call(t0: Instant) -> (Connection, Call) {
        let mut services = Services::new();
        services.register("Test", "Never", never);
        let mut conn = Connection::new(
            Rc::new(services),
            Rc::new(ConnConfig::default()),
            Link::detached(),
        );
        let mut frame = BytesMut::new();
        let header = Header::request(7, SerializeType::Json);
        encode_frame(
            &mut frame,
            &header,
            "Test",
            "Never",
            [("__ServerTimeout", "50")],
            b"",
        )
        .unwrap();
        conn.handle_received(&frame);
        let call = conn.poll_call(|| t0).expect("a call");
        let mut cx = Context::from_waker(Waker::noop());
        let call = conn.poll_inline(&mut cx, call).expect("still running");
        (conn, call)
    }

    #[test]
    fn the_deadline_fires_on_the_drivers_clock_and_the_client_gets_an_error() {
        // An hour ahead of the wall clock: only the timer queue's virtual time reaches it.
        let t0 = Instant::now() + Duration::from_secs(3600);
        let (mut conn, call) = running_call(t0);
        let (task, _tasks) = call_task(&conn);
        let mut run = Box::pin(run_call(call, task));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(run.as_mut().poll(&mut cx).is_pending());
        let mut due = Vec::new();
        timers::with(|t| t.fire(t0 + Duration::from_millis(49), &mut due));
        assert!(
            run.as_mut().poll(&mut cx).is_pending(),
            "49 ms: still running"
        );
        timers::with(|t| t.fire(t0 + Duration::from_millis(50), &mut due));
        assert_eq!(due.len(), 1, "the deadline fired");
        assert!(run.as_mut().poll(&mut cx).is_ready());

        conn.handle_link();
        let mut out = BytesMut::from(conn.poll_transmit().expect("a reply"));
        let reply = decode(&mut out, &Limits::default()).unwrap().unwrap();
        assert_eq!(reply.seq(), 7);
        assert_eq!(reply.metadata().get(ERROR_KEY), Some(DEADLINE_EXCEEDED));
        assert_eq!(conn.inflight_count(), 0);
    }

    #[test]
    fn a_closed_connection_drops_its_running_handler_at_once() {
        let t0 = Instant::now() + Duration::from_secs(3600);
        let (conn, call) = running_call(t0);
        let (task, tasks) = call_task(&conn);
        let hangup = task.hangup.clone();
        let mut run = Box::pin(run_call(call, task));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(run.as_mut().poll(&mut cx).is_pending());
        assert_eq!(tasks.running(), 1);
        hangup.fire();
        assert!(
            run.as_mut().poll(&mut cx).is_ready(),
            "ended without its deadline"
        );
        assert_eq!(tasks.running(), 0, "its place under the cap is free");
        assert_eq!(tasks.cancelled(), 1);
    }
}
