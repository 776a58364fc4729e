//! Commands from the server's threads to a shard, over a Unix socket pair.
//!
//! A shard must learn about shutdown and idle sweeps without a timer of its own: every
//! registered glommio timer costs the reactor work (and a heap allocation) on each wakeup,
//! which would show up on every request. So the shard simply reads one end of a socket
//! pair; the [`Server`](crate::Server) writes one byte per command to the other end, from any
//! thread. glommio's `TcpStream` only needs a connected stream socket, which a Unix socket
//! pair is, so the shard's end goes through glommio's safe `From<socket2::Socket>` (the
//! socket2 version glommio is built on, hence `socket2_glommio`).

use std::io;

use futures_lite::AsyncReadExt;
use socket2_glommio::{Domain, Socket, Type};

/// What a shard is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Ask connections that received nothing since the last sweep to close if idle.
    SweepIdle,
    /// Stop accepting, drain, exit.
    Stop,
}

impl Command {
    fn to_byte(self) -> u8 {
        match self {
            Self::SweepIdle => b'i',
            Self::Stop => b's',
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Self {
        match byte {
            b'i' => Self::SweepIdle,
            _ => Self::Stop,
        }
    }
}

/// The server's end: usable from any thread.
#[derive(Debug)]
pub(crate) struct ControlSender(Socket);

/// The shard's end, before it is handed to the shard's reactor.
#[derive(Debug)]
pub(crate) struct ControlReceiver(Socket);

pub(crate) fn channel() -> io::Result<(ControlSender, ControlReceiver)> {
    let (sender, receiver) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    Ok((ControlSender(sender), ControlReceiver(receiver)))
}

impl ControlSender {
    /// Sends one command. A shard that has already stopped makes this fail with EPIPE
    /// (never with SIGPIPE: the library may run in a process that did not ignore it).
    pub fn send(&self, command: Command) -> io::Result<()> {
        self.0
            .send_with_flags(&[command.to_byte()], libc::MSG_NOSIGNAL)
            .map(drop)
    }
}

impl ControlReceiver {
    /// The receiving end as a plain descriptor, for a driver that reads it itself (io_uring):
    /// each byte is one command ([`Command::from_byte`]); end of stream means stop.
    pub fn into_fd(self) -> std::os::fd::OwnedFd {
        use std::os::fd::{FromRawFd, IntoRawFd};
        let fd = self.0.into_raw_fd();
        // SAFETY: `into_raw_fd` gave up the socket's ownership of this open descriptor, so
        // the new `OwnedFd` is its only owner.
        unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
    }

    /// Binds the receiving end to the current shard's reactor.
    pub fn attach(self) -> AttachedReceiver {
        AttachedReceiver(glommio::net::TcpStream::from(self.0))
    }
}

/// The shard's end, on the shard's reactor.
pub(crate) struct AttachedReceiver(glommio::net::TcpStream);

impl AttachedReceiver {
    /// The next command; a closed or failed channel means [`Command::Stop`].
    pub async fn recv(&mut self) -> Command {
        let mut byte = [0u8; 1];
        match self.0.read(&mut byte).await {
            Ok(1) => Command::from_byte(byte[0]),
            _ => Command::Stop,
        }
    }
}
