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
    pub service_path: &'a str,
    pub service_method: &'a str,
    pub metadata: &'a [(String, String)],
    /// The serialized arguments (uncompressed; gzip is applied when sending).
    pub payload: &'a [u8],
    /// The serialize type `payload` was written with (the frame's nibble).
    pub serialize_type: Option<SerializeType>,
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

    pub fn metadata(mut self, metadata: &'a [(String, String)]) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = Some(serialize_type);
        self
    }

    pub fn compress(mut self, on: bool) -> Self {
        self.compress = Some(on);
        self
    }

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

    pub fn payload(&self) -> &Bytes {
        self.frame.payload()
    }

    pub fn into_payload(self) -> Bytes {
        self.frame.into_payload()
    }

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
        T::decode_as(serialize_type, self.payload()).map_err(Error::Decode)
    }

    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    pub fn into_frame(self) -> Frame {
        self.frame
    }
}

/// A typed reply with the response metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Response<T> {
    pub value: T,
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

    pub fn service_path(&self) -> &str {
        self.frame.service_path()
    }

    pub fn service_method(&self) -> &str {
        self.frame.service_method()
    }

    pub fn metadata(&self) -> Metadata<'_> {
        self.frame.metadata()
    }

    pub fn payload(&self) -> &Bytes {
        self.frame.payload()
    }

    /// The server's own push counter (independent of this client's seqs).
    pub fn seq(&self) -> u64 {
        self.frame.seq()
    }

    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    pub fn into_frame(self) -> Frame {
        self.frame
    }
}
