//! What goes out (a [`Request`]) and what comes back (a [`Reply`] to a call, a [`Push`] the
//! server sent on its own), at the byte level. Typed calls sit on top of these.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use ringrpc_codec::{DecodePayload, Frame, Metadata, PayloadError, SerializeType};

use crate::error::Error;

/// One request with its payload already serialized. Fields left `None` come from the
/// client's options. This is the connection-level unit a governance layer retries.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The service, e.g. `Arith`.
    pub service_path: &'a str,
    /// The method, e.g. `Mul`.
    pub service_method: &'a str,
    /// Request metadata, in order.
    pub metadata: &'a [(String, String)],
    /// The serialized arguments (uncompressed; gzip is applied when sending).
    pub payload: &'a [u8],
    /// The serialize type `payload` was written with (the frame's nibble).
    pub serialize_type: Option<SerializeType>,
    /// Gzip the payload if it is over 1 KiB; `None`: the client's setting.
    pub compress: Option<bool>,
    /// When to give up waiting; sent as `__ServerTimeout` (remaining ms).
    pub deadline: Option<Instant>,
}

impl<'a> Request<'a> {
    /// A request with no metadata and every option from the client.
    pub fn new(service_path: &'a str, service_method: &'a str, payload: &'a [u8]) -> Self {
        Self {
            service_path,
            service_method,
            metadata: &[],
            payload,
            serialize_type: None,
            compress: None,
            deadline: None,
        }
    }

    /// Sets [`metadata`](Self::metadata).
    pub fn metadata(mut self, metadata: &'a [(String, String)]) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets [`serialize_type`](Self::serialize_type).
    pub fn serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = Some(serialize_type);
        self
    }

    /// Sets [`compress`](Self::compress).
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = Some(on);
        self
    }

    /// Sets [`deadline`](Self::deadline).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// A successful response, kept as the received frame: payload and metadata are views into
/// the receive buffer (the payload is decompressed if it came gzip'ed).
#[derive(Debug, Clone)]
pub struct Reply {
    frame: Frame,
}

impl Reply {
    pub(crate) fn new(frame: Frame) -> Self {
        Self { frame }
    }

    /// The reply payload (decompressed), a view into the receive buffer.
    pub fn payload(&self) -> &Bytes {
        self.frame.payload()
    }

    /// The reply payload, owned.
    pub fn into_payload(self) -> Bytes {
        self.frame.into_payload()
    }

    /// The response metadata, a view into the received frame.
    pub fn metadata(&self) -> Metadata<'_> {
        self.frame.metadata()
    }

    /// The serialize type the server wrote the payload with.
    pub fn serialize_type(&self) -> Result<SerializeType, PayloadError> {
        self.frame.header().serialize_type()
    }

    /// Decodes the payload with the serialize type the response names (as rpcx-go does).
    pub fn decode<T: DecodePayload>(&self) -> Result<T, Error> {
        let serialize_type = self.serialize_type().map_err(Error::Decode)?;
        T::decode_as(serialize_type, &self.frame.share_payload()).map_err(Error::Decode)
    }

    /// The received frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The received frame, owned.
    pub fn into_frame(self) -> Frame {
        self.frame
    }
}

/// A typed reply with the response metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Response<T> {
    /// The decoded reply.
    pub value: T,
    /// The response metadata.
    pub metadata: HashMap<String, String>,
}

/// A message the server sent on its own (rpcx's bidirectional mode, PROTOCOL.md §4.14):
/// a oneway request that is not a heartbeat. Never answered.
#[derive(Debug, Clone)]
pub struct Push {
    frame: Frame,
}

impl Push {
    pub(crate) fn new(frame: Frame) -> Self {
        Self { frame }
    }

    /// The service the server named, e.g. `Test`.
    pub fn service_path(&self) -> &str {
        self.frame.service_path()
    }

    /// The method the server named, e.g. `Push`.
    pub fn service_method(&self) -> &str {
        self.frame.service_method()
    }

    /// The push's metadata.
    pub fn metadata(&self) -> Metadata<'_> {
        self.frame.metadata()
    }

    /// The push's payload.
    pub fn payload(&self) -> &Bytes {
        self.frame.payload()
    }

    /// The server's own push counter (independent of this client's seqs).
    pub fn seq(&self) -> u64 {
        self.frame.seq()
    }

    /// The received frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The received frame, owned.
    pub fn into_frame(self) -> Frame {
        self.frame
    }
}
