//! Responses derived from their request exactly as rpcx-go derives them (PROTOCOL.md §4.5,
//! §4.8–4.12): header copied with the type bit set and compress cleared, service path and
//! method echoed, request metadata not echoed, gzip only for compressed requests over 1 KiB.

use bytes::{Bytes, BytesMut};
use zerocopy::IntoBytes;

use crate::compress::{gzip, should_compress};
use crate::encode::{encode_frame, encode_frame_head};
use crate::error::EncodeError;
use crate::frame::Frame;
use crate::header::{CompressType, Header, MessageType, StatusType, HEADER_LEN};

/// Metadata key carrying the error text of an error response.
pub const ERROR_KEY: &str = "__rpcx_error__";

/// What a response needs to know about its request.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// The request's header (seq, flags and serialize type are inherited from it).
    pub request: &'a Header,
    /// The request's service path, echoed in the response as rpcx-go does.
    pub service_path: &'a str,
    /// The request's service method, echoed likewise.
    pub service_method: &'a str,
}

impl<'a> Reply<'a> {
    /// The reply to `request`.
    pub fn to(request: &'a Frame) -> Self {
        Self {
            request: request.header(),
            service_path: request.service_path(),
            service_method: request.service_method(),
        }
    }

    /// Whether a successful reply payload of this length is gzip'ed (§4.12).
    pub fn compresses(&self, payload_len: usize) -> bool {
        should_compress(self.request.compress_bits() != 0, payload_len)
    }

    /// Appends a successful response carrying `payload` (compressed per §4.12).
    pub fn encode_ok<K: AsRef<str>, V: AsRef<str>>(
        &self,
        dst: &mut BytesMut,
        metadata: impl IntoIterator<Item = (K, V)>,
        payload: &[u8],
    ) -> Result<(), EncodeError> {
        let mut header = Header::response_to(self.request);
        if self.compresses(payload.len()) {
            let mut zipped = BytesMut::with_capacity(payload.len() / 2);
            gzip(payload, &mut zipped)?;
            header.set_compress_type(CompressType::Gzip);
            return encode_frame(
                dst,
                &header,
                self.service_path,
                self.service_method,
                metadata,
                &zipped,
            );
        }
        encode_frame(
            dst,
            &header,
            self.service_path,
            self.service_method,
            metadata,
            payload,
        )
    }

    /// Appends a successful response without its payload bytes, for a vectored write of a
    /// payload the caller already holds as `Bytes`. Only valid when
    /// [`Reply::compresses`] is false for that length: then the wire payload is the payload.
    pub fn encode_ok_head<K: AsRef<str>, V: AsRef<str>>(
        &self,
        dst: &mut BytesMut,
        metadata: impl IntoIterator<Item = (K, V)>,
        payload_len: usize,
    ) -> Result<(), EncodeError> {
        debug_assert!(
            !self.compresses(payload_len),
            "a compressed reply needs encode_ok"
        );
        let header = Header::response_to(self.request);
        encode_frame_head(
            dst,
            &header,
            self.service_path,
            self.service_method,
            metadata,
            payload_len,
        )
    }

    /// Appends an error response: status Error and `__rpcx_error__ = message`, then the
    /// handler's metadata (a handler cannot overwrite the error key, §4.11). The payload is
    /// usually empty (§4.9) and is never compressed.
    pub fn encode_error<K: AsRef<str>, V: AsRef<str>>(
        &self,
        dst: &mut BytesMut,
        message: &str,
        metadata: impl IntoIterator<Item = (K, V)>,
        payload: &[u8],
    ) -> Result<(), EncodeError> {
        let mut header = Header::response_to(self.request);
        header.set_status(StatusType::Error);
        let extra = metadata
            .into_iter()
            .filter(|(k, _)| k.as_ref() != ERROR_KEY);
        let extra = extra.map(|(k, v)| (OrStr::Given(k), OrStr::Given(v)));
        let all = std::iter::once((OrStr::Str(ERROR_KEY), OrStr::Str(message))).chain(extra);
        encode_frame(
            dst,
            &header,
            self.service_path,
            self.service_method,
            all,
            payload,
        )
    }
}

/// The reply to a heartbeat: the request itself, byte for byte, with the type bit set
/// (§4.5). Returned as the new fixed part plus the request's body, which is shared with the
/// received buffer, not copied.
pub fn heartbeat_reply(request: &Frame) -> ([u8; HEADER_LEN], Bytes) {
    let mut header = *request.header();
    header.set_message_type(MessageType::Response);
    let mut fixed = [0u8; HEADER_LEN];
    fixed.copy_from_slice(header.as_bytes());
    (fixed, request.body())
}

/// Appends the heartbeat reply to `dst` (a copy; see [`heartbeat_reply`] for the shared form).
pub fn encode_heartbeat_reply(request: &Frame, dst: &mut BytesMut) {
    let (fixed, body) = heartbeat_reply(request);
    dst.extend_from_slice(&fixed);
    dst.extend_from_slice(&body);
}

/// Lets one iterator yield our own `&str` next to the caller's string type.
enum OrStr<'s, T> {
    Str(&'s str),
    Given(T),
}

impl<T: AsRef<str>> AsRef<str> for OrStr<'_, T> {
    fn as_ref(&self) -> &str {
        match self {
            Self::Str(s) => s,
            Self::Given(t) => t.as_ref(),
        }
    }
}
