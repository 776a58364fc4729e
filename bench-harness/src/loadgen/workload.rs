//! What the Rust load generator sends and how it judges a reply.
//!
//! The request frame is encoded once with the codec; each send copies it and patches the
//! seq (bytes 4..12 of the header, PROTOCOL.md §1), which keeps the generator's own cost
//! per call low so that it can saturate the server. The server still gets a complete,
//! ordinary rpcx request every time.

use bytes::BytesMut;
use prost::Message;
use ringrpc_codec::payload::benchmark_message::BenchmarkMessage;
use ringrpc_codec::{
    encode_frame, Frame, Header, MessageType, SerializeType, StatusType, ERROR_KEY, NO_METADATA,
};

/// Where the seq sits in the fixed part of a frame.
const SEQ_RANGE: std::ops::Range<usize> = 4..12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `Hello.Say` with the 581-byte BenchmarkMessage; good if the reply's field1 is "OK".
    BenchmarkMessage,
    /// `Echo.Echo` with an opaque SerializeNone payload; good if it comes back unchanged.
    EchoRaw { payload_len: usize },
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Self::BenchmarkMessage => "benchmark-message",
            Self::EchoRaw { .. } => "echo-raw",
        }
    }

    pub fn payload_len(&self) -> usize {
        match self {
            Self::BenchmarkMessage => BenchmarkMessage::benchmark_request().encoded_len(),
            Self::EchoRaw { payload_len } => *payload_len,
        }
    }
}

/// Only field 1 of a BenchmarkMessage reply. Decoding into it walks and validates the
/// whole message (prost skips the other fields after checking their wire format) but
/// materialises just the string the benchmark's "good reply" rule looks at.
#[derive(Clone, PartialEq, Message)]
struct ReplyField1 {
    #[prost(string, tag = "1")]
    field1: String,
}

/// How a reply was judged.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Good,
    Bad,
    Error(String),
}

/// The encoded request and what a good reply looks like.
pub struct RequestTemplate {
    frame: Vec<u8>,
    workload: Workload,
    pub service_path: &'static str,
    pub service_method: &'static str,
    pub serialize_type: SerializeType,
    /// The request payload (what an echo must return).
    pub payload: Vec<u8>,
}

impl RequestTemplate {
    pub fn new(workload: Workload) -> anyhow::Result<Self> {
        let (serialize, service_path, service_method, payload) = match workload {
            Workload::BenchmarkMessage => (
                SerializeType::Protobuf,
                "Hello",
                "Say",
                BenchmarkMessage::benchmark_request().encode_to_vec(),
            ),
            Workload::EchoRaw { payload_len } => (
                SerializeType::None,
                "Echo",
                "Echo",
                (0..payload_len).map(|i| b'a' + (i % 26) as u8).collect(),
            ),
        };
        let mut frame = BytesMut::new();
        let header = Header::request(0, serialize);
        encode_frame(
            &mut frame,
            &header,
            service_path,
            service_method,
            NO_METADATA,
            &payload,
        )?;
        Ok(Self {
            frame: frame.to_vec(),
            workload,
            service_path,
            service_method,
            serialize_type: serialize,
            payload,
        })
    }

    /// Appends the request with this seq to `dst`.
    pub fn write(&self, seq: u64, dst: &mut Vec<u8>) {
        let at = dst.len();
        dst.extend_from_slice(&self.frame);
        dst[at + SEQ_RANGE.start..at + SEQ_RANGE.end].copy_from_slice(&seq.to_be_bytes());
    }

    pub fn judge(&self, reply: &Frame) -> Verdict {
        let header = reply.header();
        if header.message_type() != MessageType::Response {
            return Verdict::Bad;
        }
        if header.status() != StatusType::Normal {
            let text = reply
                .metadata()
                .get(ERROR_KEY)
                .unwrap_or("error status, no text");
            return Verdict::Error(text.to_owned());
        }
        self.judge_payload(reply.payload())
    }

    /// Judges the payload of a successful reply.
    pub fn judge_payload(&self, payload: &[u8]) -> Verdict {
        let good = match self.workload {
            Workload::BenchmarkMessage => {
                ReplyField1::decode(payload).is_ok_and(|r| r.field1 == "OK")
            }
            Workload::EchoRaw { .. } => payload == self.payload.as_slice(),
        };
        if good {
            Verdict::Good
        } else {
            Verdict::Bad
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringrpc_codec::{decode, Limits, Reply};

    fn reply_to(request: &[u8], payload: &[u8]) -> Frame {
        let request = decode(&mut BytesMut::from(request), &Limits::default())
            .unwrap()
            .unwrap();
        let mut out = BytesMut::new();
        Reply::to(&request)
            .encode_ok(&mut out, NO_METADATA, payload)
            .unwrap();
        decode(&mut out, &Limits::default()).unwrap().unwrap()
    }

    #[test]
    fn benchmark_reply_is_good_only_with_field1_ok() {
        let template = RequestTemplate::new(Workload::BenchmarkMessage).unwrap();
        let mut wire = Vec::new();
        template.write(7, &mut wire);
        let request = decode(&mut BytesMut::from(&wire[..]), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(request.seq(), 7);
        assert_eq!(request.payload().len(), 581);

        let handled = BenchmarkMessage::decode(request.payload().as_ref()).unwrap();
        let good = handled.clone().into_benchmark_reply().encode_to_vec();
        assert_eq!(template.judge(&reply_to(&wire, &good)), Verdict::Good);
        // An echo of the request is not a good reply: field1 is still the request's.
        assert_eq!(
            template.judge(&reply_to(&wire, &handled.encode_to_vec())),
            Verdict::Bad
        );
    }

    #[test]
    fn echo_reply_must_match_the_payload() {
        let template = RequestTemplate::new(Workload::EchoRaw { payload_len: 16 }).unwrap();
        let mut wire = Vec::new();
        template.write(1, &mut wire);
        assert_eq!(
            template.judge(&reply_to(&wire, b"abcdefghijklmnop")),
            Verdict::Good
        );
        assert_eq!(
            template.judge(&reply_to(&wire, b"abcdefghijklmnoX")),
            Verdict::Bad
        );
    }
}
