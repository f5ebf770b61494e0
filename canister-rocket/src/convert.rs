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
        names.iter().for_each(|name| self.0.remove_header(name));
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
        let jar = request.cookies().iter();
        let jar: Vec<String> = jar.map(|c| format!("{}={}", c.name(), c.value())).collect();
        if let (false, Ok(value)) = (jar.is_empty(), HeaderValue::from_str(&jar.join("; "))) {
            parts.headers.insert(http::header::COOKIE, value);
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
    let target = match origin.query() {
        Some(query) => format!("{}?{}", origin.path().as_str(), query.as_str()),
        None => origin.path().as_str().to_owned(),
    };
    if request.rocket().config().tls_enabled() {
        // A `Host` value that does not make a URI: keep the origin form.
        let host = request.headers().get_one("Host");
        if let Some(uri) = host.and_then(|h| Uri::try_from(format!("https://{h}{target}")).ok()) {
            return uri;
        }
    }
    Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/"))
}

/// The header's name for Rocket: a static string for the headers canister sets (no
/// allocation), else a copy.
fn rocket_name(name: &HeaderName) -> Cow<'static, str> {
    Cow::Borrowed(match name.as_str() {
        "set-cookie" => "set-cookie",
        "vary" => "vary",
        "x-request-id" => "x-request-id",
        "access-control-allow-origin" => "access-control-allow-origin",
        "access-control-allow-credentials" => "access-control-allow-credentials",
        "access-control-expose-headers" => "access-control-expose-headers",
        "www-authenticate" => "www-authenticate",
        other => return Cow::Owned(other.to_owned()),
    })
}

/// The header's value as Rocket's text (the core only builds visible ASCII values).
fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Replaces the response's body.
pub(crate) fn set_body(response: &mut Response<'_>, body: Bytes) {
    response.set_sized_body(body.len(), std::io::Cursor::new(body));
}
