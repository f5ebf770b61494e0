//! Several issuers at once: two local providers on 127.0.0.1, each with its own key set and
//! issuer, chained in `canister_core::auth::Issuers` (canister-oidc's crate docs, "Several
//! issuers").
#![allow(clippy::unwrap_used, reason = "tests")]

mod provider;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canister_core::auth::{AuthOutcome, Authenticator, Credentials, Issuers, Jwt};
use canister_core::config::JwtAlgorithm;
use canister_oidc::Provider;
use provider::{token, LocalProvider, JWKS_A, JWKS_B};

/// The issuer of the PyJWT-made fixed tokens (`tokens.json`).
const FIXED_ISSUER: &str = "https://issuer.example";

/// An RS256 token for `issuer`, signed with the PyJWT-made key rsa-a.
fn minted(issuer: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
        "../../canister-core/tests/data/oidc/rsa_a_private.pem"
    ))
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-a".to_owned());
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": "carol", "aud": "alice", "iss": issuer, "exp": exp});
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn jwt(provider: &Provider, issuer: &str) -> Jwt {
    Jwt::builder("alice")
        .algorithms([JwtAlgorithm::RS256])
        .jwks(provider.keys())
        .issuer(issuer)
        .build()
        .unwrap()
}

async fn outcome(auth: &Issuers, token: &str) -> AuthOutcome {
    auth.authenticate(&Credentials::new("Bearer", token)).await
}

async fn refused(auth: &Issuers, token: &str) -> String {
    match outcome(auth, token).await {
        AuthOutcome::Refused(refusal) => refusal.reason().to_owned(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn accepted(auth: &Issuers, token: &str) {
    match outcome(auth, token).await {
        AuthOutcome::Authenticated(user) => assert_eq!(user.name(), "carol"),
        other => panic!("expected carol, got {other:?}"),
    }
}

/// Provider A (key set A, key rsa-a) is issuer `http://127.0.0.1:PORT_A`; provider B (key set
/// B, key rsa-b, not rsa-a) is the fixed tokens' issuer. A token of either is accepted with
/// its own provider's keys only; a token of neither issuer is refused.
#[tokio::test]
async fn a_token_of_either_issuer_is_accepted_of_neither_refused() {
    let local_a = LocalProvider::start(JWKS_A).await;
    let local_b = LocalProvider::start(JWKS_B).await;
    let a = Provider::issuer(local_a.issuer(), Duration::from_secs(600)).unwrap();
    let b = Provider::jwks_url(local_b.jwks_url(), Duration::from_secs(600)).unwrap();
    let issuers = Issuers::new([jwt(&a, local_a.issuer()), jwt(&b, FIXED_ISSUER)]).unwrap();
    assert_eq!(a.refresh().await.unwrap(), 5);
    b.refresh().await.unwrap();

    // A's token (minted here, rsa-a), B's token (PyJWT, rsa-b).
    accepted(&issuers, &minted(local_a.issuer())).await;
    accepted(&issuers, &token("rs256_rotated")).await;
    // Neither issuer, though signed with a key A has.
    assert_eq!(
        refused(&issuers, &minted("https://other.example")).await,
        "wrong issuer (iss)"
    );
    // B's issuer with A's key: checked against B's keys only, which lack rsa-a.
    assert_eq!(
        refused(&issuers, &token("rs256")).await,
        "unknown key id (kid)"
    );
    // Without the chain, A's authenticator alone refuses B's token.
    match jwt(&a, local_a.issuer())
        .authenticate(&Credentials::new("Bearer", &token("rs256_rotated")))
        .await
    {
        AuthOutcome::Refused(_) => {}
        other => panic!("A alone must refuse B's token: {other:?}"),
    }
}
