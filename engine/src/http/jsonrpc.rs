//! JSON-RPC 2.0 on the rpcx port, as rpcx-go's `server/jsonrpc2.go` and `jsonrpc2_wire.go`
//! (PROTOCOL.md §9): one request object per HTTP request, `method` `"Service.Method"` split
//! at the last dot, `params` as the JSON payload, no `id` for a notification (answered at
//! once with an empty 200, run as a oneway call). Batches are not answered as batches:
//! rpcx-go fails to parse an array and answers one `-32700` error, and so does this.
//!
//! The request object is read the way Go's `encoding/json` fills rpcx-go's struct: member
//! names match case-insensitively, a later duplicate wins, unknown members are ignored, and
//! a member of the wrong type gives Go's error text.

use bytes::BytesMut;
use ringrpc_codec::payload::SerializeType;
use ringrpc_codec::{decode_frame, encode_frame, Frame, Header, Limits, AUTH_KEY};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::query::parse_query;
use super::request::HttpRequest;

/// `-32700`: the body is not a JSON-RPC request object.
const PARSE_ERROR: i64 = -32700;
/// `-32601`: `method` has no `Service.` part.
const METHOD_NOT_FOUND: i64 = -32601;
/// `-32602`: `params` missing (rpcx-go crashes on it; see the README's differences).
const INVALID_PARAMS: i64 = -32602;
/// `-32603`: every dispatch, auth and handler error.
pub(crate) const INTERNAL_ERROR: i64 = -32603;

/// A request id: Go's `ID`, a number (int64) or a string (`""` is sent back as `0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Id {
    Number(i64),
    Name(String),
}

/// A JSON-RPC request after conversion.
#[derive(Debug)]
pub(crate) enum Converted {
    /// A call to dispatch (oneway when `id` is `None`: a notification).
    Call { frame: Frame, id: Option<Id> },
    /// Answered at once with this body (a parse or method error).
    Answer(Vec<u8>),
    /// A notification that fails before dispatch: an empty 200, as rpcx-go.
    Silent,
    /// The frame would be over the frame limit.
    TooLarge,
}

/// The members rpcx-go's `jsonrpcRequest` has, as Go fills them.
#[derive(Default)]
struct Fields<'a> {
    method: String,
    params: Option<&'a RawValue>,
    id: Option<Id>,
}

pub(crate) fn convert(request: &HttpRequest, limits: &Limits) -> Converted {
    let fields = match parse(request.body()) {
        Ok(fields) => fields,
        Err(message) => return Converted::Answer(error_body(PARSE_ERROR, &message, None)),
    };
    let refuse = |code, message: &str| match &fields.id {
        Some(id) => Converted::Answer(error_body(code, message, Some(id))),
        None => Converted::Silent,
    };
    let Some((service_path, service_method)) = fields
        .method
        .rsplit_once('.')
        .filter(|(path, _)| !path.is_empty())
    else {
        return refuse(METHOD_NOT_FOUND, "must contains servicepath and method");
    };
    let Some(params) = fields.params else {
        return refuse(INVALID_PARAMS, "params is required");
    };
    let mut metadata = request
        .header("x-rpcx-meta")
        .map(|meta| parse_query(meta).0)
        .unwrap_or_default();
    if let Some(token) = request.header("authorization").filter(|t| !t.is_empty()) {
        metadata.retain(|(k, _)| k != AUTH_KEY);
        metadata.push((AUTH_KEY.to_owned(), token.to_owned()));
    }
    let mut header = Header::request(0, SerializeType::Json);
    header.set_oneway(fields.id.is_none());
    let mut raw = BytesMut::new();
    let pairs = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let payload = params.get().as_bytes();
    if encode_frame(
        &mut raw,
        &header,
        service_path,
        service_method,
        pairs,
        payload,
    )
    .is_err()
    {
        return Converted::TooLarge;
    }
    match decode_frame(raw.freeze(), limits) {
        Ok(frame) => Converted::Call {
            frame,
            id: fields.id,
        },
        Err(_) => Converted::TooLarge,
    }
}

/// Reads the body as Go's `json.Unmarshal` into rpcx-go's request struct would.
fn parse(body: &[u8]) -> Result<Fields<'_>, String> {
    let raw: &RawValue = serde_json::from_slice(body).map_err(|e| syntax_error(&e))?;
    let text = raw.get();
    match kind(text) {
        "object" => {}
        "null" => return Ok(Fields::default()),
        other => {
            return Err(format!(
                "json: cannot unmarshal {other} into Go value of type server.jsonrpcRequest"
            ))
        }
    }
    let Members(members) = serde_json::from_str(text).map_err(|e| syntax_error(&e))?;
    let mut fields = Fields::default();
    let mut saved = None;
    for (name, value) in members {
        let value: &RawValue = value;
        let text = value.get();
        let field_error = |field: &str| {
            format!(
                "json: cannot unmarshal {} into Go struct field jsonrpcRequest.{field} of type string",
                kind(text)
            )
        };
        if name.eq_ignore_ascii_case("jsonrpc") {
            let version = match kind(text) {
                "null" => String::new(),
                "string" => serde_json::from_str::<String>(text).unwrap_or_default(),
                _ => return Err(field_error("jsonrpc")),
            };
            if version != "2.0" {
                return Err(format!("invalid RPC version {version}"));
            }
        } else if name.eq_ignore_ascii_case("method") {
            match kind(text) {
                "null" => {}
                "string" => fields.method = serde_json::from_str(text).unwrap_or_default(),
                _ => {
                    saved.get_or_insert_with(|| field_error("method"));
                }
            }
        } else if name.eq_ignore_ascii_case("params") {
            fields.params = (kind(text) != "null").then_some(value);
        } else if name.eq_ignore_ascii_case("id") {
            fields.id = match kind(text) {
                "null" => None,
                "string" => Some(Id::Name(serde_json::from_str(text).unwrap_or_default())),
                "number" => match serde_json::from_str::<i64>(text) {
                    Ok(n) => Some(Id::Number(n)),
                    Err(_) => return Err(field_error("id")),
                },
                _ => return Err(field_error("id")),
            };
        }
    }
    saved.map_or(Ok(fields), Err)
}

/// The JSON kind of a valid JSON text, named as Go's errors name it.
fn kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "bool",
        Some(b'n') => "null",
        _ => "number",
    }
}

fn syntax_error(error: &serde_json::Error) -> String {
    if error.is_eof() {
        "unexpected end of JSON input".to_owned()
    } else {
        error.to_string()
    }
}

/// An object's members in order, duplicates kept.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// `{"jsonrpc":"2.0","error":{"code":C,"message":M,"data":null}[,"id":I]}`.
pub(crate) fn error_body(code: i64, message: &str, id: Option<&Id>) -> Vec<u8> {
    let mut out = format!("{{\"jsonrpc\":\"2.0\",\"error\":{{\"code\":{code},\"message\":");
    go_string(message, &mut out);
    out.push_str(",\"data\":null}");
    push_id(id, &mut out);
    out.push('}');
    out.into_bytes()
}

/// `{"jsonrpc":"2.0","result":R,"id":I}`, R the reply compacted as Go's `json.Marshal`
/// writes a `json.RawMessage`; the error text Go gives when the reply is not JSON.
pub(crate) fn result_body(result: &[u8], id: &Id) -> Result<Vec<u8>, String> {
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(result) {
        let e = syntax_error(&e);
        return Err(format!(
            "json: error calling MarshalJSON for type *json.RawMessage: {e}"
        ));
    }
    let mut out = String::from("{\"jsonrpc\":\"2.0\",\"result\":");
    compact(result, &mut out);
    push_id(Some(id), &mut out);
    out.push('}');
    Ok(out.into_bytes())
}

fn push_id(id: Option<&Id>, out: &mut String) {
    match id {
        None => {}
        Some(Id::Name(name)) if !name.is_empty() => {
            out.push_str(",\"id\":");
            go_string(name, out);
        }
        Some(Id::Name(_)) => out.push_str(",\"id\":0"),
        Some(Id::Number(n)) => {
            out.push_str(",\"id\":");
            out.push_str(&n.to_string());
        }
    }
}

/// A JSON string as Go's `encoding/json` writes it (HTML characters and U+2028/9 escaped).
fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Compact` with HTML escaping, of valid JSON: whitespace outside strings
/// dropped, `<`, `>`, `&`, U+2028 and U+2029 inside strings escaped.
fn compact(json: &[u8], out: &mut String) {
    let text = String::from_utf8_lossy(json);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                    continue;
                }
                _ => {}
            }
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Result<(String, Option<String>, Option<Id>), String> {
        parse(body.as_bytes()).map(|f| (f.method, f.params.map(|p| p.get().to_owned()), f.id))
    }

    #[test]
    fn requests_are_read_as_go_reads_them() {
        let (method, params, id) =
            fields(r#"{"jsonrpc":"2.0","METHOD":"Arith.Mul","params":{"A": 2},"id":7,"x":[]}"#)
                .unwrap();
        assert_eq!(
            (method.as_str(), params.as_deref(), id),
            ("Arith.Mul", Some(r#"{"A": 2}"#), Some(Id::Number(7)))
        );
        assert_eq!(
            fields(r#"{"id":"a","id":null}"#).unwrap().2,
            None,
            "the last duplicate wins"
        );
        assert_eq!(fields("null").unwrap().0, "");
        assert_eq!(
            fields("[1]").unwrap_err(),
            "json: cannot unmarshal array into Go value of type server.jsonrpcRequest"
        );
        assert_eq!(
            fields(r#"{"jsonrpc":"1.0"}"#).unwrap_err(),
            "invalid RPC version 1.0"
        );
        assert_eq!(
            fields(r#"{"id":1.5}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field jsonrpcRequest.id of type string"
        );
        assert_eq!(
            fields(r#"{"method":5,"id":1}"#).unwrap_err(),
            "json: cannot unmarshal number into Go struct field jsonrpcRequest.method of type string"
        );
        assert_eq!(fields("").unwrap_err(), "unexpected end of JSON input");
    }

    #[test]
    fn responses_are_written_as_go_writes_them() {
        let body = result_body(b"{ \"C\" : \"<a&b>\" }", &Id::Name(String::new())).unwrap();
        assert_eq!(
            body,
            br#"{"jsonrpc":"2.0","result":{"C":"\u003ca\u0026b\u003e"},"id":0}"#
        );
        let body = error_body(
            INTERNAL_ERROR,
            "rpcx: can't find method Div\n",
            Some(&Id::Name("x".into())),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"rpcx: can't find method Div\n","data":null},"id":"x"}"#
        );
        assert!(result_body(b"not json", &Id::Number(1))
            .unwrap_err()
            .starts_with("json: error calling MarshalJSON for type *json.RawMessage: "));
    }
}
