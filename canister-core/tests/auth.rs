//! Authentication through the public API: canister's example configurations, tokens made by
//! PyJWT (`tests/data/jwt/make_tokens.py`), every refusal reason, algorithm confusion, chains.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use canister_core::auth::{
    AuthError, AuthOutcome, Authenticator, Basic, Credentials, DefaultAuthenticator,
    DynAuthenticator, FnAuthenticator, Jwt, Refusal, User,
};
use canister_core::config::JwtAlgorithm;
use canister_core::{config::Config, config::ConfigError, TestClock};
use http::HeaderValue;
use serde_json::Value;

const TOKENS: &str = include_str!("data/jwt/tokens.json");

fn data() -> Value {
    serde_json::from_str(TOKENS).unwrap()
}

fn token(name: &str) -> String {
    data()["tokens"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no token {name} in tokens.json"))
        .to_owned()
}

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/jwt")
        .join(name)
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn auth_from(ini: &str) -> DefaultAuthenticator {
    DefaultAuthenticator::from_config(&Config::from_ini_str(ini).unwrap()).unwrap()
}

fn outcome<A: Authenticator>(auth: &A, scheme: &str, token: &str) -> AuthOutcome {
    block_on(auth.authenticate(&Credentials::new(scheme, token)))
}

fn user<A: Authenticator>(auth: &A, scheme: &str, token: &str) -> User {
    match outcome(auth, scheme, token) {
        AuthOutcome::Authenticated(user) => user,
        other => panic!("expected a user, got {other:?}"),
    }
}

fn refusal<A: Authenticator>(auth: &A, scheme: &str, token: &str) -> Refusal {
    match outcome(auth, scheme, token) {
        AuthOutcome::Refused(refusal) => {
            assert!(
                token.is_empty() || !refusal.reason().contains(token),
                "reason leaks the token"
            );
            refusal
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn bearer_reason<A: Authenticator>(auth: &A, name: &str) -> String {
    let refusal = refusal(auth, "Bearer", &token(name));
    assert_eq!(refusal.scheme(), "Bearer");
    refusal.reason().to_owned()
}

fn challenges<A: Authenticator>(auth: &A, refusal: Option<&Refusal>) -> Vec<String> {
    let mut out = Vec::new();
    auth.challenges(refusal, &mut out);
    out.iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

const BASIC_EXAMPLE: &str = "[canister]\n\
    auth_basic_username = alice\n\
    auth_basic_encryption = clear\n\
    auth_basic_password = my-secret\n";

const JWT_EXAMPLE: &str = "[canister]\n\
    auth_jwt_client_id = alice\n\
    auth_jwt_encoding = clear\n\
    auth_jwt_secret = secret\n";

/// `alice:my-secret` in base64.
const ALICE: &str = "YWxpY2U6bXktc2VjcmV0";

// --- canister's examples -------------------------------------------------------------------

#[test]
fn basic_auth_example_config_authenticates_alice() {
    let auth = auth_from(BASIC_EXAMPLE);
    let alice = user(&auth, "Basic", ALICE);
    assert_eq!(alice.name(), "alice");
    assert_eq!(alice.claims(), None);
    // alice:wrong
    assert_eq!(
        refusal(&auth, "Basic", "YWxpY2U6d3Jvbmc=").reason(),
        "wrong username or password"
    );
    assert!(matches!(
        outcome(&auth, "Bearer", &token("hs256")),
        AuthOutcome::NotMine
    ));
    assert_eq!(
        challenges(&auth, None),
        [r#"Basic realm="private", charset="UTF-8""#]
    );
}

#[test]
fn basic_auth_sha256_config_uses_the_readme_digest() {
    for digest in [
        "186ef76e9d6a723ecb570d4d9c287487d001e5d35f7ed4a313350a407950318e",
        "186EF76E9D6A723ECB570D4D9C287487D001E5D35F7ED4A313350A407950318E",
    ] {
        let auth = auth_from(&format!(
            "[canister]\nauth_basic_username = alice\nauth_basic_encryption = sha256\n\
             auth_basic_password = {digest}\nauth_basic_realm = staff only\n"
        ));
        assert_eq!(user(&auth, "Basic", ALICE).name(), "alice");
        assert_eq!(
            challenges(&auth, None),
            [r#"Basic realm="staff only", charset="UTF-8""#]
        );
        // Sending the digest as the password does not work.
        let digest_as_password = base64_std(&format!("alice:{digest}"));
        refusal(&auth, "Basic", &digest_as_password);
    }
}

#[test]
fn form_login_delegates_to_basic() {
    let auth = auth_from(BASIC_EXAMPLE);
    assert!(matches!(
        block_on(auth.verify_password("alice", "my-secret")),
        AuthOutcome::Authenticated(u) if u.name() == "alice"
    ));
    assert!(matches!(
        block_on(auth.verify_password("alice", "my-secret!")),
        AuthOutcome::Refused(_)
    ));
    // No Basic user configured: not ours to decide.
    let jwt_only = auth_from(JWT_EXAMPLE);
    assert!(matches!(
        block_on(jwt_only.verify_password("alice", "anything")),
        AuthOutcome::NotMine
    ));
}

#[test]
fn oauth2_example_config_verifies_pyjwt_tokens() {
    let auth = auth_from(JWT_EXAMPLE);
    let carol = user(&auth, "Bearer", &token("hs256"));
    assert_eq!(carol.name(), "carol");
    let claims = carol.claims().unwrap();
    assert_eq!(claims["name"], "Carol Ünicode");
    assert_eq!(claims["aud"], "alice");
    assert_eq!(claims["scope"], "read write");
    // The scheme is case-insensitive.
    user(&auth, "bearer", &token("hs256"));
    // Audience given as a list that contains ours.
    user(&auth, "Bearer", &token("hs256_aud_list"));
    assert!(matches!(
        outcome(&auth, "Basic", ALICE),
        AuthOutcome::NotMine
    ));
    assert_eq!(challenges(&auth, None), [r#"Bearer realm="private""#]);
}

#[test]
fn readme_spelling_auth_client_id_leaves_jwt_off_as_canister_did() {
    // canister read only `auth_jwt_client_id`; its README's `auth_client_id` never enabled JWT.
    let auth = auth_from("[canister]\nauth_client_id = alice\nauth_jwt_secret = secret\n");
    assert!(auth.is_empty());
}

#[test]
fn nothing_configured_authenticates_nobody() {
    let auth = auth_from("[canister]\n");
    assert!(auth.is_empty());
    assert!(matches!(
        outcome(&auth, "Basic", ALICE),
        AuthOutcome::NotMine
    ));
    assert!(matches!(
        outcome(&auth, "Bearer", &token("hs256")),
        AuthOutcome::NotMine
    ));
    assert!(challenges(&auth, None).is_empty());
}

// --- Basic edge cases through the configured authenticator ----------------------------------

#[test]
fn malformed_basic_headers_are_refused_not_panics() {
    let auth = auth_from(BASIC_EXAMPLE);
    let ten_kb = "QUFB".repeat(2560);
    for (token, reason) in [
        ("%%%", "credentials are not valid base64"),
        (
            "YWxpY2U",
            "credentials have no colon between username and password",
        ),
        ("/w==", "credentials are not utf-8"),
        ("", "empty credentials"),
        (ten_kb.as_str(), "credentials longer than 4096 bytes"),
    ] {
        let refusal = refusal(&auth, "Basic", token);
        assert_eq!(refusal.scheme(), "Basic");
        assert_eq!(refusal.reason(), reason);
    }
}

#[test]
fn header_parsing_refuses_a_scheme_without_credentials() {
    let value = HeaderValue::from_static("Basic");
    let refusal = Credentials::parse(&value).unwrap_err();
    assert_eq!(refusal.scheme(), "Basic");
    let value = HeaderValue::from_static("Basic a b");
    assert!(Credentials::parse(&value).is_err());
    let value = HeaderValue::from_static("Basic   YWxpY2U6bXktc2VjcmV0 ");
    let credentials = Credentials::parse(&value).unwrap();
    let auth = auth_from(BASIC_EXAMPLE);
    assert!(matches!(
        block_on(auth.authenticate(&credentials)),
        AuthOutcome::Authenticated(_)
    ));
}

// --- JWT: every refusal reason --------------------------------------------------------------

#[test]
fn each_jwt_refusal_has_its_reason() {
    let auth = auth_from(JWT_EXAMPLE);
    for (name, reason) in [
        ("hs256_expired", "token expired"),
        ("hs256_not_yet_valid", "token not yet valid (nbf)"),
        ("hs256_wrong_audience", "wrong audience (aud)"),
        ("hs256_no_audience", "missing audience (aud)"),
        ("hs256_no_exp", "missing expiry (exp)"),
        ("hs256_no_sub", "missing subject (sub)"),
        ("hs256_wrong_secret", "bad signature"),
        ("alg_none", "algorithm \"none\" is not accepted"),
        ("hs384", "algorithm HS384 is not accepted"),
        ("rs256", "algorithm RS256 is not accepted"),
    ] {
        assert_eq!(bearer_reason(&auth, name), reason, "token {name}");
    }
    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "🙂.🙂.🙂"] {
        assert_eq!(
            refusal(&auth, "Bearer", garbage).reason(),
            "malformed token"
        );
    }
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(4000),
        "b".repeat(4000),
        "c".repeat(2000)
    );
    assert_eq!(
        refusal(&auth, "Bearer", &huge).reason(),
        "token longer than 8192 bytes"
    );
}

#[test]
fn a_tampered_payload_is_a_bad_signature() {
    let auth = auth_from(JWT_EXAMPLE);
    let good = token("hs256");
    let mut parts: Vec<&str> = good.split('.').collect();
    // {"sub":"mallory","aud":"alice","exp":4102444800}
    let forged = "eyJzdWIiOiJtYWxsb3J5IiwiYXVkIjoiYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDB9";
    parts[1] = forged;
    assert_eq!(
        refusal(&auth, "Bearer", &parts.join(".")).reason(),
        "bad signature"
    );
}

#[test]
fn refused_bearer_token_gets_invalid_token_challenge() {
    let auth = auth_from(JWT_EXAMPLE);
    let refused = refusal(&auth, "Bearer", &token("alg_none"));
    let got = challenges(&auth, Some(&refused));
    assert_eq!(
        got,
        [
            r#"Bearer realm="private", error="invalid_token", error_description="algorithm 'none' is not accepted""#
        ]
    );
    let refused = refusal(&auth, "Bearer", &token("hs256_expired"));
    assert_eq!(
        challenges(&auth, Some(&refused)),
        [r#"Bearer realm="private", error="invalid_token", error_description="token expired""#]
    );
}

#[test]
fn issuer_is_checked_when_configured() {
    let with_issuer =
        |issuer: &str| auth_from(&format!("{JWT_EXAMPLE}auth_jwt_issuer = {issuer}\n"));
    let auth = with_issuer("https://issuer.example");
    user(&auth, "Bearer", &token("hs256_issuer"));
    assert_eq!(bearer_reason(&auth, "hs256"), "missing issuer (iss)");
    let auth = with_issuer("https://other.example");
    assert_eq!(bearer_reason(&auth, "hs256_issuer"), "wrong issuer (iss)");
    // Without an issuer configured, `iss` is not checked.
    user(&auth_from(JWT_EXAMPLE), "Bearer", &token("hs256_issuer"));
}

#[test]
fn leeway_and_injected_clock_decide_expiry() {
    let config = Config::from_ini_str(&format!("{JWT_EXAMPLE}auth_jwt_leeway = 10\n")).unwrap();
    let exp = data()["exp"].as_u64().unwrap();
    let clock = TestClock::at(UNIX_EPOCH + Duration::from_secs(exp + 9));
    let auth =
        DefaultAuthenticator::from_config_with_clock(&config, Arc::new(clock.clone())).unwrap();
    user(&auth, "Bearer", &token("hs256"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(bearer_reason(&auth, "hs256"), "token expired");

    let nbf = data()["nbf"].as_u64().unwrap();
    clock.set(UNIX_EPOCH + Duration::from_secs(nbf - 11));
    assert_eq!(
        bearer_reason(&auth, "hs256_not_yet_valid"),
        "token not yet valid (nbf)"
    );
    clock.advance(Duration::from_secs(1));
    user(&auth, "Bearer", &token("hs256_not_yet_valid"));
}

#[test]
fn hs384_and_hs512_when_listed() {
    let auth = auth_from(&format!(
        "{JWT_EXAMPLE}auth_jwt_algorithms = HS384, HS512\n"
    ));
    user(&auth, "Bearer", &token("hs384"));
    user(&auth, "Bearer", &token("hs512"));
    assert_eq!(
        bearer_reason(&auth, "hs256"),
        "algorithm HS256 is not accepted"
    );
}

#[test]
fn base64_secrets_with_or_without_padding() {
    let d = data();
    for (encoding, key) in [
        ("base64std", "binary_secret_base64std"),
        ("base64url", "binary_secret_base64url"),
    ] {
        let padded = d[key].as_str().unwrap();
        for secret in [padded, padded.trim_end_matches('=')] {
            let auth = auth_from(&format!(
                "[canister]\nauth_jwt_client_id = alice\nauth_jwt_encoding = {encoding}\n\
                 auth_jwt_secret = {secret}\n"
            ));
            user(&auth, "Bearer", &token("hs256_binary_secret"));
            assert_eq!(bearer_reason(&auth, "hs256"), "bad signature");
        }
    }
}

// --- JWT: public-key algorithms and confusion -----------------------------------------------

fn public_key_auth(algorithms: &str, key: &str) -> DefaultAuthenticator {
    auth_from(&format!(
        "[canister]\nauth_jwt_client_id = alice\nauth_jwt_algorithms = {algorithms}\n\
         auth_jwt_public_key = {}\n",
        key_path(key).display()
    ))
}

#[test]
fn pyjwt_public_key_tokens_verify() {
    for (algorithm, key, name) in [
        ("RS256", "rsa_public.pem", "rs256"),
        ("RS384", "rsa_public.pem", "rs384"),
        ("RS512", "rsa_public.pem", "rs512"),
        ("PS256", "rsa_public.pem", "ps256"),
        ("ES256", "ec256_public.pem", "es256"),
        ("ES384", "ec384_public.pem", "es384"),
    ] {
        let auth = public_key_auth(algorithm, key);
        let carol = user(&auth, "Bearer", &token(name));
        assert_eq!(carol.name(), "carol", "{name}");
        // HS tokens are never accepted by a public-key configuration.
        assert_eq!(
            bearer_reason(&auth, "hs256"),
            "algorithm HS256 is not accepted"
        );
    }
    let auth = public_key_auth("RS256, RS512, PS256", "rsa_public.pem");
    for name in ["rs256", "rs512", "ps256"] {
        user(&auth, "Bearer", &token(name));
    }
    assert_eq!(bearer_reason(&auth, "rs256_other_key"), "bad signature");
    assert_eq!(
        bearer_reason(&auth, "rs384"),
        "algorithm RS384 is not accepted"
    );
}

#[test]
fn hs256_signed_with_the_rsa_public_pem_is_refused() {
    // RS256 only: the HS256 header is refused outright.
    let auth = public_key_auth("RS256", "rsa_public.pem");
    assert_eq!(
        bearer_reason(&auth, "hs256_keyed_with_rsa_public_pem"),
        "algorithm HS256 is not accepted"
    );
    // HS256 and RS256 both accepted: HS tokens are checked against the secret only, never
    // against the PEM.
    let auth = auth_from(&format!(
        "{JWT_EXAMPLE}auth_jwt_algorithms = HS256, RS256\nauth_jwt_public_key = {}\n",
        key_path("rsa_public.pem").display()
    ));
    assert_eq!(
        bearer_reason(&auth, "hs256_keyed_with_rsa_public_pem"),
        "bad signature"
    );
    user(&auth, "Bearer", &token("hs256"));
    user(&auth, "Bearer", &token("rs256"));
    // The same with the PEM text given in code.
    let pem = std::fs::read(key_path("rsa_public.pem")).unwrap();
    let jwt = Jwt::builder("alice")
        .algorithms([JwtAlgorithm::RS256])
        .public_key_pem(&pem)
        .build()
        .unwrap();
    assert_eq!(
        bearer_reason(&jwt, "hs256_keyed_with_rsa_public_pem"),
        "algorithm HS256 is not accepted"
    );
}

// --- configuration errors -------------------------------------------------------------------

fn config_error(ini: &str) -> (String, String) {
    // Not validated: `Config::validate` refuses some of these itself (a secret that does not
    // decode); here the authenticator's own checks are under test.
    let mut config = Config::default();
    config.apply_ini(ini, "<string>").unwrap();
    match DefaultAuthenticator::from_config(&config).unwrap_err() {
        ConfigError::Conflict { key, message, .. } => (key, message),
        // The authenticator's own refusal, kept as the source (issue #18).
        ConfigError::Auth { key, source, .. } => (key.to_owned(), source.to_string()),
        other => panic!("expected a conflict, got {other}"),
    }
}

#[test]
fn unusable_jwt_settings_are_config_errors() {
    let (key, message) = config_error(
        "[canister]\nauth_jwt_client_id = a\nauth_jwt_encoding = base64std\nauth_jwt_secret = not*base64\n",
    );
    assert_eq!(key, "auth_jwt_secret");
    assert!(message.contains("base64std"), "{message}");
    assert!(!message.contains("not*base64"), "{message}");

    // A secret alone leaves JWT off, as canister did; not an error.
    let lone = Config::from_ini_str("[canister]\nauth_jwt_secret = s\n").unwrap();
    assert!(DefaultAuthenticator::from_config(&lone).unwrap().is_empty());

    let (key, message) = config_error(
        "[canister]\nauth_jwt_client_id = a\nauth_jwt_algorithms = RS256\n\
         auth_jwt_public_key = /nonexistent/canister-key.pem\n",
    );
    assert_eq!(key, "auth_jwt_public_key");
    assert!(
        message.contains("/nonexistent/canister-key.pem"),
        "{message}"
    );

    // The refusal is the source, not repeated in the text; the I/O error under it is the
    // source's source, not repeated in the refusal (issue #18).
    let mut config = Config::default();
    config
        .apply_ini(
            "[canister]\nauth_jwt_client_id = a\nauth_jwt_algorithms = RS256\n\
             auth_jwt_public_key = /nonexistent/canister-key.pem\n",
            "canister.ini",
        )
        .unwrap();
    let err = DefaultAuthenticator::from_config(&config).unwrap_err();
    let ConfigError::Auth { source, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        matches!(source, AuthError::PublicKeyFile { .. }),
        "{source}"
    );
    let io = std::error::Error::source(source).unwrap();
    assert!(io.downcast_ref::<std::io::Error>().is_some(), "{io}");
    assert!(!source.to_string().contains(&io.to_string()), "{source}");
    let top = std::error::Error::source(&err).unwrap();
    assert_eq!(top.to_string(), source.to_string());
    assert!(!err.to_string().contains(&source.to_string()), "{err}");
    // Debug, what `main` prints, is the whole chain, each cause once.
    let debug = format!("{err:?}");
    assert_eq!(debug, format!("{err}: {source}: {io}"));
    assert_eq!(debug.matches(&io.to_string()).count(), 1, "{debug}");

    let (key, _) = config_error(&format!(
        "[canister]\nauth_jwt_client_id = a\nauth_jwt_algorithms = ES256\nauth_jwt_public_key = {}\n",
        key_path("rsa_public.pem").display()
    ));
    assert_eq!(key, "auth_jwt_public_key");

    let (key, _) = config_error(&format!(
        "[canister]\nauth_jwt_client_id = a\nauth_jwt_algorithms = RS256, ES256\nauth_jwt_public_key = {}\n",
        key_path("rsa_public.pem").display()
    ));
    assert_eq!(key, "auth_jwt_algorithms");

    let (key, _) = config_error(&format!(
        "[canister]\nauth_jwt_client_id = a\nauth_jwt_secret = s\nauth_jwt_algorithms = RS256\n\
         auth_jwt_public_key = {}\n",
        key_path("rsa_public.pem").display()
    ));
    assert_eq!(key, "auth_jwt_secret");
}

// --- chains and custom authenticators -------------------------------------------------------

#[test]
fn configured_chain_of_basic_and_jwt() {
    let auth = auth_from(&format!(
        "{BASIC_EXAMPLE}auth_jwt_client_id = alice\nauth_jwt_secret = secret\nauth_jwt_realm = api\n"
    ));
    assert!(auth.basic().is_some() && auth.jwt().is_some());
    assert_eq!(user(&auth, "Basic", ALICE).name(), "alice");
    assert_eq!(user(&auth, "Bearer", &token("hs256")).name(), "carol");
    assert!(matches!(
        outcome(&auth, "Digest", "x"),
        AuthOutcome::NotMine
    ));

    assert_eq!(
        challenges(&auth, None),
        [
            r#"Basic realm="private", charset="UTF-8""#,
            r#"Bearer realm="api""#
        ]
    );
    let refused = refusal(&auth, "Bearer", &token("hs256_wrong_audience"));
    assert_eq!(
        challenges(&auth, Some(&refused)),
        [
            r#"Basic realm="private", charset="UTF-8""#,
            r#"Bearer realm="api", error="invalid_token", error_description="wrong audience (aud)""#
        ]
    );
    // A refused Basic header adds no Bearer error.
    let refused = refusal(&auth, "Basic", "YWxpY2U6d3Jvbmc=");
    assert_eq!(
        challenges(&auth, Some(&refused))[1],
        r#"Bearer realm="api""#
    );
}

#[test]
fn tuple_and_boxed_chains_of_basic_and_jwt() {
    let basic = Basic::new("alice", "my-secret");
    let jwt = Jwt::hs256("alice", "secret").unwrap();
    let tuple = (basic.clone(), jwt);
    assert_eq!(user(&tuple, "Basic", ALICE).name(), "alice");
    assert_eq!(user(&tuple, "Bearer", &token("hs256")).name(), "carol");
    assert_eq!(challenges(&tuple, None).len(), 2);

    let boxed: Vec<Box<dyn DynAuthenticator>> = vec![
        Box::new(Jwt::hs256("alice", "secret").unwrap()),
        Box::new(basic),
    ];
    assert_eq!(user(&boxed, "Basic", ALICE).name(), "alice");
    assert_eq!(user(&boxed, "Bearer", &token("hs256")).name(), "carol");
    assert_eq!(
        challenges(&boxed, None),
        [
            r#"Bearer realm="private""#,
            r#"Basic realm="private", charset="UTF-8""#
        ]
    );
}

#[test]
fn custom_closure_authenticator_in_a_chain() {
    let api_key = FnAuthenticator::new(|c: &Credentials<'_>| {
        if !c.is_scheme("ApiKey") {
            AuthOutcome::NotMine
        } else if c.token() == "k-123" {
            AuthOutcome::Authenticated(User::new("robot"))
        } else {
            AuthOutcome::Refused(Refusal::new("ApiKey", "unknown key"))
        }
    })
    .with_challenge(HeaderValue::from_static("ApiKey realm=\"private\""));
    let chain = (auth_from(JWT_EXAMPLE), api_key);
    assert_eq!(user(&chain, "ApiKey", "k-123").name(), "robot");
    assert_eq!(refusal(&chain, "ApiKey", "k-999").reason(), "unknown key");
    assert_eq!(user(&chain, "Bearer", &token("hs256")).name(), "carol");
    assert_eq!(
        challenges(&chain, None),
        [r#"Bearer realm="private""#, r#"ApiKey realm="private""#]
    );
}

#[test]
fn checkpassword_style_basic_and_users_map() {
    let check = Basic::from_check("private", |realm, username, password| {
        realm == "private" && username == "bob" && password == "b:pass"
    });
    assert_eq!(
        user(&check, "Basic", &base64_std("bob:b:pass")).name(),
        "bob"
    );
    refusal(&check, "Basic", &base64_std("bob:b"));

    let users = Basic::from_users([("alice", "a"), ("bob", "b")]);
    assert_eq!(user(&users, "Basic", &base64_std("bob:b")).name(), "bob");
    refusal(&users, "Basic", &base64_std("bob:a"));
    refusal(&users, "Basic", &base64_std("eve:a"));
}

#[test]
fn user_debug_never_shows_claim_values() {
    let carol = user(&auth_from(JWT_EXAMPLE), "Bearer", &token("hs256"));
    let text = format!("{carol:?}");
    assert!(text.contains("carol") && text.contains("scope"), "{text}");
    assert!(!text.contains("read write"), "{text}");
}

fn base64_std(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
