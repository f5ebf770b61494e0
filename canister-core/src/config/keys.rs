//! The key table: every configuration key, written once.
//!
//! Each row of [`KEYS`] is a [`KeyInfo`] that says everything canister knows about one key:
//!
//! - its INI name and old spellings ([`alias`](KeyInfo::alias)),
//! - what it accepts, in words (the `expected` of [`ConfigError::InvalidValue`]),
//! - whether it is secret (masked in errors, `Debug`, `Display` and the banner),
//! - how to read it (`set`: text to the [`Config`] field, `None` when the text is refused),
//! - how to print it (`show`, for [`Config::entries`]; a key without one is not printed),
//! - its accepted range, if numeric ([`range`](KeyInfo::range): text for
//!   [`ConfigError::OutOfRange`] and the check, run on every read and by
//!   [`Config::validate`]).
//!
//! [`Config::set`], [`KEYS`], [`RANGES`], masking and [`Config::entries`] (hence the banner)
//! all read this table, so a new key is one row here (plus its field and default in the
//! settings type of its concern). The rows are plain `const` values built with `const fn`
//! methods, and the read/print functions are non-capturing closures coerced to `fn`
//! pointers: no macro to learn, and the compiler checks each closure against the field it
//! writes. The order of the rows is the order of the banner.
//!
//! [`ConfigError::InvalidValue`]: super::ConfigError::InvalidValue
//! [`ConfigError::OutOfRange`]: super::ConfigError::OutOfRange

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Method};

use super::{
    mask_url, BasicEncryption, Config, CookieSecure, CorsOrigins, JwtAlgorithm, JwtEncoding,
    LogSettings, LogSinkKind, OnStoreError, SameSite, Secret, DEFAULT_CORS_HEADERS,
    MAX_CORS_MAX_AGE, MAX_JWT_LEEWAY, MAX_LOCK_TIMEOUT, MAX_LOG_DAYS, MAX_LOG_SLOW_MS,
    MAX_PARAMS_BODY_LIMIT, MAX_SESSION_MAX, MAX_SESSION_MAX_BYTES, MAX_SESSION_TIMEOUT,
    MAX_STORE_REPLICAS, MAX_STORE_TIMEOUT, MIN_TIMEOUT,
};
use crate::log::Level;
use crate::session::ThrottleLimit;

/// What a secret value is replaced with wherever it is printed.
pub(crate) const MASK: &str = "********";

/// A configuration key: its name, what it accepts, whether it is secret, and (inside the
/// crate) how it is read, printed and range-checked. How the table is built is told in `config/keys.rs`.
#[derive(Clone, Copy)]
pub struct KeyInfo {
    /// The key as written in the INI file (lowercase).
    pub name: &'static str,
    /// What values are accepted, for error messages.
    pub expected: &'static str,
    /// Whether the value is masked when printed or logged.
    pub secret: bool,
    /// The accepted range of a numeric key, as [`RANGES`] lists it.
    pub range: Option<&'static str>,
    /// Old or alternative spellings accepted for compatibility with canister's files.
    aliases: &'static [&'static str],
    /// A secret whose printout keeps the URL and masks only its passwords.
    mask_url: bool,
    /// Reads the (trimmed) text into the configuration; `None`: the text is refused and the
    /// configuration is unchanged.
    set: fn(&mut Config, &str) -> Option<()>,
    /// The value as text, before masking; `None`: the key is not printed.
    show: Option<fn(&Config) -> String>,
    /// Whether the value is within [`range`](Self::range).
    in_range: fn(&Config) -> bool,
}

impl fmt::Debug for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInfo")
            .field("name", &self.name)
            .field("expected", &self.expected)
            .field("secret", &self.secret)
            .field("range", &self.range)
            .field("aliases", &self.aliases)
            .finish_non_exhaustive()
    }
}

impl KeyInfo {
    /// A key named `name` accepting `expected`, read by `set`; not printed, not secret, no
    /// range until the methods below say so.
    const fn new(
        name: &'static str,
        expected: &'static str,
        set: fn(&mut Config, &str) -> Option<()>,
    ) -> Self {
        Self {
            name,
            expected,
            secret: false,
            range: None,
            aliases: &[],
            mask_url: false,
            set,
            show: None,
            in_range: always,
        }
    }

    /// Printed in [`Config::entries`] as `show` gives it.
    const fn show(mut self, show: fn(&Config) -> String) -> Self {
        self.show = Some(show);
        self
    }

    /// Secret: masked in errors, and printed as [`MASK`] when set.
    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Secret, printed with only the passwords of its URLs masked ([`mask_url`]).
    const fn secret_url(mut self) -> Self {
        self.secret = true;
        self.mask_url = true;
        self
    }

    /// Numeric, accepted within `range` (in words) as `check` decides.
    const fn range(mut self, range: &'static str, check: fn(&Config) -> bool) -> Self {
        self.range = Some(range);
        self.in_range = check;
        self
    }

    /// Also accepted under these spellings.
    const fn alias(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Whether `name` (lowercase, trimmed) is this key or one of its aliases.
    fn is(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// Reads `value` (trimmed) into `config`; `None` when the text is refused.
    pub(crate) fn read(&self, config: &mut Config, value: &str) -> Option<()> {
        (self.set)(config, value)
    }

    /// Whether `config`'s value of this key is within its range (keys without one: true).
    pub(crate) fn in_range(&self, config: &Config) -> bool {
        (self.in_range)(config)
    }

    /// The value in `config` as printed, secrets masked; `None` for a key never printed.
    pub(crate) fn render(&self, config: &Config) -> Option<String> {
        let text = (self.show?)(config);
        Some(if !self.secret || text.is_empty() {
            text
        } else if self.mask_url {
            mask_url(&text)
        } else {
            MASK.to_owned()
        })
    }
}

/// The range check of a key without a range.
fn always(_: &Config) -> bool {
    true
}

const fn key(
    name: &'static str,
    expected: &'static str,
    set: fn(&mut Config, &str) -> Option<()>,
) -> KeyInfo {
    KeyInfo::new(name, expected, set)
}

const BOOL: &str = "true or false (also yes/no, on/off, 1/0)";

/// Every configuration key canister reads, in the banner's order.
pub const KEYS: &[KeyInfo] = &[
    key(
        "debug",
        "bottle's debug flag: true or false (read and ignored)",
        |c, v| put(&mut c.debug, parse_bool(v)),
    )
    .show(|c| c.debug.to_string()),
    // Canister never read this key; keeping JWT off keeps such files working. Not printed.
    key(
        "auth_client_id",
        "anything: canister's README spelling, never read by canister (use auth_jwt_client_id)",
        |_, _| Some(()),
    ),
    key(
        "log_path",
        "a directory for daily log files (unset: the console)",
        |c, v| put(&mut c.log.path, Some(path(v))),
    )
    .show(|c| show_path(&c.log.path)),
    key(
        "log_level",
        "DISABLED, DEBUG, INFO, WARNING (or WARN), ERROR or CRITICAL",
        |c, v| put(&mut c.log.level, parse_level(v)),
    )
    .show(|c| c.log.level.map_or("DISABLED".to_owned(), |l| l.to_string())),
    key(
        "log_days",
        "a number of days to keep log files (integer ≥ 1)",
        |c, v| put(&mut c.log.days, v.parse().ok().filter(|d| *d >= 1)),
    )
    .show(|c| c.log.days.to_string())
    .range("1 to 36500 days (a hundred years)", |c| {
        (1..=MAX_LOG_DAYS).contains(&c.log.days)
    }),
    key(
        "log_slow_ms",
        "milliseconds after which a response is logged as slow (integer ≥ 0)",
        |c, v| put(&mut c.log.slow_ms, v.parse().ok()),
    )
    .show(|c| c.log.slow_ms.to_string())
    .range("0 to 86400000 milliseconds (one day)", |c| {
        c.log.slow_ms <= MAX_LOG_SLOW_MS
    }),
    key(
        "log_trust_proxy",
        "true, false, or the number of trusted proxies in front of the app (0 to 16)",
        |c, v| {
            let hops = match parse_bool(v) {
                Some(trusted) => Some(u8::from(trusted)),
                None => v
                    .parse()
                    .ok()
                    .filter(|n| *n <= LogSettings::MAX_TRUSTED_PROXIES),
            };
            put(&mut c.log.trust_proxy, hops)
        },
    )
    .show(|c| match c.log.trust_proxy {
        0 => "false".to_owned(),
        1 => "true".to_owned(),
        n => n.to_string(),
    }),
    key(
        "log_file_mode",
        "octal permissions for new log files, at least 0600 and at most 0777 (e.g. 0640)",
        |c, v| put(&mut c.log.file_mode, parse_mode(v, 0o600)),
    )
    .show(|c| format!("{:04o}", c.log.file_mode)),
    key(
        "log_dir_mode",
        "octal permissions for a new log directory, at least 0700 and at most 0777 (e.g. 0750)",
        |c, v| put(&mut c.log.dir_mode, parse_mode(v, 0o700)),
    )
    .show(|c| format!("{:04o}", c.log.dir_mode)),
    key(
        "log_sink",
        "canister (canister's line layout, default) or tracing (the application's tracing subscriber)",
        |c, v| {
            let sink = match v.to_ascii_lowercase().as_str() {
                "canister" => LogSinkKind::Canister,
                "tracing" => LogSinkKind::Tracing,
                _ => return None,
            };
            put(&mut c.log.sink, Some(sink))
        },
    )
    .show(|c| {
        match c.log.sink {
            LogSinkKind::Canister => "canister",
            LogSinkKind::Tracing => "tracing",
        }
        .to_owned()
    }),
    key(
        "request_id_header",
        "the header name that carries the request id (default x-request-id)",
        |c, v| {
            put(
                &mut c.log.request_id_header,
                HeaderName::from_bytes(v.as_bytes()).ok(),
            )
        },
    )
    .show(|c| c.log.request_id_header.as_str().to_owned()),
    key("request_id_trust", BOOL, |c, v| {
        put(&mut c.log.request_id_trust, parse_bool(v))
    })
    .show(|c| c.log.request_id_trust.to_string()),
    key(
        "params_body_limit",
        "the most bytes of a request body the parameter decoders read (integer from 1 to 1073741824, default 2097152)",
        |c, v| put(&mut c.params.body_limit, v.parse().ok()),
    )
    .show(|c| c.params.body_limit.to_string())
    .range("1 to 1073741824 bytes (1 GiB)", |c| {
        (1..=MAX_PARAMS_BODY_LIMIT).contains(&c.params.body_limit)
    }),
    key(
        "session_timeout",
        "seconds of inactivity before a session expires (≤ 0: never)",
        |c, v| {
            let secs: f64 = v.parse().ok().filter(|s: &f64| s.is_finite())?;
            let timeout = if secs <= 0.0 {
                None
            } else {
                Some(Duration::try_from_secs_f64(secs).ok()?)
            };
            put(&mut c.session.timeout, Some(timeout))
        },
    )
    .alias(&["session_timout"])
    .show(|c| c.session.timeout.map_or("0".to_owned(), |d| secs(&d)))
    .range(
        "at most 315360000 seconds (ten years); 0 or less: never expire",
        |c| c.session.timeout.is_none_or(|t| t <= MAX_SESSION_TIMEOUT),
    ),
    key("session_cookie", "a cookie name (RFC 6265 token)", |c, v| {
        let name = (!v.is_empty() && v.bytes().all(is_token_char)).then(|| v.to_owned());
        put(&mut c.cookie.name, name)
    })
    .show(|c| c.cookie.name.clone()),
    key("session_cookie_samesite", "Lax, Strict or None", |c, v| {
        let same_site = match v.to_ascii_lowercase().as_str() {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            _ => return None,
        };
        put(&mut c.cookie.same_site, Some(same_site))
    })
    .show(|c| format!("{:?}", c.cookie.same_site)),
    key("session_cookie_secure", "auto, true or false", |c, v| {
        let secure = match v.to_ascii_lowercase().as_str() {
            "auto" => CookieSecure::Auto,
            other => match parse_bool(other)? {
                true => CookieSecure::Always,
                false => CookieSecure::Never,
            },
        };
        put(&mut c.cookie.secure, Some(secure))
    })
    .show(|c| format!("{:?}", c.cookie.secure)),
    key(
        "session_cookie_domain",
        "a domain name for the cookie's Domain attribute",
        |c, v| {
            let valid = v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            put(&mut c.cookie.domain, valid.then(|| text(v)))
        },
    )
    .show(|c| show_opt(&c.cookie.domain)),
    key(
        "session_cookie_path",
        "a path starting with /, in ASCII, without `;` or control characters",
        |c, v| {
            // RFC 6265 path-value: any US-ASCII character but controls and `;` (found by
            // fuzzing: non-ASCII bytes went into every Set-Cookie header).
            let valid = v.starts_with('/')
                && !v
                    .bytes()
                    .any(|b| !b.is_ascii() || b == b';' || b.is_ascii_control());
            put(&mut c.cookie.path, valid.then(|| v.to_owned()))
        },
    )
    .show(|c| c.cookie.path.clone()),
    key("session_cookie_persistent", BOOL, |c, v| {
        put(&mut c.cookie.persistent, parse_bool(v))
    })
    .show(|c| c.cookie.persistent.to_string()),
    key("session_cookie_partitioned", BOOL, |c, v| {
        put(&mut c.cookie.partitioned, parse_bool(v))
    })
    .show(|c| c.cookie.partitioned.to_string()),
    key(
        "session_max_lifetime",
        "seconds after a login or creation when a session ends whatever its activity (0: none)",
        |c, v| {
            let secs: f64 = v.parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0)?;
            let lifetime = if secs == 0.0 {
                None
            } else {
                Some(Duration::try_from_secs_f64(secs).ok()?)
            };
            put(&mut c.session.max_lifetime, Some(lifetime))
        },
    )
    .show(|c| c.session.max_lifetime.map_or("0".to_owned(), |d| secs(&d)))
    .range("at most 315360000 seconds (ten years); 0: none", |c| {
        c.session.max_lifetime.is_none_or(|t| t <= MAX_SESSION_TIMEOUT)
    }),
    key(
        "session_remember_timeout",
        "seconds a remembered login lasts: its cookie's Max-Age and its time to live (number > 0, default 2592000)",
        |c, v| put(&mut c.session.remember_timeout, parse_secs(v)),
    )
    .show(|c| secs(&c.session.remember_timeout))
    .range("0.001 to 315360000 seconds (ten years)", |c| {
        (MIN_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&c.session.remember_timeout)
    }),
    key(
        "session_max_per_user",
        "the most live sessions one user may have; a login beyond it ends the oldest (integer, 0: no cap)",
        |c, v| put(&mut c.session.max_per_user, v.parse().ok()),
    )
    .show(|c| c.session.max_per_user.to_string())
    .range("0 (no cap) to 100000 sessions", |c| c.session.max_per_user <= 100_000),
    key("session_locking", BOOL, |c, v| {
        put(&mut c.session.locking, parse_bool(v))
    })
    .show(|c| c.session.locking.to_string()),
    key(
        "session_lock_timeout",
        "seconds to wait for a session lock (number > 0)",
        |c, v| put(&mut c.session.lock_timeout, parse_secs(v)),
    )
    .show(|c| secs(&c.session.lock_timeout))
    .range("0.001 to 3600 seconds (one hour)", |c| {
        (MIN_TIMEOUT..=MAX_LOCK_TIMEOUT).contains(&c.session.lock_timeout)
    }),
    key(
        "session_max",
        "the most sessions the memory store holds (integer ≥ 1, default 100000; 0: no cap)",
        |c, v| put(&mut c.session.max, Some(Some(v.parse().ok()?))),
    )
    .show(|c| c.session_cap().map_or("0".to_owned(), |n| n.to_string()))
    .range("0 (no cap) to 1000000000 sessions", |c| {
        c.session.max.is_none_or(|n| n <= MAX_SESSION_MAX)
    }),
    key(
        "session_max_bytes",
        "the most bytes of data one session holds (integer from 1 to 67108864, default 65536)",
        |c, v| {
            let max = v
                .parse()
                .ok()
                .filter(|n| (1..=MAX_SESSION_MAX_BYTES).contains(n));
            put(&mut c.session.max_bytes, max)
        },
    )
    .show(|c| c.session.max_bytes.to_string()),
    key("session_on_store_error", "fail or anonymous", |c, v| {
        let on_error = match v.to_ascii_lowercase().as_str() {
            "fail" => OnStoreError::Fail,
            "anonymous" => OnStoreError::Anonymous,
            _ => return None,
        };
        put(&mut c.session.on_store_error, Some(on_error))
    })
    .show(|c| format!("{:?}", c.session.on_store_error)),
    key(
        "session_store",
        "memory, or a redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URL (several comma-separated redis:// or rediss:// URLs: a cluster)",
        |c, v| {
            let lower = v.to_ascii_lowercase();
            let store = if lower.is_empty() || lower == "memory" {
                None
            } else if [
                "redis://",
                "rediss://",
                "redis+sentinel://",
                "rediss+sentinel://",
                "redis+unix://",
                "unix://",
            ]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
            {
                Some(Secret::new(v))
            } else {
                return None;
            };
            put(&mut c.store.url, Some(store))
        },
    )
    .secret_url()
    .show(|c| {
        c.store.url
            .as_ref()
            .map_or("memory".to_owned(), |s| s.expose().to_owned())
    }),
    key(
        "session_store_prefix",
        "a key prefix for the store",
        |c, v| put(&mut c.store.prefix, Some(v.to_owned())),
    )
    .show(|c| c.store.prefix.clone()),
    key(
        "session_store_timeout",
        "seconds a store operation may take (number > 0)",
        |c, v| put(&mut c.store.timeout, parse_secs(v)),
    )
    .show(|c| secs(&c.store.timeout))
    .range("0.001 to 3600 seconds (one hour)", |c| {
        (MIN_TIMEOUT..=MAX_STORE_TIMEOUT).contains(&c.store.timeout)
    }),
    key(
        "session_store_tls_ca",
        "the path of a PEM file of the CA certificates a rediss:// server is checked against (unset: the system roots)",
        |c, v| put(&mut c.store.tls_ca, Some(path(v))),
    )
    .show(|c| show_path(&c.store.tls_ca)),
    key(
        "session_store_tls_cert",
        "the path of a PEM client certificate (chain) for rediss://, with session_store_tls_key",
        |c, v| put(&mut c.store.tls_cert, Some(path(v))),
    )
    .show(|c| show_path(&c.store.tls_cert)),
    key(
        "session_store_tls_key",
        "the path of the PEM private key of session_store_tls_cert",
        |c, v| put(&mut c.store.tls_key, Some(path(v))),
    )
    .show(|c| show_path(&c.store.tls_key)),
    key(
        "session_store_replicas",
        "the number of replicas that must hold a save before it is acknowledged (integer from 0 to 16)",
        |c, v| put(&mut c.store.replicas, v.parse().ok()),
    )
    .show(|c| c.store.replicas.to_string())
    .range("0 to 16 replicas", |c| {
        c.store.replicas <= MAX_STORE_REPLICAS
    }),
    key(
        "cors",
        "*, false, or a comma-separated list of origins (scheme://host[:port])",
        |c, v| {
            let origins = if v.is_empty() || v.eq_ignore_ascii_case("false") {
                CorsOrigins::Disabled
            } else if v == "*" {
                CorsOrigins::Any
            } else {
                CorsOrigins::List(parse_origins(v)?)
            };
            put(&mut c.cors.origins, Some(origins))
        },
    )
    .show(|c| match &c.cors.origins {
        CorsOrigins::Disabled => "false".to_owned(),
        CorsOrigins::Any => "*".to_owned(),
        CorsOrigins::List(l) => l.join(", "),
    }),
    key(
        "cors_methods",
        "a comma-separated list of HTTP methods",
        |c, v| {
            let methods = split_list(v)
                .map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                .collect();
            put(&mut c.cors.methods, methods)
        },
    )
    .show(|c| show_list(&c.cors.methods)),
    key(
        "cors_headers",
        "* (any header asked for) or a comma-separated list of header names; unset: accept, accept-language, content-language, content-type, authorization",
        |c, v| {
            let headers = if v.is_empty() {
                None
            } else {
                Some(parse_headers(v)?)
            };
            put(&mut c.cors.headers, Some(headers))
        },
    )
    .show(|c| show_headers(c.cors.headers.as_deref().unwrap_or(&DEFAULT_CORS_HEADERS))),
    key(
        "cors_expose_headers",
        "a comma-separated list of header names",
        |c, v| put(&mut c.cors.expose_headers, parse_headers(v)),
    )
    .show(|c| show_headers(&c.cors.expose_headers)),
    key("cors_credentials", BOOL, |c, v| {
        put(&mut c.cors.credentials, parse_bool(v))
    })
    .show(|c| c.cors.credentials.to_string()),
    key(
        "cors_max_age",
        "seconds a preflight may be cached (integer ≥ 0)",
        |c, v| put(&mut c.cors.max_age, Some(Some(v.parse().ok()?))),
    )
    .show(|c| show_opt(&c.cors.max_age))
    .range("0 to 86400 seconds (one day; browsers cap it lower)", |c| {
        c.cors.max_age.is_none_or(|a| a <= MAX_CORS_MAX_AGE)
    }),
    key("csrf", BOOL, |c, v| put(&mut c.csrf.enabled, parse_bool(v))).show(|c| c.csrf.enabled.to_string()),
    key(
        "csrf_trusted_origins",
        "a comma-separated list of origins (scheme://host[:port])",
        |c, v| {
            let origins = if v.is_empty() {
                Vec::new()
            } else {
                parse_origins(v)?
            };
            put(&mut c.csrf.trusted_origins, Some(origins))
        },
    )
    .show(|c| c.csrf.trusted_origins.join(", ")),
    key("auth_basic_username", "a user name (no ':')", |c, v| {
        put(&mut c.auth.basic.username, (!v.contains(':')).then(|| text(v)))
    })
    .show(|c| show_opt(&c.auth.basic.username)),
    key(
        "auth_basic_password",
        "the password, or with sha256 its hex SHA-256 digest",
        |c, v| put(&mut c.auth.basic.password, Some(secret(v))),
    )
    .secret()
    .show(|c| show_secret(&c.auth.basic.password)),
    key("auth_basic_encryption", "clear or sha256", |c, v| {
        let encryption = match v.to_ascii_lowercase().as_str() {
            "clear" => BasicEncryption::Clear,
            "sha256" => BasicEncryption::Sha256,
            _ => return None,
        };
        put(&mut c.auth.basic.encryption, Some(encryption))
    })
    .show(|c| format!("{:?}", c.auth.basic.encryption).to_lowercase()),
    key(
        "auth_basic_realm",
        "a realm name for the Basic challenge",
        |c, v| put(&mut c.auth.basic.realm, realm(v)),
    )
    .show(|c| c.auth.basic.realm.clone()),
    key(
        "auth_basic_htpasswd",
        "the path of an htpasswd file of bcrypt ($2y$ or $2b$) hashes",
        |c, v| put(&mut c.auth.basic.htpasswd, Some(path(v))),
    )
    .show(|c| show_path(&c.auth.basic.htpasswd)),
    key("auth_basic_challenge", BOOL, |c, v| {
        put(&mut c.auth.basic.challenge, parse_bool(v))
    })
    .show(|c| c.auth.basic.challenge.to_string()),
    key(
        "auth_jwt_client_id",
        "the audience (aud) tokens must carry",
        |c, v| put(&mut c.auth.jwt.client_id, Some(text(v))),
    )
    .show(|c| show_opt(&c.auth.jwt.client_id)),
    key(
        "auth_jwt_secret",
        "the HMAC secret, in auth_jwt_encoding",
        |c, v| put(&mut c.auth.jwt.secret, Some(secret(v))),
    )
    .secret()
    .show(|c| show_secret(&c.auth.jwt.secret)),
    key("auth_jwt_encoding", "clear, base64std or base64url", |c, v| {
        let encoding = match v.to_ascii_lowercase().as_str() {
            "clear" => JwtEncoding::Clear,
            "base64std" | "base64" => JwtEncoding::Base64Std,
            "base64url" => JwtEncoding::Base64Url,
            _ => return None,
        };
        put(&mut c.auth.jwt.encoding, Some(encoding))
    })
    .show(|c| format!("{:?}", c.auth.jwt.encoding).to_lowercase()),
    key(
        "auth_jwt_algorithms",
        "a comma-separated list of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA",
        |c, v| {
            let algorithms = split_list(v)
                .map(|a| a.parse().ok())
                .collect::<Option<Vec<JwtAlgorithm>>>()
                .filter(|a| !a.is_empty());
            put(&mut c.auth.jwt.algorithms, algorithms)
        },
    )
    .show(|c| {
        c.auth.jwt.algorithms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }),
    key(
        "auth_jwt_public_key",
        "the path of a PEM public key file (RS*, ES*, PS*)",
        |c, v| put(&mut c.auth.jwt.public_key, Some(path(v))),
    )
    .secret()
    .show(|c| show_path(&c.auth.jwt.public_key)),
    key(
        "auth_jwt_issuer",
        "the issuer (iss) tokens must carry",
        |c, v| put(&mut c.auth.jwt.issuer, Some(text(v))),
    )
    .show(|c| show_opt(&c.auth.jwt.issuer)),
    key(
        "auth_jwt_leeway",
        "seconds of clock skew allowed on exp and nbf (integer ≥ 0)",
        |c, v| put(&mut c.auth.jwt.leeway, v.parse().ok()),
    )
    .show(|c| c.auth.jwt.leeway.to_string())
    .range("0 to 3600 seconds (one hour)", |c| {
        c.auth.jwt.leeway <= MAX_JWT_LEEWAY
    }),
    key(
        "auth_jwt_realm",
        "a realm name for the Bearer challenge",
        |c, v| put(&mut c.auth.jwt.realm, realm(v)),
    )
    .show(|c| c.auth.jwt.realm.clone()),
    key(
        "auth_jwt_secret_previous",
        "the previous HMAC secret, in auth_jwt_encoding, still accepted while tokens signed with it live",
        |c, v| put(&mut c.auth.jwt.secret_previous, Some(secret(v))),
    )
    .secret()
    .show(|c| show_secret(&c.auth.jwt.secret_previous)),
    key(
        "auth_jwt_jwks_url",
        "the https:// (or http://) URL of the identity provider's JWK Set",
        |c, v| put(&mut c.auth.jwt.jwks_url, http_url(v)),
    )
    .show(|c| show_opt(&c.auth.jwt.jwks_url)),
    key(
        "auth_oidc_issuer",
        "the OpenID Connect issuer URL (its /.well-known/openid-configuration names the JWK Set)",
        |c, v| put(&mut c.auth.jwt.oidc_issuer, http_url(v)),
    )
    .show(|c| show_opt(&c.auth.jwt.oidc_issuer)),
    key(
        "auth_jwt_jwks_refresh",
        "seconds between refreshes of the JWK Set (integer from 10 to 86400, default 600)",
        |c, v| put(&mut c.auth.jwt.jwks_refresh, v.parse().ok()),
    )
    .show(|c| c.auth.jwt.jwks_refresh.to_string())
    .range("10 to 86400 seconds (one day)", |c| {
        (10..=86_400).contains(&c.auth.jwt.jwks_refresh)
    }),
    key(
        "auth_jwt_cookie",
        "the name of a cookie holding the bearer token when there is no Authorization header",
        |c, v| {
            let name = match text(v) {
                Some(name) if !name.bytes().all(is_token_char) => return None,
                name => name,
            };
            put(&mut c.auth.jwt.cookie, Some(name))
        },
    )
    .show(|c| show_opt(&c.auth.jwt.cookie)),
    key("auth_remember", BOOL, |c, v| {
        put(&mut c.auth.remember, parse_bool(v))
    })
    .show(|c| c.auth.remember.to_string()),
    key("auth_throttle", THROTTLE, |c, v| {
        put(&mut c.auth.throttle, parse_throttle(v))
    })
    .show(|c| show_throttle(c.auth.throttle)),
    key("auth_throttle_ip", THROTTLE, |c, v| {
        put(&mut c.auth.throttle_ip, parse_throttle(v))
    })
    .show(|c| show_throttle(c.auth.throttle_ip)),
];

/// What `auth_throttle` and `auth_throttle_ip` accept.
const THROTTLE: &str = "N/S: at most N failed password checks (1 to 1000000) per S seconds \
                        (1 to 86400), e.g. 5/60; empty or off: no limit";

/// `N/S` ([`ThrottleLimit::parse`]), or no limit for empty text and `off`.
fn parse_throttle(v: &str) -> Option<Option<ThrottleLimit>> {
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    ThrottleLimit::parse(v).map(Some)
}

fn show_throttle(limit: Option<ThrottleLimit>) -> String {
    limit.map_or_else(|| "off".to_owned(), |l| l.to_string())
}

/// Every numeric key with its accepted range, as [`ConfigError::OutOfRange`] names it: the
/// keys of [`KEYS`] that have a range ([`KeyInfo::range`](KeyInfo#structfield.range)), in the same order.
///
/// Each bound is checked when the key is read (file, environment, [`Config::set`]) and again
/// by [`Config::validate`], which every constructor and the engine's builder run, so a value
/// written straight into a [`Config`] field is held to the same range.
///
/// [`ConfigError::OutOfRange`]: super::ConfigError::OutOfRange
pub const RANGES: &[(&str, &str)] = &RANGE_TABLE;

const RANGE_TABLE: [(&str, &str); count_ranges(KEYS)] = ranges(KEYS);

const fn count_ranges(keys: &[KeyInfo]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < keys.len() {
        if keys[i].range.is_some() {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn ranges<const N: usize>(keys: &[KeyInfo]) -> [(&'static str, &'static str); N] {
    let mut out = [("", ""); N];
    let (mut i, mut n) = (0, 0);
    while i < keys.len() {
        if let Some(range) = keys[i].range {
            out[n] = (keys[i].name, range);
            n += 1;
        }
        i += 1;
    }
    out
}

/// The key `name` (INI spelling, case-insensitive, aliases resolved), if it is one.
pub(crate) fn key_info(name: &str) -> Option<&'static KeyInfo> {
    let lower = name.trim().to_ascii_lowercase();
    KEYS.iter().find(|k| k.is(&lower))
}

/// The accepted range of `key`, if it is a numeric key.
#[cfg(test)]
pub(crate) fn range_of(key: &str) -> Option<&'static str> {
    key_info(key).and_then(|k| k.range)
}

/// Stores `value` in `slot` when there is one; `None` (the text was refused) otherwise.
fn put<T>(slot: &mut T, value: Option<T>) -> Option<()> {
    *slot = value?;
    Some(())
}

/// `None` for empty text, else the text.
fn text(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

/// `None` for empty text, else the path.
fn path(v: &str) -> Option<PathBuf> {
    (!v.is_empty()).then(|| PathBuf::from(v))
}

/// `None` for empty text, else the secret.
fn secret(v: &str) -> Option<Secret> {
    (!v.is_empty()).then(|| Secret::new(v))
}

/// `None` for empty text, an `http(s)://` URL, or a refusal (the outer `None`).
fn http_url(v: &str) -> Option<Option<String>> {
    match text(v) {
        Some(url) if !is_http_url(&url) => None,
        url => Some(url),
    }
}

fn show_opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(String::new, ToString::to_string)
}

fn show_path(v: &Option<PathBuf>) -> String {
    show_opt(&v.as_ref().map(|p| p.display()))
}

fn show_secret(v: &Option<Secret>) -> String {
    v.as_ref()
        .map_or_else(String::new, |s| s.expose().to_owned())
}

fn show_list<T: fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_headers(v: &[HeaderName]) -> String {
    v.iter()
        .map(HeaderName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn secs(d: &Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// `log_level`: `Some(None)` is `DISABLED`.
fn parse_level(v: &str) -> Option<Option<Level>> {
    Some(match v.to_ascii_uppercase().as_str() {
        "DISABLED" | "FALSE" | "NONE" | "OFF" => None,
        "DEBUG" => Some(Level::Debug),
        "INFO" => Some(Level::Info),
        "WARNING" | "WARN" => Some(Level::Warning),
        "ERROR" => Some(Level::Error),
        "CRITICAL" => Some(Level::Critical),
        _ => return None,
    })
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

/// A realm: non-empty, without `"`, `\` or control characters.
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

pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
