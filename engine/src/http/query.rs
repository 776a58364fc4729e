//! Go's `net/url` query rules and `strconv` error texts, as the gateway needs them: the
//! `X-RPCX-Meta` header is parsed with `url.ParseQuery` and response metadata written with
//! `url.Values.Encode`, and a bad number is reported with `strconv`'s own words, so clients
//! see exactly what rpcx-go sends (PROTOCOL.md §8.1).

use std::fmt::Write as _;

/// `url.ParseQuery`: `k1=v1&k2=v2`, `+` as space, percent escapes. Keeps the first value of
/// each key, in first-seen order, and returns Go's first error next to the pairs that did
/// parse (`X-RPCX-Meta` on the gateway fails on the error; JSON-RPC ignores it).
pub(crate) fn parse_query(query: &str) -> (Vec<(String, String)>, Option<String>) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut error = None;
    for segment in query.split('&') {
        if segment.contains(';') {
            // Go overwrites an earlier error with this one.
            error = Some("invalid semicolon separator in query".to_owned());
            continue;
        }
        if segment.is_empty() {
            continue;
        }
        let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
        let (key, value) = match (unescape(key), unescape(value)) {
            (Ok(key), Ok(value)) => (key, value),
            (Err(e), _) | (_, Err(e)) => {
                error.get_or_insert(e);
                continue;
            }
        };
        if !pairs.iter().any(|(k, _)| *k == key) {
            pairs.push((key, value));
        }
    }
    (pairs, error)
}

/// `url.QueryUnescape`.
fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |at: usize| bytes.get(at).and_then(|&c| (c as char).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        let bad = bytes.get(i..(i + 3).min(bytes.len())).unwrap_or_default();
                        let bad = String::from_utf8_lossy(bad);
                        return Err(format!("invalid URL escape {}", go_quote(&bad)));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Go strings hold any bytes; ours must be UTF-8, so a stray byte becomes U+FFFD.
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
}

/// `url.Values.Encode` of one value per key: keys sorted bytewise, both sides escaped with
/// `url.QueryEscape`.
pub(crate) fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        escape(key, &mut out);
        out.push('=');
        escape(value, &mut out);
    }
    out
}

/// `url.QueryEscape`: unreserved bytes kept, space as `+`, everything else `%XX`.
fn escape(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// Go's `strconv.Quote` for the texts that appear in errors: quotes, backslashes and
/// control characters escaped, the rest kept.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `strconv.ParseUint(s, 10, 64)` with Go's error text.
pub(crate) fn parse_uint(s: &str) -> Result<u64, String> {
    let fail = |why: &str| format!("strconv.ParseUint: parsing {}: {why}", go_quote(s));
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail("invalid syntax"));
    }
    s.parse::<u64>().map_err(|_| fail("value out of range"))
}

/// `strconv.Atoi(s)` (64-bit int) with Go's error text: an optional sign, then digits.
pub(crate) fn atoi(s: &str) -> Result<i64, String> {
    let fail = |why: &str| format!("strconv.Atoi: parsing {}: {why}", go_quote(s));
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail("invalid syntax"));
    }
    let magnitude = digits.trim_start_matches('0');
    let text = if s.starts_with('-') {
        format!("-{magnitude}")
    } else {
        magnitude.to_owned()
    };
    if magnitude.is_empty() {
        return Ok(0);
    }
    text.parse::<i64>().map_err(|_| fail("value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_query_follows_go() {
        let (pairs, error) = parse_query("a=1&b=x+y&a=2&&c&d=%41%2b");
        assert_eq!(
            pairs,
            [("a", "1"), ("b", "x y"), ("c", ""), ("d", "A+")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(error, None);
        let (pairs, error) = parse_query("a=1&b=%zz&c=3");
        assert_eq!(pairs.len(), 2);
        assert_eq!(error.as_deref(), Some("invalid URL escape \"%zz\""));
        assert_eq!(
            parse_query("a=%4").1.as_deref(),
            Some("invalid URL escape \"%4\"")
        );
        assert_eq!(
            parse_query("a=%zz&b=1;c").1.as_deref(),
            Some("invalid semicolon separator in query")
        );
    }

    #[test]
    fn encode_query_sorts_and_escapes_like_go() {
        let encoded = encode_query([("b", "x y&z"), ("a", "é/~")]);
        assert_eq!(encoded, "a=%C3%A9%2F~&b=x+y%26z");
        assert_eq!(encode_query([]), "");
    }

    #[test]
    fn numbers_fail_with_strconv_texts() {
        assert_eq!(parse_uint("42"), Ok(42));
        assert_eq!(
            parse_uint("+1").unwrap_err(),
            "strconv.ParseUint: parsing \"+1\": invalid syntax"
        );
        assert_eq!(
            parse_uint("18446744073709551616").unwrap_err(),
            "strconv.ParseUint: parsing \"18446744073709551616\": value out of range"
        );
        assert_eq!(atoi("-0017"), Ok(-17));
        assert_eq!(atoi("+3"), Ok(3));
        assert_eq!(atoi("-0"), Ok(0));
        assert_eq!(
            atoi("json").unwrap_err(),
            "strconv.Atoi: parsing \"json\": invalid syntax"
        );
        assert_eq!(
            atoi("99999999999999999999").unwrap_err(),
            "strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(go_quote("a\"\n\u{1}"), "\"a\\\"\\n\\x01\"");
    }
}
