//! The session cookie: finding it in a request, writing it in a response.

use http::header::{self, HeaderMap, HeaderValue};

use crate::config::{CookieSecure, CookieSettings, SameSite};
use crate::session::SessionId;
use std::time::Duration;

/// Cookies a request carries under the session cookie's name.
#[derive(Debug)]
pub(crate) enum RequestCookie {
    /// No session cookie.
    Absent,
    /// Session cookies whose values are not ids canister could have issued.
    Malformed {
        /// How many session cookies the request carried.
        count: usize,
    },
    /// Well-formed ids (not yet known to be live), in the order the browser sent them: the
    /// first live one is the session.
    Ids {
        /// At most [`MAX_CANDIDATES`] ids.
        ids: Candidates,
        /// How many session cookies the request carried, well-formed or not.
        count: usize,
    },
}

/// The well-formed ids of a request's session cookies, in order: the first held inline, so a
/// request with one cookie (nearly all) allocates nothing for them; the others (cookie
/// tossing, rare) in a `Vec`. Not all of them inline: that made the visit's one allocation
/// larger than glibc's thread cache serves (1 KiB), which costs more than the `Vec` of the
/// rare request.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    first: Option<SessionId>,
    more: Vec<SessionId>,
}

impl Candidates {
    /// The ids, in the order the browser sent them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SessionId> {
        self.first.iter().chain(self.more.iter())
    }

    /// Adds `id` after the others, unless [`MAX_CANDIDATES`] are held.
    fn push(&mut self, id: SessionId) {
        if self.first.is_none() {
            self.first = Some(id);
        } else if self.len() < MAX_CANDIDATES {
            self.more.push(id);
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }
}

/// How many well-formed session cookies of one request are looked up at most.
///
/// A browser sends several cookies of one name when a sibling subdomain set one with a
/// `Domain` or a longer `Path` (cookie tossing); a real browser holds a handful at most.
pub(crate) const MAX_CANDIDATES: usize = 4;

impl RequestCookie {
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, RequestCookie::Absent)
    }

    /// Whether the request carried exactly one session cookie: only then may a response
    /// clear it (clearing, with our own `Path` and `Domain`, could hit the user's real
    /// cookie when another one came first).
    pub(crate) fn is_single(&self) -> bool {
        match self {
            RequestCookie::Absent => false,
            RequestCookie::Malformed { count } | RequestCookie::Ids { count, .. } => *count == 1,
        }
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
    pub(crate) fn new(cookie: &CookieSettings, timeout: Option<Duration>) -> Self {
        let mut attributes = format!("; Path={}; HttpOnly", cookie.path);
        attributes.push_str(match cookie.same_site {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
            SameSite::None => "; SameSite=None",
        });
        if let Some(domain) = &cookie.domain {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        if cookie.partitioned {
            attributes.push_str("; Partitioned");
        }
        let max_age = cookie
            .persistent
            .then(|| timeout.map_or(FOREVER, |t| t.as_secs().max(1)));
        Self {
            name: cookie.name.clone(),
            attributes,
            secure: cookie.secure,
            max_age,
        }
    }

    /// Finds the session cookies among the request's `Cookie` headers.
    pub(crate) fn find(&self, headers: &HeaderMap) -> RequestCookie {
        let mut count = 0;
        let mut ids = Candidates::default();
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
                count += 1;
                let value = value.trim().trim_matches('"');
                if ids.len() < MAX_CANDIDATES {
                    if let Some(id) = SessionId::parse(value) {
                        if !ids.iter().any(|known| *known == id) {
                            ids.push(id);
                        }
                    }
                }
            }
        }
        match (count, ids.len() == 0) {
            (0, _) => RequestCookie::Absent,
            (_, true) => RequestCookie::Malformed { count },
            (_, false) => RequestCookie::Ids { ids, count },
        }
    }

    /// The `Set-Cookie` value for an action, if any. `remembered`: the session is a
    /// remembered login, whose cookie is persistent with this `Max-Age` in seconds.
    pub(crate) fn render(
        &self,
        action: &CookieAction,
        secure_request: bool,
        remembered: Option<u64>,
    ) -> Option<HeaderValue> {
        if matches!(action, CookieAction::None) {
            // Before the buffer: most responses send no cookie and allocate nothing here.
            return None;
        }
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
                if let Some(max_age) = remembered.map(|s| s.max(1)).or(self.max_age) {
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

/// The value of the first cookie named `name` among the request's `Cookie` headers
/// (`auth_jwt_cookie`), without surrounding quotes; `None` when absent or empty.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}
