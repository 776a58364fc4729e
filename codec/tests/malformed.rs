//! Every malformed input is a typed `DecodeError` carrying the offending values, and limits
//! are enforced before memory is committed: nothing here may panic or allocate past a limit.

use bytes::BytesMut;
use ringrpc_codec::{
    compress::gzip, decode, encode_frame, frame_len, CompressType, DecodeError, Header, Limits,
    Section, SerializeType, NO_METADATA,
};

fn frame(path: &str, method: &str, payload: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_frame(
        &mut buf,
        &Header::request(1, SerializeType::Json),
        path,
        method,
        NO_METADATA,
        payload,
    )
    .unwrap();
    buf.to_vec()
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    decode(&mut BytesMut::from(bytes), &Limits::default()).unwrap_err()
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn bad_magic_is_reported_from_the_first_byte() {
    assert_eq!(
        frame_len(&[0x47], &Limits::default()),
        Err(DecodeError::BadMagic(0x47))
    );
    assert_eq!(
        decode_err(b"GET / HTTP/1.1\r\n\r\n"),
        DecodeError::BadMagic(b'G')
    );
}

#[test]
fn incomplete_input_asks_for_more() {
    let bytes = frame("Arith", "Mul", b"{}");
    for end in 0..bytes.len() {
        let mut src = BytesMut::from(&bytes[..end]);
        assert_eq!(
            decode(&mut src, &Limits::default()),
            Ok(None),
            "prefix of {end} bytes"
        );
        assert_eq!(src.len(), end, "an incomplete frame is not consumed");
    }
}

#[test]
fn frame_length_is_known_from_the_fixed_part_alone() {
    let bytes = frame("Arith", "Mul", b"{}");
    assert_eq!(
        frame_len(&bytes[..16], &Limits::default()),
        Ok(Some(bytes.len()))
    );
}

#[test]
fn oversized_frame_is_refused_before_its_body_arrives() {
    let mut fixed = frame("a", "b", b"")[..16].to_vec();
    set_u32(&mut fixed, 12, u32::MAX);
    let limits = Limits::default().max_frame_bytes(1 << 20);
    assert_eq!(
        frame_len(&fixed, &limits),
        Err(DecodeError::FrameTooLarge {
            len: 16 + u64::from(u32::MAX),
            max: 1 << 20
        })
    );
}

#[test]
fn body_too_short_for_the_four_lengths() {
    let mut bytes = frame("", "", b"");
    set_u32(&mut bytes, 12, 8);
    bytes.truncate(24);
    assert_eq!(decode_err(&bytes), DecodeError::BodyTooShort { len: 8 });
}

#[test]
fn section_length_past_the_frame_end() {
    let mut bytes = frame("Arith", "Mul", b"{}");
    set_u32(&mut bytes, 16, 1000);
    assert!(matches!(
        decode_err(&bytes),
        DecodeError::SectionOverrun {
            section: Section::ServicePath,
            len: 1000,
            ..
        }
    ));
}

#[test]
fn payload_length_that_disagrees_with_the_total() {
    let mut bytes = frame("Arith", "Mul", b"{}");
    let payload_len_at = bytes.len() - 2 - 4;
    set_u32(&mut bytes, payload_len_at, 1);
    assert_eq!(
        decode_err(&bytes),
        DecodeError::PayloadLenMismatch {
            declared: 1,
            actual: 2
        }
    );
}

#[test]
fn metadata_key_without_room_for_its_value_length() {
    // path "", method "", metadata = keyLen 1, "k", then only 2 bytes, payload length 0.
    let mut bytes = vec![0x08, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    let body: Vec<u8> = [
        &[0u8, 0, 0, 0][..],
        &[0, 0, 0, 0],
        &[0, 0, 0, 7],
        &[0, 0, 0, 1],
        b"k",
        &[0, 0],
        &[0, 0, 0, 0],
    ]
    .concat();
    set_u32(&mut bytes, 12, body.len() as u32);
    bytes.extend(body);
    assert_eq!(
        decode_err(&bytes),
        DecodeError::MetadataKvMissing {
            offset: 0,
            section_len: 7
        }
    );
}

#[test]
fn unknown_compress_type() {
    let mut bytes = frame("a", "b", b"xyz");
    bytes[2] |= 3 << 2;
    assert_eq!(decode_err(&bytes), DecodeError::UnknownCompressType(3));
}

#[test]
fn corrupt_gzip() {
    let mut bytes = frame("a", "b", b"\x1f\x8b\x08\x00not gzip at all");
    bytes[2] |= CompressType::Gzip.to_wire() << 2;
    assert!(matches!(decode_err(&bytes), DecodeError::CorruptGzip(_)));
}

#[test]
fn gzip_bomb_is_stopped_at_the_decompression_limit() {
    let mut zipped = BytesMut::new();
    gzip(&vec![0u8; 32 << 20], &mut zipped).unwrap();
    let mut header = Header::request(1, SerializeType::None);
    header.set_compress_type(CompressType::Gzip);
    let mut buf = BytesMut::new();
    encode_frame(&mut buf, &header, "a", "b", NO_METADATA, &zipped).unwrap();
    assert!(buf.len() < 64 << 10, "a small frame ({} bytes)", buf.len());
    let limits = Limits::default().max_decompressed_bytes(1 << 20);
    assert_eq!(
        decode(&mut buf, &limits),
        Err(DecodeError::DecompressedTooLarge { max: 1 << 20 })
    );
}

#[test]
fn invalid_utf8_in_service_path() {
    let mut bytes = frame("ab", "c", b"");
    bytes[20] = 0xff;
    assert_eq!(
        decode_err(&bytes),
        DecodeError::InvalidUtf8 {
            section: Section::ServicePath
        }
    );
}

#[test]
fn names_and_metadata_are_utf8_checked_ascii_or_not() {
    // Valid UTF-8 beyond ASCII passes (the ASCII scan is only a shortcut).
    let mut buf = BytesMut::new();
    let meta = [("clé", "valeur ü"), ("k", "v")];
    encode_frame(
        &mut buf,
        &Header::request(1, SerializeType::None),
        "Sérvice",
        "Méthode",
        meta.iter().map(|(k, v)| (*k, *v)),
        b"x",
    )
    .unwrap();
    let frame = decode(&mut buf.clone(), &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (frame.service_path(), frame.service_method()),
        ("Sérvice", "Méthode")
    );
    assert_eq!(frame.metadata().get("clé"), Some("valeur ü"));

    // A byte that is not UTF-8 in the method, or in a metadata value, is refused. The
    // method starts after the 16-byte header and the path's length word and bytes.
    let method_at = 16 + 4 + "Sérvice".len() + 4;
    let mut bad_method = buf.to_vec();
    bad_method[method_at + 1] = 0xff;
    assert_eq!(
        decode_err(&bad_method),
        DecodeError::InvalidUtf8 {
            section: Section::ServiceMethod
        }
    );
    let value_at = buf.len() - 4 - 1 - 1 - 4 - 1 - 4 - "valeur ü".len();
    let mut bad_value = buf.to_vec();
    assert_eq!(&bad_value[value_at..value_at + 6], b"valeur");
    bad_value[value_at] = 0xc3; // a lead byte followed by ASCII: not UTF-8
    assert_eq!(
        decode_err(&bad_value),
        DecodeError::InvalidUtf8 {
            section: Section::Metadata
        }
    );
}

#[test]
fn unknown_serialize_type_is_a_payload_error_with_rpcx_text() {
    let mut bytes = frame("a", "b", b"");
    bytes[3] = 0x70;
    let frame = decode(&mut BytesMut::from(&bytes[..]), &Limits::default())
        .unwrap()
        .unwrap();
    let err = frame.header().serialize_type().unwrap_err();
    assert_eq!(err.to_string(), "can not find codec for 7");
}

fn with_metadata(count: usize) -> Vec<u8> {
    let keys: Vec<String> = (0..count).map(|i| format!("k{i}")).collect();
    let mut buf = BytesMut::new();
    encode_frame(
        &mut buf,
        &Header::request(1, SerializeType::Json),
        "Echo",
        "Echo",
        keys.iter().map(|k| (k.as_str(), "v")),
        b"",
    )
    .unwrap();
    buf.to_vec()
}

#[test]
fn metadata_over_the_record_limit_is_refused() {
    let limits = Limits::default().max_metadata_count(8);
    let ok = decode(&mut BytesMut::from(&with_metadata(8)[..]), &limits);
    assert_eq!(ok.unwrap().unwrap().metadata().iter().count(), 8);
    assert_eq!(
        decode(&mut BytesMut::from(&with_metadata(9)[..]), &limits),
        Err(DecodeError::TooManyMetadata { max: 8 })
    );
    let many = with_metadata(Limits::DEFAULT_MAX_METADATA_COUNT + 1);
    assert_eq!(
        decode_err(&many),
        DecodeError::TooManyMetadata {
            max: Limits::DEFAULT_MAX_METADATA_COUNT
        }
    );
}

#[test]
fn a_frame_decoded_compressed_inflates_only_when_asked() {
    let plain = vec![7u8; 64 << 10];
    let mut zipped = BytesMut::new();
    gzip(&plain, &mut zipped).unwrap();
    let mut header = Header::request(1, SerializeType::None);
    header.set_compress_type(CompressType::Gzip);
    let mut wire = BytesMut::new();
    encode_frame(&mut wire, &header, "Echo", "Echo", NO_METADATA, &zipped).unwrap();
    let raw = wire.freeze();

    let mut frame =
        ringrpc_codec::decode_frame_compressed(raw.clone(), &Limits::default()).unwrap();
    assert!(frame.is_compressed());
    assert_eq!(
        frame.payload(),
        &frame.wire_payload(),
        "still the gzip bytes"
    );
    assert_eq!(
        frame.clone().inflate(1024),
        Err(DecodeError::DecompressedTooLarge { max: 1024 })
    );
    frame.inflate(plain.len()).unwrap();
    assert!(!frame.is_compressed());
    assert_eq!(&frame.payload()[..], &plain[..]);
    frame.inflate(0).unwrap();
    assert_eq!(
        frame.payload().len(),
        plain.len(),
        "inflating twice is a no-op"
    );
    let eager = ringrpc_codec::decode_frame(raw, &Limits::default()).unwrap();
    assert_eq!(eager.payload(), frame.payload());
}
