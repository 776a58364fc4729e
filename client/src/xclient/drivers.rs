//! The real transports (one connection per server with the tokio or glommio client) and the
//! typed calls they allow.

#[cfg(any(feature = "tokio", feature = "glommio"))]
use std::time::Duration;

use super::{Transport, XClient, XError};
#[cfg(any(feature = "tokio", feature = "glommio"))]
use crate::select::Instance;
use crate::{CallOptions, Error, Payload, Reply, Response};
#[cfg(any(feature = "tokio", feature = "glommio"))]
use crate::{ClientOptions, Request};

/// Connections with [`crate::tokio::Client`]; `options` apply to every connection.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Default)]
pub struct TokioTransport {
    pub options: ClientOptions,
}

#[cfg(feature = "tokio")]
impl Transport for TokioTransport {
    type Conn = crate::tokio::Client;
    type Reply = Reply;
    type Error = Error;

    async fn connect(&self, server: &Instance) -> Result<Self::Conn, Error> {
        crate::tokio::Client::connect_with(server.key(), self.options.clone()).await
    }

    async fn send(&self, conn: &Self::Conn, request: &Request<'_>) -> Result<Reply, Error> {
        conn.send(request).await
    }

    fn is_usable(&self, conn: &Self::Conn) -> bool {
        !conn.is_closed()
    }

    async fn sleep(&self, duration: Duration) {
        ::tokio::time::sleep(duration).await;
    }
}

/// Connections with [`crate::glommio::Client`], for an XClient living on a glommio executor.
#[cfg(feature = "glommio")]
#[derive(Debug, Clone, Default)]
pub struct GlommioTransport {
    pub options: ClientOptions,
}

#[cfg(feature = "glommio")]
impl Transport for GlommioTransport {
    type Conn = crate::glommio::Client;
    type Reply = Reply;
    type Error = Error;

    async fn connect(&self, server: &Instance) -> Result<Self::Conn, Error> {
        crate::glommio::Client::connect_with(server.key(), self.options.clone()).await
    }

    async fn send(&self, conn: &Self::Conn, request: &Request<'_>) -> Result<Reply, Error> {
        conn.send(request).await
    }

    fn is_usable(&self, conn: &Self::Conn) -> bool {
        !conn.is_closed()
    }

    async fn sleep(&self, duration: Duration) {
        ::glommio::timer::sleep(duration).await;
    }
}

impl<T: Transport<Reply = Reply, Error = Error>> XClient<T> {
    /// Calls `service_method` with `args` (any [`Payload`], e.g. `Serde(args)`) and decodes
    /// the reply, under the fail mode.
    pub async fn call<Req: Payload, Resp: Payload>(
        &self,
        service_method: &str,
        args: &Req,
    ) -> Result<Resp, XError<Error>> {
        let response = self
            .call_with(service_method, args, &CallOptions::default(), None)
            .await?;
        Ok(response.value)
    }

    /// [`Self::call`] with per-call options, and `hash_key` for consistent hashing; also
    /// returns the response metadata.
    pub async fn call_with<Req: Payload, Resp: Payload>(
        &self,
        service_method: &str,
        args: &Req,
        options: &CallOptions,
        hash_key: Option<&[u8]>,
    ) -> Result<Response<Resp>, XError<Error>> {
        let serialize_type = options
            .serialize_type
            .unwrap_or(self.options().serialize_type);
        let payload = crate::typed::encode(args, serialize_type).map_err(XError::Local)?;
        let reply = self
            .send_as(
                service_method,
                &payload,
                options,
                Some(serialize_type),
                hash_key,
            )
            .await?;
        crate::typed::response(reply).map_err(XError::Local)
    }
}
