//! How a waker on another thread reaches a shard parked in `io_uring_enter`: it pushes onto
//! the shard's lock-free ready queue (`executor.rs`), then rings this doorbell, an eventfd the
//! shard keeps a read posted on. (The server's commands, stop and idle sweep, arrive the same
//! way on the shard's control socket, `runtime/control.rs`.)
//!
//! Ringing costs a `write` syscall, so wakers ring only while the shard is parked: the shard
//! sets `parked` before it checks its queues one last time and waits; a waker pushes, then
//! reads `parked`. Both sides use `SeqCst`, so at least one of them sees the other's write
//! (either the shard finds the item, or the waker rings).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// A shard's doorbell, shared (`Arc`) by every waker of the shard.
#[derive(Debug)]
pub(crate) struct Doorbell {
    fd: OwnedFd,
    parked: AtomicBool,
}

impl Doorbell {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: `eventfd` has no memory arguments; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            fd,
            parked: AtomicBool::new(false),
        })
    }

    /// The eventfd the shard posts its doorbell read on.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Wakes the shard if it is parked (after something was queued for it).
    pub(crate) fn notify(&self) {
        if self.parked.load(Ordering::SeqCst) {
            self.ring();
        }
    }

    /// The shard is about to check its queues and wait (`true`), or is running (`false`).
    pub(crate) fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Ordering::SeqCst);
    }

    fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live local array to our own eventfd. A full counter
        // (EAGAIN) means the shard has a wake-up pending anyway, so the result is ignored.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(bell: &Doorbell) -> u64 {
        let mut buf = [0u8; 8];
        // SAFETY: (test) reads 8 bytes into a live local array from our eventfd.
        let n = unsafe { libc::read(bell.raw_fd(), buf.as_mut_ptr().cast(), 8) };
        if n == 8 {
            u64::from_ne_bytes(buf)
        } else {
            0
        }
    }

    #[test]
    fn notify_rings_only_while_parked() {
        let bell = Doorbell::new().unwrap();
        bell.notify();
        assert_eq!(pending(&bell), 0);
        bell.set_parked(true);
        bell.notify();
        bell.notify();
        assert_eq!(pending(&bell), 2);
    }

    #[test]
    fn rings_from_another_thread() {
        let bell = std::sync::Arc::new(Doorbell::new().unwrap());
        bell.set_parked(true);
        let remote = bell.clone();
        std::thread::spawn(move || remote.notify()).join().unwrap();
        assert_eq!(pending(&bell), 1);
    }
}
