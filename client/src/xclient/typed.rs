//! The XClient's typed calls: an argument needs only [`EncodePayload`], a reply only
//! [`DecodePayload`]; the serialize type is the call's, else the argument's preference,
//! else [`XClientOptions::serialize_type`](super::XClientOptions::serialize_type).

use ringrpc_codec::{DecodePayload, EncodePayload};

use super::{Transport, XClient, XError};
use crate::typed::{response, Encoded};
use crate::{CallOptions, Error, Reply, Response};

impl<T: Transport<Reply = Reply, Error = Error>> XClient<T> {
    /// Calls `service_method` with `args` (e.g. `Serde(args)`, `Proto(msg)`) and decodes
    /// the reply, under the fail mode.
    pub async fn call<Req, Resp>(
        &self,
        service_method: &str,
        args: &Req,
    ) -> Result<Resp, XError<Error>>
    where
        Req: EncodePayload + ?Sized,
        Resp: DecodePayload,
    {
        self.call_with(service_method, args, &CallOptions::new(), None)
            .await
    }

    /// [`Self::call`] with per-call options, and `hash_key` for consistent hashing.
    /// Returns the same as `call`; [`Self::call_response`] also returns the metadata.
    pub async fn call_with<Req, Resp>(
        &self,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
        hash_key: Option<&[u8]>,
    ) -> Result<Resp, XError<Error>>
    where
        Req: EncodePayload + ?Sized,
        Resp: DecodePayload,
    {
        let reply = self
            .send_typed(service_method, args, options, hash_key)
            .await?;
        reply.decode().map_err(XError::Local)
    }

    /// [`Self::call_with`] that returns the whole [`Response`]: the decoded value and the
    /// response metadata.
    pub async fn call_response<Req, Resp>(
        &self,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
        hash_key: Option<&[u8]>,
    ) -> Result<Response<Resp>, XError<Error>>
    where
        Req: EncodePayload + ?Sized,
        Resp: DecodePayload,
    {
        let reply = self
            .send_typed(service_method, args, options, hash_key)
            .await?;
        response(reply).map_err(XError::Local)
    }

    async fn send_typed<Req: EncodePayload + ?Sized>(
        &self,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
        hash_key: Option<&[u8]>,
    ) -> Result<Reply, XError<Error>> {
        let encoded =
            Encoded::new(args, options, self.options().serialize_type).map_err(XError::Local)?;
        let serialize_type = Some(encoded.serialize_type);
        self.send_as(
            service_method,
            &encoded.payload,
            options,
            serialize_type,
            hash_key,
        )
        .await
    }
}
