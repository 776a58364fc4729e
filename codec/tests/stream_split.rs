//! A byte stream holding many frames decodes to the same frames however it is cut:
//! split at every possible boundary, and fed one byte at a time.

use bytes::{Bytes, BytesMut};
use ringrpc_codec::{
    decode, decode_frame_compressed, encode_request, Frame, Header, Limits, SerializeType,
    NO_METADATA,
};

fn stream() -> (Bytes, usize) {
    let mut buf = BytesMut::new();
    let mut count = 0;
    for seq in 0..6u64 {
        let payload: Vec<u8> = (0..(seq as usize * 700)).map(|i| (i % 11) as u8).collect();
        let metadata = [
            ("k", "v"),
            ("seq", if seq % 2 == 0 { "even" } else { "odd" }),
        ];
        let take = (seq % 3) as usize;
        encode_request(
            &mut buf,
            &Header::request(seq, SerializeType::None),
            "Echo",
            "Echo",
            metadata.iter().take(take).copied(),
            &payload,
            seq % 2 == 1,
        )
        .unwrap();
        count += 1;
    }
    (buf.freeze(), count)
}

fn drain(src: &mut BytesMut, out: &mut Vec<Frame>) {
    while let Some(frame) = decode(src, &Limits::default()).unwrap() {
        out.push(frame);
    }
}

fn whole(stream: &Bytes) -> Vec<Frame> {
    let mut src = BytesMut::from(&stream[..]);
    let mut frames = Vec::new();
    drain(&mut src, &mut frames);
    assert!(src.is_empty());
    frames
}

#[test]
fn every_two_way_split_gives_the_same_frames() {
    let (stream, count) = stream();
    let expected = whole(&stream);
    assert_eq!(expected.len(), count);
    for cut in 0..=stream.len() {
        let mut src = BytesMut::new();
        let mut frames = Vec::new();
        src.extend_from_slice(&stream[..cut]);
        drain(&mut src, &mut frames);
        src.extend_from_slice(&stream[cut..]);
        drain(&mut src, &mut frames);
        assert!(src.is_empty(), "cut at {cut}");
        assert_eq!(frames, expected, "cut at {cut}");
    }
}

#[test]
fn one_byte_at_a_time_gives_the_same_frames() {
    let (stream, _) = stream();
    let expected = whole(&stream);
    let mut src = BytesMut::new();
    let mut frames = Vec::new();
    for byte in stream.iter() {
        src.extend_from_slice(&[*byte]);
        drain(&mut src, &mut frames);
    }
    assert_eq!(frames, expected);
}

#[test]
fn uncompressed_payloads_are_slices_of_the_receive_buffer() {
    let (stream, _) = stream();
    let mut src = BytesMut::from(&stream[..]);
    let base = src.as_ptr() as usize;
    let end = base + src.len();
    let _empty = decode(&mut src, &Limits::default()).unwrap().unwrap();
    let frame = decode(&mut src, &Limits::default()).unwrap().unwrap();
    assert_eq!(frame.header().compress_bits(), 0);
    let at = frame.payload().as_ptr() as usize;
    assert!(
        at >= base && at < end,
        "payload must point into the receive buffer"
    );
}

#[test]
fn a_taken_payload_is_the_frames_own_reference_not_a_second_one() {
    let one = |payload: &[u8]| {
        let mut buf = BytesMut::new();
        let header = Header::request(1, SerializeType::None);
        encode_request(
            &mut buf,
            &header,
            "Echo",
            "Echo",
            NO_METADATA,
            payload,
            false,
        )
        .unwrap();
        let raw = Bytes::from(buf.to_vec());
        assert!(raw.is_unique());
        decode_frame_compressed(raw, &Limits::default()).unwrap()
    };
    let payload = vec![5u8; 600];

    // Decoding takes no second reference for the payload; asking for it by reference does
    // (and keeps it), sharing it for a moment does not keep it.
    let frame = one(&payload);
    assert!(frame.as_bytes().is_unique());
    let shared = frame.share_payload();
    assert_eq!(shared, payload);
    drop(shared);
    assert!(frame.as_bytes().is_unique(), "share_payload keeps nothing");
    assert_eq!(frame.payload(), &payload[..]);
    assert!(!frame.as_bytes().is_unique());

    // Taken, the payload is the frame's own bytes trimmed: still the only reference.
    let frame = one(&payload);
    let wire = frame.as_bytes().as_ptr() as usize + frame.as_bytes().len();
    let taken = frame.into_payload();
    assert_eq!(taken, payload);
    assert!(taken.is_unique());
    assert_eq!(taken.as_ptr() as usize + taken.len(), wire, "not a copy");
}
