//! Commands from the server's threads to a shard, over a std Unix socket pair.
//!
//! A shard must learn about shutdown and idle sweeps without a timer of its own: a timer
//! armed for nothing costs the driver work on every wakeup. So the shard simply reads one end
//! of a socket pair with its own I/O (each driver reads the descriptor from
//! [`ControlReceiver::into_fd`]); the [`Server`](crate::Server) writes one byte per command to
//! the other end, from any thread. This file owns the bytes and their meaning; it never
//! reads the shard's end itself.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

/// What a shard is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Ask connections that received nothing since the last sweep to close if idle.
    SweepIdle,
    /// Take the TLS configuration the server just reloaded, for new connections.
    ReloadTls,
    /// Stop accepting, drain, exit.
    Stop,
}

impl Command {
    fn to_byte(self) -> u8 {
        match self {
            Self::SweepIdle => b'i',
            Self::ReloadTls => b't',
            Self::Stop => b's',
        }
    }

    /// The command one received byte stands for (anything unknown means stop).
    pub(crate) fn from_byte(byte: u8) -> Self {
        match byte {
            b'i' => Self::SweepIdle,
            b't' => Self::ReloadTls,
            _ => Self::Stop,
        }
    }

    /// The commands in `received` bytes; `None` (end of stream or a failed read) means stop.
    pub(crate) fn parse(received: Option<&[u8]>) -> impl Iterator<Item = Command> + '_ {
        let stop = received.is_none_or(<[u8]>::is_empty);
        stop.then_some(Command::Stop).into_iter().chain(
            received
                .unwrap_or_default()
                .iter()
                .map(|&b| Self::from_byte(b)),
        )
    }
}

/// The server's end: usable from any thread.
#[derive(Debug)]
pub(crate) struct ControlSender(UnixStream);

/// The shard's end, before its driver takes the descriptor.
#[derive(Debug)]
pub(crate) struct ControlReceiver(UnixStream);

/// A connected pair: the server keeps the sender, the shard gets the receiver.
pub(crate) fn channel() -> io::Result<(ControlSender, ControlReceiver)> {
    let (sender, receiver) = UnixStream::pair()?;
    Ok((ControlSender(sender), ControlReceiver(receiver)))
}

impl ControlSender {
    /// Sends one command. A shard that has already stopped makes this fail with EPIPE
    /// (never with SIGPIPE: the library may run in a process that did not ignore it).
    pub(crate) fn send(&self, command: Command) -> io::Result<()> {
        socket2::SockRef::from(&self.0)
            .send_with_flags(&[command.to_byte()], libc::MSG_NOSIGNAL)
            .map(drop)
    }
}

impl ControlReceiver {
    /// The receiving end as a plain descriptor, for the driver to read with its own I/O:
    /// each byte is one command; end of stream means stop ([`Command::parse`]).
    pub(crate) fn into_fd(self) -> OwnedFd {
        OwnedFd::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn bytes_sent_are_commands_received_and_eof_means_stop() {
        let (sender, receiver) = channel().unwrap();
        sender.send(Command::SweepIdle).unwrap();
        sender.send(Command::Stop).unwrap();
        let mut stream = UnixStream::from(receiver.into_fd());
        let mut buf = [0u8; 8];
        let n = stream.read(&mut buf).unwrap();
        let got: Vec<Command> = Command::parse(Some(&buf[..n])).collect();
        assert_eq!(got, [Command::SweepIdle, Command::Stop]);
        assert_eq!(Command::parse(None).collect::<Vec<_>>(), [Command::Stop]);
        assert_eq!(
            Command::parse(Some(&[])).collect::<Vec<_>>(),
            [Command::Stop]
        );
        drop(stream);
        assert!(sender.send(Command::Stop).is_err(), "EPIPE, not SIGPIPE");
    }
}
