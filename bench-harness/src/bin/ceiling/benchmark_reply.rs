//! The ceiling's answer to a BenchmarkMessage request, made in place: a client judges a
//! BenchmarkMessage reply good when its field1 reads "OK", and an unchanged echo of the
//! request does not. So when a request carries a protobuf payload (serialize type 2, not
//! compressed) that opens with field 1 as a short length-delimited value, as the
//! benchmark request does (`0a 36` + 54 bytes of text), the first six bytes of that field
//! are rewritten to
//!
//! ```text
//! 0a 02 4f 4b        field 1 = "OK"
//! 7a <n>             field 15 (not in BenchmarkMessage), n bytes: the rest of the old text
//! ```
//!
//! The payload keeps its length, so the frame keeps its length and place in the buffer:
//! six byte stores and three length reads per request, no decode, no copy, no allocation.
//! Every other field is left as the request had it (a real server also sets field2 = 100;
//! no client checks it). Any other frame is echoed unchanged.

use std::ops::Range;

use ringrpc_codec::{Header, SerializeType, HEADER_LEN};

/// The body's length words (PROTOCOL.md §1.4).
const LEN_WORD: usize = 4;
/// Field 1, wire type 2 (length-delimited).
const FIELD1_TAG: u8 = 0x0a;
const OK_FIELD: [u8; 4] = [FIELD1_TAG, 2, b'O', b'K'];
/// Field 15, wire type 2: unknown to BenchmarkMessage, so every decoder skips it.
const FILLER_TAG: u8 = 0x7a;
/// Tag and one-byte length.
const FIELD_HEAD: usize = 2;

/// Rewrites `frame` (one complete rpcx frame) as described in the module doc, if it is a
/// BenchmarkMessage-shaped protobuf request; otherwise leaves it as it is.
pub fn rewrite(frame: &mut [u8]) {
    let Some(range) = payload_range(frame) else {
        return;
    };
    let Some(payload) = frame.get_mut(range) else {
        return;
    };
    let [FIELD1_TAG, len, ..] = *payload else {
        return;
    };
    // A one-byte length (< 0x80) whose value is inside the payload.
    let field_len = FIELD_HEAD + usize::from(len);
    if len >= 0x80 || field_len > payload.len() {
        return;
    }
    let filler = match field_len.checked_sub(OK_FIELD.len()) {
        Some(0) => None,
        Some(rest) if rest >= FIELD_HEAD => Some((rest - FIELD_HEAD) as u8),
        _ => return, // no room for "OK", or one byte left over that no field fits in
    };
    payload[..OK_FIELD.len()].copy_from_slice(&OK_FIELD);
    if let Some(n) = filler {
        payload[OK_FIELD.len()] = FILLER_TAG;
        payload[OK_FIELD.len() + 1] = n;
    }
}

/// Where the payload of an uncompressed protobuf frame lies, walking the three length
/// words before it. `None` for any other frame or a length that does not fit.
fn payload_range(frame: &[u8]) -> Option<Range<usize>> {
    let header = Header::peek(frame)?;
    if header.serialize_bits() != SerializeType::Protobuf.to_wire() || header.compress_bits() != 0 {
        return None;
    }
    let len_at = |at: usize| -> Option<usize> {
        let word: [u8; LEN_WORD] = frame.get(at..at.checked_add(LEN_WORD)?)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(word)).ok()
    };
    let mut at = HEADER_LEN;
    // service_path, service_method, metadata
    for _ in 0..3 {
        at = at.checked_add(LEN_WORD)?.checked_add(len_at(at)?)?;
    }
    let start = at.checked_add(LEN_WORD)?;
    let end = start.checked_add(len_at(at)?)?;
    (end <= frame.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use prost::Message;
    use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;
    use ringrpc_codec::{encode_frame, CompressType, NO_METADATA};

    use super::*;

    fn frame(serialize: SerializeType, payload: &[u8]) -> Vec<u8> {
        frame_with(Header::request(7, serialize), payload)
    }

    fn frame_with(header: Header, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_frame(&mut out, &header, "Hello", "Say", NO_METADATA, payload).unwrap();
        out.to_vec()
    }

    fn payload_of(frame: &[u8]) -> &[u8] {
        &frame[payload_range(frame).unwrap()]
    }

    #[test]
    fn the_benchmark_request_reads_as_a_good_reply_of_the_same_length() {
        let request = BenchmarkMessage::benchmark_request();
        let mut bytes = frame(SerializeType::Protobuf, &request.encode_to_vec());
        let before = bytes.clone();
        rewrite(&mut bytes);
        assert_eq!(bytes.len(), before.len());
        let changed: Vec<usize> = (0..bytes.len())
            .filter(|&i| bytes[i] != before[i])
            .collect();
        assert!(changed.len() <= 6, "{changed:?}");
        let reply = BenchmarkMessage::decode(payload_of(&bytes)).unwrap();
        assert_eq!(reply.field1, "OK");
        // Everything else is the request's.
        let mut expected = request;
        expected.field1 = "OK".into();
        assert_eq!(reply, expected);
    }

    #[test]
    fn other_frames_are_left_alone() {
        let request = BenchmarkMessage::benchmark_request().encode_to_vec();
        let unchanged = |mut bytes: Vec<u8>| {
            let before = bytes.clone();
            rewrite(&mut bytes);
            assert_eq!(bytes, before);
        };
        unchanged(frame(SerializeType::None, &request));
        unchanged(frame(SerializeType::Protobuf, b""));
        // Field 2 first, a two-byte length, one byte left over, a length past the end.
        unchanged(frame(SerializeType::Protobuf, &[0x10, 0x64]));
        unchanged(frame(SerializeType::Protobuf, &[0x0a, 0x80, 0x01, b'x']));
        unchanged(frame(SerializeType::Protobuf, &[0x0a, 3, b'a', b'b', b'c']));
        unchanged(frame(SerializeType::Protobuf, &[0x0a, 9, b'a']));
        let mut gzip = Header::request(7, SerializeType::Protobuf);
        gzip.set_compress_type(CompressType::Gzip);
        unchanged(frame_with(gzip, &request));
    }

    #[test]
    fn short_fields_become_ok_exactly_or_with_an_empty_filler() {
        let mut bytes = frame(SerializeType::Protobuf, &[0x0a, 2, b'n', b'o']);
        rewrite(&mut bytes);
        assert_eq!(payload_of(&bytes), &OK_FIELD);
        let mut bytes = frame(
            SerializeType::Protobuf,
            &[0x0a, 4, b'a', b'b', b'c', b'd', 0x10, 1],
        );
        rewrite(&mut bytes);
        assert_eq!(payload_of(&bytes), &[0x0a, 2, b'O', b'K', 0x7a, 0, 0x10, 1]);
    }

    #[test]
    fn truncated_or_lying_frames_never_panic() {
        let good = frame(
            SerializeType::Protobuf,
            &BenchmarkMessage::benchmark_request().encode_to_vec(),
        );
        for cut in 0..good.len() {
            let mut bytes = good[..cut].to_vec();
            rewrite(&mut bytes);
        }
        let mut lying = good.clone();
        lying[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        rewrite(&mut lying);
        assert_eq!(lying[HEADER_LEN + 4..], good[HEADER_LEN + 4..]);
    }
}
