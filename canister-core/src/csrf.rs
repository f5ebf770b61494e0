//! CSRF: refuse unsafe cross-site requests that would ride on the session cookie.

use http::header::{self, HeaderValue};
use http::request::Parts;
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

    /// Checks a request that carries the session cookie. `Err(origin)` when it must be
    /// refused: an unsafe method from another site whose origin is not trusted.
    ///
    /// Another site is told by `Sec-Fetch-Site: cross-site`, or, when the browser sends no
    /// `Sec-Fetch-Site`, by an `Origin` that is not the request's own. Requests with neither
    /// header (curl, servers) pass.
    pub(crate) fn check<'a>(
        &self,
        parts: &'a Parts,
        own_origin: &dyn Fn() -> Option<String>,
        cors: &Cors,
    ) -> Result<(), &'a str> {
        if !self.enabled || is_safe(&parts.method) {
            return Ok(());
        }
        let origin = parts.headers.get(header::ORIGIN);
        let origin_str = origin.map(|o| o.to_str().unwrap_or("(not ascii)"));
        let trusted = |o: &str| {
            o != "null" && (self.trusted.iter().any(|t| t.eq_ignore_ascii_case(o)) || cors.lists(o))
        };
        match parts
            .headers
            .get("sec-fetch-site")
            .map(HeaderValue::as_bytes)
        {
            Some(b"cross-site") => match origin_str {
                Some(o) if trusted(o) => Ok(()),
                Some(o) => Err(o),
                None => Err("(none, Sec-Fetch-Site: cross-site)"),
            },
            Some(_) => Ok(()),
            None => match origin_str {
                None => Ok(()),
                Some(o) => {
                    let same = own_origin().is_some_and(|own| own.eq_ignore_ascii_case(o));
                    if same || trusted(o) {
                        Ok(())
                    } else {
                        Err(o)
                    }
                }
            },
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}
