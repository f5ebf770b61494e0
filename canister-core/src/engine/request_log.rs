//! What the engine logs about a request besides its events: the client address and the URL.

use std::net::{IpAddr, SocketAddr};

use http::header::HeaderMap;
use http::request;

use super::enter::host;

/// `X-Forwarded-For`, named once: a name given as a `&str` is parsed at each lookup.
static X_FORWARDED_FOR: http::header::HeaderName =
    http::header::HeaderName::from_static("x-forwarded-for");

/// The client address of a request, as logged: the peer's, or, with `hops` trusted proxies
/// (`log_trust_proxy`), the one the outermost of them put in `X-Forwarded-For`.
///
/// Every `X-Forwarded-For` header is read, in order, as one comma-separated list. Each
/// trusted proxy *appends* the address it received the request from, so the last `hops`
/// entries were written by trusted proxies, and the entry `hops` places from the right is
/// the address the outermost trusted proxy saw: the client. What a client sends itself is
/// further left and never chosen (the review's finding 8: the left-most entry was taken).
/// This is nginx's `real_ip_recursive` and Express's `trust proxy = N`:
///
/// | `hops` | `X-Forwarded-For` | logged |
/// |---|---|---|
/// | 0 | anything | the peer |
/// | 1 | `6.6.6.6, 203.0.113.7` | `203.0.113.7` |
/// | 2 | `6.6.6.6, 203.0.113.7, 10.0.0.2` | `203.0.113.7` |
/// | 2 | `203.0.113.7` (shorter than `hops`) | `203.0.113.7`, the left-most present |
///
/// An entry may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:80`), which is dropped.
/// The peer is logged instead when there is no such header, when a value is not UTF-8, or
/// when the chosen entry is not an IP address (`unknown`, an obfuscated name): a trusted
/// proxy that wrote something else gave no address to trust. Empty list elements are
/// skipped.
pub(super) fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, hops: u8) -> Option<IpAddr> {
    let peer_ip = peer.map(|p| p.ip());
    if hops == 0 {
        return peer_ip;
    }
    let mut seen = 0;
    let mut chosen = None;
    for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(value) = value.to_str() else {
            return peer_ip;
        };
        for entry in value.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
            seen += 1;
            chosen = Some(entry);
            if seen == hops {
                return parse_forwarded(entry).or(peer_ip);
            }
        }
    }
    // Fewer entries than trusted hops: the left-most one present.
    chosen.and_then(parse_forwarded).or(peer_ip)
}

/// An `X-Forwarded-For` entry as an address: `ip`, `ip:port` or `[ipv6]:port`.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The URL of the `GET <url>` line: `scheme://host` + the path and query, secrets masked.
///
/// The path and query are masked first and `scheme://host` is put in front afterwards, so a
/// `Host` header can never be read as part of the query or fragment (`Host: evil#x` once
/// hid the whole query from the mask). The host is logged only when it is a well-formed
/// `host[:port]` of at most [`MAX_LOGGED_HOST`] bytes; otherwise the line shows the path
/// and query alone, as for a request without any host.
pub(crate) fn request_url(parts: &request::Parts, secure: bool) -> String {
    let scheme = if secure { "https" } else { "http" };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = crate::log::mask_query(path);
    match host(parts).filter(|h| is_loggable_host(h)) {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path.into_owned(),
    }
}

/// The longest host logged: a DNS name (253) and `:65535`, with room to spare.
const MAX_LOGGED_HOST: usize = 270;

/// Whether `host` is a well-formed `host[:port]` (no user information) short enough to log.
fn is_loggable_host(host: &str) -> bool {
    host.len() <= MAX_LOGGED_HOST
        && !host.contains('@')
        && host.parse::<http::uri::Authority>().is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use http::Request;

    use super::*;

    fn url_of(uri: &str, host: Option<&str>) -> String {
        let mut request = Request::get(uri);
        if let Some(host) = host {
            request = request.header(http::header::HOST, host);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        request_url(&parts, false)
    }

    fn xff(values: &[&str], hops: u8) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        client_ip(&headers, Some("10.0.0.9:5000".parse().unwrap()), hops)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_for_is_read_from_the_right() {
        // Finding 8 of the security review: the client's own left-most value was taken.
        assert_eq!(xff(&["6.6.6.6, 10.0.0.1"], 1), ip("10.0.0.1"));
        assert_eq!(
            xff(&["6.6.6.6, 203.0.113.7, 10.0.0.2"], 2),
            ip("203.0.113.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            xff(&["6.6.6.6", "203.0.113.7, 10.0.0.2"], 2),
            ip("203.0.113.7")
        );
        assert_eq!(
            xff(&["6.6.6.6, 203.0.113.7", "10.0.0.2"], 2),
            ip("203.0.113.7")
        );
        assert_eq!(
            xff(&["6.6.6.6, 203.0.113.7", "10.0.0.2"], 1),
            ip("10.0.0.2")
        );
        // Shorter than the hops: the left-most present.
        assert_eq!(xff(&["203.0.113.7"], 2), ip("203.0.113.7"));
        assert_eq!(xff(&["203.0.113.7, , "], 1), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_for_falls_back_to_the_peer() {
        let peer = ip("10.0.0.9");
        assert_eq!(xff(&["6.6.6.6"], 0), peer);
        assert_eq!(xff(&[], 1), peer);
        assert_eq!(xff(&["6.6.6.6, unknown"], 1), peer);
        assert_eq!(xff(&["6.6.6.6, _hidden"], 1), peer);
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"1.2.3.4, \xff").unwrap(),
        );
        assert_eq!(client_ip(&headers, "10.0.0.9:1".parse().ok(), 1), peer);
        assert_eq!(client_ip(&HeaderMap::new(), None, 1), None);
    }

    #[test]
    fn forwarded_for_entries_may_carry_a_port() {
        assert_eq!(xff(&["203.0.113.7:4711"], 1), ip("203.0.113.7"));
        assert_eq!(xff(&["[2001:db8::1]:80"], 1), ip("2001:db8::1"));
        assert_eq!(xff(&["[2001:db8::1]"], 1), ip("2001:db8::1"));
        assert_eq!(xff(&["2001:db8::1"], 1), ip("2001:db8::1"));
    }

    #[test]
    fn the_query_is_masked_before_the_host_is_put_in_front() {
        // Finding 6 of the security review: `Host: evil#x` hid the query from the mask.
        let url = url_of("/hi?foo=x&password=Z9hashpw", Some("evil#x"));
        assert!(!url.contains("Z9hashpw"), "{url}");
        assert_eq!(url, "/hi?foo=x&password=********");
        let url = url_of("/hi?foo=x&pw=Z9hashpw", Some("example.com:8080"));
        assert_eq!(url, "http://example.com:8080/hi?foo=x&pw=********");
        // A `?` in the host cannot start the query either.
        let url = url_of("/hi?pin=1234", Some("evil?pin=x"));
        assert_eq!(url, "/hi?pin=********");
    }

    #[test]
    fn only_a_well_formed_short_host_is_logged() {
        assert_eq!(url_of("/p", Some("[::1]:80")), "http://[::1]:80/p");
        for bad in [
            "evil#x",
            "a/b",
            "a b",
            "bob:pw@host",
            "",
            &"h".repeat(MAX_LOGGED_HOST + 1),
        ] {
            assert_eq!(url_of("/p?q=1", Some(bad)), "/p?q=1", "{bad:?}");
        }
        assert_eq!(url_of("http://ok.example/p", None), "http://ok.example/p");
    }
}
