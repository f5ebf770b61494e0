//! The settings of each concern, composed by [`Config`](crate::config::Config).
//!
//! [`Config`](crate::config::Config) is only their composition: `config.cookie.name`,
//! `config.cors.origins`, `config.auth.jwt.client_id`. Each concern reads its own part (the
//! cookie spec its [`CookieSettings`], CORS its [`CorsSettings`], a store crate its
//! [`StoreSettings`]) and nothing else; the log's part, [`LogSettings`], lives with the log
//! (`log/settings.rs`) so that the default sink is built from it without the log ever
//! depending on `config`.
//!
//! Every field is one key of [`KEYS`](super::KEYS), whose row reads and prints it; the
//! field docs say what each key means and its default (canister's).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Method};

use super::keys::MASK;
#[cfg(doc)]
use super::Config;
use super::{
    BasicEncryption, CookieSecure, CorsOrigins, JwtAlgorithm, JwtEncoding, OnStoreError, SameSite,
    Secret, DEFAULT_PARAMS_BODY_LIMIT, DEFAULT_SESSION_MAX_BYTES, DEFAULT_SESSION_REMEMBER_TIMEOUT,
};
use crate::session::ThrottleLimit;

/// Parameter decoding's settings (`params_body_limit`).
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParamsSettings {
    /// The most bytes of a request body that the adapters read to decode parameters
    /// (`Params`, `params()`): a form, multipart or JSON body. A longer body is refused
    /// with 413. Default 2 MiB on every adapter (axum's `DefaultBodyLimit`, so a form that
    /// fits on axum fits on Rocket, warp and actix-web too); accepted 1 to 1 GiB.
    pub body_limit: usize,
}

impl Default for ParamsSettings {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_PARAMS_BODY_LIMIT,
        }
    }
}

/// The sessions' settings (`session_timeout`, `session_lock*`, `session_max*`, `session_on_store_error`): how long a session lives, how its requests are serialised, how much it holds.
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionSettings {
    /// Sliding session lifetime; `None` never expires. Default one hour, as canister.
    pub timeout: Option<Duration>,
    /// How long after its login (or its creation, for an anonymous session) a session ends,
    /// whatever its activity: OWASP's absolute timeout. `None` (default, `0`): no limit.
    ///
    /// Counted from the creation time the session's record carries (written at creation
    /// and at every login or logout); a session stored by an older canister, which has
    /// none, is bounded from its next login.
    pub max_lifetime: Option<Duration>,
    /// How long a remembered login lasts
    /// ([`Session::login_remembered`](crate::Session::login_remembered)): its cookie's
    /// `Max-Age` and its time to live in the store, sliding as `session_timeout` does.
    /// Default 30 days.
    pub remember_timeout: Duration,
    /// The most live sessions one user may have; a login beyond it ends the user's oldest
    /// sessions (by login time). `0` (default): no cap. Needs a store with a per-user index
    /// ([`SessionStore::sessions_of`](crate::session::SessionStore::sessions_of)): the memory store
    /// and the Redis store (not on Redis Cluster) have one.
    pub max_per_user: usize,
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
    pub locking: bool,
    /// How long a request waits for the session lock before a 503. Default 5 s.
    pub lock_timeout: Duration,
    /// The most sessions the memory store holds, as set; read the cap in force with
    /// [`Config::session_cap`](crate::config::Config::session_cap).
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
    /// logged-in one ([`MemoryStore`](crate::session::MemoryStore)). The key applies to the memory
    /// store the engine builds: setting it (to anything) with a store given to
    /// [`Builder::store`](crate::Builder::store) is refused at build, as that store would
    /// silently ignore it.
    pub max: Option<usize>,
    /// The most bytes one session's data may take: its keys, their values as JSON and its
    /// user as JSON. Default 65 536; accepted 1 to 67 108 864 (64 MiB).
    ///
    /// A [`Session::insert`](crate::Session::insert) that would take the session past it is
    /// refused ([`InsertError::TooLarge`](crate::InsertError::TooLarge), a 413 in the demos)
    /// and changes nothing. Every load copies the whole record (and, with Redis, reads it in
    /// one blocking script), so this bounds what one client can make each request cost.
    pub max_bytes: usize,
    /// What happens when the store fails. Default: 503.
    pub on_store_error: OnStoreError,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(3600)),
            max_lifetime: None,
            remember_timeout: DEFAULT_SESSION_REMEMBER_TIMEOUT,
            max_per_user: 0,
            locking: false,
            lock_timeout: Duration::from_secs(5),
            max: None,
            max_bytes: DEFAULT_SESSION_MAX_BYTES,
            on_store_error: OnStoreError::Fail,
        }
    }
}

/// The session cookie's settings (`session_cookie*` keys).
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CookieSettings {
    /// The session cookie's name. Default `session_id`, as canister.
    pub name: String,
    /// `SameSite` of the cookie. Default `Lax`: sent on navigation to the site, not on other
    /// sites' subrequests (a CSRF defence that keeps links from other sites working).
    pub same_site: SameSite,
    /// `Secure` of the cookie. Default automatic (set over https).
    pub secure: CookieSecure,
    /// `Domain` of the cookie; `None` (default): the host only.
    pub domain: Option<String>,
    /// `Path` of the cookie. Default `/`.
    pub path: String,
    /// Whether every session cookie carries `Max-Age` (the session timeout); otherwise it
    /// lasts until the browser closes. Default false (since issue #22; it was true): only a
    /// remembered login ([`Session::login_remembered`](crate::Session::login_remembered))
    /// gets a persistent cookie, with `session_remember_timeout` as its `Max-Age`.
    pub persistent: bool,
    /// Whether the cookie carries `Partitioned` (CHIPS: a third-party cookie kept per
    /// top-level site). Default false. Browsers keep a `Partitioned` cookie only when it is
    /// `Secure`, so `session_cookie_secure = false` is refused with it.
    pub partitioned: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self {
            name: "session_id".to_owned(),
            same_site: SameSite::Lax,
            secure: CookieSecure::Auto,
            domain: None,
            path: "/".to_owned(),
            persistent: false,
            partitioned: false,
        }
    }
}

/// The session store's settings (`session_store*` keys): read by the store crates (`canister-store-redis`), and by the engine to build the memory store.
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreSettings {
    /// Where sessions live: `None` is the memory store; else a URL the store crate reads.
    pub url: Option<Secret>,
    /// Key prefix for stores that share a namespace. Default `canister:session:`.
    pub prefix: String,
    /// How long one store operation may take. Default 2 s.
    pub timeout: Duration,
    /// PEM file of the CA certificates a `rediss://` server must chain to. `None`: the
    /// system roots.
    pub tls_ca: Option<PathBuf>,
    /// PEM file of the client certificate (chain) presented to a `rediss://` server that
    /// asks for one; needs [`tls_key`](Self::tls_key).
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the private key of
    /// [`tls_cert`](Self::tls_cert).
    pub tls_key: Option<PathBuf>,
    /// How many replicas must hold a save before the store acknowledges it (`WAIT`). Default
    /// 0: acknowledged once the master holds it. Accepted 0 to 16.
    pub replicas: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "canister:session:".to_owned(),
            timeout: Duration::from_secs(2),
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            replicas: 0,
        }
    }
}

/// The CORS settings (`cors*` keys).
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CorsSettings {
    /// The `CORS` setting. Default disabled.
    pub origins: CorsOrigins,
    /// Methods a preflight allows. Default GET, HEAD, POST, PUT, PATCH, DELETE.
    pub methods: Vec<Method>,
    /// Request headers a preflight allows (`cors_headers`).
    ///
    /// `None` (default): [`DEFAULT_CORS_HEADERS`](super::DEFAULT_CORS_HEADERS), the CORS-safelisted request headers plus
    /// `authorization`. `Some(list)`: that list. A list holding `*` (`cors_headers = *`)
    /// allows whatever a preflight asks for: its `Access-Control-Request-Headers` is echoed,
    /// `cookie` included, even with `cors_credentials`.
    ///
    /// A preflight is always answered with the whole allowed list, whatever it asked for (as
    /// tower-http's `AllowHeaders::list`): the browser then refuses the real request if it
    /// needs a header outside the list. Earlier versions echoed every requested header by default.
    pub headers: Option<Vec<HeaderName>>,
    /// Response headers scripts may read.
    pub expose_headers: Vec<HeaderName>,
    /// Send `Access-Control-Allow-Credentials: true` (needs a list of origins).
    pub credentials: bool,
    /// `Access-Control-Max-Age` of preflights, in seconds.
    pub max_age: Option<u64>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            origins: CorsOrigins::Disabled,
            methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            headers: None,
            expose_headers: Vec::new(),
            credentials: false,
            max_age: None,
        }
    }
}

/// The cross-site request forgery check's settings (`csrf*` keys).
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CsrfSettings {
    /// Refuse cross-origin unsafe requests (any method but `GET`, `HEAD`, `OPTIONS`), whether
    /// or not they carry the session cookie. Default true.
    ///
    /// `Sec-Fetch-Site: same-origin`/`none` passes; `same-site` and `cross-site` pass only
    /// from a trusted `Origin`. Without `Sec-Fetch-Site`, an `Origin` equal to the request's
    /// `Host` (host and port) or a trusted one passes, any other (`null` included) gets 403.
    /// A request with neither header (curl, servers) passes. Behind a proxy that rewrites
    /// `Host`, list the public origin in `csrf_trusted_origins`.
    pub enabled: bool,
    /// Origins trusted for cross-origin unsafe requests (besides the CORS list), exactly as
    /// browsers send them: `https://app.example.com` (case-insensitive, no path).
    pub trusted_origins: Vec<String>,
}

impl Default for CsrfSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_origins: Vec::new(),
        }
    }
}

/// HTTP Basic authentication's settings (`auth_basic_*` keys).
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BasicSettings {
    /// The Basic user's name.
    pub username: Option<String>,
    /// The Basic user's password (or its SHA-256, per `auth_basic_encryption`).
    pub password: Option<Secret>,
    /// How the password is given. Default clear.
    ///
    /// `sha256` is canister's mode: the hex SHA-256 of the password, **unsalted** and fast to
    /// compute, so a leaked configuration lets an attacker test billions of guesses a second,
    /// and equal passwords have equal digests. It keeps canister's files working; for new
    /// setups prefer [`htpasswd`](Self::htpasswd) (salted, slow
    /// bcrypt hashes).
    pub encryption: BasicEncryption,
    /// The Basic challenge's realm. Default `private`.
    pub realm: String,
    /// An htpasswd file of Basic users with bcrypt hashes (`htpasswd -B`), instead of
    /// `auth_basic_username` / `auth_basic_password`. Default none.
    ///
    /// Read once at start-up ([`Basic::from_htpasswd_file`](crate::auth::Basic::from_htpasswd_file)
    /// has the format and limits): a line that is not `user:$2y$…` or `user:$2b$…` (an MD5,
    /// SHA-1, crypt or clear password) stops start-up with an error naming the line number,
    /// never the hash. Used by the `Authorization: Basic` header and by
    /// [`Session::verify_password`](crate::Session::verify_password) (login forms) alike.
    pub htpasswd: Option<PathBuf>,
    /// Whether a 401 carries the `WWW-Authenticate: Basic` challenge. Default true.
    ///
    /// `false` for an application with its own login form: browsers answer a Basic challenge
    /// by showing their own password dialog, over the application's page. Basic users still
    /// authenticate, by header and through
    /// [`Session::verify_password`](crate::Session::verify_password); only the challenge is
    /// left out, so the `User` extractors answer a plain 401 (RFC 9110 asks a 401 to carry a
    /// challenge; browser applications commonly leave it out for this reason). Answer a
    /// redirect to the login page instead by taking `Option<User>` in browser routes.
    pub challenge: bool,
}

impl Default for BasicSettings {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            encryption: BasicEncryption::Clear,
            realm: "private".to_owned(),
            htpasswd: None,
            challenge: true,
        }
    }
}

/// Bearer JWT authentication's settings (`auth_jwt_*` and `auth_oidc_issuer` keys).
///
/// A part of [`Config`](crate::config::Config); every field is one key of [`KEYS`](crate::config::KEYS), read and
/// printed by its row there. Defaults are canister's.
#[derive(Clone)]
#[non_exhaustive]
pub struct JwtSettings {
    /// The audience JWTs must carry (OAuth2 client id).
    pub client_id: Option<String>,
    /// The JWT HMAC secret.
    pub secret: Option<Secret>,
    /// How the secret is encoded. Default clear.
    pub encoding: JwtEncoding,
    /// Accepted JWT algorithms. Default HS256 only.
    pub algorithms: Vec<JwtAlgorithm>,
    /// PEM public key file for RS*/ES*/PS* algorithms.
    pub public_key: Option<PathBuf>,
    /// The issuer JWTs must carry, if set.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp`/`nbf`, in seconds. Default 0.
    pub leeway: u64,
    /// The Bearer challenge's realm. Default `private`.
    pub realm: String,
    /// The previous HMAC secret, still accepted for verification (HS secret rotation).
    pub secret_previous: Option<Secret>,
    /// The identity provider's JWK Set URL. Fetched by `canister-oidc`, not by the core.
    pub jwks_url: Option<String>,
    /// The OpenID Connect issuer: discovery gives the JWK Set, and every token's `iss` must
    /// equal it.
    pub oidc_issuer: Option<String>,
    /// Seconds between periodic refreshes of the JWK Set. Default 600; a shorter
    /// `Cache-Control: max-age` from the provider is honoured.
    pub jwks_refresh: u64,
    /// A cookie to read the bearer token from when there is no `Authorization` header.
    pub cookie: Option<String>,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            secret: None,
            encoding: JwtEncoding::Clear,
            algorithms: vec![JwtAlgorithm::HS256],
            public_key: None,
            issuer: None,
            leeway: 0,
            realm: "private".to_owned(),
            secret_previous: None,
            jwks_url: None,
            oidc_issuer: None,
            jwks_refresh: 600,
            cookie: None,
        }
    }
}

impl fmt::Debug for JwtSettings {
    /// Every field, the public key's path masked as the key table masks it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("encoding", &self.encoding)
            .field("algorithms", &self.algorithms)
            .field("public_key", &self.public_key.as_ref().map(|_| MASK))
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("realm", &self.realm)
            .field("secret_previous", &self.secret_previous)
            .field("jwks_url", &self.jwks_url)
            .field("oidc_issuer", &self.oidc_issuer)
            .field("jwks_refresh", &self.jwks_refresh)
            .field("cookie", &self.cookie)
            .finish()
    }
}

/// Authentication's settings: HTTP Basic, Bearer JWT, and whether a user authenticated by
/// header is kept in the session.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuthSettings {
    /// HTTP Basic (`auth_basic_*`).
    pub basic: BasicSettings,
    /// Bearer JWT (`auth_jwt_*`, `auth_oidc_issuer`).
    pub jwt: JwtSettings,
    /// Keep a header-authenticated user in the session, as canister did. Default false: a
    /// cookie alone never replays an `Authorization` header's authority.
    pub remember: bool,
    /// Login throttling per user name (`auth_throttle = N/S`): beyond N failed password
    /// checks of one user name within S seconds, Basic and form logins of that name answer
    /// 429 with `Retry-After` until the window ends, without checking the password (a right
    /// one is refused too). Counted in the session store, so every instance shares it.
    /// Default off.
    pub throttle: Option<ThrottleLimit>,
    /// Login throttling per client address (`auth_throttle_ip = N/S`), as
    /// [`throttle`](Self::throttle) but counting the failures from one address, whatever the
    /// user name (the address `log_trust_proxy` gives). Default off.
    pub throttle_ip: Option<ThrottleLimit>,
}
