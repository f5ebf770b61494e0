//! Bearer JSON Web Tokens (RFC 6750, RFC 7519).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::HeaderValue;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwks::JwksCache;
use super::{
    quoted_string_content, AuthError, AuthOutcome, Authenticator, Claims, Credentials, Refusal,
    User,
};
use crate::config::{JwtAlgorithm, JwtEncoding};
use crate::{Clock, SystemClock};

/// The longest a request waits for the fetch its unknown `kid` caused (the refresher's own
/// HTTP timeout is 10 s).
const MAX_KEY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The longest bearer token read, in bytes.
const MAX_TOKEN_LEN: usize = 8192;

const fn lenient(alphabet: &'static base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Standard base64, padding optional.
const BASE64_STD: GeneralPurpose = lenient(&base64::alphabet::STANDARD);
/// URL-safe base64, padding optional.
const BASE64_URL: GeneralPurpose = lenient(&base64::alphabet::URL_SAFE);
/// The base64 of JWT parts (RFC 7515 section 2: URL-safe, no padding).
const BASE64_URL_NO_PAD: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Bearer JWT authentication (RFC 6750): `Authorization: Bearer <token>`.
///
/// A token is accepted when all of these hold, and refused with a reason otherwise:
///
/// - its header's `alg` is one of the accepted algorithms (default HS256 only). `none` is never
///   accepted, and HS tokens are checked only against the secret, RS/ES/PS tokens only against
///   the public key, so an HS256 token "signed" with the public key's PEM is refused;
/// - its signature is valid;
/// - `aud` names the audience (the client id; a list must contain it) — a token without
///   `aud` is refused;
/// - `exp` is present and not past, and `nbf`, when present, is not in the future, both with
///   the configured leeway (default 0 seconds), as told by the authenticator's [`Clock`];
/// - `iss` is the issuer, when one is configured;
/// - `sub` is a string: it becomes the [`User`]'s name, and all the claims its
///   [claims](User::claims);
/// - its header has no `crit` member: canister implements no JWS extension, so a token that
///   marks one as critical is refused (RFC 7515 section 4.1.11).
///
/// The 401 challenge is `Bearer realm="private"`, and when the request's own token was refused,
/// `Bearer realm="private", error="invalid_token", error_description="<reason>"`.
///
/// # Examples
///
/// ```
/// use canister_core::auth::{AuthOutcome, Authenticator, Credentials, Jwt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), canister_core::auth::AuthError> {
/// // canister's 7_oauth2 example: client id `alice`, secret `secret`.
/// let jwt = Jwt::hs256("alice", "secret")?;
///
/// let garbage = Credentials::new("Bearer", "not.a.token");
/// let AuthOutcome::Refused(refusal) = jwt.authenticate(&garbage).await else {
///     panic!("garbage must be refused");
/// };
/// assert_eq!(refusal.reason(), "malformed token");
///
/// let mut challenges = Vec::new();
/// jwt.challenges(Some(&refusal), &mut challenges);
/// assert_eq!(
///     challenges[0],
///     r#"Bearer realm="private", error="invalid_token", error_description="malformed token""#
/// );
/// # Ok(())
/// # }
/// ```
///
/// RS256 with the issuer's public key, an issuer and a minute of leeway:
///
/// ```no_run
/// use canister_core::auth::Jwt;
/// use canister_core::config::JwtAlgorithm;
///
/// let jwt = Jwt::builder("my-client-id")
///     .algorithms([JwtAlgorithm::RS256])
///     .public_key_file("/etc/canister/issuer.pem")
///     .issuer("https://login.example.com")
///     .leeway(60)
///     .build()?;
/// # Ok::<(), canister_core::auth::AuthError>(())
/// ```
pub struct Jwt {
    algorithms: Vec<JwtAlgorithm>,
    /// The secret, then the previous one (`auth_jwt_secret_previous`).
    hmac: Vec<DecodingKey>,
    public: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    audience: String,
    issuer: Option<String>,
    leeway: u64,
    realm_quoted: String,
    challenge: HeaderValue,
    clock: Arc<dyn Clock>,
}

impl Jwt {
    /// A builder for tokens whose `aud` must name `audience` (the client id).
    pub fn builder(audience: impl Into<String>) -> JwtBuilder {
        JwtBuilder {
            audience: audience.into(),
            secret: None,
            secret_previous: None,
            public_key: None,
            jwks: None,
            algorithms: vec![JwtAlgorithm::HS256],
            issuer: None,
            leeway: 0,
            realm: "private".to_owned(),
            clock: Arc::new(SystemClock),
        }
    }

    /// HS256 tokens for `audience`, signed with `secret` (its bytes as given).
    ///
    /// # Errors
    ///
    /// [`AuthError::EmptyAudience`] or [`AuthError::EmptySecret`].
    ///
    /// # Examples
    ///
    /// ```
    /// let jwt = canister_core::auth::Jwt::hs256("alice", "secret")?;
    /// assert_eq!(jwt.audience(), "alice");
    /// # Ok::<(), canister_core::auth::AuthError>(())
    /// ```
    pub fn hs256(audience: impl Into<String>, secret: impl AsRef<[u8]>) -> Result<Self, AuthError> {
        Self::builder(audience).secret(secret).build()
    }

    /// The audience (`aud`) tokens must carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The accepted algorithms.
    pub fn algorithms(&self) -> &[JwtAlgorithm] {
        &self.algorithms
    }

    /// The issuer (`iss`) tokens must carry, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Checks a bearer token (without the `Bearer ` prefix), synchronously.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] of scheme `Bearer` saying why the token is not accepted. The reason never
    /// contains the token.
    ///
    /// With an identity provider's keys ([`JwtBuilder::jwks`]), a token whose `kid` is
    /// unknown is refused and asks the refresher for the keys again (at most once per 10 s);
    /// [`authenticate`](Authenticator::authenticate) instead waits for that fetch and checks
    /// the token again. While no key was ever fetched, the refusal is
    /// [unavailable](Refusal::is_unavailable): a 503, not a 401.
    pub fn verify(&self, token: &str) -> Result<User, Refusal> {
        match self.check(token) {
            Ok(user) => Ok(user),
            Err(Failure::Refused(refusal)) => Err(refusal),
            Err(Failure::NeedKeys(refusal)) => {
                if let Some(cache) = &self.jwks {
                    let _ = cache.request_refresh();
                }
                Err(refusal)
            }
        }
    }

    /// The keys of the identity provider, when this authenticator uses one.
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.jwks.as_ref()
    }

    fn check(&self, token: &str) -> Result<User, Failure> {
        if token.is_empty() {
            return Err(refusal("empty token").into());
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(refusal("token longer than 8192 bytes").into());
        }
        // Exactly three parts (a JWE's five, or garbage, is malformed).
        let mut parts = token.split('.');
        let (Some(head), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(header_refusal(token).into());
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| header_refusal(token))?;
        // RFC 7515 4.1.11: a recipient must refuse a token whose `crit` names an extension
        // it does not understand, and canister implements none (`b64: false` among them).
        // jsonwebtoken's `Header` drops the member, so look for it in the header's JSON.
        if has_crit(head) {
            return Err(refusal("unsupported critical header parameters (crit)").into());
        }
        let algorithm = from_jwt_algorithm(header.alg)
            .filter(|a| self.algorithms.contains(a))
            .ok_or_else(|| refusal(format!("algorithm {:?} is not accepted", header.alg)))?;
        let signing_input = &token.as_bytes()[..head.len() + 1 + payload.len()];
        let verify = |key: &DecodingKey| match jsonwebtoken::crypto::verify(
            signature,
            signing_input,
            key,
            header.alg,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => Err(refusal("bad signature")),
            Err(e) => Err(refusal(reason_of(e.kind()))),
        };
        // HS tokens are checked against the secrets only, others against the public key or
        // the provider's keys only.
        if algorithm.is_hmac() {
            // Every accepted algorithm has its key (checked by `JwtBuilder::build`).
            let mut result = Err(refusal("no key for the token's algorithm"));
            for key in &self.hmac {
                result = verify(key);
                if result.is_ok() {
                    break;
                }
            }
            result?;
        } else if let Some(cache) = &self.jwks {
            let Some(keys) = cache.keys() else {
                return Err(Failure::NeedKeys(Refusal::unavailable(
                    "Bearer",
                    "the identity provider's keys are not available yet",
                )));
            };
            match keys.find(header.kid.as_deref(), algorithm) {
                Some(key) => verify(key.decoding_key())?,
                None => match &header.kid {
                    Some(kid) if keys.has_kid(kid) => {
                        return Err(refusal("algorithm does not match the key (kid)").into())
                    }
                    Some(_) => return Err(Failure::NeedKeys(refusal("unknown key id (kid)"))),
                    None => return Err(refusal("missing key id (kid)").into()),
                },
            }
        } else {
            let key = self
                .public
                .as_ref()
                .ok_or_else(|| refusal("no key for the token's algorithm"))?;
            verify(key)?;
        }
        let claims = BASE64_URL_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice::<Claims>(&json).ok())
            .ok_or_else(|| refusal("malformed claims"))?;
        self.check_claims(&claims)?;
        let sub = match claims.get("sub") {
            Some(serde_json::Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(refusal("missing subject (sub)").into()),
        };
        Ok(User::new(sub).with_claims(claims))
    }

    /// Checks `aud`, `iss`, `exp` and `nbf` (the signature is already verified).
    fn check_claims(&self, claims: &Claims) -> Result<(), Refusal> {
        use serde_json::Value;
        match claims.get("aud") {
            None | Some(Value::Null) => return Err(refusal("missing audience (aud)")),
            Some(Value::String(aud)) if *aud == self.audience => {}
            Some(Value::Array(list))
                if list
                    .iter()
                    .any(|a| a.as_str() == Some(self.audience.as_str())) => {}
            Some(_) => return Err(refusal("wrong audience (aud)")),
        }
        if let Some(issuer) = &self.issuer {
            match claims.get("iss") {
                None | Some(Value::Null) => return Err(refusal("missing issuer (iss)")),
                Some(Value::String(iss)) if iss == issuer => {}
                Some(_) => return Err(refusal("wrong issuer (iss)")),
            }
        }
        self.check_times(claims)
    }

    fn check_times(&self, claims: &Claims) -> Result<(), Refusal> {
        let now = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let leeway = self.leeway as f64;
        let exp = match claims.get("exp") {
            None | Some(serde_json::Value::Null) => return Err(refusal("missing expiry (exp)")),
            Some(exp) => exp
                .as_f64()
                .ok_or_else(|| refusal("malformed expiry (exp)"))?,
        };
        // RFC 7519 4.1.4: the current time must be before `exp`.
        if now >= exp + leeway {
            return Err(refusal("token expired"));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf
                .as_f64()
                .ok_or_else(|| refusal("malformed not-before (nbf)"))?;
            if now + leeway < nbf {
                return Err(refusal("token not yet valid (nbf)"));
            }
        }
        Ok(())
    }

    fn error_challenge(&self, reason: &str) -> Option<HeaderValue> {
        let text = format!(
            "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
            self.realm_quoted,
            error_description(reason)
        );
        HeaderValue::from_str(&text).ok()
    }
}

impl fmt::Debug for Jwt {
    /// Shows the settings, never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl Authenticator for Jwt {
    async fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> AuthOutcome {
        if !credentials.is_scheme("bearer") {
            return AuthOutcome::NotMine;
        }
        let token = credentials.token();
        let outcome = match self.check(token) {
            Ok(user) => return AuthOutcome::Authenticated(user),
            Err(Failure::Refused(refusal)) => return AuthOutcome::Refused(refusal),
            Err(Failure::NeedKeys(refusal)) => refusal,
        };
        // An unknown `kid` (a rotation at the provider) or no keys yet: ask for a fetch
        // and, when one is coming, check again once it has ended.
        let waiting = self.jwks.as_ref().and_then(JwksCache::request_refresh);
        match waiting {
            Some(listener) => {
                // Bounded: a refresher that stopped (its task aborted, its runtime shut
                // down) must not hold requests forever.
                let bound = futures_timer::Delay::new(MAX_KEY_WAIT);
                futures_util::future::select(listener, bound).await;
                match self.check(token) {
                    Ok(user) => AuthOutcome::Authenticated(user),
                    Err(Failure::Refused(refusal) | Failure::NeedKeys(refusal)) => {
                        AuthOutcome::Refused(refusal)
                    }
                }
            }
            None => AuthOutcome::Refused(outcome),
        }
    }

    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        let challenge = refusal
            .filter(|r| r.scheme().eq_ignore_ascii_case("bearer"))
            .and_then(|r| self.error_challenge(r.reason()));
        out.push(challenge.unwrap_or_else(|| self.challenge.clone()));
    }
}

/// Builds a [`Jwt`]: [`Jwt::builder`], setters named after the configuration keys, then
/// [`build`](Self::build), which checks that the settings go together.
///
/// # Examples
///
/// ```
/// use canister_core::auth::Jwt;
/// use canister_core::config::{JwtAlgorithm, JwtEncoding};
///
/// let jwt = Jwt::builder("alice")
///     .secret_encoded("c2VjcmV0", JwtEncoding::Base64Std) // "secret"
///     .algorithms([JwtAlgorithm::HS256, JwtAlgorithm::HS512])
///     .realm("api")
///     .build()?;
/// assert_eq!(jwt.algorithms(), [JwtAlgorithm::HS256, JwtAlgorithm::HS512]);
/// # Ok::<(), canister_core::auth::AuthError>(())
/// ```
pub struct JwtBuilder {
    audience: String,
    secret: Option<SecretInput>,
    secret_previous: Option<SecretInput>,
    public_key: Option<PublicKeyInput>,
    jwks: Option<JwksCache>,
    algorithms: Vec<JwtAlgorithm>,
    issuer: Option<String>,
    leeway: u64,
    realm: String,
    clock: Arc<dyn Clock>,
}

enum SecretInput {
    Bytes(Vec<u8>),
    Encoded(String, JwtEncoding),
}

enum PublicKeyInput {
    Pem(Vec<u8>),
    File(PathBuf),
}

impl JwtBuilder {
    /// The HMAC secret for HS algorithms, as bytes.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(SecretInput::Bytes(secret.as_ref().to_vec()));
        self
    }

    /// The HMAC secret written in `encoding` (`auth_jwt_secret` with `auth_jwt_encoding`); the
    /// base64 forms accept the padding or its absence. Decoded by [`build`](Self::build).
    pub fn secret_encoded(mut self, secret: impl Into<String>, encoding: JwtEncoding) -> Self {
        self.secret = Some(SecretInput::Encoded(secret.into(), encoding));
        self
    }

    /// The previous HMAC secret (`auth_jwt_secret_previous`), accepted beside the secret so
    /// that it can be rotated without a flag day: tokens signed with either verify. Remove
    /// it once the tokens signed with it have expired.
    pub fn secret_previous(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret_previous = Some(SecretInput::Bytes(secret.as_ref().to_vec()));
        self
    }

    /// The previous HMAC secret written in `encoding`, as [`secret_encoded`](Self::secret_encoded).
    pub fn secret_previous_encoded(
        mut self,
        secret: impl Into<String>,
        encoding: JwtEncoding,
    ) -> Self {
        self.secret_previous = Some(SecretInput::Encoded(secret.into(), encoding));
        self
    }

    /// Verifies RS/PS/ES/EdDSA tokens with an identity provider's keys, chosen by `kid`
    /// (`auth_jwt_jwks_url`, `auth_oidc_issuer`), instead of one PEM public key. The cache
    /// is filled by a refresher (`canister-oidc`).
    pub fn jwks(mut self, keys: JwksCache) -> Self {
        self.jwks = Some(keys);
        self
    }

    /// The accepted algorithms (`auth_jwt_algorithms`); default HS256 only.
    ///
    /// # Security
    ///
    /// Accept only the algorithms your token issuer uses.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = JwtAlgorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The PEM public key (RSA for RS/PS, EC for ES algorithms), given as its text.
    pub fn public_key_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.public_key = Some(PublicKeyInput::Pem(pem.as_ref().to_vec()));
        self
    }

    /// The PEM public key file (`auth_jwt_public_key`), read by [`build`](Self::build).
    pub fn public_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.public_key = Some(PublicKeyInput::File(path.into()));
        self
    }

    /// The issuer (`iss`) tokens must carry (`auth_jwt_issuer`); default: not checked.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Seconds of clock skew allowed on `exp` and `nbf` (`auth_jwt_leeway`); default 0.
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The realm named in the Bearer challenge (`auth_jwt_realm`); default `private`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The clock that says whether a token has expired; default the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the authenticator.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] when the audience or the secret is empty, the secret is not valid in its
    /// encoding, an accepted algorithm has no key, a key has no accepted algorithm, the
    /// algorithms need different kinds of key, or the public key cannot be read or parsed.
    pub fn build(self) -> Result<Jwt, AuthError> {
        if self.audience.is_empty() {
            return Err(AuthError::EmptyAudience);
        }
        let mut algorithms = Vec::with_capacity(self.algorithms.len());
        for algorithm in self.algorithms {
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        if algorithms.is_empty() {
            return Err(AuthError::NoAlgorithms);
        }
        let hmac_algorithms: Vec<_> = algorithms.iter().copied().filter(|a| a.is_hmac()).collect();
        let public_algorithms: Vec<_> = algorithms
            .iter()
            .copied()
            .filter(|a| !a.is_hmac())
            .collect();

        let mut hmac = Vec::new();
        match (self.secret, hmac_algorithms.first()) {
            (Some(secret), Some(_)) => {
                for secret in std::iter::once(secret).chain(self.secret_previous) {
                    let secret = decode_secret(secret)?;
                    if secret.is_empty() {
                        return Err(AuthError::EmptySecret);
                    }
                    hmac.push(DecodingKey::from_secret(&secret));
                }
            }
            (None, Some(&algorithm)) => return Err(AuthError::MissingSecret { algorithm }),
            (Some(_), None) => return Err(AuthError::UnusedSecret),
            (None, None) => {}
        }

        let public = match (self.public_key, public_algorithms.first()) {
            (Some(_), _) if self.jwks.is_some() => return Err(AuthError::UnusedPublicKey),
            (None, Some(_)) if self.jwks.is_some() => None,
            (Some(input), Some(&first)) => {
                if let Some(&second) = public_algorithms
                    .iter()
                    .find(|a| key_kind(**a) != key_kind(first))
                {
                    return Err(AuthError::MixedKeyTypes { first, second });
                }
                let pem = match input {
                    PublicKeyInput::Pem(pem) => pem,
                    PublicKeyInput::File(path) => std::fs::read(&path)
                        .map_err(|source| AuthError::PublicKeyFile { path, source })?,
                };
                let key = match key_kind(first) {
                    KeyKind::Rsa => DecodingKey::from_rsa_pem(&pem),
                    KeyKind::EcP256 | KeyKind::EcP384 => DecodingKey::from_ec_pem(&pem),
                    KeyKind::Ed25519 => DecodingKey::from_ed_pem(&pem),
                }
                .map_err(|source| AuthError::InvalidPublicKey {
                    kind: match key_kind(first) {
                        KeyKind::Rsa => "RSA",
                        KeyKind::Ed25519 => "Ed25519",
                        _ => "EC",
                    },
                    source,
                })?;
                Some(key)
            }
            (None, Some(&algorithm)) => return Err(AuthError::MissingPublicKey { algorithm }),
            (Some(_), None) => return Err(AuthError::UnusedPublicKey),
            (None, None) => None,
        };

        let realm_quoted = quoted_string_content(&self.realm);
        let challenge = HeaderValue::from_str(&format!("Bearer realm=\"{realm_quoted}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"private\""));
        Ok(Jwt {
            algorithms,
            hmac,
            public,
            jwks: self.jwks,
            audience: self.audience,
            issuer: self.issuer,
            leeway: self.leeway,
            realm_quoted,
            challenge,
            clock: self.clock,
        })
    }
}

impl fmt::Debug for JwtBuilder {
    /// Shows the settings, never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBuilder")
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

fn key_kind(algorithm: JwtAlgorithm) -> KeyKind {
    match algorithm {
        JwtAlgorithm::ES256 => KeyKind::EcP256,
        JwtAlgorithm::ES384 => KeyKind::EcP384,
        JwtAlgorithm::EdDSA => KeyKind::Ed25519,
        _ => KeyKind::Rsa,
    }
}

/// The length in bytes of the HMAC secret `secret` written in `encoding`, once decoded;
/// `None` when it does not decode (the authenticator's build reports that).
pub(crate) fn secret_len(secret: &str, encoding: JwtEncoding) -> Option<usize> {
    decode_secret(SecretInput::Encoded(secret.to_owned(), encoding))
        .ok()
        .map(|bytes| bytes.len())
}

/// The shortest HMAC secret for `algorithm`, in bytes: its hash's output size (RFC 7518
/// section 3.2: "a key of the same size as the hash output … or larger MUST be used").
pub(crate) fn min_secret_len(algorithm: JwtAlgorithm) -> usize {
    match algorithm {
        JwtAlgorithm::HS384 => 48,
        JwtAlgorithm::HS512 => 64,
        _ => 32,
    }
}

fn decode_secret(secret: SecretInput) -> Result<Vec<u8>, AuthError> {
    match secret {
        SecretInput::Bytes(bytes) => Ok(bytes),
        SecretInput::Encoded(text, JwtEncoding::Clear) => Ok(text.into_bytes()),
        SecretInput::Encoded(text, JwtEncoding::Base64Std) => BASE64_STD
            .decode(text.trim())
            .map_err(|_| AuthError::InvalidSecret {
                encoding: "base64std",
                expected: "standard base64 (A-Z, a-z, 0-9, + and /), padding optional",
            }),
        SecretInput::Encoded(text, JwtEncoding::Base64Url) => BASE64_URL
            .decode(text.trim())
            .map_err(|_| AuthError::InvalidSecret {
                encoding: "base64url",
                expected: "url-safe base64 (A-Z, a-z, 0-9, - and _), padding optional",
            }),
    }
}

fn from_jwt_algorithm(algorithm: Algorithm) -> Option<JwtAlgorithm> {
    Some(match algorithm {
        Algorithm::HS256 => JwtAlgorithm::HS256,
        Algorithm::HS384 => JwtAlgorithm::HS384,
        Algorithm::HS512 => JwtAlgorithm::HS512,
        Algorithm::RS256 => JwtAlgorithm::RS256,
        Algorithm::RS384 => JwtAlgorithm::RS384,
        Algorithm::RS512 => JwtAlgorithm::RS512,
        Algorithm::ES256 => JwtAlgorithm::ES256,
        Algorithm::ES384 => JwtAlgorithm::ES384,
        Algorithm::PS256 => JwtAlgorithm::PS256,
        Algorithm::PS384 => JwtAlgorithm::PS384,
        Algorithm::PS512 => JwtAlgorithm::PS512,
        Algorithm::EdDSA => JwtAlgorithm::EdDSA,
        _ => return None,
    })
}

/// Whether the (already readable) JOSE header `head` has a `crit` member, of any value.
fn has_crit(head: &str) -> bool {
    BASE64_URL_NO_PAD
        .decode(head)
        .ok()
        .and_then(|json| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json).ok()
        })
        // jsonwebtoken read this header, so it is a JSON object; anything else is refused.
        .is_none_or(|members| members.contains_key("crit"))
}

/// Why [`Jwt::check`] did not accept a token.
enum Failure {
    /// Refused for good.
    Refused(Refusal),
    /// Refused unless a fetch of the provider's keys brings the key (unknown `kid`, no keys
    /// yet).
    NeedKeys(Refusal),
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal)
    }
}

/// The `iss` claim of `token`, read without verifying anything (to choose which issuer's
/// authenticator checks it): `None` when the token is too long, not three parts, or its
/// payload carries no string `iss`.
pub(super) fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let json = BASE64_URL_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&json).ok()?.iss
}

pub(super) fn refusal(reason: impl Into<std::borrow::Cow<'static, str>>) -> Refusal {
    Refusal::new("Bearer", reason)
}

/// The refusal for a token whose header jsonwebtoken cannot read: `alg` none or unknown, or
/// garbage. Only fixed texts go into the reason, never the token's own.
fn header_refusal(token: &str) -> Refusal {
    let alg = token
        .split('.')
        .next()
        .and_then(|head| lenient(&base64::alphabet::URL_SAFE).decode(head).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|header| match header.get("alg") {
            Some(serde_json::Value::String(alg)) => Some(alg.clone()),
            _ => None,
        });
    match alg {
        Some(alg) if alg.eq_ignore_ascii_case("none") => {
            refusal("algorithm \"none\" is not accepted")
        }
        // A supported algorithm over a token that is not three parts.
        Some(alg) if alg.parse::<Algorithm>().is_ok() => refusal("malformed token"),
        Some(_) => refusal("unsupported algorithm"),
        None => refusal("malformed token"),
    }
}

/// The reason for an error of jsonwebtoken's signature check.
fn reason_of(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::Base64(_) => "malformed signature",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_) => "algorithm does not match the key",
        _ => "invalid token",
    }
}

/// `reason` in the characters RFC 6750 allows in `error_description` (visible ASCII but `"`
/// and `\`).
fn error_description(reason: &str) -> String {
    reason
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::TestClock;

    fn refused(jwt: &Jwt, token: &str) -> String {
        match jwt.verify(token) {
            Ok(user) => panic!("expected a refusal, got {user:?}"),
            Err(refusal) => {
                assert_eq!(refusal.scheme(), "Bearer");
                refusal.reason().to_owned()
            }
        }
    }

    #[test]
    fn error_description_has_no_quotes_or_backslashes() {
        assert_eq!(
            error_description("algorithm \"none\" is \\ not ok é\n"),
            "algorithm 'none' is / not ok ??"
        );
    }

    #[test]
    fn bearer_challenge_with_and_without_refusal() {
        let jwt = Jwt::builder("aud")
            .secret("s")
            .realm("my \"api\"")
            .build()
            .unwrap();
        let mut out = Vec::new();
        jwt.challenges(None, &mut out);
        jwt.challenges(
            Some(&Refusal::new("Basic", "wrong username or password")),
            &mut out,
        );
        jwt.challenges(
            Some(&Refusal::new(
                "Bearer",
                "algorithm \"none\" is not accepted",
            )),
            &mut out,
        );
        assert_eq!(out[0], r#"Bearer realm="my \"api\"""#);
        assert_eq!(out[1], out[0]);
        assert_eq!(
            out[2],
            r#"Bearer realm="my \"api\"", error="invalid_token", error_description="algorithm 'none' is not accepted""#
        );
    }

    #[test]
    fn secret_encodings_decode_with_or_without_padding() {
        // 0xfb 0xff: "+/8=" in base64std, "-_8=" in base64url.
        let cases = [
            ("+/8=", JwtEncoding::Base64Std),
            ("+/8", JwtEncoding::Base64Std),
            ("-_8=", JwtEncoding::Base64Url),
            ("-_8", JwtEncoding::Base64Url),
        ];
        for (text, encoding) in cases {
            let bytes = decode_secret(SecretInput::Encoded(text.to_owned(), encoding)).unwrap();
            assert_eq!(bytes, [0xfb, 0xff], "{text}");
        }
        assert_eq!(
            decode_secret(SecretInput::Encoded("+/8".to_owned(), JwtEncoding::Clear)).unwrap(),
            b"+/8"
        );
        for (text, encoding) in [
            ("-_8", JwtEncoding::Base64Std),
            ("+/8", JwtEncoding::Base64Url),
        ] {
            let err = decode_secret(SecretInput::Encoded(text.to_owned(), encoding)).unwrap_err();
            assert!(matches!(err, AuthError::InvalidSecret { .. }), "{err}");
            assert!(!err.to_string().contains(text), "{err}");
        }
    }

    #[test]
    fn build_checks_settings() {
        let err = |b: JwtBuilder| b.build().unwrap_err();
        assert!(matches!(
            err(Jwt::builder("").secret("s")),
            AuthError::EmptyAudience
        ));
        assert!(matches!(
            err(Jwt::builder("a")),
            AuthError::MissingSecret { .. }
        ));
        assert!(matches!(
            err(Jwt::builder("a").secret("")),
            AuthError::EmptySecret
        ));
        assert!(matches!(
            err(Jwt::builder("a").secret("s").algorithms([])),
            AuthError::NoAlgorithms
        ));
        assert!(matches!(
            err(Jwt::builder("a")
                .secret("s")
                .algorithms([JwtAlgorithm::RS256])),
            AuthError::UnusedSecret
        ));
        assert!(matches!(
            err(Jwt::builder("a").algorithms([JwtAlgorithm::ES256])),
            AuthError::MissingPublicKey { .. }
        ));
        assert!(matches!(
            err(Jwt::builder("a").secret("s").public_key_pem("x")),
            AuthError::UnusedPublicKey
        ));
        assert!(matches!(
            err(Jwt::builder("a")
                .public_key_pem("x")
                .algorithms([JwtAlgorithm::RS256, JwtAlgorithm::ES256])),
            AuthError::MixedKeyTypes { .. }
        ));
        assert!(matches!(
            err(Jwt::builder("a")
                .public_key_pem("not a pem")
                .algorithms([JwtAlgorithm::RS256])),
            AuthError::InvalidPublicKey { kind: "RSA", .. }
        ));
        assert!(matches!(
            err(Jwt::builder("a")
                .public_key_file("/nonexistent/key.pem")
                .algorithms([JwtAlgorithm::PS256])),
            AuthError::PublicKeyFile { .. }
        ));
    }

    #[test]
    fn garbage_and_oversized_tokens_are_refused() {
        let jwt = Jwt::hs256("alice", "secret").unwrap();
        assert_eq!(refused(&jwt, ""), "empty token");
        assert_eq!(refused(&jwt, "garbage"), "malformed token");
        assert_eq!(refused(&jwt, "a.b.c"), "malformed token");
        assert_eq!(refused(&jwt, "...."), "malformed token");
        assert_eq!(
            refused(&jwt, &"a".repeat(10 * 1024)),
            "token longer than 8192 bytes"
        );
        // A valid header over a garbage body.
        let head = BASE64_URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let reason = refused(&jwt, &format!("{head}.!!!.abc"));
        assert!(
            reason == "malformed token" || reason == "bad signature",
            "{reason}"
        );
    }

    /// A token over raw `payload` bytes, HS256-signed with `secret`.
    fn signed(payload: &[u8], secret: &[u8]) -> String {
        let head = BASE64_URL_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = BASE64_URL_NO_PAD.encode(payload);
        let input = format!("{head}.{body}");
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{input}.{sig}")
    }

    /// A token with header `head` over `payload`, HS256-signed with `secret`.
    fn signed_with_head(head: &[u8], payload: &[u8], secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            BASE64_URL_NO_PAD.encode(head),
            BASE64_URL_NO_PAD.encode(payload)
        );
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{input}.{sig}")
    }

    /// Finding 19: a `crit` header was ignored; RFC 7515 4.1.11 requires refusing a critical
    /// extension the recipient does not implement, and canister implements none.
    #[test]
    fn critical_header_extensions_are_refused() {
        let jwt = Jwt::hs256("a", "s").unwrap();
        let claims = br#"{"sub":"u","aud":"a","exp":4102444800}"#;
        let plain = signed_with_head(br#"{"alg":"HS256","typ":"JWT"}"#, claims, b"s");
        assert_eq!(jwt.verify(&plain).unwrap().name(), "u");
        for head in [
            &br#"{"alg":"HS256","crit":["http://evil/ext"],"http://evil/ext":1}"#[..],
            br#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
            br#"{"alg":"HS256","crit":[]}"#,
            br#"{"alg":"HS256","crit":null}"#,
        ] {
            let token = signed_with_head(head, claims, b"s");
            assert_eq!(
                refused(&jwt, &token),
                "unsupported critical header parameters (crit)",
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn signed_but_odd_claims_are_refused() {
        let jwt = Jwt::builder("a").secret("s").issuer("me").build().unwrap();
        let ok = br#"{"sub":"u","aud":"a","iss":"me","exp":4102444800}"#;
        assert_eq!(jwt.verify(&signed(ok, b"s")).unwrap().name(), "u");
        let cases: [(&[u8], &str); 10] = [
            (b"not json", "malformed claims"),
            (b"[1,2]", "malformed claims"),
            (
                br#"{"sub":"u","aud":5,"iss":"me","exp":4102444800}"#,
                "wrong audience (aud)",
            ),
            (
                br#"{"sub":"u","aud":["b",5],"iss":"me","exp":4102444800}"#,
                "wrong audience (aud)",
            ),
            (
                br#"{"sub":"u","aud":null,"iss":"me","exp":4102444800}"#,
                "missing audience (aud)",
            ),
            (
                br#"{"sub":"u","aud":"a","iss":["me"],"exp":4102444800}"#,
                "wrong issuer (iss)",
            ),
            (
                br#"{"sub":"u","aud":"a","exp":4102444800}"#,
                "missing issuer (iss)",
            ),
            (
                br#"{"sub":"u","aud":"a","iss":"me","exp":"4102444800"}"#,
                "malformed expiry (exp)",
            ),
            (
                br#"{"sub":5,"aud":"a","iss":"me","exp":4102444800}"#,
                "missing subject (sub)",
            ),
            (
                br#"{"sub":"","aud":"a","iss":"me","exp":4102444800}"#,
                "missing subject (sub)",
            ),
        ];
        for (payload, reason) in cases {
            assert_eq!(
                refused(&jwt, &signed(payload, b"s")),
                reason,
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        assert_eq!(refused(&jwt, &signed(ok, b"t")), "bad signature");
        assert_eq!(
            refused(&jwt, &format!("{}.x", signed(ok, b"s"))),
            "malformed token"
        );
        let token = signed(ok, b"s");
        let (input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(refused(&jwt, &format!("{input}.!!")), "malformed signature");
    }

    #[test]
    fn times_follow_the_clock_and_leeway() {
        let clock = TestClock::at(UNIX_EPOCH + Duration::from_secs(1_000));
        let jwt = Jwt::builder("a")
            .secret("s")
            .leeway(10)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut claims = Claims::new();
        claims.insert("exp".into(), 1_005.into());
        claims.insert("nbf".into(), 1_008.into());
        assert!(jwt.check_times(&claims).is_ok());
        clock.set(UNIX_EPOCH + Duration::from_secs(1_014));
        assert!(jwt.check_times(&claims).is_ok());
        clock.set(UNIX_EPOCH + Duration::from_secs(1_015));
        assert_eq!(
            jwt.check_times(&claims).unwrap_err().reason(),
            "token expired"
        );
        clock.set(UNIX_EPOCH + Duration::from_secs(997));
        assert_eq!(
            jwt.check_times(&claims).unwrap_err().reason(),
            "token not yet valid (nbf)"
        );
        claims.insert("nbf".into(), "soon".into());
        clock.set(UNIX_EPOCH + Duration::from_secs(1_000));
        assert_eq!(
            jwt.check_times(&claims).unwrap_err().reason(),
            "malformed not-before (nbf)"
        );
    }
}
