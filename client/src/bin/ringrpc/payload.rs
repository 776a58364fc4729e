//! What `call` sends and shows: the payload argument turned into request bytes for a codec,
//! and reply bytes turned into text. Pure functions of bytes; no network.

use std::io::Read;

use anyhow::{bail, Context};
use clap::ValueEnum;
use ringrpc_client::SerializeType;

/// Payload encodings `call` takes (`--codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// JSON text, sent as given (checked to be JSON).
    Json,
    /// JSON text converted to MsgPack, structs as named maps (as rpcx-go expects).
    Msgpack,
    /// Bytes, serialize type None.
    Raw,
    /// Protobuf bytes (give them in hex with --hex).
    Protobuf,
    /// FlatBuffers bytes (give them in hex with --hex).
    Flatbuffers,
}

impl Codec {
    /// rpcx's serialize type for this codec.
    pub fn serialize_type(self) -> SerializeType {
        match self {
            Codec::Json => SerializeType::Json,
            Codec::Msgpack => SerializeType::MsgPack,
            Codec::Raw => SerializeType::None,
            Codec::Protobuf => SerializeType::Protobuf,
            Codec::Flatbuffers => SerializeType::FlatBuffers,
        }
    }
}

/// The payload argument's bytes: `@FILE` reads a file, `-` stdin, anything else is the text
/// itself; absent is empty.
pub fn read_argument(argument: Option<&str>) -> anyhow::Result<Vec<u8>> {
    Ok(match argument {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading stdin")?;
            buf
        }
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) => std::fs::read(path).with_context(|| format!("reading {path}"))?,
            None => arg.as_bytes().to_vec(),
        },
    })
}

/// The request payload for `codec` from the argument's bytes (`hex`: they are hex digits).
pub fn encode(text: Vec<u8>, codec: Codec, hex: bool) -> anyhow::Result<Vec<u8>> {
    if hex {
        return from_hex(std::str::from_utf8(&text).context("hex payload")?.trim());
    }
    Ok(match codec {
        Codec::Json | Codec::Msgpack if text.is_empty() => text,
        Codec::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(&text).context("payload is not JSON")?;
            serde_json::to_vec(&value)?
        }
        Codec::Msgpack => {
            let value: serde_json::Value =
                serde_json::from_slice(&text).context("payload is not JSON")?;
            rmp_serde::to_vec_named(&value)?
        }
        Codec::Raw | Codec::Protobuf | Codec::Flatbuffers => text,
    })
}

/// A reply payload as text: JSON pretty-printed, MsgPack shown as JSON, raw bytes as text
/// when they are UTF-8, everything else in hex.
pub fn show(payload: &[u8], serialize_type: Option<SerializeType>) -> anyhow::Result<String> {
    Ok(match serialize_type {
        Some(SerializeType::Json) => match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(value) => serde_json::to_string_pretty(&value)?,
            Err(_) => String::from_utf8_lossy(payload).into_owned(),
        },
        Some(SerializeType::MsgPack) if !payload.is_empty() => {
            let value: serde_json::Value =
                rmp_serde::from_slice(payload).context("reply is not MsgPack")?;
            serde_json::to_string_pretty(&value)?
        }
        Some(SerializeType::None) => match std::str::from_utf8(payload) {
            Ok(text) => text.to_owned(),
            Err(_) => to_hex(payload),
        },
        _ => to_hex(payload),
    })
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        bail!("hex payload has an odd number of digits");
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair)?;
            u8::from_str_radix(pair, 16).with_context(|| format!("bad hex {pair:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_digits() {
        let bytes = encode(b" 0a ff\n00 ".to_vec(), Codec::Raw, true).unwrap();
        assert_eq!(bytes, [0x0a, 0xff, 0x00]);
        assert_eq!(
            show(&bytes, Some(SerializeType::Protobuf)).unwrap(),
            "0aff00"
        );
        assert!(encode(b"abc".to_vec(), Codec::Raw, true).is_err());
        assert!(encode(b"zz".to_vec(), Codec::Raw, true).is_err());
    }

    #[test]
    fn msgpack_is_sent_as_named_maps_and_shown_as_json() {
        let bytes = encode(br#"{"A":3}"#.to_vec(), Codec::Msgpack, false).unwrap();
        assert_eq!(bytes, [0x81, 0xa1, b'A', 0x03]);
        let shown = show(&bytes, Some(SerializeType::MsgPack)).unwrap();
        assert_eq!(shown, "{\n  \"A\": 3\n}");
        assert!(encode(b"{".to_vec(), Codec::Json, false).is_err());
    }
}
