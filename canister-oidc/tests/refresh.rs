//! The refresher against a real local provider on 127.0.0.1 (`provider/mod.rs`): discovery,
//! rotation, outages with the last good keys, start-up without keys, `Cache-Control`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod provider;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canister_core::auth::{AuthOutcome, Authenticator, Credentials, DefaultAuthenticator, Refusal};
use canister_core::{config::Config, SystemClock};
use canister_oidc::{OidcError, Provider};
use provider::{token, LocalProvider, Mode, JWKS_A, JWKS_B};

/// Collects log messages with their level.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl slog::Drain for Lines {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        self.0.lock().unwrap().push(format!(
            "{} {}",
            record.level().as_short_str(),
            record.msg()
        ));
        Ok(())
    }
}

impl Lines {
    fn logger(&self) -> slog::Logger {
        slog::Logger::root(self.clone(), slog::o!())
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn config(ini: &str) -> Config {
    Config::from_ini_str(&format!(
        "[canister]\nlog_level = DISABLED\nauth_jwt_client_id = alice\n{ini}"
    ))
    .unwrap()
}

/// The configuration for the fixed tokens (`iss` = https://issuer.example) on `provider`.
fn jwks_config(provider: &LocalProvider) -> Config {
    config(&format!(
        "auth_jwt_jwks_url = {}\nauth_jwt_issuer = https://issuer.example",
        provider.jwks_url()
    ))
}

fn authenticator(config: &Config, provider: &Provider) -> DefaultAuthenticator {
    DefaultAuthenticator::from_config_with(config, Arc::new(SystemClock), Some(provider.keys()))
        .unwrap()
}

async fn outcome(auth: &DefaultAuthenticator, token: &str) -> AuthOutcome {
    auth.authenticate(&Credentials::new("Bearer", token)).await
}

async fn refused(auth: &DefaultAuthenticator, token: &str) -> Refusal {
    match outcome(auth, token).await {
        AuthOutcome::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn accepted(auth: &DefaultAuthenticator, token: &str) {
    match outcome(auth, token).await {
        AuthOutcome::Authenticated(user) => assert_eq!(user.name(), "carol"),
        other => panic!("expected carol, got {other:?}"),
    }
}

/// Waits (30 s at most) until `check` holds, polling: the refresher runs on its own.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 30 s: {what}");
}

/// An RS256 token for the provider's run-time issuer, signed with the PyJWT-made key rsa-a.
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

#[tokio::test]
async fn discovery_gives_the_key_set_and_the_issuer_is_checked() {
    let local = LocalProvider::start(JWKS_A).await;
    let config = config(&format!("auth_oidc_issuer = {}", local.issuer()));
    let provider = Provider::from_config(&config).unwrap();
    assert_eq!(provider.refresh().await.unwrap(), 5);
    let auth = authenticator(&config, &provider);
    accepted(&auth, &minted(local.issuer())).await;
    // The fixed tokens carry another issuer.
    assert_eq!(
        refused(&auth, &token("rs256")).await.reason(),
        "wrong issuer (iss)"
    );

    // A discovery document naming another issuer is refused, keys are kept.
    local.set_discovery_issuer("https://evil.example");
    let err = provider.refresh().await.unwrap_err();
    assert!(matches!(&err, OidcError::Document { .. }), "{err}");
    // Issue #18: what is wrong is the source, not repeated in the text.
    let reason = std::error::Error::source(&err).unwrap().to_string();
    assert!(reason.contains("https://evil.example"), "{reason}");
    assert!(!err.to_string().contains(&reason), "{err}");
    let chain = canister_core::ErrorChain(&err).to_string();
    assert_eq!(chain.matches("https://evil.example").count(), 1, "{chain}");
    accepted(&auth, &minted(local.issuer())).await;
}

#[tokio::test]
async fn a_rotation_is_picked_up_by_the_first_token_with_the_new_kid() {
    let local = LocalProvider::start(JWKS_A).await;
    let config = jwks_config(&local);
    let provider = Provider::from_config(&config).unwrap();
    let auth = authenticator(&config, &provider);
    let lines = Lines::default();
    let keys = provider.keys();
    let task = provider.spawn(lines.logger());
    eventually("first keys", async || keys.keys().is_some()).await;
    accepted(&auth, &token("rs256")).await;
    let before = local.jwks_fetches();

    local.set_jwks(JWKS_B);
    // The request waits for the fetch its unknown kid causes, then passes.
    accepted(&auth, &token("rs256_rotated")).await;
    assert_eq!(local.jwks_fetches(), before + 1);
    // Many tokens with unknown kids within 10 s cause no further fetch.
    for _ in 0..50 {
        assert_eq!(
            refused(&auth, &token("rs256_unknown_kid")).await.reason(),
            "unknown key id (kid)"
        );
    }
    assert_eq!(local.jwks_fetches(), before + 1);
    // The old key is gone.
    assert_eq!(
        refused(&auth, &token("rs256")).await.reason(),
        "unknown key id (kid)"
    );
    assert!(
        lines
            .all()
            .iter()
            .any(|l| l.starts_with("INFO") && l.contains("rsa-b")),
        "{:?}",
        lines.all()
    );
    task.abort();
}

#[tokio::test]
async fn provider_down_keeps_the_last_good_keys_with_a_warning() {
    let local = LocalProvider::start(JWKS_A).await;
    let config = jwks_config(&local);
    let provider = Provider::from_config(&config).unwrap();
    let auth = authenticator(&config, &provider);
    let lines = Lines::default();
    let keys = provider.keys();
    let task = provider.spawn(lines.logger());
    eventually("first keys", async || keys.keys().is_some()).await;

    local.set_mode(Mode::Down);
    // An unknown kid forces a fetch (waited for), which fails.
    assert_eq!(
        refused(&auth, &token("rs256_unknown_kid")).await.reason(),
        "unknown key id (kid)"
    );
    let warned = |what: &'static str| {
        let lines = lines.clone();
        async move || {
            lines.all().iter().any(|l| {
                l.starts_with("WARN")
                    && l.contains("the last good keys keep serving")
                    && l.contains(what)
            })
        }
    };
    eventually("a warning for the 503", warned("answered 503")).await;
    accepted(&auth, &token("rs256")).await;
    // Garbage instead of a key set: the retry (backoff) warns again, keys still serve.
    local.set_mode(Mode::Garbage);
    eventually("a warning for the garbage", warned("is not valid")).await;
    accepted(&auth, &token("rs256")).await;
    // Back: the next retry says so.
    let before = lines.all().len();
    local.set_mode(Mode::Up);
    eventually("keys again", async || {
        lines.all()[before..]
            .iter()
            .any(|l| l.starts_with("INFO") && l.contains("signing key(s) in use"))
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn no_key_at_start_is_503_until_the_provider_answers() {
    let local = LocalProvider::start(JWKS_A).await;
    local.set_mode(Mode::Down);
    let config = jwks_config(&local);
    let provider = Provider::from_config(&config).unwrap();
    let auth = authenticator(&config, &provider);
    let lines = Lines::default();
    let task = provider.spawn(lines.logger());
    let refusal = refused(&auth, &token("rs256")).await;
    assert!(refusal.is_unavailable(), "{refusal}");
    eventually("a warning", async || {
        lines
            .all()
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("no key fetched yet"))
    })
    .await;
    local.set_mode(Mode::Up);
    // The refresher retries by itself (backoff 1, 2, 4 … s).
    eventually("recovery", async || {
        matches!(
            outcome(&auth, &token("rs256")).await,
            AuthOutcome::Authenticated(_)
        )
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn a_shorter_cache_control_max_age_is_honoured() {
    let local = LocalProvider::start(JWKS_A).await;
    local.set_cache_control("public, max-age=30");
    let provider = Provider::from_config(&jwks_config(&local)).unwrap();
    provider.refresh().await.unwrap();
    let wait = provider.keys().next_wait();
    assert!(wait <= Duration::from_secs(30), "{wait:?}");
    assert!(wait > Duration::from_secs(20), "{wait:?}");
    local.set_cache_control("max-age=86400");
    provider.refresh().await.unwrap();
    let wait = provider.keys().next_wait();
    assert!(wait > Duration::from_secs(590), "{wait:?}");
}
