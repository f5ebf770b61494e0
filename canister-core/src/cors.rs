//! CORS: compiled from the configuration, applied as plain functions of the request's parts.
//!
//! A preflight is granted the request headers of `cors_headers`, by default
//! [`DEFAULT_CORS_HEADERS`] (the CORS-safelisted ones and `authorization`), never an echo of
//! what it asked for unless `cors_headers = *` says so.
//!
//! A preflight from an origin that is not allowed is answered too, 204 without any
//! `Access-Control-*` header, so the browser blocks the real request. The application's
//! router never sees it: before, it answered with whatever the router does for `OPTIONS`
//! (405 in axum). tower-http's `CorsLayer` likewise answers every preflight itself (200,
//! `Access-Control-Allow-Origin` left out for a stranger); we answer 204 as for an allowed
//! origin, and send no allowed methods or headers either, as a stranger has no use for them.
//! A 403 would serve no one: browsers do not show a preflight's status to scripts.

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::Method;

use crate::adapter::ResponseHead;
use crate::config::{CorsOrigins, CorsSettings, DEFAULT_CORS_HEADERS};

/// The CORS rules, compiled once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    origins: CorsOrigins,
    allow_methods: HeaderValue,
    allow_headers: AllowHeaders,
    expose_headers: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

/// The request headers a preflight is granted.
#[derive(Debug, Clone)]
enum AllowHeaders {
    /// This list, whatever the preflight asked for (`cors_headers`, or
    /// [`DEFAULT_CORS_HEADERS`] when unset); `None` when the list is empty.
    List(Option<HeaderValue>),
    /// Whatever the preflight asked for (`cors_headers = *`).
    Mirror,
}

/// What the CORS rules say about an `OPTIONS` request.
#[derive(Debug)]
pub(crate) enum Preflight<'a> {
    /// Not a preflight (or CORS is off): the request goes on to the application.
    None,
    /// A preflight from an allowed origin: answer 204 with these headers.
    Allowed(HeaderMap),
    /// A preflight from an origin that is not allowed (its `Origin`, lossily as text):
    /// answer 204 without CORS headers, so the browser blocks the request.
    Refused(std::borrow::Cow<'a, str>),
}

/// What the CORS rules say about a request.
#[derive(Debug)]
pub(crate) enum CorsVerdict {
    /// CORS is off: add nothing.
    Off,
    /// Add these headers to the response.
    Allow(HeaderValue),
    /// The origin is not allowed (or absent): only `Vary: Origin` for caches.
    Deny,
}

const VARY_PREFLIGHT: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

impl Cors {
    pub(crate) fn new(settings: &CorsSettings) -> Self {
        let join = |names: &mut dyn Iterator<Item = &str>| {
            let s = names.collect::<Vec<_>>().join(", ");
            (!s.is_empty())
                .then(|| HeaderValue::from_str(&s).ok())
                .flatten()
        };
        Self {
            origins: settings.origins.clone(),
            allow_methods: join(&mut settings.methods.iter().map(Method::as_str))
                .unwrap_or_else(|| HeaderValue::from_static("GET, HEAD, POST")),
            allow_headers: match settings.headers.as_deref() {
                Some(list) if list.iter().any(|h| h == "*") => AllowHeaders::Mirror,
                list => AllowHeaders::List(join(
                    &mut list
                        .unwrap_or(&DEFAULT_CORS_HEADERS)
                        .iter()
                        .map(|n| n.as_str()),
                )),
            },
            expose_headers: join(&mut settings.expose_headers.iter().map(|n| n.as_str())),
            credentials: settings.credentials,
            max_age: settings.max_age.map(HeaderValue::from),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.origins != CorsOrigins::Disabled
    }

    /// Whether `origin` is in the allow-list by name (not through `*`).
    pub(crate) fn lists(&self, origin: &str) -> bool {
        match &self.origins {
            CorsOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            _ => false,
        }
    }

    fn verdict(&self, origin: Option<&HeaderValue>) -> CorsVerdict {
        match &self.origins {
            CorsOrigins::Disabled => CorsVerdict::Off,
            CorsOrigins::Any => CorsVerdict::Allow(HeaderValue::from_static("*")),
            CorsOrigins::List(_) => match origin {
                Some(o) if o.to_str().is_ok_and(|s| self.lists(s)) => CorsVerdict::Allow(o.clone()),
                _ => CorsVerdict::Deny,
            },
        }
    }

    /// Whether the request is a preflight, and if so what to answer: `OPTIONS` with
    /// `Origin` and `Access-Control-Request-Method`, with CORS on.
    pub(crate) fn preflight<'p>(&self, parts: &'p Parts) -> Preflight<'p> {
        if !self.enabled()
            || parts.method != Method::OPTIONS
            || !parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Preflight::None;
        }
        let Some(origin) = parts.headers.get(header::ORIGIN) else {
            return Preflight::None;
        };
        let CorsVerdict::Allow(allow_origin) = self.verdict(Some(origin)) else {
            return Preflight::Refused(String::from_utf8_lossy(origin.as_bytes()));
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.allow_methods.clone(),
        );
        let requested = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS);
        // The allowed list goes out whole, whatever was asked (as tower-http's
        // `AllowHeaders::list`); only `cors_headers = *` echoes the request.
        let allowed = match &self.allow_headers {
            AllowHeaders::List(list) => list.as_ref(),
            AllowHeaders::Mirror => requested,
        };
        if let Some(allowed) = allowed {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
        }
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(max_age) = &self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        headers.insert(header::VARY, HeaderValue::from_static(VARY_PREFLIGHT));
        Preflight::Allowed(headers)
    }

    /// The headers of the answer to a refused preflight: only `Vary`, for caches.
    pub(crate) fn refused_preflight_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static(VARY_PREFLIGHT));
        headers
    }

    /// Adds the CORS headers of a (non-preflight) response for a request from `origin`.
    pub(crate) fn apply<H: ResponseHead + ?Sized>(
        &self,
        origin: Option<&HeaderValue>,
        head: &mut H,
    ) {
        match self.verdict(origin) {
            CorsVerdict::Off => {}
            CorsVerdict::Deny => {
                head.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            CorsVerdict::Allow(allow_origin) => {
                let listed = allow_origin != "*";
                head.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
                if listed {
                    head.append(header::VARY, HeaderValue::from_static("Origin"));
                }
                if self.credentials {
                    head.insert(
                        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
                if let Some(expose) = &self.expose_headers {
                    head.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
                }
            }
        }
    }
}
