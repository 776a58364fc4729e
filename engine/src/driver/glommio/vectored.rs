//! One vectored send on a glommio socket: reply heads and the payloads kept by reference
//! (`Connection::transmit_slices`) leave in one `sendmsg`, without being copied together.
//!
//! glommio 0.9's streams write one buffer at a time, first with a non-blocking `send` and
//! only if that would block through its reactor. [`try_send`] is the same first step for
//! several buffers; when it would block the caller falls back to the stream's own write of
//! the first buffer, which also arms the wake-up for when the socket has room.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Sends what the socket takes now of `slices`, without blocking: `None` if it would block.
pub(super) fn try_send(socket: &impl AsRawFd, slices: &[IoSlice<'_>]) -> Option<io::Result<usize>> {
    // SAFETY: `socket` owns the descriptor and is borrowed for the whole of this call, so
    // the descriptor stays open while the borrowed handle exists.
    let fd = unsafe { BorrowedFd::borrow_raw(socket.as_raw_fd()) };
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    match socket2::SockRef::from(&fd).send_vectored_with_flags(slices, flags) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        result => Some(result),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn slices_leave_in_order_and_a_full_socket_would_block() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let slices = [IoSlice::new(b"head "), IoSlice::new(b"payload")];
        assert_eq!(try_send(&a, &slices).unwrap().unwrap(), 12);
        let mut got = [0u8; 12];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"head payload");
        let big = vec![0u8; 1 << 20];
        let mut blocked = false;
        for _ in 0..64 {
            match try_send(&a, &[IoSlice::new(&big)]) {
                None => {
                    blocked = true;
                    break;
                }
                Some(result) => assert!(result.unwrap() > 0),
            }
        }
        assert!(blocked, "a socket nobody reads fills up and would block");
    }
}
