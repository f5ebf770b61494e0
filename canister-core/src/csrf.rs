//! CSRF: refuse unsafe cross-origin requests, the way Go 1.25's `CrossOriginProtection` does.
//!
//! The rule, applied to every request whose method is not `GET`, `HEAD` or `OPTIONS`,
//! whether or not it carries the session cookie (a cross-site login, a session swap and a
//! browser's cached Basic credentials carry none):
//!
//! 1. `Sec-Fetch-Site: same-origin` or `none` (a user-initiated navigation): pass.
//! 2. Any other `Sec-Fetch-Site` (`same-site`, `cross-site`, or a value we do not know):
//!    pass only when `Origin` is trusted (`csrf_trusted_origins`, or an origin the CORS
//!    allow-list names; `CORS = *` trusts no one); else refuse. A sibling subdomain is
//!    `same-site` and is refused like any other site.
//! 3. No `Sec-Fetch-Site` (older browsers): an `Origin` whose host and port equal the
//!    request's `Host` passes, a trusted one passes, any other (`null` included) is refused.
//! 4. Neither header (curl, servers, scripts): pass. Such clients carry no ambient browser
//!    credentials.

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::Authority;
use http::Method;

use crate::cors::Cors;

/// The CSRF rule, compiled from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Csrf {
    enabled: bool,
    trusted: Vec<String>,
}

impl Csrf {
    pub(crate) fn new(enabled: bool, trusted: Vec<String>) -> Self {
        Self { enabled, trusted }
    }

    /// Checks a request, cookie or not. `Err(origin)` (the `Origin` as sent, or a short
    /// description when there is none) when it must be refused.
    ///
    /// `host` is the request's own authority (`Host` header or absolute URI).
    pub(crate) fn check<'a>(
        &self,
        parts: &'a Parts,
        host: Option<&str>,
        cors: &Cors,
    ) -> Result<(), &'a str> {
        if !self.enabled || is_safe(&parts.method) {
            return Ok(());
        }
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or("(not ascii)"));
        let trusted = |o: &str| {
            o != "null" && (self.trusted.iter().any(|t| t.eq_ignore_ascii_case(o)) || cors.lists(o))
        };
        match parts
            .headers
            .get("sec-fetch-site")
            .map(HeaderValue::as_bytes)
        {
            Some(b"same-origin" | b"none") => Ok(()),
            Some(site) => match origin {
                Some(o) if trusted(o) => Ok(()),
                Some(o) => Err(o),
                None if site == b"same-site" => Err("(none, Sec-Fetch-Site: same-site)"),
                None if site == b"cross-site" => Err("(none, Sec-Fetch-Site: cross-site)"),
                None => Err("(none, Sec-Fetch-Site: unknown value)"),
            },
            None => match origin {
                None => Ok(()),
                Some(o) if same_host(o, host) || trusted(o) => Ok(()),
                Some(o) => Err(o),
            },
        }
    }
}

/// The methods that must not change state: the check lets them through.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port as the request's
/// `host`. The scheme is not compared (as Go's check): behind a TLS-terminating proxy the
/// server sees `http` while the browser's origin says `https`. A missing port is the
/// origin scheme's default (80 for http, 443 for https).
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        return false;
    };
    if authority.contains(['/', '?', '#', '@']) || host.contains('@') {
        return false;
    }
    let (Ok(origin), Ok(host)) = (authority.parse::<Authority>(), host.parse::<Authority>()) else {
        return false;
    };
    origin.host().eq_ignore_ascii_case(host.host())
        && origin.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(default_port)
}

#[cfg(test)]
mod tests {
    use super::same_host;

    #[test]
    fn same_host_compares_host_and_port_only() {
        assert!(same_host("http://example.com", Some("example.com")));
        assert!(same_host("https://Example.com", Some("example.com")));
        assert!(same_host("https://example.com:443", Some("example.com")));
        assert!(same_host("http://example.com", Some("example.com:80")));
        assert!(same_host("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!same_host("http://127.0.0.1:8081", Some("127.0.0.1:8080")));
        assert!(!same_host("http://evil.example.com", Some("example.com")));
        assert!(!same_host("http://example.com:443", Some("example.com")));
        assert!(!same_host("null", Some("example.com")));
        assert!(!same_host("http://example.com", None));
        assert!(!same_host("http://", Some("")));
        assert!(!same_host("ftp://example.com", Some("example.com")));
        assert!(!same_host("http://a@example.com", Some("a@example.com")));
    }
}
