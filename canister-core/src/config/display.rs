//! Canister's start-up banner.

use super::keys::MASK;
use super::Config;
use crate::auth::{min_secret_len, secret_len};
use crate::log::{Event, Level, LogContext, LogSink};

/// The rule between the versions and the configuration, as canister prints it.
const RULE: &str = "------------------------------------------";

/// Canister's start-up banner for `config`, one string per line, secrets masked.
///
/// The lines are `============` / `Initializing` / `============`, the crate version
/// (`canister-core version: 0.1.0`), a rule, every configuration key and value as
/// `%-30s = %s`, and a rule. Values come from [`Config::entries`], which masks secrets;
/// as a second guard, any non-empty value whose key ends in `secret`, `password`, `passwd`,
/// `token` or `key` is shown as `********` here too.
///
/// Adapters that want their own versions listed use [`banner_lines_with`].
///
/// # Examples
///
/// ```
/// use canister_core::{config::banner_lines, config::Config};
///
/// let config = Config::from_ini_str("[canister]\nauth_basic_username = alice\nauth_basic_password = hunter2\n")?;
/// let lines = banner_lines(&config);
/// assert_eq!(lines[..3], ["============", "Initializing", "============"]);
/// assert!(lines.iter().any(|l| l == &format!("{:<30} = ********", "auth_basic_password")));
/// assert!(!lines.iter().any(|l| l.contains("hunter2")));
/// # Ok::<(), canister_core::config::ConfigError>(())
/// ```
pub fn banner_lines(config: &Config) -> Vec<String> {
    banner_lines_with(config, &[])
}

/// Like [`banner_lines`], with more `(name, version)` pairs listed after canister-core's.
///
/// An adapter passes its own crate and its framework, e.g.
/// `&[("canister-axum", env!("CARGO_PKG_VERSION")), ("axum", "0.8")]`.
pub fn banner_lines_with(config: &Config, versions: &[(&str, &str)]) -> Vec<String> {
    lines(config, versions, None)
}

/// The banner; `store` is the type name of a store given in code, shown for `session_store`
/// when the configuration names none (it would say `memory`, which is not what runs).
fn lines(config: &Config, versions: &[(&str, &str)], store: Option<&str>) -> Vec<String> {
    let entries = config.entries();
    let mut lines = Vec::with_capacity(entries.len() + versions.len() + 6);
    lines.extend(["============", "Initializing", "============"].map(String::from));
    lines.push(format!(
        "canister-core version: {}",
        env!("CARGO_PKG_VERSION")
    ));
    lines.extend(
        versions
            .iter()
            .map(|(name, version)| format!("{name} version: {version}")),
    );
    lines.push(RULE.to_owned());
    for (key, value) in entries {
        let value = match store {
            Some(store) if key == "session_store" && config.store.url.is_none() => {
                format!("{store} (given in code)")
            }
            // The cap belongs to canister's own memory store; a store given in code has its
            // own (setting `session_max` with one is refused at build).
            Some(_) if key == "session_max" => "(not used: the store given in code)".to_owned(),
            _ => value,
        };
        let value = if value.is_empty() || !is_secret_key(key) {
            value
        } else {
            MASK.to_owned()
        };
        lines.push(format!("{key:<30} = {value}"));
    }
    lines.push(RULE.to_owned());
    lines
}

/// Warnings about the configuration, one sentence each, secrets never shown: first those
/// found while reading it ([`Config::warnings`]: an ignored `auth_client_id`, ignored
/// `CANISTER_*` environment variables), then settings that work but are weak.
///
/// Today one weak setting: an `auth_jwt_secret` (decoded) shorter than the hash of an HS algorithm in
/// `auth_jwt_algorithms` (32 bytes for HS256, 48 for HS384, 64 for HS512; RFC 7518 section
/// 3.2), while JWT is on. Such a secret can be guessed offline from a single token. It is a
/// warning, not a refusal: canister's own sample configurations use `secret` and
/// `my-secret`.
///
/// # Examples
///
/// ```
/// use canister_core::{config::startup_warnings, config::Config};
///
/// let config = Config::from_ini_str("[canister]\nauth_jwt_client_id = alice\nauth_jwt_secret = secret\n")?;
/// let warnings = startup_warnings(&config);
/// assert!(warnings[0].starts_with("auth_jwt_secret is 6 bytes long"));
/// assert!(startup_warnings(&Config::default()).is_empty());
/// # Ok::<(), canister_core::config::ConfigError>(())
/// ```
pub fn startup_warnings(config: &Config) -> Vec<String> {
    let mut warnings = config.warnings();
    if let (Some(_), Some(secret)) = (&config.auth.jwt.client_id, &config.auth.jwt.secret) {
        let len = secret_len(secret.expose(), config.auth.jwt.encoding);
        let strictest = config
            .auth
            .jwt
            .algorithms
            .iter()
            .filter(|a| a.is_hmac())
            .map(|a| (min_secret_len(*a), *a))
            .max_by_key(|(min, _)| *min);
        if let (Some(len), Some((min, algorithm))) = (len, strictest) {
            if len < min {
                warnings.push(format!(
                    "auth_jwt_secret is {len} bytes long: {} needs at least {min} random bytes \
                     (RFC 7518 section 3.2), and a shorter secret can be guessed offline from \
                     one token; use a longer random secret",
                    algorithm.as_str()
                ));
            }
        }
    }
    warnings
}

/// Sends the banner for `config` to `sink`, one [`Event::Banner`] per line, in the main
/// context (`[MainThread]`), then each of [`startup_warnings`] as a WARNING
/// [`Event::Message`].
///
/// Sends only what the sink's level lets through (the banner is INFO).
pub fn log_banner<L: LogSink + ?Sized>(sink: &L, config: &Config) {
    log_banner_for(sink, config, None);
}

/// [`log_banner`] for an engine whose store was given in code (`store`: its type name):
/// when the configuration names no `session_store`, the banner names that type instead of
/// `memory`.
pub(crate) fn log_banner_for<L: LogSink + ?Sized>(sink: &L, config: &Config, store: Option<&str>) {
    let context = LogContext::main();
    if sink.enabled(Event::Banner("").level()) {
        for line in lines(config, &[], store) {
            sink.log(&context, &Event::Banner(&line));
        }
    }
    if sink.enabled(Level::Warning) {
        for text in startup_warnings(config) {
            sink.log(
                &context,
                &Event::Message {
                    level: Level::Warning,
                    text: &text,
                },
            );
        }
    }
}

/// Whether a configuration key names a secret value: it ends in `secret`, `password`,
/// `passwd`, `token` or `key` (the issue's rule; `auth_*` keys in general are not secret).
fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ["secret", "password", "passwd", "token", "key"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Canister's sample configuration (its README), with values that must never be shown.
    const SAMPLE: &str = "\
[canister]
log_path = ./logs/
log_level = INFO
log_days = 30
session_timeout = 600
CORS = false
auth_basic_username = alice
auth_basic_password = hunter2-basic
auth_jwt_client_id = my-client
auth_jwt_secret = c2VjcmV0LWp3dC1rZXk
auth_jwt_encoding = base64url
session_store = redis://:redis-pass@localhost:6379/0
";

    #[test]
    fn layout_matches_canister() {
        let config = Config::from_ini_str(SAMPLE).unwrap();
        let lines = banner_lines(&config);
        assert_eq!(lines[..3], ["============", "Initializing", "============"]);
        assert_eq!(
            lines[3],
            format!("canister-core version: {}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(lines[4], RULE);
        assert_eq!(lines.last().unwrap(), RULE);
        let entries = config.entries();
        assert_eq!(lines.len(), entries.len() + 6);
        assert!(lines.contains(&format!("{:<30} = {}", "auth_basic_username", "alice")));
        assert!(lines.contains(&format!("{:<30} = {}", "log_days", "30")));
        assert!(lines.contains(&format!("{:<30} = {}", "auth_jwt_encoding", "base64url")));
    }

    #[test]
    fn masks_each_secret_of_the_sample() {
        let config = Config::from_ini_str(SAMPLE).unwrap();
        let text = banner_lines(&config).join("\n");
        for secret in ["hunter2-basic", "c2VjcmV0LWp3dC1rZXk", "redis-pass"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        for key in ["auth_basic_password", "auth_jwt_secret"] {
            assert!(
                text.contains(&format!("{key:<30} = ********")),
                "{key} not masked:\n{text}"
            );
        }
    }

    #[test]
    fn second_guard_masks_secret_named_keys() {
        assert!(is_secret_key("auth_basic_password"));
        assert!(is_secret_key("auth_jwt_secret"));
        assert!(is_secret_key("auth_jwt_public_key"));
        assert!(!is_secret_key("auth_jwt_encoding"));
        assert!(!is_secret_key("auth_basic_encryption"));
        assert!(!is_secret_key("log_days"));
        assert!(!is_secret_key("auth_basic_username"));
        assert!(!is_secret_key("auth_jwt_client_id"));
    }

    #[test]
    fn adapters_add_versions() {
        let config = Config::default();
        let lines = banner_lines_with(&config, &[("canister-axum", "0.1.0"), ("axum", "0.8.4")]);
        assert_eq!(lines[4], "canister-axum version: 0.1.0");
        assert_eq!(lines[5], "axum version: 0.8.4");
        assert_eq!(lines[6], RULE);
    }

    /// Finding 19: a 1-byte HMAC secret was accepted silently. It still is (canister's samples
    /// use `secret`), with a WARNING after the banner that never shows the secret.
    #[test]
    fn a_short_jwt_secret_is_a_startup_warning() {
        let warnings = |ini: &str| {
            let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
            let sink = {
                let seen = seen.clone();
                move |context: &LogContext, event: &Event<'_>| {
                    if event.level() == Level::Warning {
                        seen.lock().unwrap().push(format!("[{context}] {event}"));
                    }
                }
            };
            let config = Config::from_ini_str(&format!("[canister]\n{ini}")).unwrap();
            crate::Canister::builder()
                .config(config)
                .log_sink(sink)
                .build()
                .unwrap();
            let seen = seen.lock().unwrap().clone();
            seen
        };
        let seen = warnings("auth_jwt_client_id = a\nauth_jwt_secret = my-secret-value");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with(
                "[MainThread] auth_jwt_secret is 15 bytes long: HS256 needs at least 32"
            ),
            "{seen:?}"
        );
        assert!(!seen[0].contains("my-secret-value"), "{seen:?}");
        // Measured once decoded: 24 base64url characters are 18 bytes.
        let seen = warnings(
            "auth_jwt_client_id = a\nauth_jwt_encoding = base64url\nauth_jwt_secret = MDEyMzQ1Njc4OWFiY2RlZmdo",
        );
        assert!(seen[0].contains("is 18 bytes long"), "{seen:?}");
        // HS512 asks for 64 bytes; with HS256 too, the stricter one is named.
        let long32 = "0123456789abcdef0123456789abcdef";
        let seen = warnings(&format!(
            "auth_jwt_client_id = a\nauth_jwt_secret = {long32}\nauth_jwt_algorithms = HS256, HS512"
        ));
        assert!(seen[0].contains("HS512 needs at least 64"), "{seen:?}");
        // Long enough, or JWT off (canister's README sample): no warning; and the level
        // decides, not the banner.
        assert!(warnings(&format!(
            "auth_jwt_client_id = a\nauth_jwt_secret = {long32}"
        ))
        .is_empty());
        let seen = warnings("auth_client_id = a\nauth_jwt_secret = my-secret");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("`auth_client_id`"), "{seen:?}");
        let seen = warnings("log_level = WARNING\nauth_jwt_client_id = a\nauth_jwt_secret = s");
        assert_eq!(seen.len(), 1, "{seen:?}");
    }

    /// Findings F8 and F1b: warnings found while reading the configuration (before any sink
    /// exists) travel in the `Config` and are logged by the engine after its banner.
    #[test]
    fn configuration_warnings_are_logged_at_start_up() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            move |context: &LogContext, event: &Event<'_>| {
                if event.level() == Level::Warning {
                    seen.lock().unwrap().push(format!("[{context}] {event}"));
                }
            }
        };
        let mut config = Config::from_ini_str("[canister]\nauth_client_id = ABC\n").unwrap();
        config
            .apply_env([
                ("CANISTER_SERVICE_HOST", "10.0.0.1"),
                ("CANISTER_PORT", "tcp://10.0.0.1:80"),
            ])
            .unwrap();
        crate::Canister::builder()
            .config(config)
            .log_sink(sink)
            .build()
            .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen[0].starts_with(
                "[MainThread] `auth_client_id` (from <string>, line 2) is read and ignored"
            ),
            "{seen:?}"
        );
        assert!(
            seen[1].starts_with(
                "[MainThread] ignored environment variables that name no canister key: \
                 CANISTER_PORT, CANISTER_SERVICE_HOST"
            ),
            "{seen:?}"
        );
        assert!(!seen[1].contains("10.0.0.1"), "{seen:?}");
    }

    #[test]
    fn log_banner_sends_every_line_in_main_context() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            move |context: &LogContext, event: &Event<'_>| {
                seen.lock().unwrap().push(format!("[{context}] {event}"));
            }
        };
        let config = Config::default();
        log_banner(&sink, &config);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), banner_lines(&config).len());
        assert_eq!(seen[1], "[MainThread] Initializing");
    }
}
