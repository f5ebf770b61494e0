//! What the engine logs about a request besides its events: the client address and the URL.

use http::request;

use super::host;

/// The URL of the `GET <url>` line: `scheme://host` + the path and query, secrets masked.
///
/// The path and query are masked first and `scheme://host` is put in front afterwards, so a
/// `Host` header can never be read as part of the query or fragment (`Host: evil#x` once
/// hid the whole query from the mask). The host is logged only when it is a well-formed
/// `host[:port]` of at most [`MAX_LOGGED_HOST`] bytes; otherwise the line shows the path
/// and query alone, as for a request without any host.
pub(super) fn request_url(parts: &request::Parts, secure: bool) -> String {
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
