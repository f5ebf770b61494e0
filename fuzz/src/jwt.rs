//! `jwt`: bearer tokens through canister's [`Jwt`] authenticator, with configured secrets,
//! an RSA public key, an issuer and leeway.
//!
//! Input: first byte even: the rest is a token string (lossy UTF-8), sent as is. First byte
//! odd: the second byte picks a signature, and the rest is `<header json>\n<claims json>`,
//! encoded and signed here, so that the claims checks behind the signature are reached:
//! HS256/HS384/HS512 with the right secret, HS256 keyed with the RSA public key's PEM
//! (algorithm confusion), HS256 with a wrong secret, or no signature.
//!
//! Checked: an accepted token has three parts, a header whose `alg` is configured and that
//! has no `crit`, the HMAC of its first two parts under the configured secret (HS) and
//! claims that pass an independent model of `aud`, `exp`, `nbf`, `iss` and `sub` (RFC 7519,
//! with the leeway); tokens signed with anything but the secret are never accepted; a token
//! with the canonical header, the right signature and valid claims is accepted; the user is
//! the `sub`; `authenticate` agrees with `verify`; the Bearer challenge for a refusal is
//! exactly `invalid_token` with the reason (which never contains a long token).

use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use canister_core::auth::{AuthOutcome, Authenticator, Credentials, Jwt};
use canister_core::config::JwtAlgorithm;
use canister_core::Clock;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value};

use super::authorization::now;
use super::common::{block_on, RSA_PUBLIC_PEM};

/// One configured authenticator and what the model needs to know of it.
struct Case {
    jwt: Jwt,
    algorithms: &'static [JwtAlgorithm],
    issuer: Option<&'static str>,
    leeway: f64,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        use JwtAlgorithm::{HS256, HS384, HS512, PS256, RS256};
        let clock = Arc::new(now());
        let build = |algorithms: &'static [JwtAlgorithm],
                     secret: bool,
                     public: bool,
                     issuer: Option<&'static str>,
                     leeway: u64| {
            let mut builder = Jwt::builder("alice")
                .algorithms(algorithms.iter().copied())
                .leeway(leeway)
                .clock(clock.clone());
            if secret {
                builder = builder.secret("secret");
            }
            if public {
                builder = builder.public_key_pem(RSA_PUBLIC_PEM);
            }
            if let Some(issuer) = issuer {
                builder = builder.issuer(issuer);
            }
            match builder.build() {
                Ok(jwt) => Case {
                    jwt,
                    algorithms,
                    issuer,
                    leeway: leeway as f64,
                },
                Err(error) => panic!("jwt fixture: {error}"),
            }
        };
        vec![
            build(&[HS256], true, false, None, 0),
            build(
                &[HS256, HS384, HS512],
                true,
                false,
                Some("https://issuer.example"),
                30,
            ),
            build(&[RS256, PS256], false, true, None, 0),
            build(&[HS256, RS256], true, true, None, 5),
        ]
    })
}

/// The Bearer challenge canister must send (realm `private`): with `invalid_token` and the
/// reason in RFC 6750's `error_description` characters when a bearer token was refused.
pub(crate) fn bearer_challenge(refused: Option<&str>) -> String {
    match refused {
        None => r#"Bearer realm="private""#.to_owned(),
        Some(reason) => {
            let description: String = reason
                .chars()
                .map(|c| match c {
                    '"' => '\'',
                    '\\' => '/',
                    ' '..='~' => c,
                    _ => '?',
                })
                .collect();
            format!(
                r#"Bearer realm="private", error="invalid_token", error_description="{description}""#
            )
        }
    }
}

/// Whether the third part of `token` is the HMAC (per its header's HS algorithm) of its first
/// two parts under `secret`, computed by signing rather than verifying.
pub(crate) fn hmac_signed(token: &str, secret: &[u8]) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Some(Value::String(alg)) = header_json(token).and_then(|h| h.get("alg").cloned()) else {
        return false;
    };
    let algorithm = match alg.as_str() {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => return false,
    };
    jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        algorithm,
    )
    .is_ok_and(|expected| expected == signature)
}

/// The JSON object of a token's first part, if it is one.
fn header_json(token: &str) -> Option<Map<String, Value>> {
    let head = token.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(head).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Whether `claims` pass the checks `case` is configured for, at `now` (seconds).
fn claims_valid(claims: &Map<String, Value>, case: &Case, now: f64) -> bool {
    let aud = match claims.get("aud") {
        Some(Value::String(aud)) => aud == "alice",
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some("alice")),
        _ => false,
    };
    let iss = case.issuer.is_none_or(|issuer| {
        claims
            .get("iss")
            .is_some_and(|iss| iss.as_str() == Some(issuer))
    });
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .is_some_and(|exp| now < exp + case.leeway);
    let nbf = match claims.get("nbf") {
        None => true,
        Some(nbf) => nbf.as_f64().is_some_and(|nbf| now + case.leeway >= nbf),
    };
    let sub = matches!(claims.get("sub"), Some(Value::String(s)) if !s.is_empty());
    aud && iss && exp && nbf && sub
}

/// How the structured mode signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    Secret(Algorithm),
    PemAsSecret,
    WrongSecret,
    Unsigned,
}

fn sign(message: &str, signing: Signing) -> String {
    let (key, algorithm) = match signing {
        Signing::Secret(algorithm) => (EncodingKey::from_secret(b"secret"), algorithm),
        Signing::PemAsSecret => (
            EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
            Algorithm::HS256,
        ),
        Signing::WrongSecret => (EncodingKey::from_secret(b"secreT"), Algorithm::HS256),
        Signing::Unsigned => return String::new(),
    };
    match jsonwebtoken::crypto::sign(message.as_bytes(), &key, algorithm) {
        Ok(signature) => signature,
        Err(error) => panic!("signing: {error}"),
    }
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (token, signing, canonical) = if mode % 2 == 0 {
        (String::from_utf8_lossy(rest).into_owned(), None, false)
    } else {
        let Some((&choice, rest)) = rest.split_first() else {
            return;
        };
        let signing = match choice % 6 {
            0 => Signing::Secret(Algorithm::HS256),
            1 => Signing::Secret(Algorithm::HS384),
            2 => Signing::Secret(Algorithm::HS512),
            3 => Signing::PemAsSecret,
            4 => Signing::WrongSecret,
            _ => Signing::Unsigned,
        };
        let (header, claims) = super::common::split_once(rest, b"\n");
        let claims = claims.unwrap_or_default();
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = sign(&message, signing);
        let canonical = matches!(
            (signing, header),
            (
                Signing::Secret(Algorithm::HS256),
                br#"{"alg":"HS256","typ":"JWT"}"#
            ) | (Signing::Secret(Algorithm::HS256), br#"{"alg":"HS256"}"#)
        );
        (format!("{message}.{signature}"), Some(signing), canonical)
    };

    let now = now()
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let claims: Option<Map<String, Value>> = token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice(&json).ok());
    let alg = header_json(&token).and_then(|h| match h.get("alg") {
        Some(Value::String(alg)) => Some(alg.clone()),
        _ => None,
    });

    for (index, case) in cases().iter().enumerate() {
        let verified = case.jwt.verify(&token);
        let credentials = Credentials::new("Bearer", &token);
        let outcome = block_on(case.jwt.authenticate(&credentials));
        match (&verified, &outcome) {
            (Ok(a), AuthOutcome::Authenticated(b)) => assert_eq!(a, b),
            (Err(a), AuthOutcome::Refused(b)) => assert_eq!(a, b),
            _ => panic!("case {index}: authenticate disagrees with verify"),
        }
        match verified {
            Ok(user) => {
                assert_eq!(token.split('.').count(), 3, "case {index}: not three parts");
                assert!(
                    !header_json(&token).is_some_and(|h| h.contains_key("crit")),
                    "case {index}: accepted a header with crit (RFC 7515 4.1.11)"
                );
                let Some(alg) = alg.as_deref() else {
                    panic!("case {index}: accepted without a readable alg");
                };
                let configured = case.algorithms.iter().find(|a| a.as_str() == alg);
                let Some(configured) = configured else {
                    panic!("case {index}: accepted alg {alg:?}, not configured");
                };
                if configured.is_hmac() {
                    assert!(
                        hmac_signed(&token, b"secret"),
                        "case {index}: HMAC token accepted without the secret's signature"
                    );
                }
                if let Some(signing) = signing {
                    assert!(
                        matches!(signing, Signing::Secret(a) if format!("{a:?}") == alg),
                        "case {index}: accepted a token signed {signing:?} with alg {alg:?}"
                    );
                }
                let Some(claims) = &claims else {
                    panic!("case {index}: accepted without readable claims");
                };
                assert!(
                    claims_valid(claims, case, now),
                    "case {index}: accepted claims the model refuses"
                );
                assert_eq!(
                    Some(user.name()),
                    claims.get("sub").and_then(Value::as_str),
                    "case {index}: user is not sub"
                );
                assert_eq!(user.claims(), Some(claims), "case {index}: claims differ");
            }
            Err(refusal) => {
                assert_eq!(refusal.scheme(), "Bearer");
                let hs256 = case.algorithms.contains(&JwtAlgorithm::HS256);
                if canonical && hs256 {
                    let valid = claims
                        .as_ref()
                        .is_some_and(|claims| claims_valid(claims, case, now));
                    assert!(
                        !valid,
                        "case {index}: valid HS256 token refused: {}",
                        refusal.reason()
                    );
                }
                let mut challenges = Vec::new();
                case.jwt.challenges(Some(&refusal), &mut challenges);
                let [challenge] = &challenges[..] else {
                    panic!("case {index}: {} challenges", challenges.len());
                };
                assert_eq!(
                    challenge.as_bytes(),
                    bearer_challenge(Some(refusal.reason())).as_bytes(),
                    "case {index}: challenge"
                );
                if token.len() >= 24 && !token.contains(' ') {
                    assert!(
                        !refusal.reason().contains(token.as_str()),
                        "case {index}: the reason shows the token"
                    );
                }
            }
        }
    }
}
