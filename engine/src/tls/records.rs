//! [`RecordCursor`]: where the received ciphertext stands in its TLS record framing, so a
//! session can say how many bytes of a partly received record rustls holds (the shard
//! counts them as receive-buffer bytes, and a partial record is a frame half received for
//! the frame timeout).
//!
//! It reads only the 5-byte record headers (RFC 8446 §5.1: type, version, 16-bit length);
//! rustls itself checks them and refuses what is malformed or oversized. What it never
//! does: buffer, copy or judge a byte.

/// Length of a TLS record header.
const HEADER_BYTES: usize = 5;

/// Position in the record stream: how much of the current record's header and body arrived.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordCursor {
    header: [u8; HEADER_BYTES],
    header_len: usize,
    body_len: usize,
    body_received: usize,
}

impl RecordCursor {
    /// Moves over `bytes`, the next ciphertext received.
    pub(crate) fn handle(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.header_len < HEADER_BYTES {
                let n = (HEADER_BYTES - self.header_len).min(bytes.len());
                let (head, rest) = bytes.split_at(n);
                self.header[self.header_len..self.header_len + n].copy_from_slice(head);
                self.header_len += n;
                bytes = rest;
                if self.header_len == HEADER_BYTES {
                    self.body_len =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    self.body_received = 0;
                }
            } else {
                let n = (self.body_len - self.body_received).min(bytes.len());
                self.body_received += n;
                bytes = &bytes[n..];
            }
            if self.header_len == HEADER_BYTES && self.body_received == self.body_len {
                *self = Self::default();
            }
        }
    }

    /// Bytes of the record received so far, header included (0 between records).
    pub(crate) fn partial_bytes(&self) -> usize {
        self.header_len + self.body_received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(len: u16) -> Vec<u8> {
        let mut out = vec![0x17, 0x03, 0x03];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend(std::iter::repeat_n(7, usize::from(len)));
        out
    }

    #[test]
    fn whole_records_leave_nothing_partial_however_they_are_cut() {
        let stream = [record(300), record(0), record(16_640)].concat();
        for cut in [1, 2, 5, 7, 4096, stream.len()] {
            let mut cursor = RecordCursor::default();
            for piece in stream.chunks(cut) {
                cursor.handle(piece);
            }
            assert_eq!(cursor.partial_bytes(), 0, "cut every {cut} bytes");
        }
    }

    #[test]
    fn a_partial_record_counts_its_header_and_body_received() {
        let mut cursor = RecordCursor::default();
        let stream = [record(10), record(1000)].concat();
        cursor.handle(&stream[..15 + 3]);
        assert_eq!(cursor.partial_bytes(), 3, "three header bytes");
        cursor.handle(&stream[18..15 + 5 + 400]);
        assert_eq!(cursor.partial_bytes(), 405);
        cursor.handle(&stream[420..]);
        assert_eq!(cursor.partial_bytes(), 0);
    }
}
