//! Properties of encode/decode: every generated frame decodes to what was encoded, and
//! re-encoding a decoded frame reproduces its bytes exactly.

use bytes::BytesMut;
use proptest::prelude::*;
use ringrpc_codec::{
    decode, encode_frame, encode_request, CompressType, Header, Limits, MessageType, SerializeType,
    StatusType,
};

#[derive(Debug, Clone)]
struct Spec {
    seq: u64,
    response: bool,
    heartbeat: bool,
    oneway: bool,
    status: u8,
    serialize: SerializeType,
    service_path: String,
    service_method: String,
    metadata: Vec<(String, String)>,
    payload: Vec<u8>,
    compress: bool,
}

fn serialize_type() -> impl Strategy<Value = SerializeType> {
    prop_oneof![
        Just(SerializeType::None),
        Just(SerializeType::Json),
        Just(SerializeType::Protobuf),
        Just(SerializeType::MsgPack),
        Just(SerializeType::Thrift),
        Just(SerializeType::FlatBuffers),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            any::<u64>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u8..4,
            serialize_type(),
        ),
        ("\\PC{0,12}", "\\PC{0,12}"),
        prop::collection::vec(("\\PC{0,8}", "\\PC{0,16}"), 0..4),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            // Compressible payloads around the 1024-byte threshold.
            (1000usize..3000).prop_map(|n| (0..n).map(|i| (i % 13) as u8).collect()),
        ],
        any::<bool>(),
    )
        .prop_map(
            |(
                (seq, response, heartbeat, oneway, status, serialize),
                (p, m),
                md,
                payload,
                compress,
            )| Spec {
                seq,
                response,
                heartbeat,
                oneway,
                status,
                serialize,
                service_path: p,
                service_method: m,
                metadata: md,
                payload,
                compress,
            },
        )
}

fn header_of(spec: &Spec) -> Header {
    let mut header = Header::request(spec.seq, spec.serialize);
    header.set_message_type(if spec.response {
        MessageType::Response
    } else {
        MessageType::Request
    });
    header.set_heartbeat(spec.heartbeat);
    header.set_oneway(spec.oneway);
    header.set_status(match spec.status {
        0 => StatusType::Normal,
        1 => StatusType::Error,
        other => StatusType::Other(other),
    });
    header
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity(spec in spec()) {
        let header = header_of(&spec);
        let mut buf = BytesMut::new();
        let pairs = spec.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        encode_request(&mut buf, &header, &spec.service_path, &spec.service_method, pairs, &spec.payload, spec.compress).unwrap();
        let encoded = buf.clone().freeze();

        let frame = decode(&mut buf, &Limits::default()).unwrap().expect("a whole frame");
        prop_assert!(buf.is_empty());
        let h = frame.header();
        prop_assert_eq!(h.seq(), spec.seq);
        prop_assert_eq!(h.message_type() == MessageType::Response, spec.response);
        prop_assert_eq!(h.is_heartbeat(), spec.heartbeat);
        prop_assert_eq!(h.is_oneway(), spec.oneway);
        prop_assert_eq!(h.serialize_type().unwrap(), spec.serialize);
        let compressed = spec.compress && spec.payload.len() > 1024;
        let expected = if compressed { CompressType::Gzip } else { CompressType::None };
        prop_assert_eq!(h.compress_type().unwrap(), expected);
        prop_assert_eq!(frame.service_path(), spec.service_path.as_str());
        prop_assert_eq!(frame.service_method(), spec.service_method.as_str());
        let metadata: Vec<(String, String)> =
            frame.metadata().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(metadata, spec.metadata.clone());
        prop_assert_eq!(&frame.payload()[..], &spec.payload[..]);

        // Re-encoding the decoded frame (wire payload kept as received) is byte-identical.
        let mut again = BytesMut::new();
        encode_frame(&mut again, frame.header(), frame.service_path(), frame.service_method(), frame.metadata(), &frame.wire_payload()).unwrap();
        prop_assert_eq!(&again[..], &encoded[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        ringrpc_codec::fuzzing::decode_any(&data);
    }

    #[test]
    fn mutated_valid_frames_never_panic(spec in spec(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut buf = BytesMut::new();
        let pairs = spec.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        encode_request(&mut buf, &header_of(&spec), &spec.service_path, &spec.service_method, pairs, &spec.payload, spec.compress).unwrap();
        let mut bytes = buf.to_vec();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        ringrpc_codec::fuzzing::decode_any(&bytes);
    }
}
