//! The receive buffer drivers read into. Frames are split off its front by the codec
//! without copying: a reply's payload is a slice of the bytes the socket wrote here.

use bytes::BytesMut;
use ringrpc_codec::{decode, frame_len, DecodeError, Frame, Limits};

/// Smallest read: enough for many small replies per syscall.
const READ_CHUNK: usize = 64 << 10;

/// Received bytes not yet split into frames, and the limits frames are checked against.
#[derive(Debug)]
pub struct RecvBuf {
    buf: BytesMut,
    limits: Limits,
}

impl RecvBuf {
    /// An empty buffer whose frames are checked against `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            buf: BytesMut::with_capacity(READ_CHUNK),
            limits,
        }
    }

    /// How many bytes the next read should ask for: the rest of a large frame in one go
    /// once its length is known (so a 4 MiB reply is read into one allocation), otherwise
    /// a chunk. Also reserves that much capacity.
    pub fn reserve_read(&mut self) -> usize {
        let frame_rest = match frame_len(&self.buf, &self.limits) {
            Ok(Some(len)) => len.saturating_sub(self.buf.len()),
            _ => 0,
        };
        let want = frame_rest.max(READ_CHUNK);
        self.buf.reserve(want);
        want
    }

    /// The buffer to append read bytes to.
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Splits the next complete frame off the buffer, if there is one.
    pub fn decode(&mut self) -> Result<Option<Frame>, DecodeError> {
        decode(&mut self.buf, &self.limits)
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
}
