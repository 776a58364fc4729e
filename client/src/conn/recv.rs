//! The receive buffer drivers read into. Frames are split off its front by the codec
//! without copying: a reply's payload is a slice of the bytes the socket wrote here.
//! [`RecvBuf::next_frame`] splits a frame's raw bytes off first, so a driver can screen it
//! ([`Connection::screen`](super::Connection::screen)) before inflating its payload.
//!
//! The read window adapts to the traffic ([`RecvBuf::handle_read`]): a read that fills it
//! doubles it (up to [`READ_CHUNK`]), one that uses under a quarter of it halves it (down to
//! [`READ_WINDOW_MIN`]). One reply at a time then asks for a few KiB, which matters to a
//! runtime that must zero the space it reads into (glommio's), and a burst still
//! gets 64 KiB per syscall after a few reads.

use bytes::{Bytes, BytesMut};
use ringrpc_codec::{decode, decode_frame, frame_len, DecodeError, Frame, Header, Limits};

use super::screen::needs_screen;

/// Largest read window (and the capacity an idle buffer may keep): enough for many small
/// replies per syscall.
const READ_CHUNK: usize = 64 << 10;

/// Smallest read window: a whole small reply.
const READ_WINDOW_MIN: usize = 4 << 10;

/// A frame split off the receive buffer.
#[derive(Debug)]
pub enum Received {
    /// A plain reply, decoded in place.
    Frame(Frame),
    /// A push or a gzip'ed frame, still raw: screen it, then [`RecvBuf::decode_raw`].
    Raw(Bytes),
}

/// Received bytes not yet split into frames, and the limits frames are checked against.
#[derive(Debug)]
pub struct RecvBuf {
    buf: BytesMut,
    limits: Limits,
    /// What a read asks for when no large frame is under way (adaptive).
    read_window: usize,
}

impl RecvBuf {
    /// An empty buffer whose frames are checked against `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            buf: BytesMut::with_capacity(READ_CHUNK),
            limits,
            read_window: READ_WINDOW_MIN,
        }
    }

    /// How many bytes the next read should ask for: the rest of a large frame in one go
    /// once its length is known (so a 4 MiB reply is read into one allocation), otherwise
    /// the read window. Also reserves that much capacity.
    pub fn reserve_read(&mut self) -> usize {
        let frame_rest = match frame_len(&self.buf, &self.limits) {
            Ok(Some(len)) => len.saturating_sub(self.buf.len()),
            _ => 0,
        };
        let want = frame_rest.max(self.read_window);
        self.buf.reserve(want);
        want
    }

    /// A read of `len` bytes (more than zero) landed in the buffer: adapts the read window.
    /// Returns whether the read filled the window, so the socket may hold more: a driver
    /// on a single-threaded executor then lets its other tasks run before reading again.
    pub fn handle_read(&mut self, len: usize) -> bool {
        let filled = len >= self.read_window;
        if filled {
            self.read_window = (self.read_window * 2).min(READ_CHUNK);
        } else if len < self.read_window / 4 {
            self.read_window = (self.read_window / 2).max(READ_WINDOW_MIN);
        }
        filled
    }

    /// The buffer to append read bytes to.
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Splits the next complete frame off the buffer, if there is one.
    pub fn decode(&mut self) -> Result<Option<Frame>, DecodeError> {
        decode(&mut self.buf, &self.limits)
    }

    /// Splits the next complete frame off the buffer: decoded if it is a plain reply, raw
    /// if it must be screened first.
    pub fn next_frame(&mut self) -> Result<Option<Received>, DecodeError> {
        let Some(len) = frame_len(&self.buf, &self.limits)? else {
            return Ok(None);
        };
        if self.buf.len() < len {
            return Ok(None);
        }
        let screened = Header::peek(&self.buf).is_some_and(needs_screen);
        if !screened {
            return self.decode().map(|frame| frame.map(Received::Frame));
        }
        let raw = self.buf.split_to(len).freeze();
        self.release_idle();
        Ok(Some(Received::Raw(raw)))
    }

    /// Decodes a screened frame: copied into its own allocation first when `copy` (a push
    /// to be queued), inflating at most `max_decompressed_bytes` (`None`: the limits').
    pub fn decode_raw(
        &self,
        raw: Bytes,
        copy: bool,
        max_decompressed_bytes: Option<usize>,
    ) -> Result<Frame, DecodeError> {
        let raw = if copy {
            Bytes::copy_from_slice(&raw)
        } else {
            raw
        };
        let mut limits = self.limits;
        if let Some(max) = max_decompressed_bytes {
            limits = limits.max_decompressed_bytes(max.min(limits.max_decompressed_bytes));
        }
        decode_frame(raw, &limits)
    }

    /// Frees a drained buffer's large allocation (kept after a large frame), so an idle
    /// connection holds at most one read chunk.
    pub fn release_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 2 * READ_CHUNK {
            self.buf = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use ringrpc_codec::{encode_frame, Header, SerializeType, NO_METADATA};

    use super::*;

    #[test]
    fn reads_a_large_frame_in_one_reservation_and_splits_frames() {
        let mut wire = BytesMut::new();
        let big = vec![7u8; 1 << 20];
        for (seq, payload) in [(0, &big[..]), (1, &b"x"[..])] {
            let header = Header::request(seq, SerializeType::None);
            encode_frame(&mut wire, &header, "S", "M", NO_METADATA, payload).unwrap();
        }
        let mut recv = RecvBuf::new(Limits::default());
        recv.buf_mut().extend_from_slice(&wire[..100]);
        assert!(recv.decode().unwrap().is_none());
        let want = recv.reserve_read();
        assert!(want >= (1 << 20) - 100, "{want}");
        assert!(recv.buf_mut().capacity() - recv.buf_mut().len() >= want);
        recv.buf_mut().extend_from_slice(&wire[100..]);
        assert_eq!(recv.decode().unwrap().unwrap().payload().len(), 1 << 20);
        assert_eq!(recv.decode().unwrap().unwrap().seq(), 1);
        assert!(recv.decode().unwrap().is_none());
    }

    #[test]
    fn the_read_window_grows_with_full_reads_and_shrinks_with_small_ones() {
        let mut recv = RecvBuf::new(Limits::default());
        assert_eq!(recv.reserve_read(), READ_WINDOW_MIN);
        let mut window = READ_WINDOW_MIN;
        while window < READ_CHUNK {
            assert!(recv.handle_read(window), "a full read");
            window *= 2;
            assert_eq!(recv.reserve_read(), window);
        }
        recv.handle_read(READ_CHUNK);
        assert_eq!(recv.reserve_read(), READ_CHUNK, "never above the chunk");
        assert!(!recv.handle_read(READ_CHUNK / 2));
        assert_eq!(recv.reserve_read(), READ_CHUNK, "a half-full read keeps it");
        for _ in 0..10 {
            assert!(!recv.handle_read(600));
        }
        assert_eq!(
            recv.reserve_read(),
            READ_WINDOW_MIN,
            "one small reply at a time"
        );
    }
}
