//! Rocket (http 0.2 inside) ⇄ `http` 1.x, by hand: method, URI, header names and values.

use std::borrow::Cow;

use bytes::Bytes;
use canister_core::adapter::{replace_head, ResponseHead};
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use rocket::http::{Header, Status};
use rocket::{Request, Response};

/// Rocket's response as the head `Canister::finish` writes: only canister's headers are
/// converted, and which it sets, replaces or appends is the core's decision.
pub(crate) struct Head<'a, 'r>(pub(crate) &'a mut Response<'r>);

impl ResponseHead for Head<'_, '_> {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn set_status(&mut self, status: StatusCode) {
        self.0.set_status(Status::new(status.as_u16()));
    }
    fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.0
            .set_header(Header::new(rocket_name(&name), text(&value)));
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.0
            .adjoin_header(Header::new(rocket_name(&name), text(&value)));
    }
    fn clear(&mut self) {
        let names: Vec<String> = self
            .0
            .headers()
            .iter()
            .map(|h| h.name().to_string())
            .collect();
        for name in names {
            self.0.remove_header(&name);
        }
    }
}

/// Makes `response` exactly the core's `core`: status, headers (all replaced) and body.
pub(crate) fn write(response: &mut Response<'_>, core: http::Response<Bytes>) {
    let (parts, body) = core.into_parts();
    replace_head(&mut Head(response), &parts);
    set_body(response, body);
}

/// The request as `http` parts: method, URI, headers. Header values that `http` refuses are
/// skipped.
pub(crate) fn request_parts(request: &Request<'_>) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or_default();
    parts.uri = request_uri(request);
    for header in request.headers().iter() {
        let name = HeaderName::from_bytes(header.name().as_str().as_bytes());
        let value = HeaderValue::from_str(header.value());
        if let (Ok(name), Ok(value)) = (name, value) {
            parts.headers.append(name, value);
        }
    }
    // Rocket's local client puts its cookies in the jar, not in a `Cookie` header.
    if !parts.headers.contains_key(http::header::COOKIE) {
        let jar: Vec<String> = request
            .cookies()
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        if let Ok(value) = HeaderValue::from_str(&jar.join("; ")) {
            if !jar.is_empty() {
                parts.headers.insert(http::header::COOKIE, value);
            }
        }
    }
    parts
}

/// The request target as hyper hands it to axum and warp for HTTP/1.1: origin form,
/// `/path?query` as the client sent it (the engine reads the host from the `Host` header).
/// When Rocket itself serves TLS, absolute with the `https` scheme and the `Host` authority,
/// so that the engine knows the request was secure. Built from Rocket's raw path and query
/// (no `Display` round trip), parsed once.
fn request_uri(request: &Request<'_>) -> Uri {
    let origin = request.uri();
    let path = origin.path().as_str();
    let query = origin.query().map(|q| q.as_str());
    let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    if request.rocket().config().tls_enabled() {
        let absolute = request
            .headers()
            .get_one("Host")
            .and_then(|host| Uri::try_from(format!("https://{host}{target}")).ok());
        // A `Host` value that does not make a URI: keep the origin form.
        if let Some(uri) = absolute {
            return uri;
        }
    }
    Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/"))
}

/// The header's name for Rocket: a static string for the headers canister sets (no
/// allocation), else a copy.
fn rocket_name(name: &HeaderName) -> Cow<'static, str> {
    use http::header as h;
    const KNOWN: [(HeaderName, &str); 6] = [
        (h::SET_COOKIE, "set-cookie"),
        (h::VARY, "vary"),
        (
            h::ACCESS_CONTROL_ALLOW_ORIGIN,
            "access-control-allow-origin",
        ),
        (
            h::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            "access-control-allow-credentials",
        ),
        (
            h::ACCESS_CONTROL_EXPOSE_HEADERS,
            "access-control-expose-headers",
        ),
        (h::WWW_AUTHENTICATE, "www-authenticate"),
    ];
    KNOWN.iter().find(|(known, _)| known == name).map_or_else(
        || Cow::Owned(name.as_str().to_owned()),
        |(_, s)| Cow::Borrowed(*s),
    )
}

/// The header's value as Rocket's text (the core only builds visible ASCII values).
fn text(value: &HeaderValue) -> String {
    match value.to_str() {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

/// Replaces the response's body.
pub(crate) fn set_body(response: &mut Response<'_>, body: Bytes) {
    response.set_sized_body(body.len(), std::io::Cursor::new(body));
}
