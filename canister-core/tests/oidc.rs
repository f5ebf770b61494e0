//! Tokens from an identity provider through the public API: key sets and tokens made by
//! PyJWT and cryptography (`tests/data/oidc/make_oidc.py`), key selection by `kid`, `alg`
//! matching, rotation, the refresh policy on the test clock, 503 before any key, HS secret
//! rotation, the cookie token source and scopes. No sockets, no sleeping.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use canister_core::auth::{
    AuthOutcome, Authenticator, Credentials, JwkSet, JwksCache, Jwt, UNKNOWN_KID_INTERVAL,
};
use canister_core::config::JwtAlgorithm;
use canister_core::{config::Config, Canister, Entry, TestClock};
use http::{header, Request, StatusCode};
use serde_json::Value;

const TOKENS: &str = include_str!("data/oidc/tokens.json");
const JWKS_A: &str = include_str!("data/oidc/jwks_a.json");
const JWKS_B: &str = include_str!("data/oidc/jwks_b.json");

fn token(name: &str) -> String {
    let data: Value = serde_json::from_str(TOKENS).unwrap();
    data["tokens"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no token {name} in tokens.json"))
        .to_owned()
}

fn clock() -> TestClock {
    TestClock::at(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

fn cache(clock: &TestClock) -> JwksCache {
    JwksCache::new_with_clock(
        "https://issuer.example",
        Duration::from_secs(600),
        Arc::new(clock.clone()),
    )
}

fn jwt(cache: &JwksCache, clock: &TestClock) -> Jwt {
    Jwt::builder("alice")
        .algorithms(JwtAlgorithm::PROVIDER_DEFAULT)
        .jwks(cache.clone())
        .issuer("https://issuer.example")
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn reason(jwt: &Jwt, name: &str) -> String {
    match jwt.verify(&token(name)) {
        Ok(user) => panic!("{name}: expected a refusal, got {user:?}"),
        Err(refusal) => refusal.reason().to_owned(),
    }
}

#[test]
fn every_provider_algorithm_verifies_tokens_made_by_pyjwt() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    let jwt = jwt(&cache, &clock);
    for name in [
        "rs256", "rs384", "rs512", "ps256", "ps384", "ps512", "es256", "es384", "eddsa",
    ] {
        let user = jwt
            .verify(&token(name))
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(user.name(), "carol", "{name}");
    }
}

#[test]
fn keys_are_chosen_by_kid_and_their_alg_must_match() {
    let clock = clock();
    let cache = cache(&clock);
    let set = JwkSet::parse(JWKS_A.as_bytes()).unwrap();
    // oct and use=enc are left out.
    assert_eq!(set.skipped(), 2);
    cache.store(set, None);
    let jwt = jwt(&cache, &clock);
    assert_eq!(
        reason(&jwt, "rs384_on_rs256_key"),
        "algorithm does not match the key (kid)"
    );
    assert_eq!(reason(&jwt, "rs256_enc_key"), "unknown key id (kid)");
    assert_eq!(
        reason(&jwt, "hs256_oct_key"),
        "algorithm HS256 is not accepted"
    );
    assert_eq!(reason(&jwt, "rs256_forged_kid"), "bad signature");
    assert_eq!(reason(&jwt, "rs256_wrong_issuer"), "wrong issuer (iss)");
    assert_eq!(reason(&jwt, "rs256_expired"), "token expired");
}

#[test]
fn the_oct_key_never_verifies_even_with_hs256_accepted() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    let jwt = Jwt::builder("alice")
        .algorithms([JwtAlgorithm::HS256, JwtAlgorithm::RS256])
        .secret("another secret")
        .jwks(cache)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    assert_eq!(reason(&jwt, "hs256_oct_key"), "bad signature");
}

#[test]
fn no_key_yet_is_unavailable_not_unauthorized() {
    let clock = clock();
    let cache = cache(&clock);
    let jwt = jwt(&cache, &clock);
    let refusal = jwt.verify(&token("rs256")).unwrap_err();
    assert!(refusal.is_unavailable(), "{refusal}");
    // The request asked for a fetch now.
    assert_eq!(cache.next_wait(), Duration::ZERO);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    assert_eq!(jwt.verify(&token("rs256")).unwrap().name(), "carol");
}

#[test]
fn an_unknown_kid_asks_for_one_refresh_per_ten_seconds() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    let jwt = jwt(&cache, &clock);
    assert_eq!(cache.next_wait(), Duration::from_secs(600));
    assert_eq!(reason(&jwt, "rs256_rotated"), "unknown key id (kid)");
    assert_eq!(cache.next_wait(), Duration::ZERO);
    // The refresher fetches (the provider has not rotated yet).
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    // A thousand more such tokens within 10 s ask for nothing.
    for _ in 0..1000 {
        assert_eq!(reason(&jwt, "rs256_unknown_kid"), "unknown key id (kid)");
    }
    assert_eq!(cache.next_wait(), Duration::from_secs(600));
    clock.advance(UNKNOWN_KID_INTERVAL);
    assert_eq!(reason(&jwt, "rs256_unknown_kid"), "unknown key id (kid)");
    assert_eq!(cache.next_wait(), Duration::ZERO);
}

#[test]
fn rotation_at_the_provider_needs_no_restart() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    let jwt = jwt(&cache, &clock);
    cache.store(JwkSet::parse(JWKS_B.as_bytes()).unwrap(), None);
    assert_eq!(jwt.verify(&token("rs256_rotated")).unwrap().name(), "carol");
    assert_eq!(reason(&jwt, "rs256"), "unknown key id (kid)");
}

#[test]
fn authenticate_waits_for_the_fetch_an_unknown_kid_causes() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    cache.attach();
    let jwt = jwt(&cache, &clock);
    let rotated = token("rs256_rotated");
    let outcome = block_on(async {
        // What canister-oidc's refresher does: listen, then wait until woken.
        let wake = cache.listen_for_request();
        let refresher = async {
            wake.await;
            assert_eq!(cache.next_wait(), Duration::ZERO);
            cache.store(JwkSet::parse(JWKS_B.as_bytes()).unwrap(), None);
        };
        let credentials = Credentials::new("Bearer", &rotated);
        let (outcome, ()) = tokio::join!(jwt.authenticate(&credentials), refresher);
        outcome
    });
    assert!(
        matches!(&outcome, AuthOutcome::Authenticated(u) if u.name() == "carol"),
        "{outcome:?}"
    );
}

#[test]
fn the_previous_hs_secret_still_verifies() {
    // A token made by PyJWT with `secret` (tests/data/jwt).
    let data: Value = serde_json::from_str(include_str!("data/jwt/tokens.json")).unwrap();
    let hs256 = data["tokens"]["hs256"].as_str().unwrap();
    let rotated = Jwt::builder("alice")
        .secret("the new secret")
        .secret_previous("secret")
        .build()
        .unwrap();
    assert_eq!(rotated.verify(hs256).unwrap().name(), "carol");
    let without = Jwt::builder("alice")
        .secret("the new secret")
        .build()
        .unwrap();
    assert_eq!(without.verify(hs256).unwrap_err().reason(), "bad signature");
}

fn provider_config(extra: &str) -> Config {
    Config::from_ini_str(&format!(
        "[canister]\nlog_level = DISABLED\nauth_jwt_client_id = alice\n\
         auth_jwt_jwks_url = https://issuer.example/jwks\n\
         auth_jwt_issuer = https://issuer.example\n{extra}"
    ))
    .unwrap()
}

#[test]
fn from_config_refuses_a_provider_without_canister_oidc() {
    let err = Canister::from_config(provider_config("")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("auth_jwt_jwks_url"), "{text}");
    assert!(
        text.contains("canister_oidc::Provider::from_config"),
        "{text}"
    );
    let config = Config::from_ini_str(
        "[canister]\nauth_jwt_client_id = alice\nauth_oidc_issuer = https://id.example/realms/a\n",
    )
    .unwrap();
    let err = Canister::from_config(config).unwrap_err();
    assert!(err.to_string().contains("auth_oidc_issuer"), "{err}");
}

#[test]
fn config_keys_and_their_checks() {
    let config = provider_config("auth_jwt_jwks_refresh = 60\nauth_jwt_cookie = access_token");
    assert_eq!(config.auth.jwt.jwks_refresh, 60);
    assert_eq!(config.jwt_algorithms(), JwtAlgorithm::PROVIDER_DEFAULT);
    let explicit = provider_config("auth_jwt_algorithms = RS256, EdDSA");
    assert_eq!(
        explicit.jwt_algorithms(),
        [JwtAlgorithm::RS256, JwtAlgorithm::EdDSA]
    );
    for bad in [
        "auth_jwt_jwks_refresh = 5",
        "auth_jwt_cookie = a b",
        "auth_jwt_jwks_url = ftp://x",
        "auth_oidc_issuer = not a url",
        "auth_oidc_issuer = https://other.example",
        "auth_jwt_secret_previous = old",
        "auth_jwt_cookie = session_id",
    ] {
        let result = Config::from_ini_str(&format!(
            "[canister]\nauth_jwt_client_id = alice\n\
             auth_jwt_jwks_url = https://issuer.example/jwks\n\
             auth_jwt_issuer = https://issuer.example\n{bad}"
        ));
        assert!(result.is_err(), "{bad} must be refused");
    }
    let err = Config::from_ini_str("[canister]\nauth_jwt_cookie = access_token\n").unwrap_err();
    assert!(err.to_string().contains("auth_jwt_client_id"), "{err}");
    // The banner shows the previous secret masked.
    let config = Config::from_ini_str(
        "[canister]\nauth_jwt_client_id = a\nauth_jwt_secret = new-secret-1\n\
         auth_jwt_secret_previous = old-secret-1\n",
    )
    .unwrap();
    let entries = config.entries();
    let previous = entries
        .iter()
        .find(|(k, _)| *k == "auth_jwt_secret_previous")
        .unwrap();
    assert_eq!(previous.1, "********");
}

fn engine(clock: &TestClock, cache: &JwksCache, extra: &str) -> Canister {
    Canister::builder()
        .config(provider_config(extra))
        .jwks(cache.clone())
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn require_user(
    canister: &Canister,
    request: Request<()>,
) -> Result<canister_core::auth::User, http::Response<bytes::Bytes>> {
    let (parts, ()) = request.into_parts();
    let Entry::Proceed(visit) = canister.enter(&parts, None).await else {
        panic!("a GET proceeds");
    };
    visit
        .require_user()
        .await
        .map_err(canister_core::Rejection::into_response)
}

fn bearer(name: &str) -> Request<()> {
    Request::get("http://localhost/")
        .header(header::AUTHORIZATION, format!("Bearer {}", token(name)))
        .body(())
        .unwrap()
}

#[test]
fn before_any_key_a_bearer_request_gets_503_with_retry_after_then_recovers() {
    let clock = clock();
    let cache = cache(&clock);
    let canister = engine(&clock, &cache, "");
    block_on(async {
        let response = require_user(&canister, bearer("rs256")).await.unwrap_err();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "10");
        cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
        let user = require_user(&canister, bearer("rs256")).await.unwrap();
        assert_eq!(user.name(), "carol");
        // A refused token is still a 401 once keys are there.
        let response = require_user(&canister, bearer("rs256_forged_kid"))
            .await
            .unwrap_err();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn a_token_in_the_configured_cookie_authenticates_without_a_header() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    let with_cookie = |name: &str| {
        Request::get("http://localhost/")
            .header(
                header::COOKIE,
                format!("theme=dark; access_token={}", token(name)),
            )
            .body(())
            .unwrap()
    };
    block_on(async {
        let canister = engine(&clock, &cache, "auth_jwt_cookie = access_token");
        let user = require_user(&canister, with_cookie("es256")).await.unwrap();
        assert_eq!(user.name(), "carol");
        let response = require_user(&canister, with_cookie("rs256_expired"))
            .await
            .unwrap_err();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        // Without the key, the cookie is nobody's token.
        let canister = engine(&clock, &cache, "");
        let response = require_user(&canister, with_cookie("es256"))
            .await
            .unwrap_err();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn a_token_without_the_scope_gets_403_insufficient_scope() {
    let clock = clock();
    let cache = cache(&clock);
    cache.store(JwkSet::parse(JWKS_A.as_bytes()).unwrap(), None);
    let canister = engine(&clock, &cache, "");
    block_on(async {
        for name in ["rs256_orders_read", "es256_scp_orders_read"] {
            let user = require_user(&canister, bearer(name)).await.unwrap();
            assert!(user.require_scope("orders:read").is_ok(), "{name}");
        }
        let user = require_user(&canister, bearer("rs256")).await.unwrap();
        let response = user
            .require_scope("orders:read")
            .unwrap_err()
            .into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="insufficient_scope", scope="orders:read""#
        );
    });
}
