//! CORS headers as rpcx-go adds them (`Server.SetCORS` wraps its gateway and JSON-RPC
//! handlers in the `rs/cors` middleware): the rules of that middleware, on our requests.

use super::config::CorsOptions;
use super::request::HttpRequest;

/// Response headers, in the order Go writes them (sorted by name).
pub(crate) type Headers = Vec<(&'static str, String)>;

/// Whether `request` is a preflight the middleware answers itself.
pub(crate) fn is_preflight(request: &HttpRequest) -> bool {
    request.method() == "OPTIONS"
        && request
            .header("access-control-request-method")
            .is_some_and(|m| !m.is_empty())
}

/// The headers of the answer to a preflight (sent with status 204 and no body).
pub(crate) fn preflight(options: &CorsOptions, request: &HttpRequest) -> Headers {
    let vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
    let mut headers: Headers = Vec::new();
    let origin = request.header("origin").unwrap_or("");
    let method = request
        .header("access-control-request-method")
        .unwrap_or("");
    let asked: Vec<&str> = request
        .header_values("access-control-request-headers")
        .collect();
    let headers_ok = asked.is_empty() || allows_all_headers(options) || accepts(options, &asked);
    if origin.is_empty()
        || !origin_allowed(options, origin)
        || !method_allowed(options, method)
        || !headers_ok
    {
        headers.push(("Vary", vary.to_owned()));
        return headers;
    }
    if options.allow_credentials {
        headers.push(("Access-Control-Allow-Credentials", "true".to_owned()));
    }
    if let Some(first) = asked.first().filter(|h| !h.is_empty()) {
        headers.push(("Access-Control-Allow-Headers", (*first).to_owned()));
    }
    headers.push(("Access-Control-Allow-Methods", method.to_owned()));
    headers.push(("Access-Control-Allow-Origin", allow_origin(options, origin)));
    if let Some(max_age) = max_age(options) {
        headers.push(("Access-Control-Max-Age", max_age));
    }
    headers.push(("Vary", vary.to_owned()));
    headers
}

/// The headers added to every other gateway or JSON-RPC response.
pub(crate) fn actual(options: &CorsOptions, request: &HttpRequest) -> Headers {
    let mut headers: Headers = Vec::new();
    let origin = request.header("origin").unwrap_or("");
    if !origin.is_empty()
        && origin_allowed(options, origin)
        && method_allowed(options, request.method())
    {
        if options.allow_credentials {
            headers.push(("Access-Control-Allow-Credentials", "true".to_owned()));
        }
        headers.push(("Access-Control-Allow-Origin", allow_origin(options, origin)));
        if !options.exposed_headers.is_empty() {
            let exposed: Vec<String> = options
                .exposed_headers
                .iter()
                .map(|h| canonical(h))
                .collect();
            headers.push(("Access-Control-Expose-Headers", exposed.join(", ")));
        }
    }
    headers.push(("Vary", "Origin".to_owned()));
    headers.sort_by_key(|(name, _)| *name);
    headers
}

fn allows_all_origins(options: &CorsOptions) -> bool {
    options.allowed_origins.is_empty() || options.allowed_origins.iter().any(|o| o == "*")
}

fn allows_all_headers(options: &CorsOptions) -> bool {
    options.allowed_headers.iter().any(|h| h == "*")
}

fn allow_origin(options: &CorsOptions, origin: &str) -> String {
    if allows_all_origins(options) {
        "*".to_owned()
    } else {
        origin.to_owned()
    }
}

fn origin_allowed(options: &CorsOptions, origin: &str) -> bool {
    if allows_all_origins(options) {
        return true;
    }
    let origin = origin.to_ascii_lowercase();
    options.allowed_origins.iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        match allowed.split_once('*') {
            Some((prefix, suffix)) => {
                origin.len() >= prefix.len() + suffix.len()
                    && origin.starts_with(prefix)
                    && origin.ends_with(suffix)
            }
            None => allowed == origin,
        }
    })
}

fn method_allowed(options: &CorsOptions, method: &str) -> bool {
    if method == "OPTIONS" {
        return true;
    }
    if options.allowed_methods.is_empty() {
        return ["GET", "POST", "HEAD"].contains(&method);
    }
    options.allowed_methods.iter().any(|m| m == method)
}

/// `rs/cors`'s check of `Access-Control-Request-Headers`: lower-case names, each allowed,
/// sorted and unique (as browsers send them), a few empty elements tolerated.
fn accepts(options: &CorsOptions, asked: &[&str]) -> bool {
    let mut allowed: Vec<String> = if options.allowed_headers.is_empty() {
        ["accept", "content-type", "x-requested-with"]
            .map(str::to_owned)
            .to_vec()
    } else {
        options
            .allowed_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect()
    };
    allowed.sort();
    allowed.dedup();
    let (mut last, mut empty) = (None, 0);
    for name in asked.iter().flat_map(|v| v.split(',')) {
        let name = name.trim_matches([' ', '\t']);
        if name.is_empty() {
            empty += 1;
            if empty > 16 {
                return false;
            }
            continue;
        }
        match allowed.binary_search_by(|a| a.as_str().cmp(name)) {
            Ok(at) if last.is_none_or(|last| at > last) => last = Some(at),
            _ => return false,
        }
    }
    true
}

fn max_age(options: &CorsOptions) -> Option<String> {
    match options.max_age_secs {
        0 => None,
        n if n < 0 => Some("0".to_owned()),
        n => Some(n.to_string()),
    }
}

/// Go's `http.CanonicalHeaderKey`.
fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::read::parse_one as request;

    #[test]
    fn preflights_and_actual_requests_follow_rs_cors() {
        let all = CorsOptions::allow_all();
        let pre = request(
            "OPTIONS /Arith HTTP/1.1\r\nHost: h\r\nOrigin: http://a.example\r\n\
             Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-rpcx-servicemethod\r\n\r\n",
        );
        assert!(is_preflight(&pre));
        let headers = preflight(&all, &pre);
        assert!(headers.contains(&("Access-Control-Allow-Origin", "*".to_owned())));
        assert!(headers.contains(&("Access-Control-Allow-Methods", "POST".to_owned())));
        assert!(headers.contains(&(
            "Access-Control-Allow-Headers",
            "x-rpcx-servicemethod".to_owned()
        )));
        let strict = CorsOptions::default().allowed_origins(["http://*.example"]);
        let headers = preflight(&strict, &pre);
        assert_eq!(
            headers.len(),
            1,
            "x-rpcx-servicemethod is not a default header: {headers:?}"
        );
        let post = request("POST / HTTP/1.1\r\nHost: h\r\nOrigin: http://b.EXAMPLE\r\n\r\n");
        let headers = actual(&strict.clone().exposed_headers(["x-rpcx-meta"]), &post);
        assert_eq!(
            headers,
            [
                ("Access-Control-Allow-Origin", "http://b.EXAMPLE".to_owned()),
                ("Access-Control-Expose-Headers", "X-Rpcx-Meta".to_owned()),
                ("Vary", "Origin".to_owned()),
            ]
        );
        let other = request("POST / HTTP/1.1\r\nHost: h\r\nOrigin: http://evil.test\r\n\r\n");
        assert_eq!(actual(&strict, &other), [("Vary", "Origin".to_owned())]);
    }
}
