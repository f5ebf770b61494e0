//! `cors_csrf`: CORS preflights and response headers, and the CSRF refusal, through `enter`
//! and `finish` on arbitrary `Origin`, `Sec-Fetch-Site`, `Referer`, `Host`, forwarding headers
//! and methods.
//!
//! Input: first byte picks one of five configurations (`0` to `4` in text seeds: CORS off,
//! `*` or a list, with or without credentials, CSRF on or off, trusted origins, another
//! cookie name); then lines: the method, the URI, and `name: value` headers.
//!
//! Checked against a model written from the documentation: a 204 preflight exactly for
//! `OPTIONS` with `Access-Control-Request-Method` and an `Origin` (CORS on), with the right
//! headers from an allowed origin and no `Access-Control-*` header from another; a 403 exactly for an unsafe method, cookie or not, from another origin
//! (`Sec-Fetch-Site` other than `same-origin`/`none`, or no `Sec-Fetch-Site` and an `Origin`
//! whose host and port are not the request's own) whose origin is not trusted; otherwise the request proceeds, and the
//! response's `Access-Control-Allow-Origin` is `*`, the listed origin echoed, or absent, never
//! `*` with credentials, never an origin that is not listed.

use std::sync::OnceLock;

use canister_core::{session::MemoryStore, Canister, Entry, Finish};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};

use super::common::{block_on, config};

/// What the model knows of a configuration.
struct Case {
    engine: Canister<MemoryStore, (), ()>,
    any: bool,
    list: &'static [&'static str],
    credentials: bool,
    csrf: bool,
    trusted: &'static [&'static str],
}

impl Case {
    fn cors_on(&self) -> bool {
        self.any || !self.list.is_empty()
    }

    fn listed(&self, origin: &str) -> bool {
        self.list.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Whether an origin header gets `Access-Control-Allow-Origin`.
    fn allowed(&self, origin: Option<&HeaderValue>) -> bool {
        self.any
            || origin
                .and_then(|o| o.to_str().ok())
                .is_some_and(|o| self.listed(o))
    }

    fn trusted(&self, origin: &str) -> bool {
        origin != "null"
            && (self.trusted.iter().any(|t| t.eq_ignore_ascii_case(origin)) || self.listed(origin))
    }
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let case = |ini: &str,
                    any: bool,
                    list: &'static [&'static str],
                    credentials: bool,
                    csrf: bool,
                    trusted: &'static [&'static str]| {
            let engine = Canister::builder()
                .config(config(ini))
                .store(MemoryStore::new())
                .authenticator(())
                .log_sink(())
                .build();
            match engine {
                Ok(engine) => Case {
                    engine,
                    any,
                    list,
                    credentials,
                    csrf,
                    trusted,
                },
                Err(error) => panic!("cors fixture: {error}"),
            }
        };
        vec![
            case("", false, &[], false, true, &[]),
            case(
                "cors = https://app.example, http://localhost:8080\ncors_credentials = true\n\
                 csrf_trusted_origins = https://trusted.example\n",
                false,
                &["https://app.example", "http://localhost:8080"],
                true,
                true,
                &["https://trusted.example"],
            ),
            case("cors = *\n", true, &[], false, true, &[]),
            case(
                "cors = https://app.example\ncsrf = false\ncors_headers = x-token, content-type\n\
                 cors_expose_headers = x-total\ncors_max_age = 600\n",
                false,
                &["https://app.example"],
                false,
                false,
                &[],
            ),
            case(
                "session_cookie = sid\ncors = https://app.example\n\
                 csrf_trusted_origins = https://partner.example, http://[::1]:8080\n",
                false,
                &["https://app.example"],
                false,
                true,
                &["https://partner.example", "http://[::1]:8080"],
            ),
        ]
    })
}

/// The request's own authority: the URI's, else `Host`.
fn own_host(parts: &Parts) -> Option<&str> {
    match parts.uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => parts.headers.get(header::HOST)?.to_str().ok(),
    }
}

/// Whether `origin` is `http(s)://host[:port]` with the host and port (the scheme's default
/// when absent) of the request's own authority.
fn same_host(parts: &Parts, origin: &str) -> bool {
    let Ok(uri) = origin.parse::<http::Uri>() else {
        return false;
    };
    let default = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return false,
    };
    // Exactly scheme://authority: nothing after it (a path that happens to end with the
    // authority's last characters included), no user information.
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    if origin.len() != scheme.len() + "://".len() + authority.as_str().len()
        || !origin.ends_with(authority.as_str())
        || authority.as_str().contains('@')
    {
        return false;
    }
    let Some(own) = own_host(parts).and_then(|h| h.parse::<http::uri::Authority>().ok()) else {
        return false;
    };
    !own.as_str().contains('@')
        && own.host().eq_ignore_ascii_case(authority.host())
        && own.port_u16().unwrap_or(default) == authority.port_u16().unwrap_or(default)
}

/// Whether the model refuses the request as a CSRF: every unsafe method, cookie or not;
/// `Sec-Fetch-Site` `same-origin`/`none` passes, any other value needs a trusted `Origin`;
/// without it, an `Origin` of the request's own host and port or a trusted one passes; no
/// `Origin` and no `Sec-Fetch-Site` passes.
fn csrf_refuses(case: &Case, parts: &Parts) -> bool {
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !case.csrf || safe {
        return false;
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("(not ascii)"));
    match parts
        .headers
        .get("sec-fetch-site")
        .map(HeaderValue::as_bytes)
    {
        Some(b"same-origin" | b"none") => false,
        Some(_) => !origin.is_some_and(|o| case.trusted(o)),
        None => match origin {
            None => false,
            Some(o) => !same_host(parts, o) && !case.trusted(o),
        },
    }
}

/// Checks the CORS headers of a response that is not a preflight.
fn check_cors(case: &Case, origin: Option<&HeaderValue>, headers: &HeaderMap) {
    let allow = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    let credentials = headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    let vary_origin = headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"origin"));
    if !case.cors_on() {
        assert!(
            allow.is_none() && credentials.is_none() && !vary_origin,
            "CORS is off"
        );
        return;
    }
    if case.any {
        assert_eq!(
            allow.map(HeaderValue::as_bytes),
            Some(&b"*"[..]),
            "CORS = *"
        );
        assert!(credentials.is_none(), "credentials with *");
        return;
    }
    assert!(
        vary_origin,
        "a listed-origins response without Vary: Origin"
    );
    if case.allowed(origin) {
        assert_eq!(allow, origin, "the listed origin is not echoed");
        assert_eq!(
            credentials.is_some(),
            case.credentials,
            "Access-Control-Allow-Credentials"
        );
    } else {
        assert!(allow.is_none(), "an unlisted origin allowed");
        assert!(credentials.is_none(), "credentials for an unlisted origin");
    }
}

/// Builds the request of an input, or `None` when `http` refuses a part of it.
fn request(data: &[u8]) -> Option<Parts> {
    let mut lines = super::common::lines(data);
    let method = Method::from_bytes(lines.next()?).ok()?;
    let uri = http::Uri::try_from(lines.next().unwrap_or(b"/")).ok()?;
    let mut request = Request::builder().method(method).uri(uri);
    for line in lines.take(32) {
        let (name, value) = super::common::split_once(line, b":");
        let name = HeaderName::from_bytes(name).ok()?;
        let value = value.unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        request = request.header(name, HeaderValue::from_bytes(value).ok()?);
    }
    Some(request.body(()).ok()?.into_parts().0)
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let choice = if choice.is_ascii_digit() {
        choice - b'0'
    } else {
        choice
    };
    let case = &cases()[usize::from(choice) % cases().len()];
    let Some(parts) = request(rest) else {
        return;
    };
    let origin = parts.headers.get(header::ORIGIN);
    let any_preflight = case.cors_on()
        && parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && origin.is_some();
    let preflight = any_preflight && case.allowed(origin);
    // Issue #17: a preflight from an origin that is not allowed is answered too (204, no
    // CORS header), not left to the router.
    let stranger_preflight = any_preflight && !preflight;
    let refused = !any_preflight && csrf_refuses(case, &parts);

    match block_on(case.engine.enter(&parts, None)) {
        Entry::Respond(response) => {
            if response.status() == StatusCode::NO_CONTENT && stranger_preflight {
                let granted = response
                    .headers()
                    .keys()
                    .any(|name| name.as_str().starts_with("access-control-"));
                assert!(
                    !granted,
                    "a preflight from a stranger was granted something"
                );
            } else if response.status() == StatusCode::NO_CONTENT {
                assert!(preflight, "an unexpected preflight answer");
                let headers = response.headers();
                let allow = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
                if case.any {
                    assert_eq!(allow.map(HeaderValue::as_bytes), Some(&b"*"[..]));
                } else {
                    assert_eq!(allow, origin, "preflight: the origin is not echoed");
                }
                assert!(headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
                assert_eq!(
                    headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
                    case.credentials,
                    "preflight credentials"
                );
            } else {
                assert_eq!(
                    response.status(),
                    StatusCode::FORBIDDEN,
                    "unexpected answer"
                );
                assert!(refused, "a CSRF refusal the model does not expect");
                check_cors(case, origin, response.headers());
            }
        }
        Entry::Proceed(visit) => {
            assert!(!preflight, "an allowed preflight was not answered");
            assert!(
                !stranger_preflight,
                "a stranger's preflight reached the router"
            );
            assert!(!refused, "a cross-origin unsafe request went through");
            let (mut response, ()) = Response::new(()).into_parts();
            match block_on(case.engine.finish(visit, &mut response)) {
                Finish::Keep => {}
                Finish::ReplaceBody(body) => panic!("memory store failed: {body:?}"),
            }
            check_cors(case, origin, &response.headers);
        }
    }
}
