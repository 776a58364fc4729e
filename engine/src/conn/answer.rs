//! Writing a request's answer in the connection's protocol (an rpcx reply frame, or the
//! HTTP answer of a gateway or JSON-RPC call), and the plugins' `before_write` hook on it
//! (rpcx-go's `PreWriteResponse`).
//!
//! The answer is encoded once and shown to the plugins; only when one of them adds metadata
//! or refuses is it encoded again, in place: with the metadata, or as an error reply with
//! the refusal's text. Without plugins this costs nothing beyond the encode.

use bytes::{Bytes, BytesMut};
use ringrpc_codec::{decode, EncodeError, Frame, Limits, Reply};

use super::connection::Connection;
use super::http::Proto;
use crate::error::CloseCause;
use crate::inflight::Outcome;
use crate::plugin::{OutgoingKind, Plugins, Status, Verdict};

/// An error answer (the engine's, or a refusal's) with nothing but its text; a request is
/// answered with this or its handler's [`Outcome`].
pub(super) fn error(message: &str) -> Outcome<'_> {
    Outcome::Err {
        message,
        metadata: &[],
        payload: &[],
    }
}

/// How a request answered with `answer` ended, as its plugins hear it.
pub(super) fn status(answer: &Outcome<'_>) -> Status {
    match answer {
        Outcome::Ok { .. } => Status::Ok,
        Outcome::Err { .. } => Status::Error,
    }
}

impl Connection {
    /// Writes `answer` to the request `reply` is derived from (nothing for a oneway rpcx
    /// request; over HTTP every request is answered), shows it to `plugins` if any are
    /// registered, and applies what they decide. Returns how the request ended: `status`,
    /// or [`Status::Refused`] if a plugin refused the answer.
    ///
    /// `shared`, given only when no plugin watches: the handler's payload as a `Bytes` the
    /// rpcx reply sends by reference (its head encoded, the payload queued behind it)
    /// instead of copying it, unless the reply compresses it.
    pub(super) fn write_answer(
        &mut self,
        reply: &Reply<'_>,
        answer: &Outcome<'_>,
        plugins: Option<&Plugins>,
        mut status: Status,
        shared: Option<Bytes>,
    ) -> Status {
        let http = matches!(self.proto, Proto::Http(_));
        if !http && reply.request.is_oneway() {
            return status;
        }
        if let (&Outcome::Ok { metadata, .. }, Some(shared)) = (answer, shared) {
            debug_assert!(
                !http && plugins.is_none(),
                "a shared payload is rpcx, unwatched"
            );
            let metadata = pairs(metadata);
            let written = if reply.compresses(shared.len()) {
                reply.encode_ok(&mut self.out, metadata, &shared)
            } else {
                let head = reply.encode_ok_head(&mut self.out, metadata, shared.len());
                if head.is_ok() {
                    self.out_queue.push(self.out.len(), shared);
                }
                head
            };
            if let Err(e) = written {
                self.close_after_flush(CloseCause::Encode(e));
            }
            return status;
        }
        let start = self.out.len();
        let mut written = self.encode_answer(reply, answer, &[]);
        if let (true, Some(plugins)) = (written.is_ok(), plugins) {
            let bytes = &self.out[start..];
            let seq = reply.request.seq();
            match plugins.before_write(OutgoingKind::Reply, seq, bytes, http) {
                Verdict::Send => {}
                Verdict::Edit(added) => {
                    self.out.truncate(start);
                    written = self.encode_answer(reply, answer, &added);
                }
                Verdict::Refuse(refusal) => {
                    tracing::debug!(
                        seq = reply.request.seq(),
                        limit = refusal.limit(),
                        "reply refused"
                    );
                    self.out.truncate(start);
                    written = self.encode_answer(reply, &error(refusal.text()), &[]);
                    status = Status::Refused(refusal.limit());
                }
            }
        }
        if let Proto::Http(session) = &mut self.proto {
            session.answered();
        }
        match written {
            Ok(close) => self.after_http_answer(close),
            Err(e) => self.close_after_flush(CloseCause::Encode(e)),
        }
        status
    }

    /// Encodes `answer` with `added` metadata pairs; returns whether the connection closes
    /// after it (an HTTP answer that says so).
    fn encode_answer(
        &mut self,
        reply: &Reply<'_>,
        answer: &Outcome<'_>,
        added: &[(String, String)],
    ) -> Result<bool, EncodeError> {
        if let Proto::Http(session) = &mut self.proto {
            let out = &mut self.out;
            return Ok(match *answer {
                Outcome::Ok { metadata, payload } if added.is_empty() => {
                    session.answer_ok(metadata, payload, out)
                }
                Outcome::Ok { metadata, payload } => {
                    let merged: Vec<(String, String)> = with_added(pairs(metadata), added)
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    session.answer_ok(&merged, payload, out)
                }
                Outcome::Err { message, .. } => session.answer_error(false, message, out),
            });
        }
        match *answer {
            Outcome::Ok { metadata, payload } => {
                reply.encode_ok(&mut self.out, with_added(pairs(metadata), added), payload)
            }
            Outcome::Err {
                message,
                metadata,
                payload,
            } => reply.encode_error(
                &mut self.out,
                message,
                with_added(pairs(metadata), added),
                payload,
            ),
        }?;
        Ok(false)
    }
}

fn pairs(metadata: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// `metadata` with the `added` pairs in place of pairs of the same keys, after them.
pub(super) fn with_added<'a>(
    metadata: impl Iterator<Item = (&'a str, &'a str)>,
    added: &'a [(String, String)],
) -> impl Iterator<Item = (&'a str, &'a str)> {
    metadata
        .filter(move |(key, _)| !added.iter().any(|(known, _)| known.as_str() == *key))
        .chain(pairs(added))
}

/// Decodes a frame the engine itself encoded (a push a plugin adds metadata to); `None`
/// would be an engine bug.
pub(super) fn reparse(mut encoded: BytesMut) -> Option<Frame> {
    let limits = Limits::default()
        .max_frame_bytes(u32::MAX)
        .max_metadata_count(usize::MAX);
    let frame = decode(&mut encoded, &limits).ok().flatten();
    debug_assert!(
        frame.is_some(),
        "a frame the engine encoded does not decode"
    );
    frame
}
