//! Configuration: canister's INI file, a builder in code, and `CANISTER_<KEY>` overrides.
//!
//! A config file written for the Python plugin loads unchanged: section `[canister]`, keys
//! case-insensitive (as Python's `configparser`), the old spelling `session_timout`, bottle's
//! own `debug` key (accepted and ignored) and the README's `auth_client_id` (accepted and
//! ignored, as canister itself did: it only ever read `auth_jwt_client_id`, so a file with
//! `auth_client_id` never had JWT on). Other sections belong to the application and are ignored.
//!
//! Every key is listed in [`KEYS`] with what it accepts. An unknown key in a file or in code,
//! or a bad value anywhere, is a [`ConfigError`] naming the key, the value (masked when
//! secret), what was expected and where it came from ([`Config::origin`]: `file, line N`,
//! `environment variable CANISTER_…` or `code`).
//!
//! # Warnings
//!
//! Some settings are accepted but deserve a word at start-up; [`Config::warnings`] lists
//! them, and the engine logs each as a WARNING after its banner
//! ([`startup_warnings`](crate::log::startup_warnings)). They are kept in the `Config`
//! because they are found while reading it, before any log sink exists:
//!
//! - `auth_client_id` (the spelling of canister's README sample) is read and ignored: JWT
//!   stays off, as it did in Python. The warning says to write `auth_jwt_client_id`, and
//!   whether `auth_jwt_secret` would then decode in its `auth_jwt_encoding` (the sample's
//!   `my-secret` is not base64url: it needs `auth_jwt_encoding = clear`).
//! - `CANISTER_*` environment variables that name no key are ignored, not refused: Kubernetes
//!   injects `CANISTER_SERVICE_HOST`, `CANISTER_PORT`, `CANISTER_PORT_8080_TCP`, … into every
//!   pod of a namespace with a Service named `canister`. The warning names them (never their
//!   values) and suggests the key a near miss was probably meant to be. A *known* key with a
//!   bad value is still an error.

mod ini;
mod secret;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, Method};

use crate::log::Level;

pub use ini::parse_ini;

/// The default of `session_max_bytes`: 64 KiB of data per session.
pub const DEFAULT_SESSION_MAX_BYTES: usize = 65_536;

/// The default of `session_remember_timeout`: 30 days.
pub const DEFAULT_SESSION_REMEMBER_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);

/// The largest `session_max_bytes` accepted: 64 MiB (a record is copied on every load).
pub const MAX_SESSION_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A configuration key: its canonical name, what it accepts, and whether it is secret.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo {
    /// The key as written in the INI file (lowercase).
    pub name: &'static str,
    /// What values are accepted, for error messages.
    pub expected: &'static str,
    /// Whether the value is masked when printed or logged.
    pub secret: bool,
}

const fn key(name: &'static str, expected: &'static str) -> KeyInfo {
    KeyInfo {
        name,
        expected,
        secret: false,
    }
}

const fn secret(name: &'static str, expected: &'static str) -> KeyInfo {
    KeyInfo {
        name,
        expected,
        secret: true,
    }
}

const BOOL: &str = "true or false (also yes/no, on/off, 1/0)";

/// Every configuration key canister reads.
pub const KEYS: &[KeyInfo] = &[
    key(
        "debug",
        "bottle's debug flag: true or false (read and ignored)",
    ),
    key(
        "auth_client_id",
        "anything: canister's README spelling, never read by canister (use auth_jwt_client_id)",
    ),
    key(
        "log_path",
        "a directory for daily log files (unset: the console)",
    ),
    key(
        "log_level",
        "DISABLED, DEBUG, INFO, WARNING (or WARN), ERROR or CRITICAL",
    ),
    key(
        "log_days",
        "a number of days to keep log files (integer ≥ 1)",
    ),
    key(
        "log_slow_ms",
        "milliseconds after which a response is logged as slow (integer ≥ 0)",
    ),
    key(
        "log_trust_proxy",
        "true, false, or the number of trusted proxies in front of the app (0 to 16)",
    ),
    key(
        "log_file_mode",
        "octal permissions for new log files, at least 0600 and at most 0777 (e.g. 0640)",
    ),
    key(
        "log_dir_mode",
        "octal permissions for a new log directory, at least 0700 and at most 0777 (e.g. 0750)",
    ),
    key(
        "log_sink",
        "canister (canister's line layout, default) or tracing (the application's tracing subscriber)",
    ),
    key(
        "request_id_header",
        "the header name that carries the request id (default x-request-id)",
    ),
    key("request_id_trust", BOOL),
    key(
        "session_timeout",
        "seconds of inactivity before a session expires (≤ 0: never)",
    ),
    key("session_cookie", "a cookie name (RFC 6265 token)"),
    key("session_cookie_samesite", "Lax, Strict or None"),
    key("session_cookie_secure", "auto, true or false"),
    key(
        "session_cookie_domain",
        "a domain name for the cookie's Domain attribute",
    ),
    key(
        "session_cookie_path",
        "a path starting with /, in ASCII, without `;` or control characters",
    ),
    key("session_cookie_persistent", BOOL),
    // Issue #22 (session lifecycle): keys kept together for the config refactor to port.
    key("session_cookie_partitioned", BOOL),
    key(
        "session_max_lifetime",
        "seconds after a login or creation when a session ends whatever its activity (0: none)",
    ),
    key(
        "session_remember_timeout",
        "seconds a remembered login lasts: its cookie's Max-Age and its time to live (number > 0, default 2592000)",
    ),
    key(
        "session_max_per_user",
        "the most live sessions one user may have; a login beyond it ends the oldest (integer, 0: no cap)",
    ),
    key("session_locking", BOOL),
    key(
        "session_lock_timeout",
        "seconds to wait for a session lock (number > 0)",
    ),
    key(
        "session_max",
        "the most sessions the memory store holds (integer ≥ 1, default 100000; 0: no cap)",
    ),
    key(
        "session_max_bytes",
        "the most bytes of data one session holds (integer from 1 to 67108864, default 65536)",
    ),
    key("session_on_store_error", "fail or anonymous"),
    secret(
        "session_store",
        "memory, or a redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URL (several comma-separated redis:// or rediss:// URLs: a cluster)",
    ),
    key("session_store_prefix", "a key prefix for the store"),
    key(
        "session_store_timeout",
        "seconds a store operation may take (number > 0)",
    ),
    key(
        "session_store_tls_ca",
        "the path of a PEM file of the CA certificates a rediss:// server is checked against (unset: the system roots)",
    ),
    key(
        "session_store_tls_cert",
        "the path of a PEM client certificate (chain) for rediss://, with session_store_tls_key",
    ),
    key(
        "session_store_tls_key",
        "the path of the PEM private key of session_store_tls_cert",
    ),
    key(
        "session_store_replicas",
        "the number of replicas that must hold a save before it is acknowledged (integer from 0 to 16)",
    ),
    key(
        "cors",
        "*, false, or a comma-separated list of origins (scheme://host[:port])",
    ),
    key("cors_methods", "a comma-separated list of HTTP methods"),
    key(
        "cors_headers",
        "* (any header asked for) or a comma-separated list of header names; unset: accept, accept-language, content-language, content-type, authorization",
    ),
    key(
        "cors_expose_headers",
        "a comma-separated list of header names",
    ),
    key("cors_credentials", BOOL),
    key(
        "cors_max_age",
        "seconds a preflight may be cached (integer ≥ 0)",
    ),
    key("csrf", BOOL),
    key(
        "csrf_trusted_origins",
        "a comma-separated list of origins (scheme://host[:port])",
    ),
    key("auth_basic_username", "a user name (no ':')"),
    secret(
        "auth_basic_password",
        "the password, or with sha256 its hex SHA-256 digest",
    ),
    key("auth_basic_encryption", "clear or sha256"),
    key("auth_basic_realm", "a realm name for the Basic challenge"),
    key(
        "auth_basic_htpasswd",
        "the path of an htpasswd file of bcrypt ($2y$ or $2b$) hashes",
    ),
    key("auth_basic_challenge", BOOL),
    key("auth_jwt_client_id", "the audience (aud) tokens must carry"),
    secret("auth_jwt_secret", "the HMAC secret, in auth_jwt_encoding"),
    key("auth_jwt_encoding", "clear, base64std or base64url"),
    key(
        "auth_jwt_algorithms",
        "a comma-separated list of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA",
    ),
    secret(
        "auth_jwt_public_key",
        "the path of a PEM public key file (RS*, ES*, PS*)",
    ),
    key("auth_jwt_issuer", "the issuer (iss) tokens must carry"),
    key(
        "auth_jwt_leeway",
        "seconds of clock skew allowed on exp and nbf (integer ≥ 0)",
    ),
    key("auth_jwt_realm", "a realm name for the Bearer challenge"),
    secret(
        "auth_jwt_secret_previous",
        "the previous HMAC secret, in auth_jwt_encoding, still accepted while tokens signed with it live",
    ),
    key(
        "auth_jwt_jwks_url",
        "the https:// (or http://) URL of the identity provider's JWK Set",
    ),
    key(
        "auth_oidc_issuer",
        "the OpenID Connect issuer URL (its /.well-known/openid-configuration names the JWK Set)",
    ),
    key(
        "auth_jwt_jwks_refresh",
        "seconds between refreshes of the JWK Set (integer from 10 to 86400, default 600)",
    ),
    key(
        "auth_jwt_cookie",
        "the name of a cookie holding the bearer token when there is no Authorization header",
    ),
    key("auth_remember", BOOL),
];

/// Old or alternative spellings accepted for compatibility with canister's files.
const ALIASES: &[(&str, &str)] = &[("session_timout", "session_timeout")];

/// The longest `session_timeout`: ten years of 365 days. A longer one overflows what stores
/// and cookies can express (Redis refused every write of `1e17` seconds); to keep sessions
/// forever, write 0 (or any value ≤ 0), as in canister.
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 86_400);
/// The longest `session_lock_timeout`: one hour. A request that waits longer for its
/// session is better answered 503 (`1e19` seconds used to panic on every request).
pub const MAX_LOCK_TIMEOUT: Duration = Duration::from_secs(3_600);
/// The most replicas `session_store_replicas` may wait for.
pub const MAX_STORE_REPLICAS: u32 = 16;
/// The longest `session_store_timeout`: one hour.
pub const MAX_STORE_TIMEOUT: Duration = Duration::from_secs(3_600);
/// The shortest `session_lock_timeout` and `session_store_timeout`: one millisecond (shorter
/// values round to nothing and every request would fail).
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// The most days of log files `log_days` keeps: a hundred years.
pub const MAX_LOG_DAYS: u32 = 36_500;
/// The largest `log_slow_ms`: one day, in milliseconds.
pub const MAX_LOG_SLOW_MS: u64 = 86_400_000;
/// The largest `session_max`: a billion sessions (0 still means no cap).
pub const MAX_SESSION_MAX: usize = 1_000_000_000;
/// The largest `cors_max_age`: one day, in seconds; browsers cap it lower anyway (Firefox
/// at a day, Chromium at two hours).
pub const MAX_CORS_MAX_AGE: u64 = 86_400;
/// The largest `auth_jwt_leeway`: one hour, in seconds. The leeway lengthens every token's
/// life; clocks further apart than this are a fault to fix, not to allow for.
pub const MAX_JWT_LEEWAY: u64 = 3_600;

/// The request headers a CORS preflight allows when `cors_headers` is unset: the
/// CORS-safelisted request headers (`accept`, `accept-language`, `content-language`,
/// `content-type`; Fetch standard) and `authorization`, for Basic and Bearer.
///
/// `cookie` is not among them (browsers send cookies without asking), nor is any custom
/// header: list those in `cors_headers`.
pub const DEFAULT_CORS_HEADERS: [HeaderName; 5] = [
    http::header::ACCEPT,
    http::header::ACCEPT_LANGUAGE,
    http::header::CONTENT_LANGUAGE,
    http::header::CONTENT_TYPE,
    http::header::AUTHORIZATION,
];

/// Every numeric key with its accepted range, as [`ConfigError::OutOfRange`] names it.
///
/// Each bound is checked when the key is read (file, environment, [`Config::set`]) and again
/// by [`Config::validate`], which every constructor and the engine's builder run, so a value
/// written straight into a [`Config`] field is held to the same range.
pub const RANGES: &[(&str, &str)] = &[
    ("log_days", "1 to 36500 days (a hundred years)"),
    ("log_slow_ms", "0 to 86400000 milliseconds (one day)"),
    (
        "session_timeout",
        "at most 315360000 seconds (ten years); 0 or less: never expire",
    ),
    ("session_lock_timeout", "0.001 to 3600 seconds (one hour)"),
    (
        "session_max_lifetime",
        "at most 315360000 seconds (ten years); 0: none",
    ),
    (
        "session_remember_timeout",
        "0.001 to 315360000 seconds (ten years)",
    ),
    ("session_max_per_user", "0 (no cap) to 100000 sessions"),
    ("session_max", "0 (no cap) to 1000000000 sessions"),
    ("session_store_timeout", "0.001 to 3600 seconds (one hour)"),
    ("session_store_replicas", "0 to 16 replicas"),
    (
        "cors_max_age",
        "0 to 86400 seconds (one day; browsers cap it lower)",
    ),
    ("auth_jwt_leeway", "0 to 3600 seconds (one hour)"),
    ("auth_jwt_jwks_refresh", "10 to 86400 seconds (one day)"),
];

/// A secret string (password, token secret, URL with a password): never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigation from other sites, not on their subrequests (default).
    Lax,
    /// Never sent from other sites.
    Strict,
    /// Always sent (requires `Secure`; browsers drop it otherwise).
    None,
}

/// When the session cookie gets its `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// When the request arrived over https (URI scheme, `X-Forwarded-Proto` or `Forwarded`).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where the engine's events go (`log_sink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogSinkKind {
    /// Canister's line layout, on stderr or in daily files (`log_path`): the default, so
    /// canister's configuration files keep their meaning.
    #[default]
    Canister,
    /// `tracing` events in a span per request, for the application's subscriber
    /// (`log::TracingSink`, feature `tracing`).
    Tracing,
}

/// What happens when the session store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// The client gets a 503 (default): a write is never reported as done when it was not.
    Fail,
    /// The request goes on with an empty session that is not saved.
    Anonymous,
}

/// How `auth_basic_password` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicEncryption {
    /// The password itself.
    Clear,
    /// The hex SHA-256 digest of the password: unsalted and fast, so weak against a leaked
    /// configuration; prefer `auth_basic_htpasswd` (bcrypt) for new setups.
    Sha256,
}

/// How `auth_jwt_secret` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtEncoding {
    /// The secret's bytes as written.
    Clear,
    /// Standard base64 (`+` and `/`), padding optional.
    Base64Std,
    /// URL-safe base64 (`-` and `_`), padding optional.
    Base64Url,
}

/// A JWT signature algorithm canister accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    ES256,
    ES384,
    PS256,
    PS384,
    PS512,
    EdDSA,
}

impl JwtAlgorithm {
    /// The algorithms accepted by default from an identity provider's keys
    /// (`auth_jwt_jwks_url`, `auth_oidc_issuer`): every asymmetric one.
    pub const PROVIDER_DEFAULT: [JwtAlgorithm; 9] = [
        JwtAlgorithm::RS256,
        JwtAlgorithm::RS384,
        JwtAlgorithm::RS512,
        JwtAlgorithm::PS256,
        JwtAlgorithm::PS384,
        JwtAlgorithm::PS512,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::EdDSA,
    ];

    /// The algorithm's name as in a JWT header.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::HS384 => "HS384",
            JwtAlgorithm::HS512 => "HS512",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether the algorithm is an HMAC (shared secret) one.
    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
        )
    }
}

impl FromStr for JwtAlgorithm {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "HS256" => JwtAlgorithm::HS256,
            "HS384" => JwtAlgorithm::HS384,
            "HS512" => JwtAlgorithm::HS512,
            "RS256" => JwtAlgorithm::RS256,
            "RS384" => JwtAlgorithm::RS384,
            "RS512" => JwtAlgorithm::RS512,
            "ES256" => JwtAlgorithm::ES256,
            "ES384" => JwtAlgorithm::ES384,
            "PS256" => JwtAlgorithm::PS256,
            "PS384" => JwtAlgorithm::PS384,
            "PS512" => JwtAlgorithm::PS512,
            "EDDSA" => JwtAlgorithm::EdDSA,
            _ => return Err(()),
        })
    }
}

/// The `CORS` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers (default).
    Disabled,
    /// `*`: every origin, as canister (`Access-Control-Allow-Origin: *` on every response).
    Any,
    /// These origins only (`scheme://host[:port]`, lowercase); the request's origin is echoed.
    List(Vec<String>),
}

/// The whole configuration, with canister's defaults.
///
/// Fields are public for reading and for building in code; [`Config::set`] takes the INI
/// spelling, and [`Config::validate`] checks combinations (run by every constructor here and
/// by the engine).
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Bottle's `debug` flag, accepted for compatibility and ignored.
    pub debug: bool,
    /// Directory of the daily log files; `None`: the console (stderr).
    pub log_path: Option<PathBuf>,
    /// The lowest level written; `None` is `DISABLED`. Default `INFO`.
    pub log_level: Option<Level>,
    /// Days of log files kept. Default 30, as canister.
    pub log_days: u32,
    /// A response slower than this is logged at WARNING with `!!!`. Default 1000 ms, as
    /// canister.
    pub log_slow_ms: u64,
    /// How many proxies in front of the app are trusted to append to `X-Forwarded-For`; the
    /// logged client address is the one the outermost trusted proxy appended. Default 0:
    /// the peer address, forwarding headers ignored.
    ///
    /// The INI value is `false` (0), `true` (1, canister's spelling: one proxy such as nginx
    /// with `$proxy_add_x_forwarded_for`) or a number of hops up to
    /// [`MAX_TRUSTED_PROXIES`](Self::MAX_TRUSTED_PROXIES). The address is taken from the
    /// *right* of the list, as nginx's `real_ip_recursive` and Express's `trust proxy = N`
    /// do: everything to the left of what a trusted proxy appended was written by the client
    /// and is ignored. Set it only when every request reaches the app through that many
    /// proxies you control, or a client can choose the address that is logged.
    pub log_trust_proxy: u8,
    /// Unix permissions of a log file canister creates. Default `0o600`: the logs hold user
    /// names, client addresses and URLs, so only the owner reads them. A file that already
    /// exists keeps its permissions. Not used outside Unix.
    pub log_file_mode: u32,
    /// Unix permissions of the `log_path` directory when canister creates it (directories
    /// above it are created with the process umask). Default `0o700`. A directory that
    /// already exists keeps its permissions: canister never loosens or tightens them behind
    /// the administrator's back. Not used outside Unix.
    pub log_dir_mode: u32,
    /// Where the engine's events go: canister's lines (default) or `tracing`.
    pub log_sink: LogSinkKind,
    /// The header that carries a request's id, on every response (and, with
    /// `request_id_trust`, read from the request). Default `x-request-id`.
    pub request_id_header: HeaderName,
    /// Keep a request's incoming `request_id_header` as its id when it is 1 to 128 visible
    /// ASCII characters. Default false: every request gets a new id, so a client cannot
    /// choose what the logs call its request. Set it when a proxy you control (or a caller
    /// you trust) makes the ids.
    pub request_id_trust: bool,
    /// Sliding session lifetime; `None` never expires. Default one hour, as canister.
    pub session_timeout: Option<Duration>,
    /// The session cookie's name. Default `session_id`, as canister.
    pub session_cookie: String,
    /// `SameSite` of the cookie. Default `Lax`: sent on navigation to the site, not on other
    /// sites' subrequests (a CSRF defence that keeps links from other sites working).
    pub session_cookie_samesite: SameSite,
    /// `Secure` of the cookie. Default automatic (set over https).
    pub session_cookie_secure: CookieSecure,
    /// `Domain` of the cookie; `None` (default): the host only.
    pub session_cookie_domain: Option<String>,
    /// `Path` of the cookie. Default `/`.
    pub session_cookie_path: String,
    /// Whether every session cookie carries `Max-Age` (the session timeout); otherwise it
    /// lasts until the browser closes. Default false (since issue #22; it was true): only a
    /// remembered login ([`Session::login_remembered`](crate::Session::login_remembered))
    /// gets a persistent cookie, with `session_remember_timeout` as its `Max-Age`.
    pub session_cookie_persistent: bool,
    /// Whether the cookie carries `Partitioned` (CHIPS: a third-party cookie kept per
    /// top-level site). Default false. Browsers keep a `Partitioned` cookie only when it is
    /// `Secure`, so `session_cookie_secure = false` is refused with it.
    pub session_cookie_partitioned: bool,
    /// How long after its login (or its creation, for an anonymous session) a session ends,
    /// whatever its activity: OWASP's absolute timeout. `None` (default, `0`): no limit.
    ///
    /// Counted from the creation time the session's record carries (written at creation
    /// and at every login or logout); a session stored by an older canister, which has
    /// none, is bounded from its next login.
    pub session_max_lifetime: Option<Duration>,
    /// How long a remembered login lasts
    /// ([`Session::login_remembered`](crate::Session::login_remembered)): its cookie's
    /// `Max-Age` and its time to live in the store, sliding as `session_timeout` does.
    /// Default 30 days.
    pub session_remember_timeout: Duration,
    /// The most live sessions one user may have; a login beyond it ends the user's oldest
    /// sessions (by login time). `0` (default): no cap. Needs a store with a per-user index
    /// ([`SessionStore::sessions_of`](crate::SessionStore::sessions_of)): the memory store
    /// and the Redis store (not on Redis Cluster) have one.
    pub session_max_per_user: usize,
    /// Serialise the requests of one session (exact read-modify-write). Default false.
    ///
    /// The lock is taken when the session is first loaded and released after the response
    /// is built, or as soon as the request is dropped (the client went away). It has a lease
    /// (30 s in Redis) as a last resort against a handler that never returns. Where the
    /// session is loaded before the body is read (axum's `Session` and `User` extractors run
    /// before a body extractor; warp's filters in the order you write them), a slow upload
    /// holds the session's lock, and other requests of that session wait up to
    /// `session_lock_timeout` and then get 503. Only the uploader's own session is affected;
    /// in warp, put `params()` before `session()`; in axum, keep slow uploads on routes that
    /// take neither `Session` nor `User`. (Rocket reads a form body before its fairing.)
    pub session_locking: bool,
    /// How long a request waits for the session lock before a 503. Default 5 s.
    pub session_lock_timeout: Duration,
    /// The most sessions the memory store holds, as set; read the cap in force with
    /// [`Config::session_cap`].
    ///
    /// - `None` (default): not set; the memory store holds at most
    ///   [`DEFAULT_MAX_SESSIONS`](crate::session::DEFAULT_MAX_SESSIONS) (100 000), so a
    ///   client that makes the application store something for anonymous visitors cannot
    ///   grow memory without bound.
    /// - `Some(0)`: no cap (the Python canister had none; set it only behind something that
    ///   limits session creation).
    /// - `Some(n)`: at most `n`.
    ///
    /// When full, the store evicts the least recently used anonymous session before any
    /// logged-in one ([`MemoryStore`](crate::MemoryStore)). The key applies to the memory
    /// store the engine builds: setting it (to anything) with a store given to
    /// [`Builder::store`](crate::Builder::store) is refused at build, as that store would
    /// silently ignore it.
    pub session_max: Option<usize>,
    /// The most bytes one session's data may take: its keys, their values as JSON and its
    /// user as JSON. Default 65 536; accepted 1 to 67 108 864 (64 MiB).
    ///
    /// A [`Session::insert`](crate::Session::insert) that would take the session past it is
    /// refused ([`InsertError::TooLarge`](crate::InsertError::TooLarge), a 413 in the demos)
    /// and changes nothing. Every load copies the whole record (and, with Redis, reads it in
    /// one blocking script), so this bounds what one client can make each request cost.
    pub session_max_bytes: usize,
    /// What happens when the store fails. Default: 503.
    pub session_on_store_error: OnStoreError,
    /// Where sessions live: `None` is the memory store; else a URL the store crate reads.
    pub session_store: Option<Secret>,
    /// Key prefix for stores that share a namespace. Default `canister:session:`.
    pub session_store_prefix: String,
    /// How long one store operation may take. Default 2 s.
    pub session_store_timeout: Duration,
    /// PEM file of the CA certificates a `rediss://` server must chain to. `None`: the
    /// system roots.
    pub session_store_tls_ca: Option<PathBuf>,
    /// PEM file of the client certificate (chain) presented to a `rediss://` server that
    /// asks for one; needs [`session_store_tls_key`](Self::session_store_tls_key).
    pub session_store_tls_cert: Option<PathBuf>,
    /// PEM file of the private key of
    /// [`session_store_tls_cert`](Self::session_store_tls_cert).
    pub session_store_tls_key: Option<PathBuf>,
    /// How many replicas must hold a save before the store acknowledges it (`WAIT`). Default
    /// 0: acknowledged once the master holds it. Accepted 0 to 16.
    pub session_store_replicas: u32,
    /// The `CORS` setting. Default disabled.
    pub cors: CorsOrigins,
    /// Methods a preflight allows. Default GET, HEAD, POST, PUT, PATCH, DELETE.
    pub cors_methods: Vec<Method>,
    /// Request headers a preflight allows (`cors_headers`).
    ///
    /// `None` (default): [`DEFAULT_CORS_HEADERS`], the CORS-safelisted request headers plus
    /// `authorization`. `Some(list)`: that list. A list holding `*` (`cors_headers = *`)
    /// allows whatever a preflight asks for: its `Access-Control-Request-Headers` is echoed,
    /// `cookie` included, even with `cors_credentials`.
    ///
    /// A preflight is always answered with the whole allowed list, whatever it asked for (as
    /// tower-http's `AllowHeaders::list`): the browser then refuses the real request if it
    /// needs a header outside the list. Earlier versions echoed every requested header by default.
    pub cors_headers: Option<Vec<HeaderName>>,
    /// Response headers scripts may read.
    pub cors_expose_headers: Vec<HeaderName>,
    /// Send `Access-Control-Allow-Credentials: true` (needs a list of origins).
    pub cors_credentials: bool,
    /// `Access-Control-Max-Age` of preflights, in seconds.
    pub cors_max_age: Option<u64>,
    /// Refuse cross-origin unsafe requests (any method but `GET`, `HEAD`, `OPTIONS`), whether
    /// or not they carry the session cookie. Default true.
    ///
    /// `Sec-Fetch-Site: same-origin`/`none` passes; `same-site` and `cross-site` pass only
    /// from a trusted `Origin`. Without `Sec-Fetch-Site`, an `Origin` equal to the request's
    /// `Host` (host and port) or a trusted one passes, any other (`null` included) gets 403.
    /// A request with neither header (curl, servers) passes. Behind a proxy that rewrites
    /// `Host`, list the public origin in `csrf_trusted_origins`.
    pub csrf: bool,
    /// Origins trusted for cross-origin unsafe requests (besides the CORS list), exactly as
    /// browsers send them: `https://app.example.com` (case-insensitive, no path).
    pub csrf_trusted_origins: Vec<String>,
    /// The Basic user's name.
    pub auth_basic_username: Option<String>,
    /// The Basic user's password (or its SHA-256, per `auth_basic_encryption`).
    pub auth_basic_password: Option<Secret>,
    /// How the password is given. Default clear.
    ///
    /// `sha256` is canister's mode: the hex SHA-256 of the password, **unsalted** and fast to
    /// compute, so a leaked configuration lets an attacker test billions of guesses a second,
    /// and equal passwords have equal digests. It keeps canister's files working; for new
    /// setups prefer [`auth_basic_htpasswd`](Self::auth_basic_htpasswd) (salted, slow
    /// bcrypt hashes).
    pub auth_basic_encryption: BasicEncryption,
    /// The Basic challenge's realm. Default `private`.
    pub auth_basic_realm: String,
    /// An htpasswd file of Basic users with bcrypt hashes (`htpasswd -B`), instead of
    /// `auth_basic_username` / `auth_basic_password`. Default none.
    ///
    /// Read once at start-up ([`Basic::from_htpasswd_file`](crate::Basic::from_htpasswd_file)
    /// has the format and limits): a line that is not `user:$2y$…` or `user:$2b$…` (an MD5,
    /// SHA-1, crypt or clear password) stops start-up with an error naming the line number,
    /// never the hash. Used by the `Authorization: Basic` header and by
    /// [`Session::verify_password`](crate::Session::verify_password) (login forms) alike.
    pub auth_basic_htpasswd: Option<PathBuf>,
    /// Whether a 401 carries the `WWW-Authenticate: Basic` challenge. Default true.
    ///
    /// `false` for an application with its own login form: browsers answer a Basic challenge
    /// by showing their own password dialog, over the application's page. Basic users still
    /// authenticate, by header and through
    /// [`Session::verify_password`](crate::Session::verify_password); only the challenge is
    /// left out, so the `User` extractors answer a plain 401 (RFC 9110 asks a 401 to carry a
    /// challenge; browser applications commonly leave it out for this reason). Answer a
    /// redirect to the login page instead by taking `Option<User>` in browser routes.
    pub auth_basic_challenge: bool,
    /// The audience JWTs must carry (OAuth2 client id).
    pub auth_jwt_client_id: Option<String>,
    /// The JWT HMAC secret.
    pub auth_jwt_secret: Option<Secret>,
    /// How the secret is encoded. Default clear.
    pub auth_jwt_encoding: JwtEncoding,
    /// Accepted JWT algorithms. Default HS256 only.
    pub auth_jwt_algorithms: Vec<JwtAlgorithm>,
    /// PEM public key file for RS*/ES*/PS* algorithms.
    pub auth_jwt_public_key: Option<PathBuf>,
    /// The issuer JWTs must carry, if set.
    pub auth_jwt_issuer: Option<String>,
    /// Clock skew allowed on `exp`/`nbf`, in seconds. Default 0.
    pub auth_jwt_leeway: u64,
    /// The Bearer challenge's realm. Default `private`.
    pub auth_jwt_realm: String,
    /// The previous HMAC secret, still accepted for verification (HS secret rotation).
    pub auth_jwt_secret_previous: Option<Secret>,
    /// The identity provider's JWK Set URL. Fetched by `canister-oidc`, not by the core.
    pub auth_jwt_jwks_url: Option<String>,
    /// The OpenID Connect issuer: discovery gives the JWK Set, and every token's `iss` must
    /// equal it.
    pub auth_oidc_issuer: Option<String>,
    /// Seconds between periodic refreshes of the JWK Set. Default 600; a shorter
    /// `Cache-Control: max-age` from the provider is honoured.
    pub auth_jwt_jwks_refresh: u64,
    /// A cookie to read the bearer token from when there is no `Authorization` header.
    pub auth_jwt_cookie: Option<String>,
    /// Keep a header-authenticated user in the session, as canister did. Default false: a
    /// cookie alone never replays an `Authorization` header's authority.
    pub auth_remember: bool,
    /// Where each key was last read from (canonical name, origin), for error messages and
    /// warnings; see [`Config::origin`].
    origins: Vec<(&'static str, String)>,
    /// `CANISTER_*` environment variables that name no key, ignored (names only, in the order
    /// met, no duplicates); see [`Config::warnings`].
    ignored_env: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            debug: false,
            log_path: None,
            log_level: Some(Level::Info),
            log_days: 30,
            log_slow_ms: 1000,
            log_trust_proxy: 0,
            log_file_mode: 0o600,
            log_dir_mode: 0o700,
            log_sink: LogSinkKind::Canister,
            request_id_header: HeaderName::from_static("x-request-id"),
            request_id_trust: false,
            session_timeout: Some(Duration::from_secs(3600)),
            session_cookie: "session_id".to_owned(),
            session_cookie_samesite: SameSite::Lax,
            session_cookie_secure: CookieSecure::Auto,
            session_cookie_domain: None,
            session_cookie_path: "/".to_owned(),
            session_cookie_persistent: false,
            session_cookie_partitioned: false,
            session_max_lifetime: None,
            session_remember_timeout: DEFAULT_SESSION_REMEMBER_TIMEOUT,
            session_max_per_user: 0,
            session_locking: false,
            session_lock_timeout: Duration::from_secs(5),
            session_max: None,
            session_max_bytes: DEFAULT_SESSION_MAX_BYTES,
            session_on_store_error: OnStoreError::Fail,
            session_store: None,
            session_store_prefix: "canister:session:".to_owned(),
            session_store_timeout: Duration::from_secs(2),
            session_store_tls_ca: None,
            session_store_tls_cert: None,
            session_store_tls_key: None,
            session_store_replicas: 0,
            cors: CorsOrigins::Disabled,
            cors_methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            cors_headers: None,
            cors_expose_headers: Vec::new(),
            cors_credentials: false,
            cors_max_age: None,
            csrf: true,
            csrf_trusted_origins: Vec::new(),
            auth_basic_username: None,
            auth_basic_password: None,
            auth_basic_encryption: BasicEncryption::Clear,
            auth_basic_realm: "private".to_owned(),
            auth_basic_htpasswd: None,
            auth_basic_challenge: true,
            auth_jwt_client_id: None,
            auth_jwt_secret: None,
            auth_jwt_encoding: JwtEncoding::Clear,
            auth_jwt_algorithms: vec![JwtAlgorithm::HS256],
            auth_jwt_public_key: None,
            auth_jwt_issuer: None,
            auth_jwt_leeway: 0,
            auth_jwt_realm: "private".to_owned(),
            auth_jwt_secret_previous: None,
            auth_jwt_jwks_url: None,
            auth_oidc_issuer: None,
            auth_jwt_jwks_refresh: 600,
            auth_jwt_cookie: None,
            auth_remember: false,
            origins: Vec::new(),
            ignored_env: Vec::new(),
        }
    }
}

/// Why a configuration could not be used.
///
/// `Debug` prints the same sentence as `Display` (as `anyhow::Error` does), so that
/// `fn main() -> Result<(), Box<dyn Error>>`, which prints its error with `Debug`, shows a
/// readable message rather than the enum's fields. Match on the variants for the fields.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key canister does not know. Check the spelling against [`KEYS`].
    #[error("unknown configuration key `{key}` (from {origin}); see canister_core::config::KEYS for the accepted keys")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it came from (file path, environment variable, code).
        origin: String,
    },
    /// A value the key does not accept.
    #[error("invalid value {value:?} for `{key}` (from {origin}): expected {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value, masked when the key is secret.
        value: String,
        /// What the key accepts.
        expected: String,
        /// Where it came from.
        origin: String,
    },
    /// A number outside the key's accepted range (see [`RANGES`]).
    #[error("value {value:?} for `{key}` (from {origin}) is out of range: expected {range}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The value as written (or, for a field set in code, as [`Config::entries`] shows it).
        value: String,
        /// The accepted range.
        range: String,
        /// Where it came from.
        origin: String,
    },
    /// A `CANISTER_…` environment variable naming a key, whose value is not valid UTF-8.
    /// Other variables are never looked at, whatever their encoding; a `CANISTER_…` name that
    /// is not UTF-8 names no key, so it is ignored with a warning ([`Config::warnings`]) and
    /// `part` is always `value` today.
    #[error("environment variable {variable}: its {part} is not valid UTF-8; canister reads CANISTER_* variables as UTF-8 text")]
    NonUnicodeEnv {
        /// The variable's name, invalid bytes shown as U+FFFD.
        variable: String,
        /// `name` or `value`.
        part: &'static str,
    },
    /// Two settings that cannot go together, or a setting that cannot be used.
    #[error("invalid configuration `{key}`{}: {message}", from_origin(.origin))]
    Conflict {
        /// The key at fault.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
        /// Where the key's value came from ([`Config::origin`]), when known: `None` for a
        /// default or a field written directly in code.
        origin: Option<String>,
    },
    /// The file is not INI as canister reads it.
    #[error("{origin}, line {line}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl fmt::Debug for ConfigError {
    /// The same text as `Display`: what `main` prints when it returns the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// ` (from <origin>)`, or nothing.
fn from_origin(origin: &Option<String>) -> String {
    origin
        .as_deref()
        .map_or_else(String::new, |origin| format!(" (from {origin})"))
}

impl ConfigError {
    /// A [`ConfigError::Conflict`] on `key`, with where `config` read it.
    pub(crate) fn conflict(config: &Config, key: &str, message: impl Into<String>) -> Self {
        ConfigError::Conflict {
            key: key.to_owned(),
            message: message.into(),
            origin: config.origin(key).map(str::to_owned),
        }
    }

    /// Fills in the origin of a [`ConfigError::Conflict`] that has none from `config` (an
    /// error of an authenticator or sink built from it, which does not know where its
    /// settings came from).
    pub(crate) fn located(self, config: &Config) -> Self {
        match self {
            ConfigError::Conflict {
                key,
                message,
                origin: None,
            } => ConfigError::conflict(config, &key, message),
            other => other,
        }
    }
}

impl Config {
    /// The most proxies `log_trust_proxy` can name: more than any real chain, few enough
    /// that a typo (`log_trust_proxy = 100`) is refused.
    pub const MAX_TRUSTED_PROXIES: u8 = 16;

    /// Reads an INI file (section `[canister]`), then applies `CANISTER_<KEY>` environment
    /// overrides ([`Config::apply_env`]: a `CANISTER_*` variable that names no key is
    /// ignored and listed in [`Config::warnings`]), then validates.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the file cannot be read or holds an unknown key or bad value.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::default();
        config.apply_ini(&text, &path.display().to_string())?;
        config.apply_env(std::env::vars_os())?;
        config.validate()?;
        Ok(config)
    }

    /// Reads INI text (section `[canister]`) without looking at the environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for syntax errors, unknown keys and bad values.
    pub fn from_ini_str(text: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_ini(text, "<string>")?;
        config.validate()?;
        Ok(config)
    }

    /// Applies the `[canister]` section of INI text; `origin` names it in errors, with the
    /// line (`canister.ini, line 12`).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for syntax errors, unknown keys and bad values.
    pub fn apply_ini(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        for entry in parse_ini(text, origin)? {
            if entry.section.eq_ignore_ascii_case("canister") {
                let at = format!("{origin}, line {}", entry.line);
                self.set_from(&entry.key, &entry.value, &at)?;
            }
        }
        Ok(())
    }

    /// Applies overrides from `CANISTER_<KEY>` variables among `vars`; other variables are
    /// ignored, whatever their encoding.
    ///
    /// Pass [`std::env::vars_os`], not [`std::env::vars`], which panics on the first
    /// variable that is not valid Unicode, even one that has nothing to do with canister.
    /// Pairs of `String` or `&str` are accepted too.
    ///
    /// A `CANISTER_*` variable that names no key in [`KEYS`] is ignored and listed in
    /// [`Config::warnings`] (by name, never by value), which the engine logs at start-up:
    /// such variables belong to others (Kubernetes sets `CANISTER_SERVICE_HOST`,
    /// `CANISTER_PORT`, … for a Service named `canister`), and refusing them would stop the
    /// application from starting in a namespace it does not control. A known key with a bad
    /// value is still an error.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a bad value of a known key, and [`ConfigError::NonUnicodeEnv`] for
    /// a known key's variable whose value is not valid UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::Config;
    ///
    /// let mut config = Config::default();
    /// config.apply_env(std::env::vars_os())?;
    /// config.apply_env([
    ///     ("CANISTER_SESSION_TIMEOUT", "600"),
    ///     ("HOME", "/root"),
    ///     ("CANISTER_SERVICE_HOST", "10.0.0.1"),
    /// ])?;
    /// assert_eq!(config.session_timeout.map(|t| t.as_secs()), Some(600));
    /// assert!(config.warnings().iter().any(|w| w.contains("CANISTER_SERVICE_HOST")));
    /// # Ok::<(), canister_core::ConfigError>(())
    /// ```
    pub fn apply_env<K, V>(
        &mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ConfigError>
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        const PREFIX: &str = "CANISTER_";
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            // The prefix is ASCII, so comparing encoded bytes is exact on every platform.
            if !name.as_encoded_bytes().starts_with(PREFIX.as_bytes()) {
                continue;
            }
            let known = name
                .to_str()
                .and_then(|n| key_info(&n[PREFIX.len()..]).map(|_| n));
            let Some(name) = known else {
                let name = name.to_string_lossy().into_owned();
                if !self.ignored_env.contains(&name) {
                    self.ignored_env.push(name);
                }
                continue;
            };
            let value = value.to_str().ok_or_else(|| ConfigError::NonUnicodeEnv {
                variable: name.to_owned(),
                part: "value",
            })?;
            let key = &name[PREFIX.len()..];
            let origin = format!("environment variable {name}");
            self.set_from(key, value, &origin)?;
        }
        Ok(())
    }

    /// Where the value of `key` (INI spelling, case-insensitive, aliases accepted) was last
    /// read from: `path, line N` for a file, `environment variable CANISTER_…`, or `code`
    /// for [`Config::set`]. `None` when it is the default or was written straight into a
    /// field.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::Config;
    ///
    /// let mut config = Config::from_ini_str("[canister]\n\nsession_timout = 60\n")?;
    /// assert_eq!(config.origin("session_timeout"), Some("<string>, line 3"));
    /// config.apply_env([("CANISTER_SESSION_TIMEOUT", "600")])?;
    /// assert_eq!(config.origin("session_timeout"), Some("environment variable CANISTER_SESSION_TIMEOUT"));
    /// assert_eq!(config.origin("log_days"), None);
    /// # Ok::<(), canister_core::ConfigError>(())
    /// ```
    pub fn origin(&self, key: &str) -> Option<&str> {
        let info = key_info(key)?;
        self.origins
            .iter()
            .find(|(k, _)| *k == info.name)
            .map(|(_, origin)| origin.as_str())
    }

    /// Settings that were accepted but deserve a word at start-up, one sentence each; no
    /// value is quoted. The engine logs them as WARNING after its banner
    /// ([`startup_warnings`](crate::log::startup_warnings), which adds warnings about weak
    /// settings).
    ///
    /// - `auth_client_id` was read: canister never used that key, so it does not turn JWT
    ///   on; write `auth_jwt_client_id` (and, with the README sample's secret,
    ///   `auth_jwt_encoding = clear`).
    /// - `CANISTER_*` environment variables that name no key were ignored ([`apply_env`]):
    ///   one warning listing their names, sorted, with the key a near miss probably meant.
    ///
    /// [`apply_env`]: Config::apply_env
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::Config;
    ///
    /// // canister's README sample spells the key `auth_client_id`.
    /// let config = Config::from_ini_str("[canister]\nauth_client_id = ABC\n")?;
    /// assert!(config.warnings()[0].contains("JWT authentication is off"));
    /// assert!(Config::default().warnings().is_empty());
    /// # Ok::<(), canister_core::ConfigError>(())
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(origin) = self.origin("auth_client_id") {
            if self.auth_jwt_client_id.is_some() {
                warnings.push(format!(
                    "`auth_client_id` (from {origin}) is ignored: canister never read that key; \
                     `auth_jwt_client_id` sets the audience JWTs must carry"
                ));
            } else {
                let secret = self.jwt_secret_note();
                warnings.push(format!(
                    "`auth_client_id` (from {origin}) is read and ignored, as canister did: it \
                     never used that key, so JWT authentication is off. To turn JWT on, write \
                     `auth_jwt_client_id` instead{secret}"
                ));
            }
        }
        if !self.ignored_env.is_empty() {
            let mut names: Vec<&str> = self.ignored_env.iter().map(String::as_str).collect();
            names.sort_unstable();
            let hints: Vec<String> = names
                .iter()
                .filter_map(|name| {
                    let key = name.get("CANISTER_".len()..)?.to_ascii_lowercase();
                    let meant = near_key(&key)?.to_ascii_uppercase();
                    Some(format!("CANISTER_{meant} (not {name})"))
                })
                .collect();
            let hints = if hints.is_empty() {
                String::new()
            } else {
                format!("; did you mean {}?", hints.join(", "))
            };
            warnings.push(format!(
                "ignored environment variables that name no canister key: {} (Kubernetes sets \
                 such variables for a Service named `canister`; a setting is \
                 CANISTER_<KEY> with a key of canister_core::config::KEYS){hints}",
                names.join(", ")
            ));
        }
        warnings
    }

    /// Sets one key from its INI spelling (case-insensitive) and textual value.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownKey`] or [`ConfigError::InvalidValue`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_from(key, value, "code")
    }

    /// The end of the `auth_client_id` warning: what to check about the secret once
    /// `auth_jwt_client_id` turns JWT on (never the secret itself).
    fn jwt_secret_note(&self) -> String {
        let Some(secret) = &self.auth_jwt_secret else {
            return "; JWT also needs `auth_jwt_secret` (or a public key)".to_owned();
        };
        if secret::problem(secret.expose(), self.auth_jwt_encoding).is_none() {
            return "; check that `auth_jwt_encoding` says how `auth_jwt_secret` is written \
                    (`clear` for plain text)"
                .to_owned();
        }
        let encoding = format!("{:?}", self.auth_jwt_encoding).to_lowercase();
        format!(
            "; note that `auth_jwt_secret` is not valid {encoding} as `auth_jwt_encoding` says, \
             so if it is plain text also set `auth_jwt_encoding = clear`"
        )
    }

    fn set_from(&mut self, key: &str, value: &str, origin: &str) -> Result<(), ConfigError> {
        let Some(info) = key_info(key) else {
            return Err(ConfigError::UnknownKey {
                key: key.to_owned(),
                origin: origin.to_owned(),
            });
        };
        let v = value.trim();
        let bad = || ConfigError::InvalidValue {
            key: info.name.to_owned(),
            value: if info.secret {
                "********".to_owned()
            } else {
                v.to_owned()
            },
            expected: info.expected.to_owned(),
            origin: origin.to_owned(),
        };
        // A numeric key is range-checked once parsed; an out-of-range value leaves the
        // configuration as it was.
        let range = range_of(info.name);
        let before = range.map(|_| self.clone());
        match info.name {
            "debug" => self.debug = parse_bool(v).ok_or_else(bad)?,
            // Canister never read this key; keeping JWT off keeps such files working.
            "auth_client_id" => {}
            "log_path" => self.log_path = non_empty(v).map(PathBuf::from),
            "log_level" => {
                self.log_level = match v.to_ascii_uppercase().as_str() {
                    "DISABLED" | "FALSE" | "NONE" | "OFF" => None,
                    "DEBUG" => Some(Level::Debug),
                    "INFO" => Some(Level::Info),
                    "WARNING" | "WARN" => Some(Level::Warning),
                    "ERROR" => Some(Level::Error),
                    "CRITICAL" => Some(Level::Critical),
                    _ => return Err(bad()),
                }
            }
            "log_days" => self.log_days = v.parse().ok().filter(|d| *d >= 1).ok_or_else(bad)?,
            "log_slow_ms" => self.log_slow_ms = v.parse().map_err(|_| bad())?,
            "log_trust_proxy" => {
                self.log_trust_proxy = match parse_bool(v) {
                    Some(trusted) => u8::from(trusted),
                    None => v
                        .parse()
                        .ok()
                        .filter(|n| *n <= Self::MAX_TRUSTED_PROXIES)
                        .ok_or_else(bad)?,
                }
            }
            "log_file_mode" => self.log_file_mode = parse_mode(v, 0o600).ok_or_else(bad)?,
            "log_dir_mode" => self.log_dir_mode = parse_mode(v, 0o700).ok_or_else(bad)?,
            "log_sink" => {
                self.log_sink = match v.to_ascii_lowercase().as_str() {
                    "canister" => LogSinkKind::Canister,
                    "tracing" => LogSinkKind::Tracing,
                    _ => return Err(bad()),
                }
            }
            "request_id_header" => {
                self.request_id_header = HeaderName::from_bytes(v.as_bytes()).map_err(|_| bad())?;
            }
            "request_id_trust" => self.request_id_trust = parse_bool(v).ok_or_else(bad)?,
            "session_timeout" => {
                let secs: f64 = v.parse().map_err(|_| bad())?;
                if !secs.is_finite() {
                    return Err(bad());
                }
                self.session_timeout = if secs <= 0.0 {
                    None
                } else {
                    Some(Duration::try_from_secs_f64(secs).map_err(|_| bad())?)
                };
            }
            "session_cookie" => {
                if v.is_empty() || !v.bytes().all(is_token_char) {
                    return Err(bad());
                }
                self.session_cookie = v.to_owned();
            }
            "session_cookie_samesite" => {
                self.session_cookie_samesite = match v.to_ascii_lowercase().as_str() {
                    "lax" => SameSite::Lax,
                    "strict" => SameSite::Strict,
                    "none" => SameSite::None,
                    _ => return Err(bad()),
                }
            }
            "session_cookie_secure" => {
                self.session_cookie_secure = match v.to_ascii_lowercase().as_str() {
                    "auto" => CookieSecure::Auto,
                    other => match parse_bool(other) {
                        Some(true) => CookieSecure::Always,
                        Some(false) => CookieSecure::Never,
                        None => return Err(bad()),
                    },
                }
            }
            "session_cookie_domain" => {
                if !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                {
                    return Err(bad());
                }
                self.session_cookie_domain = non_empty(v).map(str::to_owned);
            }
            "session_cookie_path" => {
                // RFC 6265 path-value: any US-ASCII character but controls and `;` (found by
                // fuzzing: non-ASCII bytes went into every Set-Cookie header).
                if !v.starts_with('/')
                    || v.bytes()
                        .any(|b| !b.is_ascii() || b == b';' || b.is_ascii_control())
                {
                    return Err(bad());
                }
                self.session_cookie_path = v.to_owned();
            }
            "session_cookie_persistent" => {
                self.session_cookie_persistent = parse_bool(v).ok_or_else(bad)?;
            }
            "session_cookie_partitioned" => {
                self.session_cookie_partitioned = parse_bool(v).ok_or_else(bad)?;
            }
            "session_max_lifetime" => {
                let secs: f64 = v.parse().map_err(|_| bad())?;
                if !secs.is_finite() || secs < 0.0 {
                    return Err(bad());
                }
                self.session_max_lifetime = if secs == 0.0 {
                    None
                } else {
                    Some(Duration::try_from_secs_f64(secs).map_err(|_| bad())?)
                };
            }
            "session_remember_timeout" => {
                self.session_remember_timeout = parse_secs(v).ok_or_else(bad)?;
            }
            "session_max_per_user" => self.session_max_per_user = v.parse().map_err(|_| bad())?,
            "session_locking" => self.session_locking = parse_bool(v).ok_or_else(bad)?,
            "session_lock_timeout" => self.session_lock_timeout = parse_secs(v).ok_or_else(bad)?,
            "session_max" => self.session_max = Some(v.parse().map_err(|_| bad())?),
            "session_max_bytes" => {
                self.session_max_bytes = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_SESSION_MAX_BYTES).contains(n))
                    .ok_or_else(bad)?;
            }
            "session_on_store_error" => {
                self.session_on_store_error = match v.to_ascii_lowercase().as_str() {
                    "fail" => OnStoreError::Fail,
                    "anonymous" => OnStoreError::Anonymous,
                    _ => return Err(bad()),
                }
            }
            "session_store" => {
                let lower = v.to_ascii_lowercase();
                self.session_store = if lower.is_empty() || lower == "memory" {
                    None
                } else if lower.starts_with("redis://")
                    || lower.starts_with("rediss://")
                    || lower.starts_with("redis+sentinel://")
                    || lower.starts_with("rediss+sentinel://")
                    || lower.starts_with("redis+unix://")
                    || lower.starts_with("unix://")
                {
                    Some(Secret::new(v))
                } else {
                    return Err(bad());
                };
            }
            "session_store_prefix" => self.session_store_prefix = v.to_owned(),
            "session_store_timeout" => {
                self.session_store_timeout = parse_secs(v).ok_or_else(bad)?;
            }
            "session_store_tls_ca" => self.session_store_tls_ca = non_empty(v).map(PathBuf::from),
            "session_store_tls_cert" => {
                self.session_store_tls_cert = non_empty(v).map(PathBuf::from);
            }
            "session_store_tls_key" => {
                self.session_store_tls_key = non_empty(v).map(PathBuf::from);
            }
            "session_store_replicas" => {
                self.session_store_replicas = v.trim().parse().map_err(|_| bad())?;
            }
            "cors" => {
                self.cors = if v.is_empty() || v.eq_ignore_ascii_case("false") {
                    CorsOrigins::Disabled
                } else if v == "*" {
                    CorsOrigins::Any
                } else {
                    CorsOrigins::List(parse_origins(v).ok_or_else(bad)?)
                }
            }
            "cors_methods" => {
                self.cors_methods = split_list(v)
                    .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?;
            }
            "cors_headers" => {
                self.cors_headers = if v.is_empty() {
                    None
                } else {
                    Some(parse_headers(v).ok_or_else(bad)?)
                }
            }
            "cors_expose_headers" => self.cors_expose_headers = parse_headers(v).ok_or_else(bad)?,
            "cors_credentials" => self.cors_credentials = parse_bool(v).ok_or_else(bad)?,
            "cors_max_age" => self.cors_max_age = Some(v.parse().map_err(|_| bad())?),
            "csrf" => self.csrf = parse_bool(v).ok_or_else(bad)?,
            "csrf_trusted_origins" => {
                self.csrf_trusted_origins = if v.is_empty() {
                    Vec::new()
                } else {
                    parse_origins(v).ok_or_else(bad)?
                }
            }
            "auth_basic_username" => {
                if v.contains(':') {
                    return Err(bad());
                }
                self.auth_basic_username = non_empty(v).map(str::to_owned);
            }
            "auth_basic_password" => self.auth_basic_password = non_empty(v).map(Secret::new),
            "auth_basic_encryption" => {
                self.auth_basic_encryption = match v.to_ascii_lowercase().as_str() {
                    "clear" => BasicEncryption::Clear,
                    "sha256" => BasicEncryption::Sha256,
                    _ => return Err(bad()),
                }
            }
            "auth_basic_realm" => self.auth_basic_realm = realm(v).ok_or_else(bad)?,
            "auth_basic_htpasswd" => self.auth_basic_htpasswd = non_empty(v).map(PathBuf::from),
            "auth_basic_challenge" => self.auth_basic_challenge = parse_bool(v).ok_or_else(bad)?,
            "auth_jwt_client_id" => self.auth_jwt_client_id = non_empty(v).map(str::to_owned),
            "auth_jwt_secret" => self.auth_jwt_secret = non_empty(v).map(Secret::new),
            "auth_jwt_encoding" => {
                self.auth_jwt_encoding = match v.to_ascii_lowercase().as_str() {
                    "clear" => JwtEncoding::Clear,
                    "base64std" | "base64" => JwtEncoding::Base64Std,
                    "base64url" => JwtEncoding::Base64Url,
                    _ => return Err(bad()),
                }
            }
            "auth_jwt_algorithms" => {
                let algs = split_list(v)
                    .map(|a| a.parse().ok())
                    .collect::<Option<Vec<JwtAlgorithm>>>()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(bad)?;
                self.auth_jwt_algorithms = algs;
            }
            "auth_jwt_public_key" => self.auth_jwt_public_key = non_empty(v).map(PathBuf::from),
            "auth_jwt_issuer" => self.auth_jwt_issuer = non_empty(v).map(str::to_owned),
            "auth_jwt_leeway" => self.auth_jwt_leeway = v.parse().map_err(|_| bad())?,
            "auth_jwt_realm" => self.auth_jwt_realm = realm(v).ok_or_else(bad)?,
            "auth_jwt_secret_previous" => {
                self.auth_jwt_secret_previous = non_empty(v).map(Secret::new);
            }
            "auth_jwt_jwks_url" => {
                self.auth_jwt_jwks_url = match non_empty(v) {
                    Some(url) if is_http_url(url) => Some(url.to_owned()),
                    Some(_) => return Err(bad()),
                    None => None,
                };
            }
            "auth_oidc_issuer" => {
                self.auth_oidc_issuer = match non_empty(v) {
                    Some(url) if is_http_url(url) => Some(url.to_owned()),
                    Some(_) => return Err(bad()),
                    None => None,
                };
            }
            "auth_jwt_jwks_refresh" => self.auth_jwt_jwks_refresh = v.parse().map_err(|_| bad())?,
            "auth_jwt_cookie" => {
                self.auth_jwt_cookie = match non_empty(v) {
                    Some(name) if is_cookie_name(name) => Some(name.to_owned()),
                    Some(_) => return Err(bad()),
                    None => None,
                };
            }
            "auth_remember" => self.auth_remember = parse_bool(v).ok_or_else(bad)?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                    origin: origin.to_owned(),
                })
            }
        }
        if let (Some(range), Some(before)) = (range, before) {
            if !self.in_range(info.name) {
                *self = before;
                return Err(ConfigError::OutOfRange {
                    key: info.name.to_owned(),
                    value: v.to_owned(),
                    range: range.to_owned(),
                    origin: origin.to_owned(),
                });
            }
        }
        match self.origins.iter_mut().find(|(k, _)| *k == info.name) {
            Some((_, at)) => origin.clone_into(at),
            None => self.origins.push((info.name, origin.to_owned())),
        }
        Ok(())
    }

    /// Whether the value of the numeric key `key` is within its range in [`RANGES`] (other
    /// keys: true).
    fn in_range(&self, key: &str) -> bool {
        let timeout = |d: Duration, max: Duration| (MIN_TIMEOUT..=max).contains(&d);
        match key {
            "log_days" => (1..=MAX_LOG_DAYS).contains(&self.log_days),
            "log_slow_ms" => self.log_slow_ms <= MAX_LOG_SLOW_MS,
            "session_timeout" => self
                .session_timeout
                .is_none_or(|t| t <= MAX_SESSION_TIMEOUT),
            "session_lock_timeout" => timeout(self.session_lock_timeout, MAX_LOCK_TIMEOUT),
            "session_max_lifetime" => self
                .session_max_lifetime
                .is_none_or(|t| t <= MAX_SESSION_TIMEOUT),
            "session_remember_timeout" => {
                timeout(self.session_remember_timeout, MAX_SESSION_TIMEOUT)
            }
            "session_max_per_user" => self.session_max_per_user <= 100_000,
            "session_max" => self.session_max.is_none_or(|n| n <= MAX_SESSION_MAX),
            "session_store_timeout" => timeout(self.session_store_timeout, MAX_STORE_TIMEOUT),
            "session_store_replicas" => self.session_store_replicas <= MAX_STORE_REPLICAS,
            "cors_max_age" => self.cors_max_age.is_none_or(|a| a <= MAX_CORS_MAX_AGE),
            "auth_jwt_leeway" => self.auth_jwt_leeway <= MAX_JWT_LEEWAY,
            "auth_jwt_jwks_refresh" => (10..=86_400).contains(&self.auth_jwt_jwks_refresh),
            _ => true,
        }
    }

    /// The cap of the memory store in force: `session_max` when set (`None` for `0`: no
    /// cap), else [`DEFAULT_MAX_SESSIONS`](crate::session::DEFAULT_MAX_SESSIONS).
    pub fn session_cap(&self) -> Option<usize> {
        match self.session_max {
            None => Some(crate::session::DEFAULT_MAX_SESSIONS),
            Some(0) => None,
            Some(n) => Some(n),
        }
    }

    /// Whether the configuration names an identity provider whose keys must be fetched
    /// (`auth_jwt_jwks_url` or `auth_oidc_issuer`): the engine then needs the keys from
    /// `canister-oidc` ([`Builder::jwks`](crate::Builder::jwks)).
    pub fn has_jwt_provider(&self) -> bool {
        self.auth_jwt_jwks_url.is_some() || self.auth_oidc_issuer.is_some()
    }

    /// The JWT algorithms in force: `auth_jwt_algorithms`, except that with an identity
    /// provider and no `auth_jwt_algorithms` given, every asymmetric algorithm
    /// ([`JwtAlgorithm::PROVIDER_DEFAULT`]), plus HS256 when `auth_jwt_secret` is set.
    pub fn jwt_algorithms(&self) -> Vec<JwtAlgorithm> {
        let untouched = self.auth_jwt_algorithms == [JwtAlgorithm::HS256]
            && self.origin("auth_jwt_algorithms").is_none();
        if self.has_jwt_provider() && untouched {
            let mut algorithms = JwtAlgorithm::PROVIDER_DEFAULT.to_vec();
            if self.auth_jwt_secret.is_some() {
                algorithms.insert(0, JwtAlgorithm::HS256);
            }
            algorithms
        } else {
            self.auth_jwt_algorithms.clone()
        }
    }

    /// Checks combinations of settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] for a numeric field outside its range in [`RANGES`] (a
    /// field set in code; values read from text are checked as they are read), and
    /// [`ConfigError::Conflict`] naming the key at fault: credentials with `CORS = *`,
    /// `SameSite=None` with `Secure` off, a sha256 password that is not 64 hex digits, a
    /// JWT secret that is not valid in its encoding, an RS/ES/PS algorithm without
    /// `auth_jwt_public_key`. The error carries where the key was read
    /// ([`Config::origin`]).
    ///
    /// The JWT secret is checked only when JWT is on (`auth_jwt_client_id` set) with an HS
    /// algorithm: the message says why it does not decode (its length, or which character
    /// is outside the alphabet and where; never the secret itself) and that a plain-text
    /// secret needs `auth_jwt_encoding = clear`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(&(key, range)) = RANGES.iter().find(|(key, _)| !self.in_range(key)) {
            let value = self
                .entries()
                .into_iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v)
                .unwrap_or_default();
            return Err(ConfigError::OutOfRange {
                key: key.to_owned(),
                value,
                range: range.to_owned(),
                origin: "code".to_owned(),
            });
        }
        let conflict = |key: &str, message: &str| ConfigError::conflict(self, key, message);
        if !(1..=MAX_SESSION_MAX_BYTES).contains(&self.session_max_bytes) {
            return Err(conflict(
                "session_max_bytes",
                "must be from 1 to 67108864 (64 MiB)",
            ));
        }
        match (&self.session_store_tls_cert, &self.session_store_tls_key) {
            (Some(_), None) => {
                return Err(conflict(
                    "session_store_tls_cert",
                    "needs session_store_tls_key, the client certificate's private key",
                ));
            }
            (None, Some(_)) => {
                return Err(conflict(
                    "session_store_tls_key",
                    "needs session_store_tls_cert, the client certificate it is the key of",
                ));
            }
            _ => {}
        }
        if self.cors_credentials && self.cors == CorsOrigins::Any {
            return Err(conflict(
                "cors_credentials",
                "credentials cannot be allowed for every origin (CORS = *); list the origins in `CORS` instead",
            ));
        }
        if self.session_cookie_samesite == SameSite::None
            && self.session_cookie_secure == CookieSecure::Never
        {
            return Err(conflict(
                "session_cookie_samesite",
                "SameSite=None requires a Secure cookie; set session_cookie_secure to auto or true",
            ));
        }
        if self.session_cookie_partitioned && self.session_cookie_secure == CookieSecure::Never {
            return Err(conflict(
                "session_cookie_partitioned",
                "a Partitioned cookie must be Secure (browsers drop it otherwise); set session_cookie_secure to auto or true",
            ));
        }
        if self.session_cookie.starts_with("__Host-") {
            let problem = if self.session_cookie_secure != CookieSecure::Always {
                Some("session_cookie_secure = true (Secure on every response, not auto)")
            } else if self.session_cookie_path != "/" {
                Some("session_cookie_path = /")
            } else if self.session_cookie_domain.is_some() {
                Some("no session_cookie_domain")
            } else {
                None
            };
            if let Some(needed) = problem {
                return Err(conflict(
                    "session_cookie",
                    &format!(
                        "a cookie name starting with __Host- needs {needed}: browsers refuse \
                         such a cookie otherwise (RFC 6265bis __Host- prefix)"
                    ),
                ));
            }
        }
        if self.session_cookie.starts_with("__Secure-")
            && self.session_cookie_secure != CookieSecure::Always
        {
            return Err(conflict(
                "session_cookie",
                "a cookie name starting with __Secure- needs session_cookie_secure = true: browsers refuse it on a response without Secure",
            ));
        }
        if self.auth_basic_encryption == BasicEncryption::Sha256 {
            if let Some(p) = &self.auth_basic_password {
                let p = p.expose();
                if p.len() != 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(conflict(
                        "auth_basic_password",
                        "with auth_basic_encryption = sha256 the password must be the 64 hex digits of its SHA-256",
                    ));
                }
            }
        }
        if self.auth_basic_htpasswd.is_some()
            && (self.auth_basic_username.is_some() || self.auth_basic_password.is_some())
        {
            return Err(conflict(
                "auth_basic_htpasswd",
                "set either auth_basic_htpasswd or auth_basic_username and auth_basic_password, not both: add the user to the htpasswd file (htpasswd -B FILE USER)",
            ));
        }
        if self.auth_basic_username.is_some() != self.auth_basic_password.is_some() {
            return Err(conflict(
                "auth_basic_username",
                "Basic authentication needs both auth_basic_username and auth_basic_password",
            ));
        }
        let algorithms = self.jwt_algorithms();
        let asymmetric = algorithms.iter().any(|a| !a.is_hmac());
        let hmac = algorithms.iter().any(|a| a.is_hmac());
        if let (Some(configured), Some(oidc)) = (&self.auth_jwt_issuer, &self.auth_oidc_issuer) {
            if configured != oidc {
                return Err(conflict(
                    "auth_jwt_issuer",
                    "differs from auth_oidc_issuer, whose value every token's iss must equal: remove auth_jwt_issuer",
                ));
            }
        }
        if let Some(name) = &self.auth_jwt_cookie {
            if self.auth_jwt_client_id.is_none() {
                return Err(conflict(
                    "auth_jwt_cookie",
                    "is set but auth_jwt_client_id is not: the cookie's token is a JWT, set the client id tokens carry in `aud`",
                ));
            }
            if *name == self.session_cookie {
                return Err(conflict(
                    "auth_jwt_cookie",
                    "names the session cookie (session_cookie): give the token cookie another name",
                ));
            }
        }
        if self.auth_jwt_secret_previous.is_some() && self.auth_jwt_secret.is_none() {
            return Err(conflict(
                "auth_jwt_secret_previous",
                "is set but auth_jwt_secret is not: the previous secret is accepted beside the current one, set both",
            ));
        }
        if self.has_jwt_provider() {
            if self.auth_jwt_client_id.is_none() {
                return Err(conflict(
                    if self.auth_oidc_issuer.is_some() {
                        "auth_oidc_issuer"
                    } else {
                        "auth_jwt_jwks_url"
                    },
                    "names an identity provider but auth_jwt_client_id is not set: JWT authentication needs the client id tokens carry in `aud`",
                ));
            }
            if self.auth_jwt_public_key.is_some() {
                return Err(conflict(
                    "auth_jwt_public_key",
                    "cannot be used with an identity provider (auth_jwt_jwks_url, auth_oidc_issuer), whose keys are fetched: remove one of them",
                ));
            }
        }
        if self.auth_jwt_client_id.is_some() {
            if asymmetric && self.auth_jwt_public_key.is_none() && !self.has_jwt_provider() {
                return Err(conflict(
                    "auth_jwt_public_key",
                    "RS/ES/PS/EdDSA algorithms in auth_jwt_algorithms need auth_jwt_public_key (a PEM file), auth_jwt_jwks_url or auth_oidc_issuer",
                ));
            }
            if hmac && self.auth_jwt_secret.is_none() {
                return Err(conflict(
                    "auth_jwt_secret",
                    "HS algorithms in auth_jwt_algorithms need auth_jwt_secret",
                ));
            }
            if let Some(secret) = self.auth_jwt_secret.as_ref().filter(|_| hmac) {
                if let Some(problem) = secret::problem(secret.expose(), self.auth_jwt_encoding) {
                    let encoding = match self.origin("auth_jwt_encoding") {
                        Some(at) => format!(" (`auth_jwt_encoding` is from {at})"),
                        None => String::new(),
                    };
                    return Err(conflict("auth_jwt_secret", &format!("{problem}{encoding}")));
                }
            }
        }
        Ok(())
    }

    /// Every key with its value as text, secrets masked: what the start-up banner prints.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or_else(String::new, ToString::to_string)
        }
        fn list<T: fmt::Display>(v: &[T]) -> String {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
        let masked = |s: &Option<Secret>| {
            if s.is_some() {
                "********".to_owned()
            } else {
                String::new()
            }
        };
        let secs = |d: &Duration| format!("{}", d.as_secs_f64());
        vec![
            ("debug", self.debug.to_string()),
            (
                "log_path",
                opt(&self.log_path.as_ref().map(|p| p.display())),
            ),
            (
                "log_level",
                self.log_level
                    .map_or("DISABLED".to_owned(), |l| l.to_string()),
            ),
            ("log_days", self.log_days.to_string()),
            ("log_slow_ms", self.log_slow_ms.to_string()),
            (
                "log_trust_proxy",
                match self.log_trust_proxy {
                    0 => "false".to_owned(),
                    1 => "true".to_owned(),
                    n => n.to_string(),
                },
            ),
            ("log_file_mode", format!("{:04o}", self.log_file_mode)),
            ("log_dir_mode", format!("{:04o}", self.log_dir_mode)),
            (
                "log_sink",
                match self.log_sink {
                    LogSinkKind::Canister => "canister",
                    LogSinkKind::Tracing => "tracing",
                }
                .to_owned(),
            ),
            (
                "request_id_header",
                self.request_id_header.as_str().to_owned(),
            ),
            ("request_id_trust", self.request_id_trust.to_string()),
            (
                "session_timeout",
                self.session_timeout.map_or("0".to_owned(), |d| secs(&d)),
            ),
            ("session_cookie", self.session_cookie.clone()),
            (
                "session_cookie_samesite",
                format!("{:?}", self.session_cookie_samesite),
            ),
            (
                "session_cookie_secure",
                format!("{:?}", self.session_cookie_secure),
            ),
            ("session_cookie_domain", opt(&self.session_cookie_domain)),
            ("session_cookie_path", self.session_cookie_path.clone()),
            (
                "session_cookie_persistent",
                self.session_cookie_persistent.to_string(),
            ),
            (
                "session_cookie_partitioned",
                self.session_cookie_partitioned.to_string(),
            ),
            (
                "session_max_lifetime",
                self.session_max_lifetime
                    .map_or("0".to_owned(), |d| secs(&d)),
            ),
            (
                "session_remember_timeout",
                secs(&self.session_remember_timeout),
            ),
            (
                "session_max_per_user",
                self.session_max_per_user.to_string(),
            ),
            ("session_locking", self.session_locking.to_string()),
            ("session_lock_timeout", secs(&self.session_lock_timeout)),
            (
                "session_max",
                self.session_cap().map_or("0".to_owned(), |n| n.to_string()),
            ),
            ("session_max_bytes", self.session_max_bytes.to_string()),
            (
                "session_on_store_error",
                format!("{:?}", self.session_on_store_error),
            ),
            (
                "session_store",
                self.session_store
                    .as_ref()
                    .map_or("memory".to_owned(), |s| mask_url(s.expose())),
            ),
            ("session_store_prefix", self.session_store_prefix.clone()),
            ("session_store_timeout", secs(&self.session_store_timeout)),
            (
                "session_store_tls_ca",
                opt(&self.session_store_tls_ca.as_ref().map(|p| p.display())),
            ),
            (
                "session_store_tls_cert",
                opt(&self.session_store_tls_cert.as_ref().map(|p| p.display())),
            ),
            (
                "session_store_tls_key",
                opt(&self.session_store_tls_key.as_ref().map(|p| p.display())),
            ),
            (
                "session_store_replicas",
                self.session_store_replicas.to_string(),
            ),
            (
                "cors",
                match &self.cors {
                    CorsOrigins::Disabled => "false".to_owned(),
                    CorsOrigins::Any => "*".to_owned(),
                    CorsOrigins::List(l) => l.join(", "),
                },
            ),
            ("cors_methods", list(&self.cors_methods)),
            (
                "cors_headers",
                self.cors_headers
                    .as_deref()
                    .unwrap_or(&DEFAULT_CORS_HEADERS)
                    .iter()
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "cors_expose_headers",
                self.cors_expose_headers
                    .iter()
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("cors_credentials", self.cors_credentials.to_string()),
            ("cors_max_age", opt(&self.cors_max_age)),
            ("csrf", self.csrf.to_string()),
            ("csrf_trusted_origins", self.csrf_trusted_origins.join(", ")),
            ("auth_basic_username", opt(&self.auth_basic_username)),
            ("auth_basic_password", masked(&self.auth_basic_password)),
            (
                "auth_basic_encryption",
                format!("{:?}", self.auth_basic_encryption).to_lowercase(),
            ),
            ("auth_basic_realm", self.auth_basic_realm.clone()),
            (
                "auth_basic_htpasswd",
                opt(&self.auth_basic_htpasswd.as_ref().map(|p| p.display())),
            ),
            (
                "auth_basic_challenge",
                self.auth_basic_challenge.to_string(),
            ),
            ("auth_jwt_client_id", opt(&self.auth_jwt_client_id)),
            ("auth_jwt_secret", masked(&self.auth_jwt_secret)),
            (
                "auth_jwt_encoding",
                format!("{:?}", self.auth_jwt_encoding).to_lowercase(),
            ),
            (
                "auth_jwt_algorithms",
                self.auth_jwt_algorithms
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "auth_jwt_public_key",
                if self.auth_jwt_public_key.is_some() {
                    "********".to_owned()
                } else {
                    String::new()
                },
            ),
            ("auth_jwt_issuer", opt(&self.auth_jwt_issuer)),
            ("auth_jwt_leeway", self.auth_jwt_leeway.to_string()),
            ("auth_jwt_realm", self.auth_jwt_realm.clone()),
            (
                "auth_jwt_secret_previous",
                masked(&self.auth_jwt_secret_previous),
            ),
            ("auth_jwt_jwks_url", opt(&self.auth_jwt_jwks_url)),
            ("auth_oidc_issuer", opt(&self.auth_oidc_issuer)),
            (
                "auth_jwt_jwks_refresh",
                self.auth_jwt_jwks_refresh.to_string(),
            ),
            ("auth_jwt_cookie", opt(&self.auth_jwt_cookie)),
            ("auth_remember", self.auth_remember.to_string()),
        ]
    }
}

impl fmt::Debug for Config {
    /// Every key and value, secrets masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Config");
        for (k, v) in self.entries() {
            d.field(k, &v);
        }
        d.finish_non_exhaustive()
    }
}

impl fmt::Display for Config {
    /// `key = value` lines as in an INI file, secrets masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[canister]")?;
        for (k, v) in self.entries() {
            writeln!(f, "{k} = {v}")?;
        }
        Ok(())
    }
}

/// Replaces the password of a URL (`scheme://user:password@host`) with `********`.
pub fn mask_url(url: &str) -> String {
    // A cluster is several comma-separated URLs, each with its own password.
    if url.contains(',') {
        return url.split(',').map(mask_url).collect::<Vec<_>>().join(",");
    }
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            return format!(
                "{}{}:********@{}",
                &url[..scheme_end + 3],
                user,
                &rest[at + 1..]
            );
        }
    }
    url.to_owned()
}

/// The key `name` (INI spelling, case-insensitive, aliases resolved), if it is one.
fn key_info(name: &str) -> Option<&'static KeyInfo> {
    let lower = name.trim().to_ascii_lowercase();
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map_or(lower.as_str(), |(_, to)| to);
    KEYS.iter().find(|k| k.name == canonical)
}

/// The key that `name` (lowercase) probably misspells: within two edits of it (a missing,
/// extra, changed or swapped letter, twice), for names long enough that this means something.
fn near_key(name: &str) -> Option<&'static str> {
    if name.len() < 5 {
        return None;
    }
    KEYS.iter()
        .map(|k| (edit_distance(name, k.name), k.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The Levenshtein distance between two ASCII-ish strings, by bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Octal permissions (`640`, `0640`, `0o640`) of at most `0777` that grant at least `owner`.
fn parse_mode(v: &str, owner: u32) -> Option<u32> {
    let digits = v
        .strip_prefix("0o")
        .or_else(|| v.strip_prefix("0O"))
        .unwrap_or(v);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return None;
    }
    let mode = u32::from_str_radix(digits, 8).ok()?;
    (mode <= 0o777 && mode & owner == owner).then_some(mode)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The accepted range of `key`, if it is a numeric key.
fn range_of(key: &str) -> Option<&'static str> {
    RANGES.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
}

fn parse_secs(v: &str) -> Option<Duration> {
    let secs: f64 = v.parse().ok()?;
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// Whether `v` looks like an absolute `http://` or `https://` URL with a host.
fn is_http_url(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && !v
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    })
}

fn is_cookie_name(v: &str) -> bool {
    v.bytes().all(is_token_char)
}

fn non_empty(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

fn realm(v: &str) -> Option<String> {
    (!v.is_empty()
        && !v
            .bytes()
            .any(|b| b == b'"' || b == b'\\' || b.is_ascii_control()))
    .then(|| v.to_owned())
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_headers(v: &str) -> Option<Vec<HeaderName>> {
    split_list(v)
        .map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
        .collect()
}

/// Parses a list of origins `scheme://host[:port]`, normalised to lowercase.
fn parse_origins(v: &str) -> Option<Vec<String>> {
    split_list(v)
        .map(|o| {
            let o = o.trim_end_matches('/').to_ascii_lowercase();
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))?;
            let valid = !rest.is_empty()
                && rest.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            valid.then_some(o)
        })
        .collect()
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
