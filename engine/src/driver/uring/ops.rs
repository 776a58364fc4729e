//! The operations a shard submits, how their completions are told apart (`user_data`), and
//! the one function that hands an entry to the kernel.
//!
//! `user_data` layout: bits 56..64 the [`Op`], 32..56 the connection's generation (24 bits),
//! 0..32 its slot key. A completion for a slot that was freed and reused since carries the
//! old generation and is recognised as stale.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types, IoUring};

use super::executor::ConnId;
use super::outbox::SendBuf;

/// Buffer group id of the shard's provided-buffer ring (one per ring, so any value works).
pub(super) const BUF_GROUP: u16 = 0;

const GENERATION_MASK: u32 = 0xFF_FFFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
    Cancel = 4,
    Doorbell = 5,
    Control = 6,
}

/// The generation after `generation`, within the bits `user_data` keeps.
pub(super) fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1) & GENERATION_MASK
}

pub(super) fn user_data(op: Op, id: ConnId) -> u64 {
    (op as u64) << 56 | u64::from(id.generation & GENERATION_MASK) << 32 | u64::from(id.key)
}

pub(super) fn parse_user_data(user_data: u64) -> Option<(Op, ConnId)> {
    let op = match user_data >> 56 {
        1 => Op::Accept,
        2 => Op::Recv,
        3 => Op::Send,
        4 => Op::Cancel,
        5 => Op::Doorbell,
        6 => Op::Control,
        _ => return None,
    };
    let generation = (user_data >> 32) as u32 & GENERATION_MASK;
    Some((
        op,
        ConnId {
            key: user_data as u32,
            generation,
        },
    ))
}

const NO_CONN: ConnId = ConnId {
    key: 0,
    generation: 0,
};

pub(super) fn accept(listener: RawFd) -> squeue::Entry {
    opcode::AcceptMulti::new(types::Fd(listener))
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(user_data(Op::Accept, NO_CONN))
}

pub(super) fn recv(fd: RawFd, id: ConnId) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fd(fd), BUF_GROUP)
        .build()
        .user_data(user_data(Op::Recv, id))
}

pub(super) fn send(fd: RawFd, buf: SendBuf, id: ConnId) -> squeue::Entry {
    let entry = match buf {
        SendBuf::One { ptr, len } => opcode::Send::new(types::Fd(fd), ptr, len)
            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
            .build(),
        SendBuf::Vectored { msg, .. } => opcode::SendMsg::new(types::Fd(fd), msg)
            .flags((libc::MSG_NOSIGNAL | libc::MSG_WAITALL) as u32)
            .build(),
    };
    entry.user_data(user_data(Op::Send, id))
}

/// Cancels the operation submitted with `target` as its user data.
pub(super) fn cancel(target: u64) -> squeue::Entry {
    opcode::AsyncCancel::new(target)
        .build()
        .user_data(user_data(Op::Cancel, NO_CONN))
}

/// Cancels every operation of the ring (shard exit).
pub(super) fn cancel_all() -> squeue::Entry {
    opcode::AsyncCancel2::new(types::CancelBuilder::any())
        .build()
        .user_data(user_data(Op::Cancel, NO_CONN))
}

pub(super) fn doorbell_read(eventfd: RawFd, buf: *mut u8) -> squeue::Entry {
    opcode::Read::new(types::Fd(eventfd), buf, 8)
        .build()
        .user_data(user_data(Op::Doorbell, NO_CONN))
}

pub(super) fn control_read(socket: RawFd, buf: *mut u8, len: u32) -> squeue::Entry {
    opcode::Read::new(types::Fd(socket), buf, len)
        .build()
        .user_data(user_data(Op::Control, NO_CONN))
}

/// Queues `entry`, first submitting what is queued if the submission queue is full.
///
/// # Safety
///
/// Every buffer `entry` points to must stay valid, and must not be written by anyone else
/// if the kernel writes it, until the entry's last completion has been reaped (or the ring
/// has been dropped).
pub(super) unsafe fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    // SAFETY: the caller guarantees the entry's buffers outlive the operation.
    if unsafe { ring.submission().push(entry) }.is_ok() {
        return Ok(());
    }
    ring.submit()?;
    // SAFETY: as above.
    unsafe { ring.submission().push(entry) }
        .map_err(|_| io::Error::other("the submission queue stays full after a submit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips_and_masks_the_generation() {
        for op in [
            Op::Accept,
            Op::Recv,
            Op::Send,
            Op::Cancel,
            Op::Doorbell,
            Op::Control,
        ] {
            let id = ConnId {
                key: u32::MAX,
                generation: GENERATION_MASK,
            };
            assert_eq!(parse_user_data(user_data(op, id)), Some((op, id)));
        }
        assert_eq!(next_generation(GENERATION_MASK), 0);
        assert_eq!(parse_user_data(0), None);
        assert_eq!(parse_user_data(u64::MAX), None);
    }
}
