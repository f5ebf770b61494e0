//! The log's settings: the one place both `config` (which composes them into
//! [`Config`](crate::config::Config)) and the sinks (which are built from them) read, so neither
//! imports the other.

use std::path::PathBuf;

use http::HeaderName;

use super::Level;

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

/// The log's settings (`log_*` and `request_id_*` keys): where lines go, from which level, and how a request is named in them.
///
/// A part of [`Config`](crate::config::Config); every field is one key of
/// [`KEYS`](crate::config::KEYS), read and printed by its row there. The default sink
/// ([`DefaultLogSink::from_settings`](super::DefaultLogSink::from_settings)) is built from
/// it. Defaults are canister's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogSettings {
    /// Directory of the daily log files; `None`: the console (stderr).
    pub path: Option<PathBuf>,
    /// The lowest level written; `None` is `DISABLED`. Default `INFO`.
    pub level: Option<Level>,
    /// Days of log files kept. Default 30, as canister.
    pub days: u32,
    /// A response slower than this is logged at WARNING with `!!!`. Default 1000 ms, as
    /// canister.
    pub slow_ms: u64,
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
    pub trust_proxy: u8,
    /// Unix permissions of a log file canister creates. Default `0o600`: the logs hold user
    /// names, client addresses and URLs, so only the owner reads them. A file that already
    /// exists keeps its permissions. Not used outside Unix.
    pub file_mode: u32,
    /// Unix permissions of the `log_path` directory when canister creates it (directories
    /// above it are created with the process umask). Default `0o700`. A directory that
    /// already exists keeps its permissions: canister never loosens or tightens them behind
    /// the administrator's back. Not used outside Unix.
    pub dir_mode: u32,
    /// Where the engine's events go: canister's lines (default) or `tracing`.
    pub sink: LogSinkKind,
    /// The header that carries a request's id, on every response (and, with
    /// `request_id_trust`, read from the request). Default `x-request-id`.
    pub request_id_header: HeaderName,
    /// Keep a request's incoming `request_id_header` as its id when it is 1 to 128 visible
    /// ASCII characters. Default false: every request gets a new id, so a client cannot
    /// choose what the logs call its request. Set it when a proxy you control (or a caller
    /// you trust) makes the ids.
    pub request_id_trust: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            path: None,
            level: Some(Level::Info),
            days: 30,
            slow_ms: 1000,
            trust_proxy: 0,
            file_mode: 0o600,
            dir_mode: 0o700,
            sink: LogSinkKind::Canister,
            request_id_header: HeaderName::from_static("x-request-id"),
            request_id_trust: false,
        }
    }
}

impl LogSettings {
    /// The most proxies `log_trust_proxy` can name: more than any real chain, few enough
    /// that a typo (`log_trust_proxy = 100`) is refused.
    pub const MAX_TRUSTED_PROXIES: u8 = 16;
}
