//! The io_uring driver: one thread, one ring, one loop per shard (`Driver::Uring`).
//!
//! It feeds the same sans-IO [`crate::conn::Connection`] as the glommio driver, with the same
//! handlers and the same shard runtime (`crate::runtime`: admission, back-off, idle sweep,
//! drain and abort, linger, close logging, the timer queue), and imports nothing from the
//! glommio driver. It owns its ring: multishot accept; multishot recv into a provided-buffer ring
//! registered once per shard (an idle connection holds no receive buffer); frames parsed in
//! the buffer the kernel chose, and only a frame split across two buffers copied; one send per
//! connection per loop turn, with at most one in flight; one `io_uring_enter` per turn, which
//! both submits and waits (SINGLE_ISSUER | DEFER_TASKRUN). Handlers that do not finish on
//! their first poll become tasks of a small local executor; the loop fires the shard's timer
//! queue (their sleeps and deadlines); other threads reach the shard through its doorbell.
//!
//! What it never does: block anywhere but in `io_uring_enter`, free memory the kernel may
//! still read or write, or keep a receive buffer out of the ring once its frames are done.
//!
//! Read in this order: `shard.rs` (the loop), `conn.rs` (one connection), `buf_ring.rs`
//! (who owns each receive buffer, and when), then `outbox.rs`, `executor.rs`, `doorbell.rs`,
//! `ops.rs`, `slots.rs` and `probe.rs` (startup checks and their error messages).

mod buf_ring;
mod conn;
mod doorbell;
mod executor;
mod ops;
mod outbox;
mod probe;
mod shard;
mod slots;

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use doorbell::Doorbell;

use crate::error::StartError;
use crate::runtime::{self, ShardPlan};

/// Starts the shard's thread. The ring is created on that thread (it is the ring's only
/// issuer); the outcome is reported on `ready` before any connection is accepted.
pub(crate) fn spawn(
    plan: ShardPlan,
    ready: mpsc::Sender<Result<(), StartError>>,
) -> std::io::Result<JoinHandle<()>> {
    let doorbell = Arc::new(Doorbell::new()?);
    runtime::spawn_thread(plan.id, move || {
        pin_to_cpu(plan.id, plan.cpu);
        match shard::Shard::new(plan, doorbell) {
            Ok(shard) => {
                let _ = ready.send(Ok(()));
                shard.run();
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    })
}

fn pin_to_cpu(shard: usize, cpu: usize) {
    // SAFETY: `cpu_set_t` is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        tracing::warn!(shard, cpu, "CPU out of range; shard not pinned");
        return;
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so CPU_SET stays inside `set`;
    // `sched_setaffinity` reads exactly `size_of::<cpu_set_t>()` bytes from it.
    let rc = unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(shard, cpu, %error, "shard not pinned to its CPU");
    }
}
