//! Typed calls on top of the byte-level `send`: arguments are encoded with the call's
//! serialize type (the client's unless the call picks one), replies are decoded with the
//! type the response names. Both drivers get the same methods from [`typed_calls`].
// Without a driver only the helpers governance uses remain in use.
#![cfg_attr(
    not(any(feature = "tokio", feature = "glommio")),
    allow(dead_code, unused_imports, unused_macros)
)]

use std::time::Instant;

use bytes::BytesMut;
use ringrpc_codec::{Payload, SerializeType};

use crate::error::Error;
use crate::message::{Reply, Request, Response};
use crate::options::CallOptions;

pub(crate) fn encode<T: Payload>(
    args: &T,
    serialize_type: SerializeType,
) -> Result<BytesMut, Error> {
    let mut payload = BytesMut::new();
    args.encode_as(serialize_type, &mut payload)
        .map_err(Error::Encode)?;
    Ok(payload)
}

pub(crate) fn request<'a>(
    service_path: &'a str,
    service_method: &'a str,
    payload: &'a [u8],
    options: &'a CallOptions,
    serialize_type: SerializeType,
    now: Instant,
) -> Request<'a> {
    Request {
        service_path,
        service_method,
        metadata: &options.metadata,
        payload,
        serialize_type: Some(serialize_type),
        compress: options.compress,
        deadline: options.deadline_at(now),
    }
}

pub(crate) fn response<T: Payload>(reply: Reply) -> Result<Response<T>, Error> {
    Ok(Response {
        value: reply.decode()?,
        metadata: reply.metadata().to_map(),
    })
}

/// The typed methods of a driver's `Client`, written once. The driver provides
/// `options()`, `send(&Request)` and `send_oneway(&Request)`.
macro_rules! typed_calls {
    () => {
        /// Calls `service_path.service_method` with `args` and decodes the reply. Arguments
        /// are any [`Payload`](crate::Payload): `Serde(T)` for JSON and MsgPack,
        /// `Proto(T)` for protobuf, `Bytes` for raw bytes (and flatbuffers).
        pub async fn call<Req, Resp>(
            &self,
            service_path: &str,
            service_method: &str,
            args: &Req,
        ) -> Result<Resp, crate::Error>
        where
            Req: crate::Payload,
            Resp: crate::Payload,
        {
            let options = crate::CallOptions::default();
            let serialize_type = self.options().serialize_type;
            let payload = crate::typed::encode(args, serialize_type)?;
            let now = std::time::Instant::now();
            let request = crate::typed::request(
                service_path,
                service_method,
                &payload,
                &options,
                serialize_type,
                now,
            );
            self.send(&request).await?.decode()
        }

        /// [`call`](Self::call) with per-call options (serialize type, timeout, metadata,
        /// gzip); also returns the response metadata.
        pub async fn call_with<Req, Resp>(
            &self,
            service_path: &str,
            service_method: &str,
            args: &Req,
            options: &crate::CallOptions,
        ) -> Result<crate::Response<Resp>, crate::Error>
        where
            Req: crate::Payload,
            Resp: crate::Payload,
        {
            let serialize_type = options
                .serialize_type
                .unwrap_or(self.options().serialize_type);
            let payload = crate::typed::encode(args, serialize_type)?;
            let now = std::time::Instant::now();
            let request = crate::typed::request(
                service_path,
                service_method,
                &payload,
                options,
                serialize_type,
                now,
            );
            crate::typed::response(self.send(&request).await?)
        }

        /// Sends a oneway request: no reply, so this returns once the request is queued.
        /// The server answers no oneway request, not even with an error.
        pub fn oneway<Req: crate::Payload>(
            &self,
            service_path: &str,
            service_method: &str,
            args: &Req,
            options: &crate::CallOptions,
        ) -> Result<(), crate::Error> {
            let serialize_type = options
                .serialize_type
                .unwrap_or(self.options().serialize_type);
            let payload = crate::typed::encode(args, serialize_type)?;
            let now = std::time::Instant::now();
            let request = crate::typed::request(
                service_path,
                service_method,
                &payload,
                options,
                serialize_type,
                now,
            );
            self.send_oneway(&request)
        }
    };
}

pub(crate) use typed_calls;
