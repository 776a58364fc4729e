//! Golden vectors produced by rpcx-go's own `protocol` package (see vectors/README.md):
//! each one decodes to the fields its JSON describes and re-encodes byte for byte.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use ringrpc_codec::{decode, encode_frame, Limits, MessageType, StatusType};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn vectors() -> Vec<(String, Vec<u8>, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(vectors_dir()).expect("codec/tests/vectors exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let spec = std::fs::read_to_string(path.with_extension("json"))
                .unwrap_or_else(|_| panic!("{name}.json is missing"));
            out.push((name, bytes, serde_json::from_str(&spec).unwrap()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_vector_decodes_to_its_description_and_reencodes_byte_for_byte() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 20,
        "expected the full vector set, found {}",
        vectors.len()
    );
    let limits = Limits::default()
        .max_frame_bytes(8 << 20)
        .max_decompressed_bytes(8 << 20);
    for (name, bytes, spec) in &vectors {
        let mut src = BytesMut::from(&bytes[..]);
        let frame = decode(&mut src, &limits)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: incomplete"));
        assert!(src.is_empty(), "{name}: trailing bytes");
        assert_eq!(
            bytes.len() as u64,
            spec["frame_len"].as_u64().unwrap(),
            "{name}: frame_len"
        );

        let h = frame.header();
        let response = spec["message_type"] == "response";
        assert_eq!(
            h.message_type() == MessageType::Response,
            response,
            "{name}: type"
        );
        assert_eq!(
            h.is_heartbeat(),
            spec["heartbeat"].as_bool().unwrap(),
            "{name}: heartbeat"
        );
        assert_eq!(
            h.is_oneway(),
            spec["oneway"].as_bool().unwrap(),
            "{name}: oneway"
        );
        assert_eq!(
            u64::from(h.compress_bits()),
            spec["compress"].as_u64().unwrap(),
            "{name}: compress"
        );
        let status = match h.status() {
            StatusType::Normal => 0,
            StatusType::Error => 1,
            StatusType::Other(n) => u64::from(n),
        };
        assert_eq!(status, spec["status"].as_u64().unwrap(), "{name}: status");
        assert_eq!(
            u64::from(h.serialize_bits()),
            spec["serialize"].as_u64().unwrap(),
            "{name}: serialize"
        );
        assert_eq!(h.seq(), spec["seq"].as_u64().unwrap(), "{name}: seq");
        assert_eq!(
            frame.service_path(),
            spec["service_path"].as_str().unwrap(),
            "{name}: path"
        );
        assert_eq!(
            frame.service_method(),
            spec["service_method"].as_str().unwrap(),
            "{name}: method"
        );

        let expected_metadata = spec["metadata"].as_object().unwrap();
        assert_eq!(
            frame.metadata().iter().count(),
            expected_metadata.len(),
            "{name}: metadata"
        );
        for (key, value) in expected_metadata {
            assert_eq!(
                frame.metadata().get(key),
                value.as_str(),
                "{name}: metadata {key}"
            );
        }

        let payload = frame.payload();
        if let Some(hex_payload) = spec.get("payload_hex").and_then(Value::as_str) {
            assert_eq!(hex::encode(payload), hex_payload, "{name}: payload");
        } else {
            assert_eq!(
                payload.len() as u64,
                spec["payload_len"].as_u64().unwrap(),
                "{name}: payload_len"
            );
            let digest = hex::encode(Sha256::digest(payload));
            assert_eq!(
                digest,
                spec["payload_sha256"].as_str().unwrap(),
                "{name}: payload_sha256"
            );
        }

        let mut again = BytesMut::new();
        encode_frame(
            &mut again,
            h,
            frame.service_path(),
            frame.service_method(),
            frame.metadata(),
            &frame.wire_payload(),
        )
        .unwrap();
        assert!(again[..] == bytes[..], "{name}: re-encoding differs");
    }
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(vectors_dir().join(format!("{name}.bin"))).unwrap()
}

fn decoded(name: &str) -> ringrpc_codec::Frame {
    decode(&mut BytesMut::from(&vector(name)[..]), &Limits::default())
        .unwrap()
        .unwrap()
}

/// Our encoder, starting from values rather than from a decoded frame, writes what rpcx-go
/// writes: requests, replies derived from requests, error replies and heartbeat echoes.
#[test]
fn frames_built_from_scratch_equal_rpcx_go_bytes() {
    use ringrpc_codec::{encode_heartbeat_reply, Header, Reply, SerializeType, NO_METADATA};

    let mut out = BytesMut::new();
    encode_frame(
        &mut out,
        &Header::request(1, SerializeType::Json),
        "Arith",
        "Mul",
        [("k", "v")],
        br#"{"A":10,"B":20}"#,
    )
    .unwrap();
    assert_eq!(&out[..], &vector("spec_a_request_json")[..], "(a) request");

    out.clear();
    Reply::to(&decoded("spec_a_request_json"))
        .encode_ok(&mut out, NO_METADATA, br#"{"C":200}"#)
        .unwrap();
    assert_eq!(
        &out[..],
        &vector("spec_b_response_json")[..],
        "(b) response"
    );

    out.clear();
    Reply::to(&decoded("request_json"))
        .encode_ok(&mut out, NO_METADATA, br#"{"C":42}"#)
        .unwrap();
    assert_eq!(&out[..], &vector("response_json")[..], "json response");

    out.clear();
    let div = decoded("spec_c_request_json_div");
    Reply::to(&div)
        .encode_error(&mut out, "rpcx: can't find method Div", NO_METADATA, &[])
        .unwrap();
    assert_eq!(
        &out[..],
        &vector("spec_c_error_unknown_method")[..],
        "(c) error response"
    );

    out.clear();
    encode_heartbeat_reply(&decoded("spec_d_heartbeat_request"), &mut out);
    assert_eq!(
        &out[..],
        &vector("spec_d_heartbeat_reply")[..],
        "(d) heartbeat reply"
    );
}

/// A gzip'ed reply from us is a different gzip stream than Go's, but carries the same
/// payload with the same flags.
#[test]
fn gzip_reply_matches_go_after_inflation() {
    use ringrpc_codec::{Reply, NO_METADATA};
    let request = decoded("request_gzip_raw");
    let go_reply = decoded("response_gzip_raw");
    let mut out = BytesMut::new();
    Reply::to(&request)
        .encode_ok(&mut out, NO_METADATA, go_reply.payload())
        .unwrap();
    let ours = decode(&mut out, &Limits::default()).unwrap().unwrap();
    assert_eq!(ours.header().flags(), go_reply.header().flags());
    assert_eq!(ours.payload(), go_reply.payload());
    assert_eq!(ours.service_path(), go_reply.service_path());
}
