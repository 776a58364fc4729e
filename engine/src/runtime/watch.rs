//! [`ConnWatch`]: what the shard's sweep checks on every connection, sans IO: idle too
//! long, a frame begun and not finished in time (a slow sender), output the peer takes none
//! of (a slow reader); and [`sweep_period`], how often the shard sweeps.
//!
//! Activity is a complete frame received or output taken by the kernel. Bytes that do not
//! complete a frame are not activity: a peer trickling one byte a second neither keeps its
//! connection from the idle timeout nor escapes the frame timeout.
//!
//! What it never does: read the clock (every sweep gets `now` from the driver) or close a
//! connection itself (it asks, through the link, with a [`Control`]).

use std::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::conn::{Control, Link};

/// How often the shard sweeps its connections: a quarter of the shortest timeout (so each
/// is noticed within 1.25 times itself), at least 1 ms; `None` if no timeout is set.
pub(crate) fn sweep_period(config: &ServerConfig) -> Option<Duration> {
    [
        config.idle_timeout,
        config.frame_timeout,
        config.send_timeout,
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|shortest| (shortest / 4).max(Duration::from_millis(1)))
}

/// One connection as the shard's sweep sees it: what it last saw of the link's counters and
/// since when each condition holds. Time comes only from the sweeps' `now`, so a condition
/// is dated by the first sweep that saw it.
///
/// - idle: no complete frame received and no output taken since `idle_since`;
/// - slow sender: a frame half received, and no frame completed, since `frame_since`;
/// - slow reader: output waiting, and none of it taken, since `send_since`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnWatch {
    frames: u64,
    sent_bytes: u64,
    idle_since: Option<Instant>,
    frame_since: Option<Instant>,
    send_since: Option<Instant>,
}

impl ConnWatch {
    pub(crate) fn new(link: &Link) -> Self {
        Self {
            frames: link.frames(),
            sent_bytes: link.sent_bytes(),
            ..Self::default()
        }
    }

    /// One sweep at `now`: asks the connection to close (send timeout, then frame timeout)
    /// or to check whether it is idle (the connection knows whether requests are in flight),
    /// once a condition has held for its timeout.
    pub(crate) fn sweep(&mut self, link: &Link, now: Instant) {
        let (frames, sent_bytes) = (link.frames(), link.sent_bytes());
        let received = frames != self.frames;
        let sent = sent_bytes != self.sent_bytes;
        (self.frames, self.sent_bytes) = (frames, sent_bytes);
        let since = |held: bool, reset: bool, at: Option<Instant>| match at {
            Some(at) if held && !reset => Some(at),
            _ => held.then_some(now),
        };
        self.idle_since = since(true, received || sent, self.idle_since);
        self.frame_since = since(link.is_receiving(), received, self.frame_since);
        self.send_since = since(link.unsent_bytes() > 0, sent, self.send_since);
        let timeouts = link.bounds().timeouts();
        let over = |at: Option<Instant>, timeout: Option<Duration>| {
            at.zip(timeout)
                .is_some_and(|(at, timeout)| now.saturating_duration_since(at) >= timeout)
        };
        if over(self.send_since, timeouts.send) {
            link.request(Control::SendTimeout);
        } else if over(self.frame_since, timeouts.frame) {
            link.request(Control::FrameTimeout);
        } else if over(self.idle_since, timeouts.idle) {
            link.request(Control::IdleCheck);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use bytes::BytesMut;
    use ringrpc_codec::{encode_frame, Header, NO_METADATA};

    use super::*;
    use crate::conn::{ConnConfig, Connection, ShardBounds, Timeouts};
    use crate::error::CloseCause;
    use crate::runtime::policy::{close_step, CloseStep};
    use crate::{SerializeType, Services};

    /// A connection serving `Echo.Echo` whose shard applies `timeouts`.
    fn watched(timeouts: Timeouts) -> Connection {
        let bounds = ShardBounds::new(usize::MAX, 1 << 20, timeouts, Default::default());
        let mut services = Services::new();
        services.register("Echo", "Echo", |request: crate::Request| async move {
            Ok::<_, crate::HandlerError>(crate::Response::new(request.into_payload()))
        });
        let link = Link::detached_with(Rc::new(bounds));
        Connection::new(Rc::new(services), Rc::new(ConnConfig::default()), link)
    }

    fn echo_frame() -> Vec<u8> {
        let mut out = BytesMut::new();
        let header = Header::request(1, SerializeType::None);
        encode_frame(&mut out, &header, "Echo", "Echo", NO_METADATA, b"hi").unwrap();
        out.to_vec()
    }

    /// Dispatches what was received, answering each request inline.
    fn serve(conn: &mut Connection, t0: Instant) {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        conn.handle_link();
        while let Some(call) = conn.poll_call(|| t0) {
            assert!(conn.poll_inline(&mut cx, call).is_none());
        }
    }

    /// A watched connection (see [`watched`]) that received `frames` echo requests and
    /// answered them, with its link and a watch started before.
    fn answered(
        timeouts: Timeouts,
        frames: usize,
        t0: Instant,
    ) -> (Connection, Rc<Link>, ConnWatch) {
        let mut conn = watched(timeouts);
        let link = conn.link().clone();
        let watch = ConnWatch::new(&link);
        conn.handle_received(&echo_frame().repeat(frames));
        serve(&mut conn, t0);
        (conn, link, watch)
    }

    /// The kernel takes one byte of the send in flight at `t0`, then none: the send timeout
    /// (2 s) is due at `t0 + 3 s`, not before, and the connection is asked to apply it.
    fn one_byte_taken_then_none(
        conn: &mut Connection,
        link: &Link,
        watch: &mut ConnWatch,
        t0: Instant,
    ) {
        watch.sweep(link, t0);
        conn.handle_sent_owned(1);
        watch.sweep(link, t0 + SECOND);
        watch.sweep(link, t0 + 2 * SECOND);
        assert_eq!(link.take_control(), None, "a byte taken restarts the clock");
        watch.sweep(link, t0 + 3 * SECOND);
        assert_eq!(link.take_control(), Some(Control::SendTimeout));
        link.request(Control::SendTimeout);
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_frame_begun_and_not_finished_in_time_closes_its_connection() {
        let t0 = Instant::now();
        let mut conn = watched(Timeouts {
            frame: Some(SECOND),
            ..Timeouts::default()
        });
        let frame = echo_frame();
        let link = conn.link().clone();
        let mut watch = ConnWatch::new(&link);
        conn.handle_received(&frame[..20]);
        serve(&mut conn, t0);
        assert!(link.is_receiving());
        watch.sweep(&link, t0);
        // One more byte a sweep: trickling does not restart the clock.
        for (i, byte) in frame[20..24].iter().enumerate() {
            conn.handle_received(std::slice::from_ref(byte));
            serve(&mut conn, t0);
            watch.sweep(&link, t0 + SECOND / 5 * (i as u32 + 1));
            assert_eq!(link.take_control(), None);
        }
        watch.sweep(&link, t0 + SECOND);
        assert_eq!(link.take_control(), Some(Control::FrameTimeout));
        link.request(Control::FrameTimeout);
        serve(&mut conn, t0);
        assert!(conn.is_closed());
        assert!(matches!(conn.take_cause(), Some(CloseCause::FrameTimeout)));
    }

    #[test]
    fn only_whole_frames_and_sent_output_count_as_activity() {
        let t0 = Instant::now();
        let timeouts = Timeouts {
            idle: Some(10 * SECOND),
            ..Timeouts::default()
        };
        let (mut conn, link, mut watch) = answered(timeouts, 1, t0);
        let n = conn.poll_transmit().unwrap().len();
        conn.handle_sent(n);
        watch.sweep(&link, t0);
        for byte in &echo_frame()[..9] {
            conn.handle_received(std::slice::from_ref(byte));
            serve(&mut conn, t0);
            watch.sweep(&link, t0 + 9 * SECOND);
            assert_eq!(link.take_control(), None);
        }
        watch.sweep(&link, t0 + 10 * SECOND);
        assert_eq!(link.take_control(), Some(Control::IdleCheck));
    }

    #[test]
    fn output_the_peer_takes_none_of_closes_its_connection_and_drops_it() {
        let t0 = Instant::now();
        let timeouts = Timeouts {
            send: Some(2 * SECOND),
            ..Timeouts::default()
        };
        let (mut conn, link, mut watch) = answered(timeouts, 2, t0);
        let bytes = conn.poll_transmit_owned().unwrap();
        assert_eq!(
            link.unsent_bytes(),
            bytes.len(),
            "a send in flight is unsent"
        );
        one_byte_taken_then_none(&mut conn, &link, &mut watch, t0);
        serve(&mut conn, t0);
        assert!(conn.is_closed() && conn.is_output_dropped());
        assert_eq!(
            link.unsent_bytes(),
            bytes.len() - 1,
            "the send in flight stays unsent until the driver gives it up"
        );
        conn.handle_io_error(std::io::Error::from_raw_os_error(libc::ECANCELED));
        assert_eq!(link.unsent_bytes(), 0);
        assert_eq!(close_step(conn.take_cause(), 0, "peer"), CloseStep::Reset);
    }

    #[test]
    fn a_send_left_in_flight_by_a_close_stays_unsent_and_on_the_send_clock() {
        let t0 = Instant::now();
        let timeouts = Timeouts {
            send: Some(2 * SECOND),
            ..Timeouts::default()
        };
        let (mut conn, link, mut watch) = answered(timeouts, 1, t0);
        let bytes = conn.poll_transmit_owned().unwrap();
        assert_eq!(conn.poll_transmit_owned(), None);
        // A bad frame: the connection closes at once, its output all in the driver's send.
        conn.handle_received(&[0u8; 16]);
        serve(&mut conn, t0);
        assert!(conn.is_closed() && !conn.is_output_dropped());
        assert_eq!(
            link.unsent_bytes(),
            bytes.len(),
            "the send in flight is unsent"
        );
        one_byte_taken_then_none(&mut conn, &link, &mut watch, t0);
        assert_eq!(link.unsent_bytes(), bytes.len() - 1);
        conn.handle_link();
        assert!(
            conn.is_output_dropped(),
            "the driver is told to give the send up"
        );
        conn.handle_sent_owned(bytes.len() - 1);
        assert_eq!(
            link.unsent_bytes(),
            0,
            "a send that completed after all owes nothing"
        );
    }

    #[test]
    fn the_sweep_runs_four_times_per_shortest_timeout() {
        let config = ServerConfig::default()
            .idle_timeout(Some(8 * SECOND))
            .frame_timeout(None)
            .send_timeout(Some(4 * SECOND));
        assert_eq!(sweep_period(&config), Some(SECOND));
        let none = config.idle_timeout(None).send_timeout(None);
        assert_eq!(sweep_period(&none), None);
    }
}
