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
//! ([`startup_warnings`]). They are kept in the `Config`
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

mod display;
pub(crate) mod ini;
mod keys;
mod secret;
mod settings;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;

use crate::auth::AuthError;
use crate::log::LogError;

pub(crate) use display::log_banner_for;
pub use display::{banner_lines, banner_lines_with, log_banner, startup_warnings};
pub(crate) use ini::parse_ini;
pub use keys::{KeyInfo, KEYS, RANGES};
pub use settings::{
    AuthSettings, BasicSettings, CookieSettings, CorsSettings, CsrfSettings, JwtSettings,
    ParamsSettings, SessionSettings, StoreSettings,
};

use crate::log::{LogSettings, LogSinkKind};

#[cfg(test)]
use keys::range_of;
use keys::{key_info, MASK};

/// The default of `params_body_limit`: 2 MiB, axum's default body limit.
pub const DEFAULT_PARAMS_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The largest `params_body_limit` accepted: 1 GiB (the body is held in memory).
pub const MAX_PARAMS_BODY_LIMIT: usize = 1024 * 1024 * 1024;

/// The default of `session_remember_timeout`: 30 days.
pub const DEFAULT_SESSION_REMEMBER_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);

/// The default of `session_max_bytes`: 64 KiB of data per session.
pub const DEFAULT_SESSION_MAX_BYTES: usize = 65_536;

/// The largest `session_max_bytes` accepted: 64 MiB (a record is copied on every load).
pub const MAX_SESSION_MAX_BYTES: usize = 64 * 1024 * 1024;

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
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Config {
    /// Bottle's `debug` flag, accepted for compatibility and ignored.
    pub debug: bool,
    /// The log: `log_*` and `request_id_*`.
    pub log: LogSettings,
    /// Parameter decoding: `params_body_limit`.
    pub params: ParamsSettings,
    /// Sessions: `session_timeout`, `session_lock*`, `session_max*`, `session_on_store_error`.
    pub session: SessionSettings,
    /// The session cookie: `session_cookie*`.
    pub cookie: CookieSettings,
    /// The session store: `session_store*`.
    pub store: StoreSettings,
    /// CORS: `cors*`.
    pub cors: CorsSettings,
    /// The cross-site request check: `csrf*`.
    pub csrf: CsrfSettings,
    /// Authentication: `auth_basic_*`, `auth_jwt_*`, `auth_oidc_issuer`, `auth_remember`.
    pub auth: AuthSettings,
    /// Where each key was last read from (canonical name, origin), for error messages and
    /// warnings; see [`Config::origin`].
    origins: Vec<(&'static str, String)>,
    /// `CANISTER_*` environment variables that name no key, ignored (names only, in the order
    /// met, no duplicates); see [`Config::warnings`].
    ignored_env: Vec<String>,
}

/// Why a configuration could not be used.
///
/// `Display` describes this error only; what caused it (an [`AuthError`], a [`LogError`], an
/// I/O error) is its [`source`](std::error::Error::source), never repeated in the text.
/// `Debug` prints `Display` and then every cause on one line (as `anyhow::Error`'s `{:#}`
/// does), so that `fn main() -> Result<(), Box<dyn Error>>`, which prints its error with
/// `Debug`, shows a readable message rather than the enum's fields. Match on the variants
/// for the fields.
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
    /// An authentication setting the authenticator refuses (a public key file that cannot
    /// be read or parsed, keys and algorithms that do not go together, …): `source` says
    /// why.
    #[error("invalid configuration `{key}`{}: the authenticator cannot use it", from_origin(.origin))]
    Auth {
        /// The key at fault.
        key: &'static str,
        /// Where the key's value came from, when known.
        origin: Option<String>,
        /// Why the authenticator refused it.
        #[source]
        source: AuthError,
    },
    /// A log setting the log sink cannot use (a `log_path` directory that cannot be created,
    /// today's file that cannot be opened): `source` says why.
    #[error("invalid configuration `{key}`{}: the log cannot use it", from_origin(.origin))]
    Log {
        /// The key at fault.
        key: &'static str,
        /// Where the key's value came from, when known.
        origin: Option<String>,
        /// Why the sink could not be built.
        #[source]
        source: LogError,
    },
    /// The file could not be read.
    #[error("cannot read configuration file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl fmt::Debug for ConfigError {
    /// `Display` followed by every cause ([`ErrorChain`](crate::ErrorChain)): what `main`
    /// prints when it returns the error, on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::ErrorChain(self), f)
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
            ConfigError::Auth {
                key,
                origin: None,
                source,
            } => ConfigError::Auth {
                key,
                origin: config.origin(key).map(str::to_owned),
                source,
            },
            ConfigError::Log {
                key,
                origin: None,
                source,
            } => ConfigError::Log {
                key,
                origin: config.origin(key).map(str::to_owned),
                source,
            },
            other => other,
        }
    }
}

impl Config {
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
    /// use canister_core::config::Config;
    ///
    /// let mut config = Config::default();
    /// config.apply_env(std::env::vars_os())?;
    /// config.apply_env([
    ///     ("CANISTER_SESSION_TIMEOUT", "600"),
    ///     ("HOME", "/root"),
    ///     ("CANISTER_SERVICE_HOST", "10.0.0.1"),
    /// ])?;
    /// assert_eq!(config.session.timeout.map(|t| t.as_secs()), Some(600));
    /// assert!(config.warnings().iter().any(|w| w.contains("CANISTER_SERVICE_HOST")));
    /// # Ok::<(), canister_core::config::ConfigError>(())
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
    /// use canister_core::config::Config;
    ///
    /// let mut config = Config::from_ini_str("[canister]\n\nsession_timout = 60\n")?;
    /// assert_eq!(config.origin("session_timeout"), Some("<string>, line 3"));
    /// config.apply_env([("CANISTER_SESSION_TIMEOUT", "600")])?;
    /// assert_eq!(config.origin("session_timeout"), Some("environment variable CANISTER_SESSION_TIMEOUT"));
    /// assert_eq!(config.origin("log_days"), None);
    /// # Ok::<(), canister_core::config::ConfigError>(())
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
    /// ([`startup_warnings`], which adds warnings about weak
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
    /// use canister_core::config::Config;
    ///
    /// // canister's README sample spells the key `auth_client_id`.
    /// let config = Config::from_ini_str("[canister]\nauth_client_id = ABC\n")?;
    /// assert!(config.warnings()[0].contains("JWT authentication is off"));
    /// assert!(Config::default().warnings().is_empty());
    /// # Ok::<(), canister_core::config::ConfigError>(())
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(origin) = self.origin("auth_client_id") {
            if self.auth.jwt.client_id.is_some() {
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
        let Some(secret) = &self.auth.jwt.secret else {
            return "; JWT also needs `auth_jwt_secret` (or a public key)".to_owned();
        };
        if secret::problem(secret.expose(), self.auth.jwt.encoding).is_none() {
            return "; check that `auth_jwt_encoding` says how `auth_jwt_secret` is written \
                    (`clear` for plain text)"
                .to_owned();
        }
        let encoding = format!("{:?}", self.auth.jwt.encoding).to_lowercase();
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
                MASK.to_owned()
            } else {
                v.to_owned()
            },
            expected: info.expected.to_owned(),
            origin: origin.to_owned(),
        };
        // A numeric key is range-checked once parsed; an out-of-range value leaves the
        // configuration as it was.
        let before = info.range.map(|_| self.clone());
        info.read(self, v).ok_or_else(bad)?;
        if let (Some(range), Some(before)) = (info.range, before) {
            if !info.in_range(self) {
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

    /// The cap of the memory store in force: `session_max` when set (`None` for `0`: no
    /// cap), else [`DEFAULT_MAX_SESSIONS`](crate::session::DEFAULT_MAX_SESSIONS).
    pub fn session_cap(&self) -> Option<usize> {
        match self.session.max {
            None => Some(crate::session::DEFAULT_MAX_SESSIONS),
            Some(0) => None,
            Some(n) => Some(n),
        }
    }

    /// Whether the configuration names an identity provider whose keys must be fetched
    /// (`auth_jwt_jwks_url` or `auth_oidc_issuer`): the engine then needs the keys from
    /// `canister-oidc` ([`Builder::jwks`](crate::Builder::jwks)).
    pub fn has_jwt_provider(&self) -> bool {
        self.auth.jwt.jwks_url.is_some() || self.auth.jwt.oidc_issuer.is_some()
    }

    /// The JWT algorithms in force: `auth_jwt_algorithms`, except that with an identity
    /// provider and no `auth_jwt_algorithms` given, every asymmetric algorithm
    /// ([`JwtAlgorithm::PROVIDER_DEFAULT`]), plus HS256 when `auth_jwt_secret` is set.
    pub fn jwt_algorithms(&self) -> Vec<JwtAlgorithm> {
        let untouched = self.auth.jwt.algorithms == [JwtAlgorithm::HS256]
            && self.origin("auth_jwt_algorithms").is_none();
        if self.has_jwt_provider() && untouched {
            let mut algorithms = JwtAlgorithm::PROVIDER_DEFAULT.to_vec();
            if self.auth.jwt.secret.is_some() {
                algorithms.insert(0, JwtAlgorithm::HS256);
            }
            algorithms
        } else {
            self.auth.jwt.algorithms.clone()
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
        if let Some(key) = KEYS.iter().find(|key| !key.in_range(self)) {
            return Err(ConfigError::OutOfRange {
                key: key.name.to_owned(),
                value: key.render(self).unwrap_or_default(),
                range: key.range.unwrap_or_default().to_owned(),
                origin: "code".to_owned(),
            });
        }
        let conflict = |key: &str, message: &str| ConfigError::conflict(self, key, message);
        if !(1..=MAX_SESSION_MAX_BYTES).contains(&self.session.max_bytes) {
            return Err(conflict(
                "session_max_bytes",
                "must be from 1 to 67108864 (64 MiB)",
            ));
        }
        if self.cookie.partitioned && self.cookie.secure == CookieSecure::Never {
            return Err(conflict(
                "session_cookie_partitioned",
                "a Partitioned cookie must be Secure (browsers drop it otherwise); set session_cookie_secure to auto or true",
            ));
        }
        if self.cookie.name.starts_with("__Host-") {
            let problem = if self.cookie.secure != CookieSecure::Always {
                Some("session_cookie_secure = true (Secure on every response, not auto)")
            } else if self.cookie.path != "/" {
                Some("session_cookie_path = /")
            } else if self.cookie.domain.is_some() {
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
        if self.cookie.name.starts_with("__Secure-") && self.cookie.secure != CookieSecure::Always {
            return Err(conflict(
                "session_cookie",
                "a cookie name starting with __Secure- needs session_cookie_secure = true: browsers refuse it on a response without Secure",
            ));
        }
        match (&self.store.tls_cert, &self.store.tls_key) {
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
        if self.cors.credentials && self.cors.origins == CorsOrigins::Any {
            return Err(conflict(
                "cors_credentials",
                "credentials cannot be allowed for every origin (CORS = *); list the origins in `CORS` instead",
            ));
        }
        if self.cookie.same_site == SameSite::None && self.cookie.secure == CookieSecure::Never {
            return Err(conflict(
                "session_cookie_samesite",
                "SameSite=None requires a Secure cookie; set session_cookie_secure to auto or true",
            ));
        }
        if self.auth.basic.encryption == BasicEncryption::Sha256 {
            if let Some(p) = &self.auth.basic.password {
                let p = p.expose();
                if p.len() != 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(conflict(
                        "auth_basic_password",
                        "with auth_basic_encryption = sha256 the password must be the 64 hex digits of its SHA-256",
                    ));
                }
            }
        }
        if self.auth.basic.htpasswd.is_some()
            && (self.auth.basic.username.is_some() || self.auth.basic.password.is_some())
        {
            return Err(conflict(
                "auth_basic_htpasswd",
                "set either auth_basic_htpasswd or auth_basic_username and auth_basic_password, not both: add the user to the htpasswd file (htpasswd -B FILE USER)",
            ));
        }
        if self.auth.basic.username.is_some() != self.auth.basic.password.is_some() {
            return Err(conflict(
                "auth_basic_username",
                "Basic authentication needs both auth_basic_username and auth_basic_password",
            ));
        }
        let algorithms = self.jwt_algorithms();
        let asymmetric = algorithms.iter().any(|a| !a.is_hmac());
        let hmac = algorithms.iter().any(|a| a.is_hmac());
        if let (Some(configured), Some(oidc)) = (&self.auth.jwt.issuer, &self.auth.jwt.oidc_issuer)
        {
            if configured != oidc {
                return Err(conflict(
                    "auth_jwt_issuer",
                    "differs from auth_oidc_issuer, whose value every token's iss must equal: remove auth_jwt_issuer",
                ));
            }
        }
        if let Some(name) = &self.auth.jwt.cookie {
            if self.auth.jwt.client_id.is_none() {
                return Err(conflict(
                    "auth_jwt_cookie",
                    "is set but auth_jwt_client_id is not: the cookie's token is a JWT, set the client id tokens carry in `aud`",
                ));
            }
            if *name == self.cookie.name {
                return Err(conflict(
                    "auth_jwt_cookie",
                    "names the session cookie (session_cookie): give the token cookie another name",
                ));
            }
        }
        if self.auth.jwt.secret_previous.is_some() && self.auth.jwt.secret.is_none() {
            return Err(conflict(
                "auth_jwt_secret_previous",
                "is set but auth_jwt_secret is not: the previous secret is accepted beside the current one, set both",
            ));
        }
        if self.has_jwt_provider() {
            if self.auth.jwt.client_id.is_none() {
                return Err(conflict(
                    if self.auth.jwt.oidc_issuer.is_some() {
                        "auth_oidc_issuer"
                    } else {
                        "auth_jwt_jwks_url"
                    },
                    "names an identity provider but auth_jwt_client_id is not set: JWT authentication needs the client id tokens carry in `aud`",
                ));
            }
            if self.auth.jwt.public_key.is_some() {
                return Err(conflict(
                    "auth_jwt_public_key",
                    "cannot be used with an identity provider (auth_jwt_jwks_url, auth_oidc_issuer), whose keys are fetched: remove one of them",
                ));
            }
        }
        if self.auth.jwt.client_id.is_some() {
            if asymmetric && self.auth.jwt.public_key.is_none() && !self.has_jwt_provider() {
                return Err(conflict(
                    "auth_jwt_public_key",
                    "RS/ES/PS/EdDSA algorithms in auth_jwt_algorithms need auth_jwt_public_key (a PEM file), auth_jwt_jwks_url or auth_oidc_issuer",
                ));
            }
            if hmac && self.auth.jwt.secret.is_none() {
                return Err(conflict(
                    "auth_jwt_secret",
                    "HS algorithms in auth_jwt_algorithms need auth_jwt_secret",
                ));
            }
            if let Some(secret) = self.auth.jwt.secret.as_ref().filter(|_| hmac) {
                if let Some(problem) = secret::problem(secret.expose(), self.auth.jwt.encoding) {
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

    /// Every printed key ([`KEYS`] but `auth_client_id`) with its value as text, secrets
    /// masked: what the start-up banner, `Debug` and `Display` print.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .filter_map(|key| Some((key.name, key.render(self)?)))
            .collect()
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

#[cfg(test)]
mod tests;
