//! Rocket (http 0.2 inside) ⇄ `http` 1.x, by hand: method, URI, header names and values.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use rocket::http::{Header, Status};
use rocket::{Request, Response};

/// A response the core built, kept in a form that can be cloned and written into Rocket's.
#[derive(Debug, Clone)]
pub(crate) struct CoreResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl From<http::Response<Bytes>> for CoreResponse {
    fn from(response: http::Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl CoreResponse {
    /// Makes `response` exactly this one: status, headers (all replaced) and body.
    pub(crate) fn write_into(&self, response: &mut Response<'_>) {
        write_head(response, self.status, &self.headers);
        set_body(response, self.body.clone());
    }
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

/// The response's status as `http` parts, with no headers: what `Canister::finish` adds is
/// then exactly what the parts hold afterwards (see [`add_headers`]).
pub(crate) fn response_head(response: &Response<'_>) -> http::response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status =
        StatusCode::from_u16(response.status().code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    parts
}

/// Adds the headers `Canister::finish` put in parts that started empty
/// ([`response_head`]) when it kept the response (`Finish::Keep`): it appends `Set-Cookie`
/// and `Vary`, and sets the CORS grant headers, replacing any the application set (as it
/// does on `http` parts). Converting only these, not every header of the response, is
/// what keeps the fairing's cost close to the other adapters'.
pub(crate) fn add_headers(response: &mut Response<'_>, status: StatusCode, headers: &HeaderMap) {
    if response.status().code != status.as_u16() {
        response.set_status(Status::new(status.as_u16()));
    }
    for (name, value) in headers {
        let header = Header::new(rocket_name(name), text(value));
        let replaces = name == http::header::ACCESS_CONTROL_ALLOW_ORIGIN
            || name == http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS
            || name == http::header::ACCESS_CONTROL_EXPOSE_HEADERS;
        if replaces {
            response.set_header(header);
        } else {
            response.adjoin_header(header);
        }
    }
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

/// Makes the response's status and headers these: headers whose values differ are
/// replaced, headers absent from `headers` removed, and the rest (most of them: Rocket's
/// and the application's) left as they are, so a response costs only the headers canister
/// changed.
pub(crate) fn write_head(response: &mut Response<'_>, status: StatusCode, headers: &HeaderMap) {
    if response.status().code != status.as_u16() {
        response.set_status(Status::new(status.as_u16()));
    }
    let stale: Vec<String> = response
        .headers()
        .iter()
        .filter(|h| !headers.contains_key(h.name().as_str()))
        .map(|h| h.name().as_str().to_owned())
        .collect();
    for name in stale {
        response.remove_header(&name);
    }
    for name in headers.keys() {
        let wanted = headers.get_all(name);
        let same = {
            let mut have = response.headers().get(name.as_str());
            let mut wanted = wanted.iter();
            loop {
                match (have.next(), wanted.next()) {
                    (None, None) => break true,
                    (Some(h), Some(w)) if h.as_bytes() == w.as_bytes() => {}
                    _ => break false,
                }
            }
        };
        if same {
            continue;
        }
        response.remove_header(name.as_str());
        for value in wanted {
            response.adjoin_header(Header::new(rocket_name(name), text(value)));
        }
    }
}

/// Replaces the response's body.
pub(crate) fn set_body(response: &mut Response<'_>, body: Bytes) {
    response.set_sized_body(body.len(), std::io::Cursor::new(body));
}
