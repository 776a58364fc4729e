//! The HTTP gateway, as rpcx-go's `server/gateway.go` and `converter.go` (PROTOCOL.md §8.1):
//! an HTTP request with `X-RPCX-*` headers becomes the same rpcx request frame a Go client
//! would send, and its outcome becomes the status and `X-Rpcx-*` headers rpcx-go answers.
//!
//! | outcome | status | headers besides the echoed ones | body |
//! | --- | --- | --- | --- |
//! | bad or missing header | 200 | `X-Rpcx-Messagestatustype: Error`, `X-Rpcx-Errormessage` | empty |
//! | auth refused | 401 | the same | empty |
//! | dispatch or handler error | 500 | the same | empty |
//! | success | 200 | `X-Rpcx-Meta` (response metadata, query-encoded, sorted) | the reply |

use bytes::BytesMut;
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{decode_frame, encode_frame, Frame, Header, Limits, AUTH_KEY};

use super::query::{atoi, encode_query, parse_query, parse_uint};
use super::request::HttpRequest;
use super::response::{write, Framing};

/// What every answer to one gateway request echoes (set as rpcx-go sets them, before the
/// outcome is known: a field is `None` when rpcx-go leaves its header out).
#[derive(Debug, Clone, Default)]
pub(crate) struct Echo {
    version: String,
    message_id: String,
    service_path: Option<String>,
    service_method: Option<String>,
    serialize_type: Option<String>,
}

/// A gateway request after conversion.
#[derive(Debug)]
pub(crate) enum Converted {
    /// A call to dispatch: the request frame (oneway if `X-RPCX-Oneway` was set).
    Call { frame: Frame, echo: Echo },
    /// Refused before dispatch (a bad or missing header): answered with 200 and the error.
    Invalid { echo: Echo, error: String },
    /// The frame would be over the frame limit.
    TooLarge,
}

/// Converts a request, checking what rpcx-go checks, in its order.
pub(crate) fn convert(request: &HttpRequest, limits: &Limits) -> Converted {
    let get = |name: &str| request.header(name).unwrap_or("");
    let mut service_path = get("x-rpcx-servicepath").to_owned();
    if service_path.is_empty() {
        service_path = url_path(request.target())
            .trim_start_matches('/')
            .to_owned();
    }
    let service_method = get("x-rpcx-servicemethod");
    let serialize_type = get("x-rpcx-serializetype");
    let mut echo = Echo {
        version: get("x-rpcx-version").to_owned(),
        message_id: get("x-rpcx-messageid").to_owned(),
        ..Echo::default()
    };
    let mut header = Header::request(0, SerializeType::None);
    let mut nibble = 0;
    let mut metadata: Vec<(String, String)> = Vec::new();
    let mut error = message(request, &mut header, &mut nibble, &mut metadata).err();
    let mut check = |missing: bool, text: &str, value: &str| -> Option<String> {
        if error.is_none() && missing {
            error = Some(text.to_owned());
            None
        } else {
            Some(value.to_owned())
        }
    };
    echo.service_path = check(service_path.is_empty(), "empty servicepath", &service_path);
    echo.service_method = check(
        service_method.is_empty(),
        "empty servicemethod",
        service_method,
    );
    echo.serialize_type = check(
        serialize_type.is_empty(),
        "empty serialized type",
        serialize_type,
    );
    if let Some(error) = error {
        return Converted::Invalid { echo, error };
    }
    let mut raw = BytesMut::new();
    let pairs = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let body = request.body();
    if encode_frame(
        &mut raw,
        &header,
        &service_path,
        service_method,
        pairs,
        body,
    )
    .is_err()
    {
        return Converted::TooLarge;
    }
    // The serialize nibble as Go's `SetSerializeType(byte(n))` keeps it, known or not: an
    // unknown one is reported after the service lookup, as rpcx-go reports it.
    raw[3] = nibble << 4;
    match decode_frame(raw.freeze(), limits) {
        Ok(frame) => Converted::Call { frame, echo },
        Err(_) => Converted::TooLarge,
    }
}

/// rpcx-go's `HTTPRequest2RpcxRequest`: the header fields that can fail, in its order.
fn message(
    request: &HttpRequest,
    header: &mut Header,
    nibble: &mut u8,
    metadata: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let get = |name: &str| request.header(name).filter(|v| !v.is_empty());
    if let Some(id) = get("x-rpcx-messageid") {
        header.set_seq(parse_uint(id)?);
    }
    // X-RPCX-Heartbeat sets a bit rpcx-go's gateway ignores: the call is dispatched anyway.
    header.set_oneway(get("x-rpcx-oneway").is_some());
    if let Some(st) = get("x-rpcx-serializetype") {
        // Go's byte(n) << 4 keeps the low four bits.
        *nibble = (atoi(st)? as u8) & 0x0F;
    }
    if let Some(ct) = get("x-rpcx-compresstype") {
        // Parsed, then dropped by rpcx-go (the response clears it; the body is not inflated).
        atoi(ct)?;
    }
    if let Some(meta) = get("x-rpcx-meta") {
        let (pairs, error) = parse_query(meta);
        if let Some(error) = error {
            return Err(error);
        }
        *metadata = pairs;
    }
    if let Some(token) = get("authorization") {
        metadata.retain(|(k, _)| k != AUTH_KEY);
        metadata.push((AUTH_KEY.to_owned(), token.to_owned()));
    }
    Ok(())
}

/// The path of a request target (origin or absolute form), percent-decoded as Go's
/// `URL.Path` is.
fn url_path(target: &str) -> String {
    let mut path = target.split(['?', '#']).next().unwrap_or("");
    for scheme in ["http://", "https://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |at| &rest[at..]);
        }
    }
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// What a gateway answer carries besides the echoed headers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// The handler's reply: its response metadata and body.
    Reply {
        metadata: &'a [(String, String)],
        body: &'a [u8],
    },
    /// The error text (with status 200, 401 or 500).
    Error(&'a str),
}

/// Writes the answer to a gateway request.
pub(crate) fn write_reply(
    out: &mut BytesMut,
    echo: &Echo,
    status: u16,
    outcome: Outcome<'_>,
    cors: &[(&'static str, String)],
    framing: Framing,
) {
    let mut headers: Vec<(&str, &str)> = cors.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let meta;
    let (error, body) = match outcome {
        Outcome::Reply { metadata, body } => {
            meta = encode_query(metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            (None, body)
        }
        Outcome::Error(error) => {
            meta = String::new();
            (Some(error), &[][..])
        }
    };
    // Sorted by name, as Go writes a header map.
    if let Some(error) = error {
        headers.push(("X-Rpcx-Errormessage", error));
    }
    headers.push(("X-Rpcx-Messageid", &echo.message_id));
    if error.is_some() {
        headers.push(("X-Rpcx-Messagestatustype", "Error"));
    } else {
        headers.push(("X-Rpcx-Meta", &meta));
    }
    let optional = [
        ("X-Rpcx-Serializetype", &echo.serialize_type),
        ("X-Rpcx-Servicemethod", &echo.service_method),
        ("X-Rpcx-Servicepath", &echo.service_path),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    headers.push(("X-Rpcx-Version", &echo.version));
    write(out, status, headers, body, framing);
}

/// The body of a successful gateway answer: the reply of a oneway call is dropped, as
/// rpcx-go never encodes it.
pub(crate) fn reply_body(oneway: bool, payload: &[u8]) -> &[u8] {
    if oneway {
        &[]
    } else {
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::read::parse_one as request;

    #[test]
    fn a_gateway_request_becomes_the_frame_a_go_client_sends() {
        let r = request(
            "POST /Arith HTTP/1.1\r\nHost: h\r\nX-RPCX-ServiceMethod: Mul\r\nX-RPCX-SerializeType: 17\r\n\
             X-RPCX-MessageID: 12345\r\nX-RPCX-Meta: k=v&__AUTH=meta\r\nAuthorization: tok\r\n\
             X-RPCX-Oneway: true\r\nContent-Length: 2\r\n\r\n{}",
        );
        let Converted::Call { frame, echo } = convert(&r, &Limits::default()) else {
            panic!("a call")
        };
        assert_eq!(
            (frame.service_path(), frame.service_method()),
            ("Arith", "Mul")
        );
        assert_eq!(frame.seq(), 12345);
        assert_eq!(
            frame.header().serialize_bits(),
            1,
            "17 keeps its low nibble"
        );
        assert!(frame.header().is_oneway());
        assert_eq!(frame.metadata().get("k"), Some("v"));
        assert_eq!(frame.metadata().get(AUTH_KEY), Some("tok"));
        assert_eq!(&frame.payload()[..], b"{}");
        assert_eq!(echo.service_path.as_deref(), Some("Arith"));
        assert_eq!(echo.message_id, "12345");
    }

    #[test]
    fn header_errors_come_in_rpcx_gos_order_and_set_its_echo() {
        let r = request("POST / HTTP/1.1\r\nHost: h\r\nX-RPCX-SerializeType: 1\r\n\r\n");
        let Converted::Invalid { echo, error } = convert(&r, &Limits::default()) else {
            panic!("invalid")
        };
        assert_eq!(error, "empty servicepath");
        assert_eq!(echo.service_path, None);
        assert_eq!(echo.service_method.as_deref(), Some(""));
        let r = request(
            "POST /A HTTP/1.1\r\nHost: h\r\nX-RPCX-MessageID: x\r\nX-RPCX-Meta: %zz\r\n\r\n",
        );
        let Converted::Invalid { echo, error } = convert(&r, &Limits::default()) else {
            panic!("invalid")
        };
        assert_eq!(error, "strconv.ParseUint: parsing \"x\": invalid syntax");
        assert_eq!(echo.service_path.as_deref(), Some("A"));
    }

    #[test]
    fn replies_carry_the_echo_and_the_outcome() {
        let r = request(
            "GET /Arith HTTP/1.1\r\nHost: h\r\nX-RPCX-ServiceMethod: Mul\r\nX-RPCX-SerializeType: 1\r\n\r\n",
        );
        let Converted::Call { echo, .. } = convert(&r, &Limits::default()) else {
            panic!("a call")
        };
        let keep = Framing {
            http10: false,
            close: false,
            keep_alive_10: false,
            head_only: false,
        };
        let mut out = BytesMut::new();
        let meta = [
            ("b".to_owned(), "2 3".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ];
        write_reply(
            &mut out,
            &echo,
            200,
            Outcome::Reply {
                metadata: &meta,
                body: b"{\"C\":1}",
            },
            &[],
            keep,
        );
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("X-Rpcx-Meta: a=1&b=2+3\r\n"), "{text}");
        assert!(text.contains("X-Rpcx-Version: \r\n"), "{text}");
        assert!(!text.contains("Messagestatustype"), "{text}");
        out.clear();
        write_reply(
            &mut out,
            &echo,
            500,
            Outcome::Error("rpcx: can't find method Div"),
            &[],
            keep,
        );
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(
            text.contains("X-Rpcx-Errormessage: rpcx: can't find method Div\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-Rpcx-Messagestatustype: Error\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
    }
}
