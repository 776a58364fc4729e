//! Entry points for fuzzers. Plain functions, so a stable proptest drives the same logic
//! in CI that `codec/fuzz` drives with cargo-fuzz where nightly exists.

use bytes::BytesMut;

use crate::decode::decode;
use crate::limits::Limits;
use crate::response::Reply;

/// Feeds arbitrary bytes through the decoder, as a stream, with small limits. For every
/// frame that decodes, reads every view and encodes a reply to it. Must never panic.
/// Returns the number of frames decoded.
pub fn decode_any(data: &[u8]) -> usize {
    let limits = Limits::default()
        .max_frame_bytes(1 << 16)
        .max_decompressed_bytes(1 << 16);
    let mut src = BytesMut::from(data);
    let mut frames = 0;
    while let Ok(Some(frame)) = decode(&mut src, &limits) {
        frames += 1;
        let header = frame.header();
        let _ = (
            header.message_type(),
            header.status(),
            header.serialize_type(),
        );
        let _ = (frame.service_path().len(), frame.service_method().len());
        let _ = frame.metadata().iter().count();
        let _ = frame.metadata().get(crate::ERROR_KEY);
        let mut out = BytesMut::new();
        let reply = Reply::to(&frame);
        let _ = reply.encode_ok(&mut out, frame.metadata(), frame.payload());
        let _ = reply.encode_error(&mut out, "fuzz", crate::NO_METADATA, &[]);
    }
    frames
}
