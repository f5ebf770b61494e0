//! [`Rejection`]: why canister answers a request instead of its handler.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Response, StatusCode};

use crate::params::ParamsError;
use crate::response as responses;

/// Why canister answers instead of the handler: the error of every [`Visit`](crate::Visit)
/// method and of the adapters' extractors, guards and filters.
///
/// One type for every adapter: each wraps it once in its framework's error idiom (axum's
/// `IntoResponse`, Rocket's `Responder`, warp's `Reject`, actix-web's `ResponseError`), and
/// [`into_response`](Self::into_response) gives the same bytes on all of them. An
/// application can tell the cases apart (`match`) instead of reading a status code.
///
/// # Examples
///
/// ```
/// use canister_core::Rejection;
/// use http::StatusCode;
///
/// let rejection = Rejection::insufficient_scope("orders:read");
/// assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
/// let response = rejection.into_response();
/// assert!(response.headers()["www-authenticate"]
///     .to_str()
///     .unwrap()
///     .contains("insufficient_scope"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Rejection {
    /// The session store could not be used (503 with `Retry-After`). The store's error was
    /// logged where it happened.
    StoreUnavailable,
    /// No user, and the route needs one (401 with one `WWW-Authenticate` challenge per
    /// configured scheme).
    Unauthenticated {
        /// The `WWW-Authenticate` values.
        challenges: Vec<HeaderValue>,
    },
    /// A bearer token could not be checked: the identity provider's keys were never fetched
    /// (503 with `Retry-After`).
    AuthUnavailable,
    /// The user's token does not grant the scope the route needs (403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"`, RFC 6750 section 3.1).
    InsufficientScope {
        /// The scope that was missing.
        scope: String,
    },
    /// The parameters are missing or malformed (400 naming the problem).
    BadParams(ParamsError),
    /// The request body is longer than the limit (413).
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request body could not be read to its end (400).
    UnreadableBody,
    /// Too many failed password checks for this user name or from this client
    /// (`auth_throttle`, `auth_throttle_ip`): 429 with `Retry-After`, and the password was
    /// not checked.
    Throttled {
        /// How long until the window ends (`Retry-After`, whole seconds).
        retry_after: Duration,
    },
    /// The route asked for canister's visit but the adapter is not installed on it (500).
    NotInstalled {
        /// What the developer should add, e.g. "add `CanisterLayer` to the router".
        fix: &'static str,
    },
}

impl Rejection {
    /// The 403 for a token that does not grant `scope`.
    pub fn insufficient_scope(scope: &str) -> Self {
        Self::InsufficientScope {
            scope: scope.to_owned(),
        }
    }

    /// The status code of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::StoreUnavailable | Self::AuthUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::BadParams(_) | Self::UnreadableBody => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotInstalled { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response to send: the same status, headers and body on every adapter.
    pub fn into_response(self) -> Response<Bytes> {
        match self {
            Self::StoreUnavailable => responses::store_unavailable(),
            Self::Unauthenticated { challenges } => responses::unauthorized(challenges),
            Self::AuthUnavailable => responses::auth_unavailable(),
            Self::InsufficientScope { scope } => responses::insufficient_scope(&scope),
            Self::BadParams(error) => responses::bad_params(&error),
            Self::PayloadTooLarge { limit } => responses::payload_too_large(limit),
            Self::UnreadableBody => responses::unreadable_body(),
            Self::Throttled { retry_after } => responses::throttled(retry_after),
            Self::NotInstalled { fix } => responses::not_installed(fix),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StoreUnavailable => f.write_str("session store unavailable"),
            Self::Unauthenticated { .. } => f.write_str("authentication required"),
            Self::AuthUnavailable => f.write_str("token keys unavailable"),
            Self::InsufficientScope { scope } => write!(f, "insufficient scope: needs {scope}"),
            Self::BadParams(error) => write!(f, "bad parameters: {error}"),
            Self::PayloadTooLarge { limit } => {
                write!(f, "request body larger than {limit} bytes")
            }
            Self::UnreadableBody => f.write_str("could not read the request body"),
            Self::Throttled { retry_after } => write!(
                f,
                "too many failed logins: retry in {} s",
                retry_after.as_secs().max(1)
            ),
            Self::NotInstalled { fix } => write!(f, "canister is not installed: {fix}"),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::BadParams(error) => Some(error),
            _ => None,
        }
    }
}

impl From<ParamsError> for Rejection {
    fn from(error: ParamsError) -> Self {
        Self::BadParams(error)
    }
}
