//! `ringrpc call --http`: the call as one HTTP/1.1 request to rpcx's HTTP gateway, which
//! rpcx-go (and ringrpc) serve on the rpcx port (PROTOCOL.md §7.2, §8.1).
//!
//! Request: `POST /<service>` with `X-RPCX-ServicePath`, `X-RPCX-ServiceMethod`,
//! `X-RPCX-SerializeType`, `X-RPCX-MessageID`, `X-RPCX-Meta` (the metadata as a URL query),
//! `X-RPCX-Oneway` when oneway, `Authorization` for the auth token, the payload as the body.
//! Answer: `X-RPCX-MessageStatusType: Error` with `X-RPCX-ErrorMessage` is the server's error
//! (exit 1, whatever the HTTP status); otherwise a 2xx status carries the reply in the body and
//! its metadata in `X-RPCX-Meta`. Any other status is not a gateway answer (exit 2).

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::http::response::Parts;
use hyper_util::rt::TokioIo;
use ringrpc_client::SerializeType;

use crate::call::{print_reply, CallArgs};
use crate::ServiceError;

/// The seq sent as `X-RPCX-MessageID` (one request per connection).
const MESSAGE_ID: &str = "1";

/// Makes the call through the gateway and prints the reply as `call` does.
pub async fn call(
    args: &CallArgs,
    payload: Vec<u8>,
    metadata: &[(String, String)],
) -> anyhow::Result<()> {
    let authority = authority(args.server.as_deref().unwrap_or_default())?;
    let request = request(args, authority, payload, metadata)?;
    let reply_max_bytes = usize::try_from(args.reply_max_bytes)?;
    let exchange = exchange(authority, request, reply_max_bytes);
    let (parts, body) = match args.timeout() {
        Some(timeout) => tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow!("no answer within {} ms", args.timeout_ms))??,
        None => exchange.await?,
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header("X-RPCX-MessageStatusType") == Some("Error") {
        let text = header("X-RPCX-ErrorMessage").unwrap_or_default();
        return Err(ServiceError(text.to_owned()).into());
    }
    if !parts.status.is_success() {
        let text = String::from_utf8_lossy(&body);
        bail!("HTTP {} from the gateway: {}", parts.status, text.trim());
    }
    if args.oneway {
        return Ok(());
    }
    let metadata: Vec<(String, String)> =
        form_urlencoded::parse(header("X-RPCX-Meta").unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let serialize_type = header("X-RPCX-SerializeType")
        .and_then(|n| n.parse::<u8>().ok())
        .and_then(|n| SerializeType::from_wire(n).ok())
        .unwrap_or(args.codec.serialize_type());
    print_reply(
        metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &body,
        Some(serialize_type),
    )
}

/// `host:port` of a `--server` given as `tcp@host:port` or `host:port`.
fn authority(server: &str) -> anyhow::Result<&str> {
    let host_port = match server.split_once('@') {
        None => server,
        Some(("tcp" | "tcp4" | "tcp6", host_port)) => host_port,
        Some((network, _)) => bail!("--http goes over TCP, not {network}: {server:?}"),
    };
    if host_port.is_empty() {
        bail!("--server {server:?}: no host:port");
    }
    Ok(host_port)
}

fn request(
    args: &CallArgs,
    authority: &str,
    payload: Vec<u8>,
    metadata: &[(String, String)],
) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    let serialize_type = args.codec.serialize_type().to_wire();
    let meta = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(metadata)
        .finish();
    let mut builder = hyper::Request::post(format!("/{}", args.service))
        .header("Host", authority)
        .header("X-RPCX-MessageID", MESSAGE_ID)
        .header("X-RPCX-ServicePath", &args.service)
        .header("X-RPCX-ServiceMethod", &args.method)
        .header("X-RPCX-SerializeType", serialize_type.to_string())
        .header("X-RPCX-Meta", meta);
    if args.oneway {
        builder = builder.header("X-RPCX-Oneway", "true");
    }
    if let Some(token) = &args.auth {
        builder = builder.header("Authorization", token);
    }
    builder
        .body(Full::new(Bytes::from(payload)))
        .context("building the HTTP request")
}

/// One request on a new connection; the body is read up to `reply_max_bytes`.
async fn exchange(
    authority: &str,
    request: hyper::Request<Full<Bytes>>,
    reply_max_bytes: usize,
) -> anyhow::Result<(Parts, Bytes)> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .context("HTTP exchange")?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, reply_max_bytes)
        .collect()
        .await
        .map_err(|e| anyhow!("reading the reply body (at most {reply_max_bytes} bytes): {e}"))?
        .to_bytes();
    connection.abort();
    Ok((parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_name_a_tcp_authority() {
        assert_eq!(authority("tcp@127.0.0.1:8972").unwrap(), "127.0.0.1:8972");
        assert_eq!(authority("[::1]:8972").unwrap(), "[::1]:8972");
        assert!(authority("unix@/tmp/rpcx.sock").is_err());
        assert!(authority("tcp@").is_err());
    }
}
