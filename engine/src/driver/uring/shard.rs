//! One io_uring shard: its ring, buffers, connections, tasks and timers, and the loop that
//! is its only park point.
//!
//! One turn of [`Shard::run`]:
//! 1. reap every completion (accepts, received buffers, finished sends, the server's
//!    commands on the control socket, the doorbell of cross-thread wakers);
//! 2. put back the receive buffers whose frames are done with, and fire due timers;
//! 3. run the handler tasks that are ready;
//! 4. drive each connection that something happened to: dispatch its frames, start its
//!    one send with everything it produced, pause or resume its recv, close it (`conn.rs`);
//! 5. wait in `io_uring_enter` (submitting everything queued in the same call) until a
//!    completion arrives or the earliest timer is due; not at all if work is ready. The
//!    completion of a send that nothing waits behind does not count (`Shard::enter`): at one
//!    call in flight, a call costs one `io_uring_enter`, not two.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{cqueue, types, IoUring};
use socket2::Socket;

use super::buf_ring::BufRing;
use super::conn::{ConnSlot, Phase};
use super::doorbell::Doorbell;
use super::executor::{ConnId, Executor};
use super::ops::{self, Op};
use super::probe::{self, Facts};
use super::slots::Slots;
use crate::config::ServerConfig;
use crate::conn::Control;
use crate::error::StartError;
use crate::runtime::policy::{AcceptBackoff, Stop, StopStep};
use crate::runtime::{spawn, timers, Command, ShardCore, ShardPlan};

/// Handler tasks polled per turn before the shard looks at the network again.
const TASK_BUDGET: usize = 256;
/// How often a shard whose recvs ran out of receive buffers looks for held buffers that
/// came back (nothing wakes it when a handler drops one on another thread).
const STARVED_RECHECK: Duration = Duration::from_millis(1);
/// How long a wait that does not count the completions of quiet sends lasts at most: the
/// delay that a completion arriving alone can see if one of those sends did not complete at
/// once (its socket was full), see `Shard::enter`.
const QUIET_SEND_WAIT: Duration = Duration::from_millis(5);
/// How long the shard waits, at exit, for the kernel to give up its last operations.
const EXIT_GRACE: Duration = Duration::from_secs(1);

pub(super) struct Shard {
    // Field order is drop order: the ring goes first, so the kernel has stopped using the
    // buffer ring, the doorbell buffer and the connections' send buffers before they go.
    pub(super) ring: IoUring,
    pub(super) bufs: BufRing,
    pub(super) executor: Rc<Executor>,
    pub(super) conns: Slots,
    pub(super) dirty: Vec<ConnId>,
    pub(super) starved: Vec<ConnId>,
    /// Connections that started a send this turn.
    pub(super) sent: Vec<ConnId>,
    pub(super) lingering: VecDeque<(Instant, ConnId)>,
    /// Below this many free receive buffers, received bytes are copied instead of held.
    pub(super) hold_low_water: usize,
    pub(super) core: ShardCore,
    config: ServerConfig,
    listener: Option<Socket>,
    accept_armed: bool,
    accept_backoff: AcceptBackoff,
    doorbell: Arc<Doorbell>,
    doorbell_buf: Box<[u8; 8]>,
    doorbell_armed: bool,
    control: OwnedFd,
    control_buf: Box<[u8; 16]>,
    control_armed: bool,
    stop: Stop,
    cqes: Vec<(u64, i32, u32)>,
    due: Vec<Waker>,
}

impl Shard {
    /// Builds the ring and registers the buffer ring; runs `setup` for the handlers.
    pub(super) fn new(plan: ShardPlan, doorbell: Arc<Doorbell>) -> Result<Self, StartError> {
        let ShardPlan {
            id,
            listener,
            config,
            setup,
            counters,
            control,
            tls,
            ..
        } = plan;
        let uring_error = |(reason, fix)| StartError::Uring {
            shard: id,
            reason,
            fix,
        };
        let facts = Facts::gather();
        let ring = probe::build_ring(config.uring.ring_entries, &facts).map_err(uring_error)?;
        let bufs = BufRing::new(config.uring.buffer_count, config.uring.buffer_size_bytes)
            .map_err(StartError::Config)?;
        // SAFETY: the entries live in `bufs`, which this shard owns and drops after `ring`
        // (field order), so they stay valid for as long as the registration.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.ring_addr(),
                bufs.count(),
                ops::BUF_GROUP,
                0,
            )
        }
        .map_err(|e| uring_error(probe::diagnose("registering the buffer ring", &e, &facts)))?;
        // Before the setup function, which may spawn tasks.
        let executor = Rc::new(Executor::new(doorbell.clone()));
        install_spawner(&executor);
        timers::set_driven(true);
        let core = ShardCore::new(id, &config, &setup, counters, tls);
        Ok(Self {
            hold_low_water: usize::from(bufs.count()) / 4,
            ring,
            bufs,
            executor,
            conns: Slots::default(),
            dirty: Vec::new(),
            starved: Vec::new(),
            sent: Vec::new(),
            lingering: VecDeque::new(),
            core,
            config,
            listener: Some(listener),
            accept_armed: false,
            accept_backoff: AcceptBackoff::default(),
            doorbell,
            doorbell_buf: Box::new([0; 8]),
            doorbell_armed: false,
            control: control.into_fd(),
            control_buf: Box::new([0; 16]),
            control_armed: false,
            stop: Stop::default(),
            cqes: Vec::with_capacity(256),
            due: Vec::new(),
        })
    }

    /// Serves until stopped and drained.
    pub(super) fn run(mut self) {
        tracing::debug!(shard = self.core.id, "io_uring shard started");
        loop {
            self.reap();
            let now = Instant::now();
            self.fire_timers(now);
            self.executor.run(TASK_BUDGET);
            while let Some(id) = self.executor.pop_woken_conn() {
                self.mark_dirty(id);
            }
            // Twice: buffers released while connections were driven (replies encoded, frames
            // dropped) must be back before the shard blocks, or recvs that ran dry (ENOBUFS)
            // and wait for them would only be re-armed by some unrelated wake-up.
            for _ in 0..2 {
                self.bufs.reclaim();
                self.rearm_starved();
                while let Some(id) = self.dirty.pop() {
                    self.drive(id);
                }
            }
            self.bufs.publish();
            match self.stop.poll(now, self.conns.len()) {
                StopStep::Done => break,
                StopStep::Abort => self.request_all(Control::Abort),
                StopStep::Serve | StopStep::Wait { .. } => {}
            }
            // Last, after every reap: the doorbell, control and accept reads whose completions
            // were just handled must be posted again before the shard parks, or a waker on
            // another thread, a stop command or a new connection would find nothing to
            // complete and the shard would sleep through it.
            self.arm_listener_and_doorbell();
            if let Err(e) = self.enter(now) {
                self.core
                    .faults
                    .shard_failed(&format!("io_uring_enter failed: {e}"));
                break;
            }
        }
        let confirmed = self.exit();
        spawn::set_spawner(None);
        timers::set_driven(false);
        tracing::debug!(shard = self.core.id, "io_uring shard stopped");
        self.teardown(confirmed);
    }

    /// Lets connections whose recv ended for lack of buffers arm it again, if any are free.
    fn rearm_starved(&mut self) {
        if self.bufs.available() == 0 {
            return;
        }
        for id in std::mem::take(&mut self.starved) {
            if let Some(slot) = self.conns.get_mut(id) {
                slot.starved = false;
            }
            self.mark_dirty(id);
        }
    }

    fn arm_listener_and_doorbell(&mut self) {
        if !self.doorbell_armed {
            let entry = ops::doorbell_read(self.doorbell.raw_fd(), self.doorbell_buf.as_mut_ptr());
            // SAFETY: `doorbell_buf` is owned by the shard, outlives the ring (field order)
            // and is written by nobody but this read, which is re-posted only after its
            // completion was reaped (`doorbell_armed`).
            self.doorbell_armed = unsafe { ops::push(&mut self.ring, &entry) }.is_ok();
        }
        if !self.control_armed && !self.stop.is_stopping() {
            let buf = self.control_buf.as_mut_ptr();
            let entry = ops::control_read(self.control.as_raw_fd(), buf, 16);
            // SAFETY: as for the doorbell: `control_buf` is the shard's, outlives the ring and
            // has one read at a time (`control_armed`).
            self.control_armed = unsafe { ops::push(&mut self.ring, &entry) }.is_ok();
        }
        let Some(listener) = &self.listener else {
            return;
        };
        let retry_due = self.accept_backoff.is_due(Instant::now());
        if !self.accept_armed && !self.stop.is_stopping() && retry_due {
            let entry = ops::accept(listener.as_raw_fd());
            // SAFETY: multishot accept with no address buffers: the entry points to no memory.
            self.accept_armed = unsafe { ops::push(&mut self.ring, &entry) }.is_ok();
        }
    }

    /// Handles every completion waiting in the completion queue.
    fn reap(&mut self) {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(user_data, result, flags) in &cqes {
            match ops::parse_user_data(user_data) {
                Some((Op::Recv, id)) => self.on_recv(id, result, flags),
                Some((Op::Send, id)) => self.on_send(id, result),
                Some((Op::Accept, _)) => self.on_accept(result, flags),
                Some((Op::Doorbell, _)) => self.doorbell_armed = false,
                Some((Op::Control, _)) => self.on_control(result),
                Some((Op::Cancel, _)) | None => {}
            }
        }
        cqes.clear();
        self.cqes = cqes;
    }

    fn on_accept(&mut self, result: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.accept_armed = false;
        }
        if result < 0 {
            if result != -libc::ECANCELED {
                let error = io::Error::from_raw_os_error(-result);
                self.accept_backoff
                    .failed(Instant::now(), self.core.id, &error);
            }
            return;
        }
        self.accept_backoff.succeeded();
        // SAFETY: a successful accept completion's result is a new descriptor, ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(result) };
        let socket = socket2::SockRef::from(&fd);
        let peer = socket.peer_addr().ok().and_then(|addr| addr.as_socket());
        if self.stop.is_stopping() || !self.core.admit(self.conns.len(), peer) {
            return;
        }
        if let Err(e) = socket.set_tcp_nodelay(true) {
            tracing::debug!(shard = self.core.id, ?peer, error = %e, "TCP_NODELAY not set");
        }
        let id = self.conns.vacant();
        let slot = ConnSlot::new(self.core.open(peer), fd, self.executor.conn_waker(id));
        self.conns.fill(id, slot);
        self.mark_dirty(id);
    }

    /// Commands from the server, one byte each; a closed channel means stop.
    fn on_control(&mut self, result: i32) {
        self.control_armed = false;
        if result == -libc::EINTR {
            return;
        }
        let received = usize::try_from(result)
            .ok()
            .map(|n| n.min(self.control_buf.len()));
        let buf = *self.control_buf;
        for command in Command::parse(received.map(|n| &buf[..n])) {
            match command {
                Command::SweepIdle => {
                    let now = Instant::now();
                    for slot in self.conns.iter_mut() {
                        slot.sweep(now);
                    }
                }
                Command::ReloadTls => self.core.reload_tls(),
                Command::Stop => self.begin_stop(),
            }
        }
    }

    /// Stop accepting; ask every connection to finish what it received and close.
    fn begin_stop(&mut self) {
        let (now, open) = (Instant::now(), self.conns.len());
        if !self
            .stop
            .begin(now, self.config.drain_timeout, self.core.id, open)
        {
            return;
        }
        if self.accept_armed {
            let entry = ops::cancel(ops::user_data(
                Op::Accept,
                ConnId {
                    key: 0,
                    generation: 0,
                },
            ));
            // SAFETY: a cancel points to no memory.
            let _ = unsafe { ops::push(&mut self.ring, &entry) };
        }
        // The accept in flight keeps its own reference to the socket until it is cancelled.
        self.listener = None;
        self.request_all(Control::Drain);
    }

    fn request_all(&mut self, control: Control) {
        for slot in self.conns.iter_mut() {
            slot.conn.link().request(control);
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        timers::with(|timers| timers.fire(now, &mut self.due));
        self.due.drain(..).for_each(Waker::wake);
        while let Some(&(until, id)) = self.lingering.front() {
            if until > now {
                break;
            }
            self.lingering.pop_front();
            if let Some(slot) = self.conns.get_mut(id) {
                if matches!(slot.phase, Phase::Lingering(_)) {
                    slot.phase = Phase::Closing;
                    self.mark_dirty(id);
                }
            }
        }
    }

    /// Submits what is queued and waits for a completion, at most until the next timer.
    fn enter(&mut self, now: Instant) -> io::Result<()> {
        let (free, total) = (self.bufs.available(), usize::from(self.bufs.count()));
        self.core.publish_ring(free, total, self.starved.len());
        self.doorbell.set_parked(true);
        // Anything queued before `parked` was set did not ring the doorbell: ready tasks
        // mean this turn must not block.
        let quiet = self.quiet_sends();
        let result = if self.executor.has_ready() {
            self.submit_and_reap()
        } else {
            // A send submitted now usually completes during this very call; if nothing waits
            // behind it, its completion is no reason to wake, so the wait asks for one
            // completion more per such send. Should one not complete at once (its socket is
            // full), a lone later completion could wait for it: `QUIET_SEND_WAIT` bounds that.
            let quiet_until = (quiet > 0).then(|| now + QUIET_SEND_WAIT);
            let want = 1 + quiet;
            match self.next_wakeup(now).into_iter().chain(quiet_until).min() {
                None => self.ring.submit_and_wait(want).map(drop),
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    let timeout = types::Timespec::from(wait);
                    let args = types::SubmitArgs::new().timespec(&timeout);
                    self.ring
                        .submitter()
                        .submit_with_args(want, &args)
                        .map(drop)
                }
            }
        };
        self.doorbell.set_parked(false);
        match result {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// How many of this turn's sends are quiet (`ConnSlot::send_is_quiet`); forgets them.
    fn quiet_sends(&mut self) -> usize {
        let mut quiet = 0;
        for id in self.sent.drain(..) {
            quiet += usize::from(
                self.conns
                    .get_mut(id)
                    .is_some_and(|slot| slot.send_is_quiet()),
            );
        }
        quiet
    }

    /// Submits without waiting, but still runs the deferred completions (GETEVENTS: with
    /// DEFER_TASKRUN a plain submit never reaps).
    fn submit_and_reap(&mut self) -> io::Result<()> {
        let queued = {
            let mut sq = self.ring.submission();
            sq.sync();
            sq.len() as u32
        };
        let getevents = io_uring::EnterFlags::GETEVENTS.bits();
        // SAFETY: no argument pointer is passed (`None`), the count is what is queued.
        unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(queued, 0, getevents, None)
        }
        .map(drop)
    }

    fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        // Recvs starved of buffers wait for held ones, which come back without a wake-up.
        let starved =
            (!self.starved.is_empty() && self.bufs.has_held()).then(|| now + STARVED_RECHECK);
        let timers = timers::with(|timers| timers.next_deadline());
        let linger = self.lingering.front().map(|&(at, _)| at);
        let accept = self
            .accept_backoff
            .retry_at()
            .filter(|_| !self.accept_armed);
        let stop = self.stop.deadline();
        [timers, linger, accept, stop, starved]
            .into_iter()
            .flatten()
            .min()
    }

    pub(super) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(slot) = self.conns.get_mut(id) {
            if !slot.queued {
                slot.queued = true;
                self.dirty.push(id);
            }
        }
    }

    /// Frees a connection's slot (the socket closes with it).
    pub(super) fn remove(&mut self, id: ConnId) {
        if let Some(slot) = self.conns.get_mut(id) {
            slot.hang_up();
        }
        let peer = self
            .conns
            .get_mut(id)
            .and_then(|slot| slot.conn.link().peer_addr());
        if self.conns.remove(id) {
            self.core.closed(peer);
        }
    }

    /// Cancels whatever the kernel still does for us and waits (bounded) for it to let go
    /// of our memory. Returns whether it did: if not, [`Shard::teardown`] leaks that memory
    /// rather than free it under the kernel.
    fn exit(&mut self) -> bool {
        self.listener = None;
        let entry = ops::cancel_all();
        // SAFETY: a cancel points to no memory.
        let _ = unsafe { ops::push(&mut self.ring, &entry) };
        let deadline = Instant::now() + EXIT_GRACE;
        while self.kernel_busy() && Instant::now() < deadline {
            let timeout = types::Timespec::from(Duration::from_millis(10));
            let args = types::SubmitArgs::new().timespec(&timeout);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            self.reap();
        }
        !self.kernel_busy()
    }

    /// Frees the shard. The handler tasks go first, on this thread. If the kernel did not
    /// confirm that it let go of every operation (`confirmed`), everything it may still
    /// write or read is leaked instead of freed: the ring itself (so it is never torn down
    /// under us), the buffer ring and its buffers, the connections with their send bytes,
    /// the doorbell and control buffers.
    fn teardown(self, confirmed: bool) {
        let Shard {
            ring,
            bufs,
            executor,
            conns,
            doorbell_buf,
            control_buf,
            core,
            ..
        } = self;
        drop(executor);
        if confirmed {
            // Ring first: the kernel stops using the buffer ring and the buffers before
            // they are freed.
            drop(ring);
            drop((bufs, conns, doorbell_buf, control_buf));
        } else {
            tracing::warn!(
                shard = core.id,
                connections = conns.len(),
                "operations still in the kernel at exit; leaking the ring and its buffers"
            );
            std::mem::forget((ring, bufs, conns, doorbell_buf, control_buf));
        }
    }

    fn kernel_busy(&self) -> bool {
        self.doorbell_armed
            || self.control_armed
            || self.conns.slots.iter().flatten().any(ConnSlot::kernel_busy)
    }
}

/// Lets [`crate::spawn`] start tasks on this shard's executor (until the shard stops).
fn install_spawner(executor: &Rc<Executor>) {
    let executor = Rc::downgrade(executor);
    spawn::set_spawner(Some(Box::new(move |task| {
        if let Some(executor) = executor.upgrade() {
            executor.spawn(task);
        }
    })));
}
