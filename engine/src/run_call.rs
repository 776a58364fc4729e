//! Running one handler call that did not finish on its first poll, on either driver: to its
//! end or to its `__ServerTimeout` deadline, whichever comes first (PROTOCOL.md §4.6), then
//! handing the completion to the connection through its link. The deadline timer is the
//! shard's timer queue (`runtime/timers.rs`), whichever driver fires it.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use crate::conn::{Call, Link};
use crate::runtime::timers::Sleep;

/// Polls a call to the end or to its deadline, whichever comes first, and delivers the
/// completion through the connection's link.
pub(crate) async fn run_call(mut call: Call, link: Rc<Link>) {
    let mut deadline = call.deadline().map(Sleep::until);
    let finished = poll_fn(|cx| {
        if call.poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        match &mut deadline {
            Some(timer) => Pin::new(timer).poll(cx).map(|()| false),
            None => Poll::Pending,
        }
    })
    .await;
    link.complete(if finished {
        call.finish()
    } else {
        call.expire()
    });
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
    use crate::runtime::timers;
    use crate::{HandlerError, Request, Response, Services};

    async fn never(_: Request) -> Result<Response, HandlerError> {
        pending::<()>().await;
        Ok(Response::new(Bytes::new()))
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
        let mut run = Box::pin(run_call(call, conn.link().clone()));
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
}
