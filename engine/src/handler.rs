//! What a handler sees and returns.
//!
//! A handler is an async function `Request -> Result<Response<T>, HandlerError>`, where `T` is
//! any [`EncodePayload`]: raw `Bytes`, `Serde<T>` (JSON and MsgPack), `Proto<T>` (protobuf) or
//! `ProtoSerde<T>` (all three). Arguments are decoded ([`Request::decode`], any
//! [`DecodePayload`]) and replies encoded with the serialize type the request names, as
//! rpcx-go does, so one handler serves every client codec. An argument type needs only
//! `Deserialize`, a reply type only `Serialize`:
//!
//! ```
//! use ringrpc_engine::codec::payload::Serde;
//! use ringrpc_engine::{HandlerError, Request, Response};
//!
//! #[derive(serde::Deserialize)]
//! struct Args {
//!     #[serde(rename = "A")]
//!     a: i64,
//!     #[serde(rename = "B")]
//!     b: i64,
//! }
//!
//! #[derive(serde::Serialize)]
//! struct Reply {
//!     #[serde(rename = "C")]
//!     c: i64,
//! }
//!
//! async fn mul(request: Request) -> Result<Response<Serde<Reply>>, HandlerError> {
//!     let Serde(args): Serde<Args> = request.decode()?;
//!     Ok(Response::new(Serde(Reply { c: args.a * args.b })))
//! }
//! ```
//!
//! Handlers run on the shard that accepted the connection and may hold `!Send` state.

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use ringrpc_codec::payload::{DecodePayload, EncodePayload, SerializeType};
use ringrpc_codec::{Frame, Metadata};

use crate::conn::Link;
use crate::error::HandlerError;
use crate::push::Pusher;

/// Something that answers requests for one `service_path.service_method`.
///
/// Implemented for every `Fn(Request) -> impl Future<Output = Result<Response<T>, HandlerError>>`,
/// so an `async fn` is a handler. Implement it by hand to keep state in the handler
/// (the state lives on one shard; `!Send` is fine).
pub trait Handler: 'static {
    /// The reply payload type, encoded with the request's serialize type.
    type Reply: EncodePayload + 'static;
    /// The running call; it may hold `!Send` state.
    type Future: Future<Output = Result<Response<Self::Reply>, HandlerError>> + 'static;

    /// Starts answering `request`.
    fn call(&self, request: Request) -> Self::Future;
}

impl<F, Fut, T> Handler for F
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Result<Response<T>, HandlerError>> + 'static,
    T: EncodePayload + 'static,
{
    type Reply = T;
    type Future = Fut;

    fn call(&self, request: Request) -> Fut {
        self(request)
    }
}

/// One request, as a handler sees it. The payload and metadata are views into the
/// connection's receive buffer: nothing was copied to build this.
// In declaration order: the frame's 16-byte words stay 16-byte aligned within the
// handler's future, so moving a new request into its slot copies whole stored words.
#[repr(C)]
pub struct Request {
    frame: Frame,
    serialize_type: SerializeType,
    deadline: Option<Instant>,
    link: Rc<Link>,
}

impl Request {
    pub(crate) fn new(
        frame: Frame,
        serialize_type: SerializeType,
        deadline: Option<Instant>,
        link: Rc<Link>,
    ) -> Self {
        Self {
            frame,
            serialize_type,
            deadline,
            link,
        }
    }

    /// The service the request names (`Arith` in `Arith.Mul`).
    pub fn service_path(&self) -> &str {
        self.frame.service_path()
    }

    /// The method the request names (`Mul` in `Arith.Mul`).
    pub fn service_method(&self) -> &str {
        self.frame.service_method()
    }

    /// The request's metadata records (`__AUTH` and `__ServerTimeout` included).
    pub fn metadata(&self) -> Metadata<'_> {
        self.frame.metadata()
    }

    /// The payload (decompressed if the request was gzip'ed), sharing the receive buffer.
    pub fn payload(&self) -> &Bytes {
        self.frame.payload()
    }

    /// The payload, without copying it.
    pub fn into_payload(self) -> Bytes {
        self.frame.into_payload()
    }

    /// The codec the client used; replies are encoded with it too.
    pub fn serialize_type(&self) -> SerializeType {
        self.serialize_type
    }

    /// The client's sequence number of this request.
    pub fn seq(&self) -> u64 {
        self.frame.seq()
    }

    /// A oneway request gets no reply, whatever the handler returns (PROTOCOL.md §4.10).
    pub fn is_oneway(&self) -> bool {
        self.frame.header().is_oneway()
    }

    /// When the client stops waiting (`__ServerTimeout`, PROTOCOL.md §4.6). Unlike rpcx-go the
    /// engine enforces it: a handler still running then is dropped and the client gets an
    /// error reply.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The client's address (`None` when the connection has none, e.g. in a test).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.link.peer_addr()
    }

    /// The whole request frame as received.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Decodes the payload with the request's serialize type (`?` turns a failure into a
    /// [`HandlerError`] of kind `Payload` carrying the codec's text).
    pub fn decode<T: DecodePayload>(&self) -> Result<T, HandlerError> {
        Ok(T::decode_as(
            self.serialize_type,
            &self.frame.share_payload(),
        )?)
    }

    /// A handle for sending server-initiated messages on this request's connection.
    pub fn pusher(&self) -> Pusher {
        Pusher::new(self.link.clone())
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("frame", &self.frame)
            .field("serialize_type", &self.serialize_type)
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// A reply: a payload (encoded with the request's serialize type) and the response metadata
/// (PROTOCOL.md §4.11). Request metadata is never echoed unless copied here.
///
/// A handler returning `Err(HandlerError)` sends an error reply with an empty payload. A
/// handler that wants rpcx-go's *method* semantics (an error reply that still carries the
/// encoded reply object, PROTOCOL.md §4.9) returns `Ok(Response::new(reply).with_error(e))`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response<T = Bytes> {
    payload: T,
    metadata: Vec<(String, String)>,
    /// Boxed: rare, and a reply is moved several times between the handler and the
    /// encoder; a smaller one moves in fewer words.
    error: Option<Box<HandlerError>>,
}

impl<T> Response<T> {
    /// A reply carrying `payload` and no metadata.
    pub fn new(payload: T) -> Self {
        Self {
            payload,
            metadata: Vec::new(),
            error: None,
        }
    }

    /// Turns this into an error reply (status Error, `__rpcx_error__` = the error text) that
    /// still carries the payload and metadata, as rpcx-go does for a method returning an error.
    pub fn with_error(mut self, error: impl Into<HandlerError>) -> Self {
        self.error = Some(Box::new(error.into()));
        self
    }

    /// The same reply (metadata, error) with another payload: metadata can be copied from a
    /// request before its payload is taken (`Request::into_payload`), as an echo does.
    pub fn with_payload<U>(self, payload: U) -> Response<U> {
        Response {
            payload,
            metadata: self.metadata,
            error: self.error,
        }
    }

    /// The error set by [`Self::with_error`], if any.
    pub fn error(&self) -> Option<&HandlerError> {
        self.error.as_deref()
    }

    /// The payload, to take it out for a send that shares it (`InFlight::take_shared_payload`).
    pub(crate) fn payload_mut(&mut self) -> &mut T {
        &mut self.payload
    }

    /// Sets one metadata record (replacing an earlier one with the same key, as Go's map does).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(record) => record.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Copies every record of `metadata` (typically the request's) into the response, with
    /// [`Self::with_metadata`]'s rule (a key set again keeps its place and takes the later
    /// value), in time linear in the number of records.
    pub fn with_metadata_from(mut self, metadata: Metadata<'_>) -> Self {
        if metadata.is_empty() {
            return self;
        }
        self.metadata
            .extend(metadata.iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
        merge_duplicates(&mut self.metadata);
        self
    }

    /// The reply payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The response metadata records, in the order they were set.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }
}

/// Records this short are merged by comparing every pair: cheaper than hashing.
const MERGE_SCAN_MAX: usize = 16;

/// Leaves one record per key, at the place of its first occurrence, with the value of its
/// last (Go's map assignment, in the order keys were first set). Linear time: keys are
/// hashed once when there are more than a few.
fn merge_duplicates(records: &mut Vec<(String, String)>) {
    let mut moves: Vec<(usize, usize)> = Vec::new();
    if records.len() <= MERGE_SCAN_MAX {
        for later in 1..records.len() {
            if let Some(first) = (0..later).find(|&i| records[i].0 == records[later].0) {
                moves.push((later, first));
            }
        }
    } else {
        let mut first: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(records.len());
        for (i, (key, _)) in records.iter().enumerate() {
            match first.entry(key.as_str()) {
                std::collections::hash_map::Entry::Occupied(at) => moves.push((i, *at.get())),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
    }
    if moves.is_empty() {
        return;
    }
    let mut keep = vec![true; records.len()];
    for (later, first) in moves {
        records[first].1 = std::mem::take(&mut records[later].1);
        keep[later] = false;
    }
    let mut index = 0;
    records.retain(|_| {
        index += 1;
        keep[index - 1]
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_values(response: &Response) -> Vec<(&str, &str)> {
        response
            .metadata()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn merged_metadata_keeps_first_places_and_last_values() {
        for filler in [0usize, 40] {
            let mut records = vec![("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("a", "5")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>();
            records.extend((0..filler).map(|i| (format!("k{i}"), i.to_string())));
            records.push(("b".to_owned(), "6".to_owned()));
            let mut merged = records.clone();
            merge_duplicates(&mut merged);
            let one_by_one = records
                .iter()
                .fold(Response::new(Bytes::new()), |r, (k, v)| {
                    r.with_metadata(k.as_str(), v.as_str())
                });
            assert_eq!(merged, one_by_one.metadata(), "filler {filler}");
            assert_eq!(
                &keys_values(&one_by_one)[..3],
                [("a", "5"), ("b", "6"), ("c", "4")]
            );
        }
    }
}
