//! Authentication: from an `Authorization` header to a [`User`].
//!
//! An [`Authenticator`] looks at the request's credentials ([`Credentials`], the two words of
//! the `Authorization` header) and answers with an [`AuthOutcome`]: the user, a refusal with a
//! reason, or "not my scheme". It also contributes its `WWW-Authenticate` challenge to a 401.
//!
//! The engine runs the configured authenticator once per request, in
//! [`Canister::enter`](crate::Canister::enter).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use http::HeaderValue;
use serde::{Deserialize, Serialize};

/// Claims of a JSON Web Token, as a JSON object.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// An authenticated user: a name and, for a JWT, its claims.
///
/// The name is the Basic username, the name given to a form login
/// ([`Session::login`](crate::Session::login)), or the JWT `sub` claim.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claims: Option<Claims>,
}

impl User {
    /// A user known by name only (Basic or form login).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            claims: None,
        }
    }

    /// This user, authenticated by a token carrying `claims`.
    pub fn with_claims(mut self, claims: Claims) -> Self {
        self.claims = Some(claims);
        self
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token's claims; `None` for Basic and form logins.
    pub fn claims(&self) -> Option<&Claims> {
        self.claims.as_ref()
    }

    /// Whether the token grants `scope`: its `scope` claim (a space-separated string, RFC
    /// 8693 section 4.2; Keycloak, Auth0) or `scp` claim (a string or an array of strings;
    /// Entra ID, Okta) lists it. Always `false` for Basic and form logins.
    ///
    /// ```
    /// use canister_core::{auth::Claims, auth::User};
    ///
    /// let claims: Claims = serde_json::from_str(r#"{"scope": "openid orders:read"}"#).unwrap();
    /// let user = User::new("alice").with_claims(claims);
    /// assert!(user.has_scope("orders:read"));
    /// assert!(!user.has_scope("orders:write"));
    /// assert!(!User::new("bob").has_scope("orders:read"));
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        let Some(claims) = &self.claims else {
            return false;
        };
        ["scope", "scp"].iter().any(|name| match claims.get(*name) {
            Some(serde_json::Value::String(list)) => list.split(' ').any(|s| s == scope),
            Some(serde_json::Value::Array(list)) => list.iter().any(|s| s.as_str() == Some(scope)),
            _ => false,
        })
    }

    /// Whether the claim `name` is `value`, or an array containing it (e.g. `roles` holding
    /// `admin`). Always `false` for Basic and form logins.
    pub fn has_claim(&self, name: &str, value: &str) -> bool {
        match self.claims.as_ref().and_then(|c| c.get(name)) {
            Some(serde_json::Value::String(s)) => s == value,
            Some(serde_json::Value::Array(list)) => list.iter().any(|s| s.as_str() == Some(value)),
            _ => false,
        }
    }

    /// `Ok` when the token grants `scope` ([`has_scope`](Self::has_scope)); else
    /// [`Rejection::InsufficientScope`](crate::Rejection::InsufficientScope), the 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (RFC 6750 section
    /// 3.1). Each adapter's `User` has the same method returning its framework's error.
    ///
    /// # Errors
    ///
    /// The 403 when the scope is missing.
    pub fn require_scope(&self, scope: &str) -> Result<(), crate::Rejection> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(crate::Rejection::insufficient_scope(scope))
        }
    }
}

impl fmt::Debug for User {
    /// Shows the name and the names of the claims, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("User");
        d.field("name", &self.name);
        if let Some(claims) = &self.claims {
            d.field("claims", &claims.keys().collect::<Vec<_>>());
        }
        d.finish()
    }
}

/// The two words of an `Authorization` header: a scheme and its token.
///
/// `Debug` never shows the token.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    scheme: &'a str,
    token: &'a str,
}

impl<'a> Credentials<'a> {
    /// Splits an `Authorization` header value into scheme and token.
    ///
    /// # Errors
    ///
    /// A refusal (scheme `"-"`) when the value is not visible ASCII or not exactly two words.
    pub fn parse(value: &'a HeaderValue) -> Result<Self, Refusal> {
        let text = value
            .to_str()
            .map_err(|_| Refusal::new("-", "authorization header is not visible ascii"))?;
        let mut words = text.split_ascii_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(scheme), Some(token), None) => Ok(Self { scheme, token }),
            (Some(scheme), None, _) => Err(Refusal::new(
                scheme_label(scheme),
                "authorization header has a scheme but no credentials",
            )),
            _ => Err(Refusal::new(
                "-",
                "authorization header must be two words: <scheme> <credentials>",
            )),
        }
    }

    /// Credentials made of a scheme and a token (used by tests and custom parsers).
    pub fn new(scheme: &'a str, token: &'a str) -> Self {
        Self { scheme, token }
    }

    /// The scheme as sent (`Basic`, `Bearer`, ...).
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// Whether the scheme is `name`, compared case-insensitively (RFC 9110 section 11.1).
    pub fn is_scheme(&self, name: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(name)
    }

    /// The credentials after the scheme. Secret: never log it.
    pub fn token(&self) -> &'a str {
        self.token
    }
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// What an [`Authenticator`] concluded about a request's credentials.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    /// The credentials are valid and belong to this user.
    Authenticated(User),
    /// The credentials are for this authenticator's scheme but wrong, expired or malformed.
    Refused(Refusal),
    /// The credentials are for another scheme: the next authenticator of a chain is asked.
    NotMine,
}

/// Why credentials were refused: the scheme and a reason that never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    scheme: Cow<'static, str>,
    reason: Cow<'static, str>,
    unavailable: bool,
}

impl Refusal {
    /// A refusal of `scheme` credentials for `reason` (which must not contain the credential).
    pub fn new(scheme: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            scheme: scheme.into(),
            reason: reason.into(),
            unavailable: false,
        }
    }

    /// Credentials that cannot be checked now, for a reason on the server's side (the
    /// identity provider's keys were never fetched): the request gets 503 with
    /// `Retry-After`, not 401, so that clients retry instead of dropping their token.
    pub fn unavailable(
        scheme: impl Into<Cow<'static, str>>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            unavailable: true,
            ..Self::new(scheme, reason)
        }
    }

    /// Whether the credentials could not be checked (see [`unavailable`](Self::unavailable)).
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The scheme that refused (`Basic`, `Bearer`, or `-` when the header could not be parsed).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The reason, safe to log and to send in a challenge's `error_description`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} credentials refused: {}", self.scheme, self.reason)
    }
}

/// Turns the credentials of a request into a user, and describes itself in 401 challenges.
///
/// Implementations exist for [`Basic`], [`Jwt`], chains (tuples and `Vec<Box<dyn
/// DynAuthenticator>>`), closures through [`FnAuthenticator`], and `()` (nobody is ever
/// authenticated).
pub trait Authenticator: Send + Sync + 'static {
    /// Checks the request's credentials.
    fn authenticate<'a>(
        &'a self,
        credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a;

    /// Checks a username and password given some other way than a header (a login form).
    ///
    /// The default answers [`AuthOutcome::NotMine`]: this authenticator has no passwords.
    fn verify_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        let _ = (username, password);
        std::future::ready(AuthOutcome::NotMine)
    }

    /// Appends this authenticator's `WWW-Authenticate` challenges for a 401.
    ///
    /// `refusal` is the reason the request's own credentials were refused, if they were; a
    /// Bearer challenge then carries `error="invalid_token"`.
    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>);
}

impl Authenticator for () {
    fn authenticate<'a>(
        &'a self,
        _credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        std::future::ready(AuthOutcome::NotMine)
    }

    fn challenges(&self, _refusal: Option<&Refusal>, _out: &mut Vec<HeaderValue>) {}
}

fn scheme_label(scheme: &str) -> Cow<'static, str> {
    if scheme.eq_ignore_ascii_case("basic") {
        Cow::Borrowed("Basic")
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Cow::Borrowed("Bearer")
    } else {
        Cow::Borrowed("-")
    }
}

/// `s` made safe inside a quoted-string of a header: `"` and `\` escaped, controls replaced.
pub(crate) fn quoted_string_content(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

mod basic;
mod chain;
mod configured;
mod custom;
mod error;
mod issuers;
mod jwks;
mod jwt;

pub(crate) use basic::basic_username;
pub use basic::{Basic, MAX_BCRYPT_COST};
pub use chain::{AuthFuture, DynAuthenticator};
pub use configured::DefaultAuthenticator;
pub use custom::FnAuthenticator;
pub use error::AuthError;
pub use issuers::Issuers;
pub use jwks::{
    cache_max_age, Discovery, FetchFailure, Jwk, JwkSet, JwksCache, JwksError, KeyKind,
    RefreshPolicy, MAX_DOCUMENT_LEN, MAX_RETRY, MIN_MAX_AGE, RETRY_AFTER_SECS,
    UNKNOWN_KID_INTERVAL,
};
pub(crate) use jwt::{min_secret_len, secret_len};
pub use jwt::{Jwt, JwtBuilder};
