//! Keys from an identity provider: JWK Sets (RFC 7517), OpenID discovery documents, and when
//! to fetch them again. Sans-IO: the fetching is `canister-oidc`'s.
//!
//! - [`JwkSet::parse`] reads a key set once, keeping the usable signing keys already parsed
//!   ([`jsonwebtoken::DecodingKey`] per key): a request never parses a key.
//! - [`Discovery::parse`] reads `/.well-known/openid-configuration` and checks its `issuer`.
//! - [`RefreshPolicy`] decides, from times it is given, when the set is due again: every
//!   `auth_jwt_jwks_refresh` seconds, sooner when the provider's `Cache-Control: max-age`
//!   says so, at most once per 10 s for tokens naming an unknown `kid`, and after a failure
//!   with a backoff from 1 s to 30 s.
//! - [`JwksCache`] is what the [`Jwt`](super::Jwt) authenticator reads per request and the
//!   refresher writes: the last good key set and the policy, shared.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use event_listener::{Event, EventListener};
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, JwtAlgorithm};

/// At most one refresh per this long for tokens whose `kid` is unknown.
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(10);

/// The shortest period honoured from a provider's `Cache-Control: max-age` (a `max-age=0`
/// or `no-store` must not make every request a fetch).
pub const MIN_MAX_AGE: Duration = Duration::from_secs(10);

/// The longest wait between two attempts while the provider fails.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// The `Retry-After` a Bearer request gets, in seconds, while no key was ever fetched.
pub const RETRY_AFTER_SECS: u32 = 10;

/// The largest key set read, in bytes (real ones are a few kilobytes).
pub const MAX_DOCUMENT_LEN: usize = 1024 * 1024;

/// Why a key set or discovery document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is not JSON of the expected shape.
    #[error("{document} is not valid: {reason}")]
    Malformed {
        /// `JWK Set` or `discovery document`.
        document: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The key set holds no key canister can verify a signature with (`oct` keys, keys
    /// whose `use` is not `sig`, unknown key types and curves are left out).
    #[error("JWK Set has no usable signing key ({skipped} key(s) left out)")]
    NoUsableKey {
        /// How many keys were left out.
        skipped: usize,
    },
    /// The discovery document's `issuer` is not the configured `auth_oidc_issuer`
    /// (OpenID Connect Discovery 1.0, section 4.3: they must be identical).
    #[error(
        "discovery document's issuer {found:?} is not the configured auth_oidc_issuer {expected:?}"
    )]
    IssuerMismatch {
        /// `auth_oidc_issuer`.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
}

/// The kind of a public key, which says which algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `kty: RSA`: RS256/384/512, PS256/384/512.
    Rsa,
    /// `kty: EC`, `crv: P-256`: ES256.
    EcP256,
    /// `kty: EC`, `crv: P-384`: ES384.
    EcP384,
    /// `kty: OKP`, `crv: Ed25519`: EdDSA.
    Ed25519,
}

impl KeyKind {
    /// Whether a key of this kind verifies `algorithm`.
    pub fn fits(self, algorithm: JwtAlgorithm) -> bool {
        use JwtAlgorithm as A;
        match self {
            KeyKind::Rsa => matches!(
                algorithm,
                A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
            ),
            KeyKind::EcP256 => algorithm == A::ES256,
            KeyKind::EcP384 => algorithm == A::ES384,
            KeyKind::Ed25519 => algorithm == A::EdDSA,
        }
    }
}

/// One usable signing key of a [`JwkSet`], parsed once.
pub struct Jwk {
    kid: Option<String>,
    alg: Option<JwtAlgorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

impl Jwk {
    /// The key id (`kid`), if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's algorithm (`alg`), if it names one.
    pub fn alg(&self) -> Option<JwtAlgorithm> {
        self.alg
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Whether this key may verify a token signed with `algorithm`: its `alg`, when it has
    /// one, must be that algorithm, and its kind must fit it (Entra ID's keys carry no
    /// `alg`).
    pub fn accepts(&self, algorithm: JwtAlgorithm) -> bool {
        self.alg.is_none_or(|alg| alg == algorithm) && self.kind.fits(algorithm)
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A JWK Set (RFC 7517 section 5) reduced to its usable signing keys, each parsed once.
///
/// Left out: symmetric (`oct`) keys, keys whose `use` is not `sig`, keys whose `key_ops`
/// does not include `verify`, keys of an unknown type, curve or algorithm, and malformed
/// keys. A set with no usable key is an error (the last good set then keeps serving).
///
/// # Examples
///
/// ```
/// use canister_core::auth::JwkSet;
/// use canister_core::config::JwtAlgorithm;
///
/// let set = JwkSet::parse(br#"{"keys": [
///     {"kty": "OKP", "crv": "Ed25519", "kid": "k1", "use": "sig", "alg": "EdDSA",
///      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///     {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}
/// ]}"#)?;
/// assert_eq!(set.len(), 1);
/// assert_eq!(set.skipped(), 1);
/// assert!(set.find(Some("k1"), JwtAlgorithm::EdDSA).is_some());
/// assert!(set.find(Some("k1"), JwtAlgorithm::ES256).is_none());
/// # Ok::<(), canister_core::auth::JwksError>(())
/// ```
#[derive(Debug, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    skipped: usize,
}

impl JwkSet {
    /// Parses a JWK Set document.
    ///
    /// # Errors
    ///
    /// [`JwksError::Malformed`] when it is not a JSON object with a `keys` array,
    /// [`JwksError::NoUsableKey`] when no key is usable.
    pub fn parse(json: &[u8]) -> Result<Self, JwksError> {
        let malformed = |reason: &str| JwksError::Malformed {
            document: "JWK Set",
            reason: reason.to_owned(),
        };
        if json.len() > MAX_DOCUMENT_LEN {
            return Err(malformed("longer than 1 MiB"));
        }
        let value: Value =
            serde_json::from_slice(json).map_err(|_| malformed("not a JSON document"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("no `keys` array"))?;
        let mut set = JwkSet::default();
        for key in keys {
            match parse_key(key) {
                Some(key) => set.keys.push(key),
                None => set.skipped += 1,
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKey {
                skipped: set.skipped,
            });
        }
        Ok(set)
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable key (never, for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the document were left out.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The key for a token with header `kid` signed with `algorithm`: the key of that `kid`
    /// when it accepts the algorithm; for a token without `kid`, the only key that accepts
    /// it (none when several do).
    pub fn find(&self, kid: Option<&str>, algorithm: JwtAlgorithm) -> Option<&Jwk> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.accepts(algorithm)),
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.accepts(algorithm));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Some(key),
                    _ => None,
                }
            }
        }
    }

    /// Whether some key has this `kid` (whatever its algorithm).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The two members of an OpenID Provider's discovery document canister uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// `issuer`: equal to the configured one.
    pub issuer: String,
    /// `jwks_uri`: where the keys are.
    pub jwks_uri: String,
}

impl Discovery {
    /// The discovery URL of `issuer`: `issuer` without a trailing `/`, then
    /// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 4).
    ///
    /// ```
    /// assert_eq!(
    ///     canister_core::auth::Discovery::url("https://id.example.com/realms/main/"),
    ///     "https://id.example.com/realms/main/.well-known/openid-configuration"
    /// );
    /// ```
    pub fn url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }

    /// Parses a discovery document and checks that its `issuer` is `expected_issuer`.
    ///
    /// # Errors
    ///
    /// [`JwksError::Malformed`] without a string `issuer` or an `http(s)` `jwks_uri`;
    /// [`JwksError::IssuerMismatch`] when the issuer is another.
    pub fn parse(json: &[u8], expected_issuer: &str) -> Result<Self, JwksError> {
        let malformed = |reason: &str| JwksError::Malformed {
            document: "discovery document",
            reason: reason.to_owned(),
        };
        if json.len() > MAX_DOCUMENT_LEN {
            return Err(malformed("longer than 1 MiB"));
        }
        let value: Value =
            serde_json::from_slice(json).map_err(|_| malformed("not a JSON document"))?;
        let issuer = value
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no `issuer` string"))?;
        let jwks_uri = value
            .get("jwks_uri")
            .and_then(Value::as_str)
            .filter(|u| {
                let lower = u.to_ascii_lowercase();
                lower.starts_with("https://") || lower.starts_with("http://")
            })
            .ok_or_else(|| malformed("no http(s) `jwks_uri`"))?;
        if issuer != expected_issuer {
            return Err(JwksError::IssuerMismatch {
                expected: expected_issuer.to_owned(),
                found: issuer.to_owned(),
            });
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            jwks_uri: jwks_uri.to_owned(),
        })
    }
}

/// The `max-age` of a `Cache-Control` header value, if any: `no-store` and `no-cache` count
/// as 0. The caller applies [`MIN_MAX_AGE`] ([`RefreshPolicy::fetched`] does).
///
/// ```
/// use std::time::Duration;
/// use canister_core::auth::cache_max_age;
///
/// assert_eq!(cache_max_age("public, max-age=300"), Some(Duration::from_secs(300)));
/// assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
/// assert_eq!(cache_max_age("public"), None);
/// ```
pub fn cache_max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age") {
            if let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok()) {
                found = Some(Duration::from_secs(secs));
            }
        }
    }
    found
}

/// When to fetch the key set: a pure state machine over the times it is given.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use canister_core::auth::RefreshPolicy;
///
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
/// let mut policy = RefreshPolicy::new(Duration::from_secs(600));
/// assert!(policy.is_due(t0)); // nothing fetched yet
/// policy.fetched(t0, Some(Duration::from_secs(120))); // Cache-Control: max-age=120
/// assert_eq!(policy.next_due(), Some(t0 + Duration::from_secs(120)));
/// assert!(policy.unknown_kid(t0 + Duration::from_secs(30)));
/// assert!(!policy.unknown_kid(t0 + Duration::from_secs(35))); // once per 10 s
/// ```
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    period: Duration,
    next: Option<SystemTime>,
    last_forced: Option<SystemTime>,
    last_success: Option<SystemTime>,
    failures: u32,
}

impl RefreshPolicy {
    /// A policy refreshing every `period` (`auth_jwt_jwks_refresh`), due at once.
    pub fn new(period: Duration) -> Self {
        Self {
            period: period.max(Duration::from_secs(1)),
            next: None,
            last_forced: None,
            last_success: None,
            failures: 0,
        }
    }

    /// When the next fetch is due; `None`: now.
    pub fn next_due(&self) -> Option<SystemTime> {
        self.next
    }

    /// Whether a fetch is due at `now`.
    pub fn is_due(&self, now: SystemTime) -> bool {
        self.next.is_none_or(|next| now >= next)
    }

    /// How long from `now` until the next fetch (zero when due).
    pub fn wait(&self, now: SystemTime) -> Duration {
        self.next
            .and_then(|next| next.duration_since(now).ok())
            .unwrap_or(Duration::ZERO)
    }

    /// A fetch succeeded at `now`; the provider said `max_age` (from `Cache-Control`). The
    /// next one is due after the period or the `max-age`, whichever is shorter, and never
    /// sooner than [`MIN_MAX_AGE`].
    pub fn fetched(&mut self, now: SystemTime, max_age: Option<Duration>) {
        let after = max_age.map_or(self.period, |age| age.max(MIN_MAX_AGE).min(self.period));
        self.next = Some(now + after);
        self.last_success = Some(now);
        self.failures = 0;
    }

    /// A fetch failed at `now`: the next attempt comes after 1, 2, 4, … seconds, at most
    /// [`MAX_RETRY`] (and never later than the period).
    pub fn failed(&mut self, now: SystemTime) {
        self.failures = self.failures.saturating_add(1);
        let backoff = Duration::from_secs(1u64 << self.failures.saturating_sub(1).min(5));
        self.next = Some(now + backoff.min(MAX_RETRY).min(self.period));
    }

    /// A token named a `kid` the set does not have (or came while no key was ever fetched):
    /// makes a fetch due now and answers `true`, unless one was forced less than
    /// [`UNKNOWN_KID_INTERVAL`] ago (then `false`, nothing changes).
    pub fn unknown_kid(&mut self, now: SystemTime) -> bool {
        let recent = self.last_forced.is_some_and(|last| {
            now.duration_since(last)
                .is_ok_and(|elapsed| elapsed < UNKNOWN_KID_INTERVAL)
                // A clock that went back: treat as recent.
                || now < last
        });
        if recent {
            return false;
        }
        self.last_forced = Some(now);
        self.next = Some(now);
        true
    }

    /// When the last fetch succeeded.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.last_success
    }

    /// Failures in a row since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The keys of an identity provider, shared between the [`Jwt`](super::Jwt) authenticator
/// (which reads them per request) and the refresher that fetches them (`canister-oidc`).
///
/// Cloning shares the same cache. The refresher calls [`next_wait`](Self::next_wait) and
/// [`listen_for_request`](Self::listen_for_request) to know when to fetch, then
/// [`store`](Self::store) or [`fetch_failed`](Self::fetch_failed).
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    set: RwLock<Option<Arc<JwkSet>>>,
    state: Mutex<CacheState>,
    /// Wakes the refresher: a request wants keys now.
    wake: Event,
    /// Wakes requests waiting for a fetch to end.
    done: Event,
    attached: AtomicBool,
    clock: Arc<dyn Clock>,
    source: String,
}

struct CacheState {
    policy: RefreshPolicy,
    /// A request asked for a fetch that has not ended yet.
    pending: bool,
}

impl JwksCache {
    /// An empty cache for the provider named `source` (its issuer or key set URL, for
    /// messages), refreshed every `period`, on the system clock.
    pub fn new(source: impl Into<String>, period: Duration) -> Self {
        Self::new_with_clock(source, period, SystemClock)
    }

    /// Like [`new`](Self::new), on `clock`.
    pub fn new_with_clock(source: impl Into<String>, period: Duration, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        Self {
            inner: Arc::new(CacheInner {
                set: RwLock::new(None),
                state: Mutex::new(CacheState {
                    policy: RefreshPolicy::new(period),
                    pending: false,
                }),
                wake: Event::new(),
                done: Event::new(),
                attached: AtomicBool::new(false),
                clock,
                source: source.into(),
            }),
        }
    }

    /// The cache the configuration describes (`auth_oidc_issuer` or `auth_jwt_jwks_url`,
    /// `auth_jwt_jwks_refresh`), or `None` when it names no provider.
    pub fn from_config(config: &Config) -> Option<Self> {
        let source = config
            .auth
            .jwt
            .oidc_issuer
            .clone()
            .or_else(|| config.auth.jwt.jwks_url.clone())?;
        Some(Self::new(
            source,
            Duration::from_secs(config.auth.jwt.jwks_refresh),
        ))
    }

    /// The provider's name given at creation.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The current key set; `None` until a fetch succeeded.
    pub fn keys(&self) -> Option<Arc<JwkSet>> {
        self.inner
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The clock the cache's policy runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Says that a refresher is running: requests with an unknown `kid` then wait for the
    /// fetch they cause instead of being refused at once. The refresher calls it once.
    pub fn attach(&self) {
        self.inner.attached.store(true, Ordering::Release);
    }

    /// How long the refresher should wait before the next fetch (zero: fetch now).
    pub fn next_wait(&self) -> Duration {
        let now = self.inner.clock.now();
        self.lock().policy.wait(now)
    }

    /// A listener woken when a request wants a fetch before it is due. Take it before
    /// reading [`next_wait`](Self::next_wait), so that no request is missed between the two.
    pub fn listen_for_request(&self) -> EventListener {
        self.inner.wake.listen()
    }

    /// Replaces the keys with `set`, fetched now; `max_age` is the provider's
    /// `Cache-Control` max-age. Wakes the requests waiting for it.
    pub fn store(&self, set: JwkSet, max_age: Option<Duration>) {
        let now = self.inner.clock.now();
        *self
            .inner
            .set
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(set));
        let mut state = self.lock();
        state.policy.fetched(now, max_age);
        state.pending = false;
        drop(state);
        self.inner.done.notify(usize::MAX);
    }

    /// A fetch failed now. Answers what the refresher should say: whether keys are still
    /// serving (the last good ones) and how many attempts failed in a row. Wakes the
    /// requests waiting for it.
    pub fn fetch_failed(&self) -> FetchFailure {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        state.policy.failed(now);
        state.pending = false;
        let failure = FetchFailure {
            serving_last_good: self.keys().is_some(),
            failures: state.policy.failures(),
            last_success: state.policy.last_success(),
        };
        drop(state);
        self.inner.done.notify(usize::MAX);
        failure
    }

    /// A token's `kid` is unknown, or no key was ever fetched: asks for a fetch (at most one
    /// per [`UNKNOWN_KID_INTERVAL`]). Answers a listener for the end of the fetch when one
    /// is coming and a refresher is attached, so the request can wait for it.
    pub(crate) fn request_refresh(&self) -> Option<EventListener> {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        let forced = state.policy.unknown_kid(now);
        if forced {
            state.pending = true;
        }
        let listener = (state.pending && self.inner.attached.load(Ordering::Acquire))
            .then(|| self.inner.done.listen());
        drop(state);
        if forced {
            self.inner.wake.notify(usize::MAX);
        }
        listener
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.inner.source)
            .field("keys", &self.keys().map(|k| k.len()))
            .finish_non_exhaustive()
    }
}

/// What [`JwksCache::fetch_failed`] tells the refresher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchFailure {
    /// The last good keys keep serving (else Bearer requests get 503).
    pub serving_last_good: bool,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the last fetch succeeded.
    pub last_success: Option<SystemTime>,
}

fn parse_key(key: &Value) -> Option<Jwk> {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    // RFC 7517 4.2: `use` other than `sig` (e.g. `enc`) is not for signatures.
    if key.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    // RFC 7517 4.3: `key_ops`, when present, must allow `verify`.
    if let Some(ops) = key.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verify {
            return None;
        }
    }
    let alg = match key.get("alg") {
        None | Some(Value::Null) => None,
        Some(Value::String(alg)) => Some(alg.parse::<JwtAlgorithm>().ok()?),
        Some(_) => return None,
    };
    if alg.is_some_and(JwtAlgorithm::is_hmac) {
        return None;
    }
    let (kind, decoding) = match text("kty")? {
        "RSA" => {
            let (n, e) = (text("n")?, text("e")?);
            // Decode once here so a malformed key is left out now, not at each request.
            let n_bytes = b64(n)?;
            b64(e)?;
            // RSA keys shorter than 2048 bits are refused (RFC 7518 section 3.3).
            if n_bytes.iter().skip_while(|b| **b == 0).count() < 256 {
                return None;
            }
            (KeyKind::Rsa, DecodingKey::from_rsa_components(n, e).ok()?)
        }
        "EC" => {
            let (kind, len) = match text("crv")? {
                "P-256" => (KeyKind::EcP256, 32),
                "P-384" => (KeyKind::EcP384, 48),
                _ => return None,
            };
            let (x, y) = (text("x")?, text("y")?);
            if b64(x)?.len() != len || b64(y)?.len() != len {
                return None;
            }
            (kind, DecodingKey::from_ec_components(x, y).ok()?)
        }
        "OKP" => {
            if text("crv")? != "Ed25519" {
                return None;
            }
            let x = text("x")?;
            if b64(x)?.len() != 32 {
                return None;
            }
            (KeyKind::Ed25519, DecodingKey::from_ed_components(x).ok()?)
        }
        // `oct` (symmetric) and anything else.
        _ => return None,
    };
    if alg.is_some_and(|alg| !kind.fits(alg)) {
        return None;
    }
    let kid = match key.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return None,
    };
    Some(Jwk {
        kid,
        alg,
        kind,
        key: decoding,
    })
}

fn b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::TestClock;

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn rsa_n() -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xc5u8; 256])
    }

    #[test]
    fn parse_keeps_usable_signing_keys_only() {
        let n = rsa_n();
        let json = format!(
            r#"{{"keys": [
            {{"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": "{n}", "e": "AQAB"}},
            {{"kty": "RSA", "kid": "noalg", "n": "{n}", "e": "AQAB"}},
            {{"kty": "RSA", "kid": "enc", "use": "enc", "n": "{n}", "e": "AQAB"}},
            {{"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": "{n}", "e": "AQAB"}},
            {{"kty": "RSA", "kid": "short", "n": "xcXF", "e": "AQAB"}},
            {{"kty": "RSA", "kid": "mismatch", "alg": "ES256", "n": "{n}", "e": "AQAB"}},
            {{"kty": "oct", "kid": "hs", "alg": "HS256", "k": "c2VjcmV0"}},
            {{"kty": "EC", "kid": "p256", "crv": "P-256", "x": "{x}", "y": "{x}"}},
            {{"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "{x}", "y": "{x}"}},
            {{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "{ED_X}"}},
            {{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "{ED_X}"}},
            {{"kty": "RSA", "kid": 5, "n": "{n}", "e": "AQAB"}},
            "garbage"
        ]}}"#,
            x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]),
        );
        let set = JwkSet::parse(json.as_bytes()).unwrap();
        let kids: Vec<_> = set.keys().iter().filter_map(Jwk::kid).collect();
        assert_eq!(kids, ["r1", "noalg", "p256", "ed"]);
        assert_eq!(set.skipped(), 9);
        // `alg` must match the token's; a key without `alg` fits by its type.
        assert!(set.find(Some("r1"), JwtAlgorithm::RS256).is_some());
        assert!(set.find(Some("r1"), JwtAlgorithm::PS256).is_none());
        assert!(set.find(Some("noalg"), JwtAlgorithm::PS512).is_some());
        assert!(set.find(Some("noalg"), JwtAlgorithm::ES256).is_none());
        assert!(set.find(Some("p256"), JwtAlgorithm::ES256).is_some());
        assert!(set.find(Some("p256"), JwtAlgorithm::ES384).is_none());
        assert!(set.find(Some("ed"), JwtAlgorithm::EdDSA).is_some());
        assert!(set.find(Some("hs"), JwtAlgorithm::HS256).is_none());
        assert!(set.find(Some("nope"), JwtAlgorithm::RS256).is_none());
        // Without kid: the only fitting key, none when two fit.
        assert!(set.find(None, JwtAlgorithm::EdDSA).is_some());
        assert!(set.find(None, JwtAlgorithm::RS256).is_none());
        assert!(set.has_kid("r1") && !set.has_kid("hs"));
    }

    #[test]
    fn parse_refuses_documents_without_usable_keys() {
        let err = JwkSet::parse(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap_err();
        assert_eq!(err, JwksError::NoUsableKey { skipped: 1 });
        for bad in [&b"not json"[..], b"[]", br#"{"keys": 5}"#, b"{}"] {
            assert!(matches!(
                JwkSet::parse(bad).unwrap_err(),
                JwksError::Malformed { .. }
            ));
        }
        let huge = vec![b' '; MAX_DOCUMENT_LEN + 1];
        assert!(matches!(
            JwkSet::parse(&huge).unwrap_err(),
            JwksError::Malformed { .. }
        ));
    }

    #[test]
    fn discovery_issuer_must_be_identical() {
        let doc = br#"{"issuer":"https://id.example.com/realms/a","jwks_uri":"https://id.example.com/realms/a/certs"}"#;
        let d = Discovery::parse(doc, "https://id.example.com/realms/a").unwrap();
        assert_eq!(d.jwks_uri, "https://id.example.com/realms/a/certs");
        assert!(matches!(
            Discovery::parse(doc, "https://id.example.com/realms/a/").unwrap_err(),
            JwksError::IssuerMismatch { .. }
        ));
        assert!(matches!(
            Discovery::parse(br#"{"issuer":"x","jwks_uri":"file:///etc/passwd"}"#, "x")
                .unwrap_err(),
            JwksError::Malformed { .. }
        ));
        assert_eq!(
            Discovery::url("https://login.microsoftonline.com/t/v2.0"),
            "https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration"
        );
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(cache_max_age("max-age=60"), Some(Duration::from_secs(60)));
        assert_eq!(
            cache_max_age("public, max-age=\"90\", must-revalidate"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(cache_max_age("no-cache, max-age=60"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("max-age=abc"), None);
        assert_eq!(cache_max_age(""), None);
    }

    #[test]
    fn policy_periodic_and_max_age() {
        let mut p = RefreshPolicy::new(Duration::from_secs(600));
        assert!(p.is_due(at(0)));
        p.fetched(at(100), None);
        assert!(!p.is_due(at(699)));
        assert!(p.is_due(at(700)));
        assert_eq!(p.wait(at(400)), Duration::from_secs(300));
        // A shorter max-age wins; a longer one does not; a tiny one is floored at 10 s.
        p.fetched(at(1_000), Some(Duration::from_secs(60)));
        assert_eq!(p.next_due(), Some(at(1_060)));
        p.fetched(at(2_000), Some(Duration::from_secs(3_600)));
        assert_eq!(p.next_due(), Some(at(2_600)));
        p.fetched(at(3_000), Some(Duration::ZERO));
        assert_eq!(p.next_due(), Some(at(3_010)));
    }

    #[test]
    fn policy_failures_back_off_to_thirty_seconds() {
        let mut p = RefreshPolicy::new(Duration::from_secs(600));
        let mut waits = Vec::new();
        for _ in 0..8 {
            p.failed(at(0));
            waits.push(p.wait(at(0)).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(p.failures(), 8);
        p.fetched(at(50), None);
        assert_eq!(p.failures(), 0);
        assert_eq!(p.last_success(), Some(at(50)));
    }

    #[test]
    fn policy_unknown_kid_at_most_once_per_ten_seconds() {
        let mut p = RefreshPolicy::new(Duration::from_secs(600));
        p.fetched(at(0), None);
        let forced: Vec<bool> = (0..1000).map(|_| p.unknown_kid(at(100))).collect();
        assert_eq!(forced.iter().filter(|f| **f).count(), 1);
        assert!(p.is_due(at(100)));
        p.fetched(at(101), None);
        assert!(!p.unknown_kid(at(109)));
        assert!(!p.is_due(at(109)));
        assert!(p.unknown_kid(at(110)));
        // A clock that went back does not force again.
        assert!(!p.unknown_kid(at(50)));
    }

    #[test]
    fn cache_requests_wake_the_refresher_once_and_waiters_on_the_result() {
        let clock = TestClock::at(at(1_000));
        let cache =
            JwksCache::new_with_clock("test", Duration::from_secs(600), Arc::new(clock.clone()));
        assert!(cache.keys().is_none());
        // No refresher attached: no waiting.
        assert!(cache.request_refresh().is_none());
        cache.attach();
        let set = || {
            JwkSet::parse(
                format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","kid":"a"}}]}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        cache.store(set(), None);
        assert_eq!(cache.next_wait(), Duration::from_secs(600));
        clock.advance(Duration::from_secs(20));
        let mut wake = cache.listen_for_request();
        let first = cache.request_refresh();
        assert!(first.is_some());
        assert_eq!(cache.next_wait(), Duration::ZERO);
        // The refresher was woken.
        assert!(futures_util::FutureExt::now_or_never(&mut wake).is_some());
        // A second request within 10 s waits on the same pending fetch, causes none.
        let second = cache.request_refresh();
        assert!(second.is_some());
        let failure = cache.fetch_failed();
        assert!(failure.serving_last_good);
        assert_eq!(failure.failures, 1);
        for listener in [first, second].into_iter().flatten() {
            assert!(futures_util::FutureExt::now_or_never(listener).is_some());
        }
        // Not pending any more, and within 10 s: no new fetch, nothing to wait for.
        clock.advance(Duration::from_secs(5));
        assert!(cache.request_refresh().is_none());
        clock.advance(Duration::from_secs(5));
        assert!(cache.request_refresh().is_some());
    }
}
