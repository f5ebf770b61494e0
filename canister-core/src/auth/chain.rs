//! Chains of authenticators: tuples, `Option`, and `Vec<Box<dyn DynAuthenticator>>`.
//!
//! A chain asks each authenticator in order; the first answer that is not
//! [`AuthOutcome::NotMine`] wins (a refusal stops the chain: credentials of a scheme that one
//! member handles are never handed to the next). A chain's challenges are its members'
//! challenges, in order.

use std::future::Future;
use std::pin::Pin;

use http::HeaderValue;

use super::{AuthOutcome, Authenticator, Credentials, Refusal};

/// The boxed future a [`DynAuthenticator`] returns.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = AuthOutcome> + Send + 'a>>;

/// [`Authenticator`] in a form that can be boxed (`Box<dyn DynAuthenticator>`).
///
/// Every [`Authenticator`] is a `DynAuthenticator`; `Box<dyn DynAuthenticator>` and
/// `Vec<Box<dyn DynAuthenticator>>` (a chain) are [`Authenticator`]s again. Use it when the
/// list of authenticators is only known at run time; a tuple is cheaper otherwise.
///
/// # Examples
///
/// ```
/// use canister_core::auth::{
///     AuthOutcome, Authenticator, Basic, Credentials, DynAuthenticator, Jwt,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), canister_core::auth::AuthError> {
/// let chain: Vec<Box<dyn DynAuthenticator>> = vec![
///     Box::new(Basic::new("alice", "my-secret")),
///     Box::new(Jwt::hs256("my-client", "secret")?),
/// ];
/// let credentials = Credentials::new("Basic", "YWxpY2U6bXktc2VjcmV0");
/// assert!(matches!(
///     chain.authenticate(&credentials).await,
///     AuthOutcome::Authenticated(_)
/// ));
///
/// let mut challenges = Vec::new();
/// chain.challenges(None, &mut challenges);
/// assert_eq!(challenges.len(), 2);
/// # Ok(())
/// # }
/// ```
pub trait DynAuthenticator: Send + Sync + 'static {
    /// [`Authenticator::authenticate`], boxed.
    fn dyn_authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> AuthFuture<'a>;

    /// [`Authenticator::verify_password`], boxed.
    fn dyn_verify_password<'a>(&'a self, username: &'a str, password: &'a str) -> AuthFuture<'a>;

    /// [`Authenticator::challenges`].
    fn dyn_challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>);
}

impl<T: Authenticator> DynAuthenticator for T {
    fn dyn_authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> AuthFuture<'a> {
        Box::pin(self.authenticate(credentials))
    }

    fn dyn_verify_password<'a>(&'a self, username: &'a str, password: &'a str) -> AuthFuture<'a> {
        Box::pin(self.verify_password(username, password))
    }

    fn dyn_challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        self.challenges(refusal, out);
    }
}

impl Authenticator for Box<dyn DynAuthenticator> {
    fn authenticate<'a>(
        &'a self,
        credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        (**self).dyn_authenticate(credentials)
    }

    fn verify_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        (**self).dyn_verify_password(username, password)
    }

    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        (**self).dyn_challenges(refusal, out);
    }
}

/// A chain decided at run time: each member in order.
impl Authenticator for Vec<Box<dyn DynAuthenticator>> {
    async fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> AuthOutcome {
        for member in self {
            match member.dyn_authenticate(credentials).await {
                AuthOutcome::NotMine => {}
                outcome => return outcome,
            }
        }
        AuthOutcome::NotMine
    }

    async fn verify_password<'a>(&'a self, username: &'a str, password: &'a str) -> AuthOutcome {
        for member in self {
            match member.dyn_verify_password(username, password).await {
                AuthOutcome::NotMine => {}
                outcome => return outcome,
            }
        }
        AuthOutcome::NotMine
    }

    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        for member in self {
            member.dyn_challenges(refusal, out);
        }
    }
}

/// An authenticator that may be absent: `None` answers [`AuthOutcome::NotMine`] and offers no
/// challenge. Handy in a tuple built from configuration.
impl<A: Authenticator> Authenticator for Option<A> {
    async fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> AuthOutcome {
        match self {
            Some(inner) => inner.authenticate(credentials).await,
            None => AuthOutcome::NotMine,
        }
    }

    async fn verify_password<'a>(&'a self, username: &'a str, password: &'a str) -> AuthOutcome {
        match self {
            Some(inner) => inner.verify_password(username, password).await,
            None => AuthOutcome::NotMine,
        }
    }

    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        if let Some(inner) = self {
            inner.challenges(refusal, out);
        }
    }
}

macro_rules! tuple_chain {
    ($($member:ident . $index:tt),+) => {
        /// A chain fixed at compile time: each member in order.
        impl<$($member: Authenticator),+> Authenticator for ($($member,)+) {
            fn authenticate<'a>(
                &'a self,
                credentials: &'a Credentials<'a>,
            ) -> impl Future<Output = AuthOutcome> + Send + 'a {
                async move {
                    $(
                        match self.$index.authenticate(credentials).await {
                            AuthOutcome::NotMine => {}
                            outcome => return outcome,
                        }
                    )+
                    AuthOutcome::NotMine
                }
            }

            fn verify_password<'a>(
                &'a self,
                username: &'a str,
                password: &'a str,
            ) -> impl Future<Output = AuthOutcome> + Send + 'a {
                async move {
                    $(
                        match self.$index.verify_password(username, password).await {
                            AuthOutcome::NotMine => {}
                            outcome => return outcome,
                        }
                    )+
                    AuthOutcome::NotMine
                }
            }

            fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
                $( self.$index.challenges(refusal, out); )+
            }
        }
    };
}

tuple_chain!(A.0, B.1);
tuple_chain!(A.0, B.1, C.2);
tuple_chain!(A.0, B.1, C.2, D.3);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::auth::{Basic, FnAuthenticator, User};

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// Claims every scheme named `scheme` and answers with `outcome`.
    fn fixed(
        scheme: &'static str,
        outcome: AuthOutcome,
    ) -> FnAuthenticator<impl Fn(&Credentials<'_>) -> AuthOutcome + Send + Sync + 'static> {
        FnAuthenticator::new(move |c: &Credentials<'_>| {
            if c.is_scheme(scheme) {
                outcome.clone()
            } else {
                AuthOutcome::NotMine
            }
        })
        .with_challenge(HeaderValue::from_static(scheme))
    }

    fn name(outcome: AuthOutcome) -> String {
        match outcome {
            AuthOutcome::Authenticated(user) => user.name().to_owned(),
            AuthOutcome::Refused(r) => format!("refused: {}", r.reason()),
            AuthOutcome::NotMine => "not mine".to_owned(),
        }
    }

    #[test]
    fn tuple_asks_members_in_order_until_one_answers() {
        let chain = (
            fixed("one", AuthOutcome::Authenticated(User::new("first"))),
            fixed("two", AuthOutcome::Refused(Refusal::new("two", "nope"))),
            fixed("one", AuthOutcome::Authenticated(User::new("shadowed"))),
        );
        assert_eq!(
            name(block_on(chain.authenticate(&Credentials::new("one", "t")))),
            "first"
        );
        assert_eq!(
            name(block_on(chain.authenticate(&Credentials::new("two", "t")))),
            "refused: nope"
        );
        assert_eq!(
            name(block_on(
                chain.authenticate(&Credentials::new("three", "t"))
            )),
            "not mine"
        );
        let mut out = Vec::new();
        chain.challenges(None, &mut out);
        assert_eq!(out, ["one", "two", "one"]);
    }

    #[test]
    fn a_refusal_stops_the_chain() {
        let chain = (
            fixed(
                "x",
                AuthOutcome::Refused(Refusal::new("x", "first says no")),
            ),
            fixed("x", AuthOutcome::Authenticated(User::new("second"))),
        );
        assert_eq!(
            name(block_on(chain.authenticate(&Credentials::new("x", "t")))),
            "refused: first says no"
        );
    }

    #[test]
    fn vec_of_boxes_and_options_chain_too() {
        let chain: Vec<Box<dyn DynAuthenticator>> = vec![
            Box::new(None::<Basic>),
            Box::new(fixed("two", AuthOutcome::Authenticated(User::new("b")))),
            Box::new(Some(Basic::new("alice", "pw"))),
        ];
        assert_eq!(
            name(block_on(chain.authenticate(&Credentials::new("two", "t")))),
            "b"
        );
        // "alice:pw"
        assert_eq!(
            name(block_on(
                chain.authenticate(&Credentials::new("Basic", "YWxpY2U6cHc="))
            )),
            "alice"
        );
        assert_eq!(
            name(block_on(chain.verify_password("alice", "pw"))),
            "alice"
        );
        assert_eq!(
            name(block_on(chain.verify_password("alice", "px"))),
            "refused: wrong username or password"
        );
        let mut out = Vec::new();
        chain.challenges(None, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], "two");
        assert!(out[1].to_str().unwrap().starts_with("Basic realm="));

        let empty: Vec<Box<dyn DynAuthenticator>> = Vec::new();
        assert_eq!(
            name(block_on(empty.authenticate(&Credentials::new("two", "t")))),
            "not mine"
        );
    }
}
