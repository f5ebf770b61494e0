//! Authenticators made of a closure.

use std::fmt;
use std::future::Future;

use http::HeaderValue;

use super::{AuthOutcome, Authenticator, Credentials, Refusal};

/// An authenticator made of a synchronous closure from [`Credentials`] to [`AuthOutcome`].
///
/// The closure sees every request's credentials (scheme and token): answer
/// [`AuthOutcome::NotMine`] for the schemes it does not handle, so that a chain goes on to the
/// next authenticator. It offers no challenge unless given one with
/// [`with_challenge`](Self::with_challenge). For a username and password check, prefer
/// [`Basic::from_check`](super::Basic::from_check), which parses Basic credentials for you; for
/// a check that does I/O, implement [`Authenticator`] on your own type.
///
/// # Examples
///
/// An API key scheme:
///
/// ```
/// use canister_core::auth::{AuthOutcome, Authenticator, Credentials, FnAuthenticator, Refusal, User};
/// use http::HeaderValue;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let api_key = FnAuthenticator::new(|credentials: &Credentials<'_>| {
///     if !credentials.is_scheme("ApiKey") {
///         AuthOutcome::NotMine
///     } else if credentials.token() == "k-123" {
///         AuthOutcome::Authenticated(User::new("robot"))
///     } else {
///         AuthOutcome::Refused(Refusal::new("ApiKey", "unknown key"))
///     }
/// })
/// .with_challenge(HeaderValue::from_static("ApiKey"));
///
/// let outcome = api_key.authenticate(&Credentials::new("ApiKey", "k-123")).await;
/// assert!(matches!(outcome, AuthOutcome::Authenticated(user) if user.name() == "robot"));
/// # }
/// ```
#[derive(Clone)]
pub struct FnAuthenticator<F> {
    check: F,
    challenge: Option<HeaderValue>,
}

impl<F> FnAuthenticator<F>
where
    F: Fn(&Credentials<'_>) -> AuthOutcome + Send + Sync + 'static,
{
    /// An authenticator that asks `check`.
    pub fn new(check: F) -> Self {
        Self {
            check,
            challenge: None,
        }
    }

    /// The `WWW-Authenticate` challenge this authenticator adds to a 401.
    pub fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl<F> fmt::Debug for FnAuthenticator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnAuthenticator")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl<F> Authenticator for FnAuthenticator<F>
where
    F: Fn(&Credentials<'_>) -> AuthOutcome + Send + Sync + 'static,
{
    fn authenticate<'a>(
        &'a self,
        credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        std::future::ready((self.check)(credentials))
    }

    fn challenges(&self, _refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        if let Some(challenge) = &self.challenge {
            out.push(challenge.clone());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::auth::User;

    #[test]
    fn closure_decides_and_offers_its_challenge() {
        let auth = FnAuthenticator::new(|c: &Credentials<'_>| match (c.scheme(), c.token()) {
            ("Token", "good") => AuthOutcome::Authenticated(User::new("tok")),
            ("Token", _) => AuthOutcome::Refused(Refusal::new("Token", "bad token")),
            _ => AuthOutcome::NotMine,
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let run = |s, t| rt.block_on(auth.authenticate(&Credentials::new(s, t)));
        assert!(matches!(run("Token", "good"), AuthOutcome::Authenticated(u) if u.name() == "tok"));
        assert!(
            matches!(run("Token", "bad"), AuthOutcome::Refused(r) if r.reason() == "bad token")
        );
        assert!(matches!(run("Basic", "good"), AuthOutcome::NotMine));
        assert!(matches!(
            rt.block_on(auth.verify_password("tok", "good")),
            AuthOutcome::NotMine
        ));
        let mut out = Vec::new();
        auth.challenges(None, &mut out);
        assert!(out.is_empty());
        let auth = auth.with_challenge(HeaderValue::from_static("Token"));
        auth.challenges(None, &mut out);
        assert_eq!(out, ["Token"]);
    }
}
