//! The session cookie: finding it in a request, writing it in a response.

use http::header::{self, HeaderMap, HeaderValue};

use crate::config::{Config, CookieSecure, SameSite};
use crate::session::SessionId;

/// Cookies a request carries under the session cookie's name.
#[derive(Debug)]
pub(crate) enum RequestCookie {
    /// No session cookie.
    Absent,
    /// A session cookie whose value is not an id canister could have issued.
    Malformed,
    /// A well-formed id (not yet known to be live).
    Id(SessionId),
}

impl RequestCookie {
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, RequestCookie::Absent)
    }
}

/// What `finish` does to the cookie.
#[derive(Debug)]
pub(crate) enum CookieAction {
    None,
    Set(SessionId),
    Clear,
}

/// The cookie's settings, with the constant attributes rendered once.
#[derive(Debug, Clone)]
pub(crate) struct CookieSpec {
    name: String,
    /// `; Path=/; HttpOnly; SameSite=Lax` plus Domain.
    attributes: String,
    secure: CookieSecure,
    max_age: Option<u64>,
}

/// Browsers cap cookie lifetimes at 400 days; a session that never expires gets that.
const FOREVER: u64 = 400 * 24 * 3600;

impl CookieSpec {
    pub(crate) fn from_config(config: &Config) -> Self {
        let mut attributes = format!("; Path={}; HttpOnly", config.session_cookie_path);
        attributes.push_str(match config.session_cookie_samesite {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
            SameSite::None => "; SameSite=None",
        });
        if let Some(domain) = &config.session_cookie_domain {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        let max_age = config.session_cookie_persistent.then(|| {
            config
                .session_timeout
                .map_or(FOREVER, |t| t.as_secs().max(1))
        });
        Self {
            name: config.session_cookie.clone(),
            attributes,
            secure: config.session_cookie_secure,
            max_age,
        }
    }

    /// Finds the session cookie among the request's `Cookie` headers.
    pub(crate) fn find(&self, headers: &HeaderMap) -> RequestCookie {
        let mut found = RequestCookie::Absent;
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else {
                continue;
            };
            for pair in text.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                if name.trim() != self.name {
                    continue;
                }
                let value = value.trim().trim_matches('"');
                match SessionId::parse(value) {
                    Some(id) => return RequestCookie::Id(id),
                    None => found = RequestCookie::Malformed,
                }
            }
        }
        found
    }

    /// The `Set-Cookie` value for an action, if any.
    pub(crate) fn render(
        &self,
        action: &CookieAction,
        secure_request: bool,
    ) -> Option<HeaderValue> {
        let secure = match self.secure {
            CookieSecure::Auto => secure_request,
            CookieSecure::Always => true,
            CookieSecure::Never => false,
        };
        let mut out = String::with_capacity(128);
        out.push_str(&self.name);
        out.push('=');
        match action {
            CookieAction::None => return None,
            CookieAction::Set(id) => {
                out.push_str(id.as_str());
                out.push_str(&self.attributes);
                if let Some(max_age) = self.max_age {
                    out.push_str("; Max-Age=");
                    out.push_str(&max_age.to_string());
                }
            }
            CookieAction::Clear => {
                out.push_str(&self.attributes);
                out.push_str("; Max-Age=0");
            }
        }
        if secure {
            out.push_str("; Secure");
        }
        HeaderValue::from_str(&out).ok()
    }
}
