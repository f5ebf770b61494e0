//! The responses the engine produces, built here so that every adapter answers the same bytes.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::params::ParamsError;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// 204 answering a CORS preflight, with the given CORS headers (none but `Vary` for an
/// origin that is not allowed).
pub(crate) fn preflight(headers: HeaderMap) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    *response.headers_mut() = headers;
    response
}

/// 403 refusing an unsafe request from another origin (CSRF).
pub(crate) fn csrf_refused() -> Response<Bytes> {
    text(
        StatusCode::FORBIDDEN,
        "cross-site request refused: an unsafe request from an untrusted origin\n",
    )
}

/// 503 when the session store cannot be used.
pub(crate) fn store_unavailable() -> Response<Bytes> {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "session store unavailable: please retry shortly\n",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// 429 for a login attempt beyond `auth_throttle` or `auth_throttle_ip`, with `Retry-After`
/// in whole seconds (at least 1).
pub(crate) fn throttled(retry_after: std::time::Duration) -> Response<Bytes> {
    let secs = retry_after.as_secs().max(1);
    let mut response = text(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins: retry in {secs} s\n"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// 503 for a Bearer token that cannot be checked yet: the identity provider's keys were
/// never fetched. `Retry-After` says when to try again; service returns by itself once the
/// keys arrive.
pub(crate) fn auth_unavailable() -> Response<Bytes> {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "token keys unavailable: the identity provider could not be reached, please retry shortly\n",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::auth::RETRY_AFTER_SECS),
    );
    response
}

/// 403 for a valid token that does not grant `scope` (RFC 6750 section 3.1), with
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="<scope>"`.
pub(crate) fn insufficient_scope(scope: &str) -> Response<Bytes> {
    let mut response = text(
        StatusCode::FORBIDDEN,
        format!("insufficient scope: this resource needs {scope}\n"),
    );
    // RFC 6750 3: scope tokens are %x21 / %x23-5B / %x5D-7E; anything else is dropped.
    let scope: String = scope
        .chars()
        .filter(|c| matches!(c, '!' | '#'..='[' | ']'..='~' | ' '))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
    )) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 400 for parameters that are missing or malformed; the body names the problem.
pub(crate) fn bad_params(error: &ParamsError) -> Response<Bytes> {
    text(StatusCode::BAD_REQUEST, format!("{error}\n"))
}

/// 401 with one `WWW-Authenticate` header per challenge.
pub(crate) fn unauthorized(challenges: Vec<HeaderValue>) -> Response<Bytes> {
    let mut response = text(StatusCode::UNAUTHORIZED, "authentication required\n");
    for challenge in challenges {
        response
            .headers_mut()
            .append(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// 413 for a request body longer than `limit` bytes (read by an adapter for `Params`).
pub(crate) fn payload_too_large(limit: usize) -> Response<Bytes> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {limit} bytes\n"),
    )
}

/// 400 for a request body that could not be read to its end (connection cut, bad framing).
pub(crate) fn unreadable_body() -> Response<Bytes> {
    text(StatusCode::BAD_REQUEST, "could not read the request body\n")
}

/// 500 when an extractor finds no canister visit: the adapter was not installed.
///
/// `fix` tells the developer what to add, e.g. "add `CanisterLayer` to the router". The
/// first call in a process also says so on standard error (once, so a misconfigured route
/// under load does not flood it).
pub(crate) fn not_installed(fix: &str) -> Response<Bytes> {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| eprintln!("canister: a route ran without canister installed: {fix}"));
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("canister is not installed on this route: {fix}\n"),
    )
}
