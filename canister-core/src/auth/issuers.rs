//! [`Issuers`]: tokens of several identity providers, each checked by its own [`Jwt`].

use std::fmt;

use http::HeaderValue;

use super::jwt::{refusal, unverified_issuer};
use super::{AuthError, AuthOutcome, Authenticator, Credentials, Jwt, Refusal};

/// Bearer tokens from several issuers at once: each token is checked by the [`Jwt`] whose
/// issuer its `iss` claim names, and only by that one.
///
/// A plain chain (a tuple, a `Vec`) stops at the first refusal, so a token of the second
/// provider would be refused by the first one's [`Jwt`] (`wrong issuer (iss)`, or an unknown
/// `kid`). `Issuers` reads the token's `iss` first (unverified: it only picks the
/// authenticator), then hands the token to that issuer's [`Jwt`], which verifies the
/// signature with that provider's keys and checks `iss`, `aud` and the times as usual. A
/// token whose `iss` names none of them is refused with `wrong issuer (iss)`; one without a
/// readable `iss` goes to the first member, which refuses it with its usual reason.
///
/// Every member must have an issuer ([`JwtBuilder::issuer`](super::JwtBuilder::issuer)),
/// each a different one. The 401 challenge is the first member's.
///
/// # Examples
///
/// Two providers whose keys canister-oidc fetches (each `Provider` keeps its own key set
/// fresh): see canister-oidc's crate docs, "Several issuers". With fixed HS secrets:
///
/// ```
/// use canister_core::auth::{AuthOutcome, Authenticator, Credentials, Issuers, Jwt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), canister_core::auth::AuthError> {
/// let issuers = Issuers::new([
///     Jwt::builder("my-api").secret("a secret of issuer a").issuer("https://a.example").build()?,
///     Jwt::builder("my-api").secret("a secret of issuer b").issuer("https://b.example").build()?,
/// ])?;
/// assert_eq!(issuers.issuers().collect::<Vec<_>>(), ["https://a.example", "https://b.example"]);
///
/// let garbage = Credentials::new("Bearer", "not.a.token");
/// assert!(matches!(issuers.authenticate(&garbage).await, AuthOutcome::Refused(_)));
/// # Ok(())
/// # }
/// ```
pub struct Issuers {
    members: Vec<Jwt>,
}

impl Issuers {
    /// The chain of `members`, one per issuer.
    ///
    /// # Errors
    ///
    /// [`AuthError::IssuerChain`] when there is no member, a member has no issuer, or two
    /// have the same.
    pub fn new(members: impl IntoIterator<Item = Jwt>) -> Result<Self, AuthError> {
        let members: Vec<Jwt> = members.into_iter().collect();
        let error = |reason: String| Err(AuthError::IssuerChain { reason });
        if members.is_empty() {
            return error("no authenticator given".to_owned());
        }
        for (i, member) in members.iter().enumerate() {
            let Some(issuer) = member.issuer() else {
                return error(format!("member {} has no issuer", i + 1));
            };
            if members[..i].iter().any(|m| m.issuer() == Some(issuer)) {
                return error(format!("issuer {issuer} is given twice"));
            }
        }
        Ok(Self { members })
    }

    /// The issuers, in order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.members.iter().filter_map(Jwt::issuer)
    }

    /// The members, in order.
    pub fn members(&self) -> &[Jwt] {
        &self.members
    }

    /// The member for `token`: the one of its `iss`, the first when it has none readable,
    /// `None` when its `iss` names no member.
    fn member_for(&self, token: &str) -> Option<&Jwt> {
        match unverified_issuer(token) {
            Some(iss) => self.members.iter().find(|m| m.issuer() == Some(&iss)),
            None => self.members.first(),
        }
    }
}

impl fmt::Debug for Issuers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuers")
            .field("members", &self.members)
            .finish()
    }
}

impl Authenticator for Issuers {
    async fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> AuthOutcome {
        if !credentials.is_scheme("bearer") {
            return AuthOutcome::NotMine;
        }
        match self.member_for(credentials.token()) {
            Some(member) => member.authenticate(credentials).await,
            None => AuthOutcome::Refused(refusal("wrong issuer (iss)")),
        }
    }

    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        if let Some(first) = self.members.first() {
            first.challenges(refusal, out);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn hs(secret: &str, issuer: Option<&str>) -> Jwt {
        let builder = Jwt::builder("my-api").secret(secret);
        match issuer {
            Some(issuer) => builder.issuer(issuer).build().unwrap(),
            None => builder.build().unwrap(),
        }
    }

    fn token(secret: &str, iss: Option<&str>) -> String {
        let mut claims =
            serde_json::json!({"sub": "carol", "aud": "my-api", "exp": 4_000_000_000u64});
        if let Some(iss) = iss {
            claims["iss"] = iss.into();
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    async fn outcome(issuers: &Issuers, token: &str) -> AuthOutcome {
        issuers
            .authenticate(&Credentials::new("Bearer", token))
            .await
    }

    fn reason(outcome: AuthOutcome) -> String {
        match outcome {
            AuthOutcome::Refused(refusal) => refusal.reason().to_owned(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    const A: &str = "https://a.example";
    const B: &str = "https://b.example";

    #[tokio::test]
    async fn each_token_goes_to_its_issuer() {
        let issuers =
            Issuers::new([hs("secret of a!", Some(A)), hs("secret of b!", Some(B))]).unwrap();
        for (secret, iss) in [("secret of a!", A), ("secret of b!", B)] {
            match outcome(&issuers, &token(secret, Some(iss))).await {
                AuthOutcome::Authenticated(user) => assert_eq!(user.name(), "carol"),
                other => panic!("{iss}: {other:?}"),
            }
        }
        // Neither issuer.
        assert_eq!(
            reason(outcome(&issuers, &token("secret of a!", Some("https://c.example"))).await),
            "wrong issuer (iss)"
        );
        // b's issuer, a's key: b's authenticator checks it, and refuses.
        assert_eq!(
            reason(outcome(&issuers, &token("secret of a!", Some(B))).await),
            "bad signature"
        );
        // No issuer: the first member's reason.
        assert_eq!(
            reason(outcome(&issuers, &token("secret of a!", None)).await),
            "missing issuer (iss)"
        );
        assert_eq!(reason(outcome(&issuers, "a.b").await), "malformed token");
        // Not a Bearer credential.
        assert!(matches!(
            issuers
                .authenticate(&Credentials::new("Basic", "YWxpY2U6eA=="))
                .await,
            AuthOutcome::NotMine
        ));
    }

    #[test]
    fn every_member_needs_its_own_issuer() {
        assert!(matches!(
            Issuers::new(Vec::new()),
            Err(AuthError::IssuerChain { .. })
        ));
        let err =
            Issuers::new([hs("secret of a!", Some(A)), hs("secret of b!", None)]).unwrap_err();
        assert!(err.to_string().contains("member 2 has no issuer"), "{err}");
        let err =
            Issuers::new([hs("secret of a!", Some(A)), hs("secret of b!", Some(A))]).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    }

    #[test]
    fn the_issuer_is_read_without_verifying() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#);
        assert_eq!(
            unverified_issuer(&format!("h.{payload}.s")).as_deref(),
            Some("x")
        );
        assert_eq!(unverified_issuer(&format!("h.{payload}")), None);
        assert_eq!(unverified_issuer("h.!!.s"), None);
    }
}
