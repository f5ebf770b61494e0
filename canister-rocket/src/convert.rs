//! Rocket (http 0.2 inside) ⇄ `http` 1.x, by hand: method, URI, header names and values.

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

/// The request as `http` parts: method, URI with scheme and `Host` authority when there is
/// one, headers. Header values that `http` refuses are skipped.
pub(crate) fn request_parts(request: &Request<'_>) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or_default();
    let origin = request.uri().to_string();
    let scheme = if request.rocket().config().tls_enabled() {
        "https"
    } else {
        "http"
    };
    parts.uri = request
        .headers()
        .get_one("Host")
        .and_then(|host| Uri::try_from(format!("{scheme}://{host}{origin}")).ok())
        .or_else(|| Uri::try_from(origin).ok())
        .unwrap_or_else(|| Uri::from_static("/"));
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
        let header = Header::new(
            name.as_str().to_owned(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        );
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
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            response.adjoin_header(Header::new(name.as_str().to_owned(), value));
        }
    }
}

/// Replaces the response's body.
pub(crate) fn set_body(response: &mut Response<'_>, body: Bytes) {
    response.set_sized_body(body.len(), std::io::Cursor::new(body));
}
