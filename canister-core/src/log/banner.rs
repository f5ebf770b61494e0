//! Canister's start-up banner.

use super::{Event, LogContext, LogSink};
use crate::config::Config;

/// The rule between the versions and the configuration, as canister prints it.
const RULE: &str = "------------------------------------------";

/// What a masked value is replaced with.
const MASK: &str = "********";

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
/// use canister_core::{log::banner_lines, Config};
///
/// let config = Config::from_ini_str("[canister]\nauth_basic_username = alice\nauth_basic_password = hunter2\n")?;
/// let lines = banner_lines(&config);
/// assert_eq!(lines[..3], ["============", "Initializing", "============"]);
/// assert!(lines.iter().any(|l| l == &format!("{:<30} = ********", "auth_basic_password")));
/// assert!(!lines.iter().any(|l| l.contains("hunter2")));
/// # Ok::<(), canister_core::ConfigError>(())
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
            Some(store) if key == "session_store" && config.session_store.is_none() => {
                format!("{store} (given in code)")
            }
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

/// Sends the banner for `config` to `sink`, one [`Event::Banner`] per line, in the main
/// context (`[MainThread]`).
///
/// Does nothing when the sink does not want INFO lines.
pub fn log_banner<L: LogSink + ?Sized>(sink: &L, config: &Config) {
    log_banner_for(sink, config, None);
}

/// [`log_banner`] for an engine whose store was given in code (`store`: its type name):
/// when the configuration names no `session_store`, the banner names that type instead of
/// `memory`.
pub(crate) fn log_banner_for<L: LogSink + ?Sized>(sink: &L, config: &Config, store: Option<&str>) {
    if !sink.enabled(Event::Banner("").level()) {
        return;
    }
    let context = LogContext::main();
    for line in lines(config, &[], store) {
        sink.log(&context, &Event::Banner(&line));
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
