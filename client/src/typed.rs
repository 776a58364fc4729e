//! Typed calls on top of the byte-level `send`: an argument needs only [`EncodePayload`],
//! a reply only [`DecodePayload`]. The serialize type of a call is, in this order: the
//! call's [`CallOptions::serialize_type`], the argument's own preference
//! ([`EncodePayload::preferred_serialize_type`]: `Proto(msg)` asks for protobuf), the
//! client's [`ClientOptions::serialize_type`](crate::ClientOptions::serialize_type). A reply
//! is decoded with the type the response names, as rpcx-go does.

use std::time::Instant;

use bytes::BytesMut;
use ringrpc_codec::{DecodePayload, EncodePayload, SerializeType};

use crate::error::Error;
use crate::message::{Reply, Request, Response};
use crate::options::CallOptions;
use crate::runtime::Runtime;
use crate::Client;

/// The serialize type a call of `args` under `options` travels with (see the module docs).
pub(crate) fn serialize_type_of<T: EncodePayload + ?Sized>(
    args: &T,
    options: &CallOptions,
    default: SerializeType,
) -> SerializeType {
    options
        .serialize_type
        .or_else(|| args.preferred_serialize_type())
        .unwrap_or(default)
}

/// A call's arguments, encoded, with the serialize type they were written with.
pub(crate) struct Encoded {
    pub(crate) payload: BytesMut,
    pub(crate) serialize_type: SerializeType,
}

impl Encoded {
    /// Encodes `args` for a call under `options` on a client whose default is `default`.
    pub(crate) fn new<T: EncodePayload + ?Sized>(
        args: &T,
        options: &CallOptions,
        default: SerializeType,
    ) -> Result<Self, Error> {
        let serialize_type = serialize_type_of(args, options, default);
        let mut payload = BytesMut::new();
        args.encode_as(serialize_type, &mut payload)
            .map_err(Error::Encode)?;
        Ok(Self {
            payload,
            serialize_type,
        })
    }

    /// The request of a call made at `now`.
    fn request<'a>(
        &'a self,
        service_path: &'a str,
        service_method: &'a str,
        options: &'a CallOptions,
        now: Instant,
    ) -> Request<'a> {
        Request {
            service_path,
            service_method,
            metadata: &options.metadata,
            payload: &self.payload,
            serialize_type: Some(self.serialize_type),
            compress: options.compress,
            deadline: options.deadline_at(now),
        }
    }
}

pub(crate) fn response<T: DecodePayload>(reply: Reply) -> Result<Response<T>, Error> {
    Ok(Response {
        value: reply.decode()?,
        metadata: reply.metadata().to_map(),
    })
}

impl<R: Runtime> Client<R> {
    /// Calls `service_path.service_method` with `args` and decodes the reply. Arguments
    /// are any [`EncodePayload`]: `Serde(T)` for JSON and MsgPack (the client's default
    /// type), `Proto(T)` for protobuf, `Bytes` for raw bytes (and flatbuffers).
    pub async fn call<Req, Resp>(
        &self,
        service_path: &str,
        service_method: &str,
        args: &Req,
    ) -> Result<Resp, Error>
    where
        Req: EncodePayload + ?Sized,
        Resp: DecodePayload,
    {
        self.call_with(service_path, service_method, args, &CallOptions::new())
            .await
    }

    /// [`call`](Self::call) with per-call options (serialize type, timeout, metadata,
    /// gzip). Returns the same as `call`; [`call_response`](Self::call_response) also
    /// returns the response metadata.
    pub async fn call_with<Req, Resp>(
        &self,
        service_path: &str,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
    ) -> Result<Resp, Error>
    where
        Req: EncodePayload + ?Sized,
        Resp: DecodePayload,
    {
        self.send_typed(service_path, service_method, args, options)
            .await?
            .decode()
    }

    /// [`call_with`](Self::call_with) that returns the whole [`Response`]: the decoded
    /// value and the response metadata.
    pub async fn call_response<Req, Resp>(
        &self,
        service_path: &str,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
    ) -> Result<Response<Resp>, Error>
    where
        Req: EncodePayload + ?Sized,
        Resp: DecodePayload,
    {
        response(
            self.send_typed(service_path, service_method, args, options)
                .await?,
        )
    }

    /// Sends a oneway request: no reply, so this returns once the request is queued.
    /// The server answers no oneway request, not even with an error.
    pub fn oneway<Req: EncodePayload + ?Sized>(
        &self,
        service_path: &str,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let encoded = Encoded::new(args, options, self.options().serialize_type)?;
        self.send_oneway(&encoded.request(service_path, service_method, options, R::now()))
    }

    async fn send_typed<Req: EncodePayload + ?Sized>(
        &self,
        service_path: &str,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
    ) -> Result<Reply, Error> {
        let encoded = Encoded::new(args, options, self.options().serialize_type)?;
        let request = encoded.request(service_path, service_method, options, R::now());
        self.send(&request).await
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ringrpc_codec::payload::{Proto, Serde};

    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Msg {
        #[prost(int64, tag = "1")]
        a: i64,
    }

    #[test]
    fn the_call_wins_then_the_argument_then_the_client() {
        let none = CallOptions::new();
        let json = CallOptions::new().serialize_type(SerializeType::Json);
        let client = SerializeType::MsgPack;
        let proto = Proto(Msg { a: 1 });
        assert_eq!(
            serialize_type_of(&proto, &none, client),
            SerializeType::Protobuf,
            "Proto asks for protobuf"
        );
        assert_eq!(
            serialize_type_of(&proto, &json, client),
            SerializeType::Json
        );
        assert_eq!(serialize_type_of(&Serde(1u8), &none, client), client);
        assert_eq!(
            serialize_type_of(&Bytes::new(), &json, client),
            SerializeType::Json
        );
    }
}
