//! Logging: the engine's events and where they go.
//!
//! The engine reports what happens to a request as typed [`Event`]s, each with the request's
//! [`LogContext`] (client address and a short session tag), to a [`LogSink`]. The default
//! sink, [`DefaultLogSink`], writes canister's line layout through slog:
//!
//! ```text
//! 2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   GET http://localhost:8080/
//! ```
//!
//! local time with milliseconds after a comma, the level padded to 8, the context in
//! brackets, three spaces, the message. Application code logs through the `slog::Logger`
//! that [`LogSink::logger`] returns; it carries the request's context under [`CONTEXT_KEY`],
//! so its lines show the same `[ip-tag]`.
//!
//! | piece | what it does |
//! |---|---|
//! | [`DefaultLogSink`] | the sink `log_sink` / `log_path` / `log_level` / `log_days` describe: stderr or daily files, written by a thread of its own (feature `default-sink`), or `TracingSink` (`log_sink = tracing`) |
//! | [`SlogSink`] | hands the engine's events to any `slog::Logger` the application already has |
//! | `TracingSink` (feature `tracing`) | the engine's events as `tracing` events, each request in a span: another implementation of [`LogSink`] |
//! | [`DailyFiles`] (feature `default-sink`) | `log.YYYY-MM-DD` files, one per local day, older ones deleted (a plain `io::Write`) |
//! | [`LogSettings`] | the `log_*` and `request_id_*` keys, as [`Config`](crate::config::Config) holds them and the sinks are built from them |
//! | [`mask_query`] | masks secret-looking query parameters of a URL for the `GET <url>` line |
//!
//! # Examples
//!
//! ```
//! use canister_core::log::{DefaultLogSink, Event, Level, LogContext, LogSink};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let sink = DefaultLogSink::builder()
//!     .log_path(dir.path())
//!     .log_level(Some(Level::Info))
//!     .build()?;
//! let context = LogContext::new(Some([127, 0, 0, 1].into()));
//! sink.log(&context, &Event::SessionCreated);
//! slog::info!(sink.logger(&context), "Hey!");
//! sink.flush();
//! # Ok::<(), canister_core::log::LogError>(())
//! ```
//!
//! # Feature `default-sink`
//!
//! Canister's own sink, its queue and writer thread (`queue.rs`), its line layout
//! (`format.rs`, `line.rs`) and [`DailyFiles`] (`daily.rs`) are the only parts of the crate
//! that start a thread or write anywhere (stderr, files); they, and `chrono`, are compiled
//! with the feature `default-sink` (on by default). Without it, [`DefaultLogSink`] remains (the
//! engine's default sink type) but is only the `tracing` sink or a disabled one, and
//! `log_sink = canister` with a level is refused ([`LogError::DefaultSinkUnavailable`]). The
//! rest of this module, [`SlogSink`] and `TracingSink` need no thread of their own.
//!
//! # Why these dependencies
//!
//! `slog` is the logging API applications receive (canister's `app.log`); `chrono` (feature
//! `default-sink`) gives local time for the timestamp and the file names. `slog-term`'s formats print slog's level
//! names (`INFO`, `WARN`, `CRIT`) in their own layout, so the line is formatted here instead.
//! `slog-async` moved formatting and writes off the request path in the first version, but
//! its worker wakes (a futex call) for each record and each record's values are copied into
//! allocations: about 1.1 µs per line on the request thread. The sink's own queue
//! (`DefaultLogSink`'s docs) costs a fraction of that (BENCHMARKS.md has both figures). No rotation
//! crate names files `log.YYYY-MM-DD` by *local* day with an injectable clock and
//! date-based retention (`file-rotate` and `rolling-file` number or time-stamp files in UTC
//! or by size; `tracing-appender` names `log.YYYY-MM-DD` but by UTC day and reads the system
//! clock), so [`DailyFiles`] does it in about a hundred lines.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::session::StoreError;

/// Severity of an event, with canister's level names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Normal operation: requests, sessions, responses.
    Info,
    /// Something refused or slow.
    Warning,
    /// A failure: the store is down.
    Error,
    /// A failure that stops the service.
    Critical,
}

impl Level {
    /// Canister's (Python `logging`'s) name of the level: `DEBUG`, `INFO`, `WARNING`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a log line is about: the client's address, a short tag of its session and the
/// request's id.
///
/// Displays as canister's thread name, `<client ip>-<tag>`, with `...` as the tag before a
/// session exists, followed by ` req=<request id>` inside a request:
/// `149.172.44.162-VJ8zq5 req=Kq3xZp7a-17`. The tag is the first 6 characters of a hash of
/// the session id, never the id itself; the request id is the one the response carries in
/// `request_id_header` ([`RequestId`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogContext {
    client: Option<IpAddr>,
    tag: Option<[u8; 6]>,
    request_id: Option<RequestId>,
}

impl LogContext {
    /// The context of a request from `client`, before any session is known.
    pub fn new(client: Option<IpAddr>) -> Self {
        Self {
            client,
            tag: None,
            request_id: None,
        }
    }

    /// The context outside of any request (start-up, shutdown).
    pub fn main() -> Self {
        Self::new(None)
    }

    /// The same context with a session tag (6 ASCII characters of the id's hash).
    pub fn with_tag(mut self, tag: Option<[u8; 6]>) -> Self {
        self.tag = tag;
        self
    }

    /// The same context with the request's id.
    pub fn with_request_id(mut self, id: Option<RequestId>) -> Self {
        self.request_id = id;
        self
    }

    /// The client's address, if known.
    pub fn client(&self) -> Option<IpAddr> {
        self.client
    }

    /// The session tag, if a session is known.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_ref().and_then(|t| std::str::from_utf8(t).ok())
    }

    /// The request's id, inside a request.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }
}

impl fmt::Display for LogContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.client {
            // By hand: `Ipv4Addr`'s `Display` pads each octet through the formatter, and a
            // context is written on every line (the request thread for a handler's lines, the
            // writer for the engine's).
            Some(IpAddr::V4(v4)) => f.write_str(ipv4_text(v4, &mut [0; 15]))?,
            Some(ip) => write!(f, "{ip}")?,
            None if self.request_id.is_some() => f.write_str("-")?,
            None => f.write_str("MainThread")?,
        }
        if self.client.is_some() || self.request_id.is_some() {
            f.write_str("-")?;
            f.write_str(self.tag().unwrap_or("..."))?;
        }
        if let Some(id) = &self.request_id {
            f.write_str(" req=")?;
            id.with_text(|text| f.write_str(text))?;
        }
        Ok(())
    }
}

/// `ip` in dotted decimal, written into `buf` (15 bytes: the longest, `255.255.255.255`).
fn ipv4_text(ip: std::net::Ipv4Addr, buf: &mut [u8; 15]) -> &str {
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            buf[len] = b'0' + d;
            len += 1;
        }
    }
    // ASCII digits and dots: never the empty fallback.
    std::str::from_utf8(&buf[..len]).unwrap_or_default()
}

/// A request's [`LogContext`] whose session tag is read each time a line is written.
///
/// The request's visit updates it when its session becomes known (loaded, created or given a
/// new id), so a logger made from it before that moment still writes the tag on every line
/// written after: in axum, `(log: Log, session: Session)` and `(session: Session, log: Log)`
/// log the same `[ip-tag]`. [`Visit::logger`](crate::Visit::logger) passes one to
/// [`LogSink::request_logger`]; as a `slog::Value` (under [`CONTEXT_KEY`]) it renders as
/// [`now`](Self::now) does at the time of the line.
///
/// Cheap to clone: clones share the tag.
///
/// # Examples
///
/// ```
/// use canister_core::log::{LiveContext, LogContext};
///
/// let live = LiveContext::fixed(LogContext::new(Some([127, 0, 0, 1].into())));
/// assert_eq!(live.now().to_string(), "127.0.0.1-...");
/// ```
#[derive(Clone)]
pub struct LiveContext {
    inner: Arc<dyn LiveSource>,
}

/// Where a [`LiveContext`]'s fields live: in an allocation of their own
/// ([`LiveContext::fixed`]), or inside the request's visit, so that a request allocates them
/// once with everything else it keeps (issue #24).
pub(crate) trait LiveSource: Send + Sync + std::panic::RefUnwindSafe + 'static {
    /// The fields.
    fn live(&self) -> &LiveInner;
}

/// A request's log context's fields: see [`LiveContext`].
pub(crate) struct LiveInner {
    client: Option<IpAddr>,
    tag: AtomicU64,
    request_id: Option<RequestId>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    /// The `session` the span opened with (the tag of the session the cookie names), so
    /// that the same tag is not recorded again once the session is loaded.
    #[cfg(feature = "tracing")]
    span_tag: Option<[u8; 6]>,
}

// slog asks loggers' values and drains to be unwind-safe; a `tracing::Span` is not (its
// dispatcher is a `dyn Subscriber`), though nothing here is left half-updated by a panic: the
// tag is one atomic word, and the span is only read.
impl std::panic::RefUnwindSafe for LiveInner {}
impl std::panic::UnwindSafe for LiveInner {}

impl LiveSource for LiveInner {
    fn live(&self) -> &LiveInner {
        self
    }
}

/// Marks a stored tag: the tag's 6 bytes sit below it, so no tag is stored as 0.
const TAG_SET: u64 = 1 << 48;

impl LiveContext {
    /// A context that stays `context` (what the engine's request loggers are not: their tag
    /// follows the session). For tests and for sinks that log outside requests.
    pub fn fixed(context: LogContext) -> Self {
        let live = LiveInner::new(context.client, context.request_id);
        if let Some(tag) = context.tag {
            live.set_tag(tag);
        }
        Self {
            inner: Arc::new(live),
        }
    }

    /// The context whose fields live in `source` (a request's visit).
    pub(crate) fn of(source: Arc<dyn LiveSource>) -> Self {
        Self { inner: source }
    }

    fn fields(&self) -> &LiveInner {
        self.inner.live()
    }

    /// The context as it is now: the client, the session's tag if known yet, the request id.
    pub fn now(&self) -> LogContext {
        self.fields().now()
    }

    /// The request's id.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.fields().request_id.as_ref()
    }

    /// The request's `tracing` span (feature `tracing`): [`Span::none`](tracing::Span::none)
    /// unless the sink is [`TracingSink`] and the subscriber wants the span.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn span(&self) -> &tracing::Span {
        &self.fields().span
    }
}

impl LiveInner {
    /// The context of a request from `client`, before any session is known.
    pub(crate) fn new(client: Option<IpAddr>, request_id: Option<RequestId>) -> Self {
        Self {
            client,
            tag: AtomicU64::new(0),
            request_id,
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
            #[cfg(feature = "tracing")]
            span_tag: None,
        }
    }

    /// The context of a request, with its `tracing` span, opened with `span_tag` as its
    /// `session`.
    #[cfg(feature = "tracing")]
    pub(crate) fn with_span(
        client: Option<IpAddr>,
        request_id: Option<RequestId>,
        span: tracing::Span,
        span_tag: Option<[u8; 6]>,
    ) -> Self {
        Self {
            client,
            tag: AtomicU64::new(0),
            request_id,
            span,
            span_tag,
        }
    }

    /// Records the session's tag: every line written from now on carries it (and the
    /// request's span, with the `tracing` sink, gets it as its `session` field).
    pub(crate) fn set_tag(&self, tag: [u8; 6]) {
        let mut word = [0u8; 8];
        word[..6].copy_from_slice(&tag);
        self.tag
            .store(u64::from_le_bytes(word) | TAG_SET, Ordering::Release);
        #[cfg(feature = "tracing")]
        if !self.span.is_none() && self.span_tag != Some(tag) {
            if let Ok(tag) = std::str::from_utf8(&tag) {
                self.span.record("session", tag);
            }
        }
    }

    /// Whether this request has a `tracing` span (the sink traces requests and the
    /// subscriber wants the span).
    pub(crate) fn traces(&self) -> bool {
        #[cfg(feature = "tracing")]
        return !self.span.is_none();
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// The request's cookie named no live session: a span that opened with the cookie's tag
    /// as its `session` gets `-` instead.
    pub(crate) fn no_session(&self) {
        #[cfg(feature = "tracing")]
        if !self.span.is_none() && self.span_tag.is_some() {
            self.span.record("session", "-");
        }
    }

    /// Records the request's user (the `user` field of its span with the `tracing` sink;
    /// canister's line layout does not show it).
    pub(crate) fn set_user(&self, name: &str) {
        #[cfg(feature = "tracing")]
        if !self.span.is_none() {
            self.span.record("user", name);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = name;
    }

    /// The context as it is now: the client, the session's tag if known yet, the request id.
    pub(crate) fn now(&self) -> LogContext {
        let word = self.tag.load(Ordering::Acquire);
        let tag = (word & TAG_SET != 0).then(|| {
            let bytes = word.to_le_bytes();
            [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]]
        });
        LogContext::new(self.client)
            .with_tag(tag)
            .with_request_id(self.request_id.clone())
    }

    /// The request's `tracing` span.
    #[cfg(feature = "tracing")]
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }
}

impl fmt::Debug for LiveContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LiveContext")
            .field(&self.now().to_string())
            .finish()
    }
}

impl slog::Value for LiveContext {
    fn serialize(
        &self,
        record: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        slog::Value::serialize(&self.now(), record, key, serializer)
    }
}

/// Something the engine reports. Displays as canister's message text.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// One line of the start-up banner (already masked).
    Banner(&'a str),
    /// A request arrived: method and URL (query values of secret-looking parameters masked).
    Request {
        /// The request method.
        method: &'a Method,
        /// The URL, masked. Empty for a sink that traces requests
        /// ([`LogSink::traces_requests`]): its request span carries the URL as `uri`.
        url: &'a str,
    },
    /// A session was created (its tag is in the context).
    SessionCreated,
    /// The request's session was found in the store.
    SessionFound,
    /// The request's cookie named no live session (unknown, expired or forged id).
    SessionUnknown,
    /// The session was destroyed.
    SessionDestroyed,
    /// A write was discarded because the session ended (logout, expiry) during the request.
    SessionEndedConcurrently,
    /// A user logged in (header user, form login).
    LoggedIn {
        /// The user's name.
        name: &'a str,
    },
    /// The session's user logged out.
    LoggedOut {
        /// The name of the user who left.
        name: &'a str,
    },
    /// Credentials were refused (the credential itself is never included).
    AuthRefused {
        /// The scheme (`Basic`, `Bearer`, `-`).
        scheme: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A login was refused without checking its password: too many failed checks of this
    /// user name (`auth_throttle`) or from this client (`auth_throttle_ip`).
    LoginThrottled {
        /// The user name asked for.
        name: &'a str,
        /// Which limit: `user` or `ip`.
        by: &'static str,
        /// Seconds until the window ends (the response's `Retry-After`).
        retry_after: u64,
    },
    /// An unsafe cross-site request carrying the session cookie was refused.
    CsrfRefused {
        /// The origin the request came from, as the browser stated it.
        origin: &'a str,
    },
    /// Request parameters could not be decoded.
    BadParams {
        /// What was wrong.
        reason: &'a str,
    },
    /// The session store failed.
    StoreError {
        /// The store's error.
        error: &'a StoreError,
    },
    /// The response went out.
    Response {
        /// Its status.
        status: StatusCode,
        /// Time from `enter` to `finish`.
        elapsed: Duration,
        /// Whether `elapsed` is past `log_slow_ms`.
        slow: bool,
    },
    /// A free-form message (adapters, applications).
    Message {
        /// Its level.
        level: Level,
        /// Its text.
        text: &'a str,
    },
}

impl Event<'_> {
    /// The level this event is logged at.
    pub fn level(&self) -> Level {
        match self {
            Event::Banner(_)
            | Event::Request { .. }
            | Event::SessionCreated
            | Event::SessionFound
            | Event::SessionDestroyed
            | Event::LoggedIn { .. }
            | Event::LoggedOut { .. } => Level::Info,
            Event::SessionUnknown => Level::Info,
            Event::SessionEndedConcurrently
            | Event::AuthRefused { .. }
            | Event::LoginThrottled { .. }
            | Event::CsrfRefused { .. }
            | Event::BadParams { .. } => Level::Warning,
            Event::StoreError { .. } => Level::Error,
            Event::Response { slow, .. } => {
                if *slow {
                    Level::Warning
                } else {
                    Level::Info
                }
            }
            Event::Message { level, .. } => *level,
        }
    }
}

impl fmt::Display for Event<'_> {
    /// Canister's message text. Each field that comes from a request or an application
    /// (URL, user name, origin, reason, error, free text) is cut after
    /// [`MAX_FIELD_BYTES`] bytes, and the cut is marked `…(+N bytes)` with the number of
    /// bytes left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Banner(line) => f.write_str(line),
            Event::Request { method, url } => write!(f, "{method} {}", Clip(url)),
            Event::SessionCreated => f.write_str("Session created"),
            Event::SessionFound => f.write_str("Session found"),
            Event::SessionUnknown => {
                f.write_str("Session unknown or expired: a new one will be issued if needed")
            }
            Event::SessionDestroyed => f.write_str("Session destroyed"),
            Event::SessionEndedConcurrently => {
                f.write_str("Session ended during the request: its writes were discarded")
            }
            Event::LoggedIn { name } => write!(f, "Logged in as: {}", Clip(name)),
            Event::LoggedOut { name } => write!(f, "Logged out: {}", Clip(name)),
            Event::AuthRefused { scheme, reason } => {
                write!(
                    f,
                    "Authorization refused ({}): {}",
                    Clip(scheme),
                    Clip(reason)
                )
            }
            Event::LoginThrottled {
                name,
                by,
                retry_after,
            } => {
                let limit = if *by == "ip" {
                    "auth_throttle_ip"
                } else {
                    "auth_throttle"
                };
                write!(
                    f,
                    "Login throttled ({limit}): {}, retry in {retry_after} s",
                    Clip(name)
                )
            }
            Event::CsrfRefused { origin } => {
                write!(
                    f,
                    "Cross-site request refused (CSRF): origin {}",
                    Clip(origin)
                )
            }
            Event::BadParams { reason } => write!(f, "Bad parameters: {}", Clip(reason)),
            Event::StoreError { error } => {
                write!(
                    f,
                    "Session store error: {}",
                    Clip(crate::ErrorChain(*error))
                )
            }
            Event::Response {
                status,
                elapsed,
                slow,
            } => {
                let ms = elapsed.as_millis();
                if *slow {
                    write!(f, "Response: {} ({ms}ms !!!)", status.as_u16())
                } else {
                    write!(f, "Response: {} ({ms}ms)", status.as_u16())
                }
            }
            Event::Message { text, .. } => Clip(text).fmt(f),
        }
    }
}

/// The most bytes of one field of an [`Event`] that reach a log line: 4 KiB.
///
/// Longer fields are cut (at a character boundary) and marked `…(+N bytes)`. Enough for any
/// real URL, user name or error; small enough that a request with a huge URL or header
/// cannot make one line, or the log queue, large: the review found 250 KB lines pinned in
/// the queue by a client-chosen `Host` header.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Displays its value cut after [`MAX_FIELD_BYTES`] bytes, marked `…(+N bytes)`.
struct Clip<T>(T);

impl<T: fmt::Display> fmt::Display for Clip<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clip = text::Clipper::new(&mut *f, MAX_FIELD_BYTES);
        fmt::write(&mut clip, format_args!("{}", self.0))?;
        let omitted = clip.omitted();
        if omitted > 0 {
            write!(f, "…(+{omitted} bytes)")?;
        }
        Ok(())
    }
}

/// Where the engine's events go.
///
/// Implemented for `()` (discard everything), for closures `Fn(&LogContext, &Event)`, and by
/// the default slog sink.
pub trait LogSink: Send + Sync + 'static {
    /// Whether events at `level` are wanted; the engine skips building them otherwise.
    fn enabled(&self, level: Level) -> bool;

    /// Receives one event.
    fn log(&self, context: &LogContext, event: &Event<'_>);

    /// Receives one event of a request, whose context is `context` as it is now (its
    /// session tag follows the session; with the `tracing` feature it holds the request's
    /// span).
    ///
    /// The engine calls this for every event of a request. The default calls
    /// [`log`](Self::log) with [`context.now()`](LiveContext::now); `TracingSink` overrides
    /// it to emit the event inside the request's span.
    fn log_request(&self, context: &LiveContext, event: &Event<'_>) {
        self.log(&context.now(), event);
    }

    /// Whether the engine opens a `tracing` span for each request (feature `tracing`).
    ///
    /// The default is `false`: no span is made, which costs nothing. [`TracingSink`] (and
    /// [`DefaultLogSink`] with `log_sink = tracing`) answer `true`; the subscriber still
    /// decides whether the span is recorded.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    fn traces_requests(&self) -> bool {
        false
    }

    /// A `slog::Logger` for application code, carrying `context`.
    ///
    /// The default discards what it is given.
    fn logger(&self, context: &LogContext) -> slog::Logger {
        let _ = context;
        slog::Logger::root(slog::Discard, slog::o!())
    }

    /// A `slog::Logger` for a request's handler (the adapters' `Log`), whose lines carry
    /// `context` as it is when each is written, so they show the session's tag as soon as
    /// the session is known, however early the logger was taken.
    ///
    /// The default calls [`logger`](Self::logger) with the context as it is now (a logger
    /// taken before the session was loaded then shows `...`). [`DefaultLogSink`] and
    /// [`SlogSink`] override it to carry `context` itself under [`CONTEXT_KEY`]; a sink that
    /// overrides `logger` should override this too.
    fn request_logger(&self, context: &LiveContext) -> slog::Logger {
        self.logger(&context.now())
    }

    /// Writes out anything queued. Called at shutdown; the default does nothing.
    fn flush(&self) {}
}

impl LogSink for () {
    fn enabled(&self, _level: Level) -> bool {
        false
    }

    fn log(&self, _context: &LogContext, _event: &Event<'_>) {}
}

impl<F> LogSink for F
where
    F: Fn(&LogContext, &Event<'_>) + Send + Sync + 'static,
{
    fn enabled(&self, _level: Level) -> bool {
        true
    }

    fn log(&self, context: &LogContext, event: &Event<'_>) {
        self(context, event)
    }
}

/// The key-value name under which log records carry their [`LogContext`].
///
/// [`LogSink::logger`] returns loggers with this key set; the default sink prints its value
/// between the brackets of the line (`MainThread` when a record has none).
pub const CONTEXT_KEY: &str = "ctx";

impl slog::Value for LogContext {
    fn serialize(
        &self,
        _record: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        // Formatted on the stack: no allocation for a context (but for a long trusted id).
        let text = text::Text::<128>::format(format_args!("{self}"));
        serializer.emit_str(key, text.as_str())
    }
}

impl From<Level> for slog::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Debug => slog::Level::Debug,
            Level::Info => slog::Level::Info,
            Level::Warning => slog::Level::Warning,
            Level::Error => slog::Level::Error,
            Level::Critical => slog::Level::Critical,
        }
    }
}

impl From<slog::Level> for Level {
    /// slog's `Trace` becomes `Debug`, as canister has no lower level.
    fn from(level: slog::Level) -> Self {
        match level {
            slog::Level::Critical => Level::Critical,
            slog::Level::Error => Level::Error,
            slog::Level::Warning => Level::Warning,
            slog::Level::Info => Level::Info,
            slog::Level::Debug | slog::Level::Trace => Level::Debug,
        }
    }
}

// The default sink's queue, writer thread, line layout and daily files: feature `default-sink`.
#[cfg(feature = "default-sink")]
mod daily;
mod error;
#[cfg(feature = "default-sink")]
mod format;
#[cfg(feature = "default-sink")]
mod line;
mod mask;
#[cfg(feature = "default-sink")]
mod queue;
mod request_id;
mod settings;
mod sink;
mod slog_sink;
mod text;
#[cfg(feature = "tracing")]
pub(crate) mod tracing_sink;

#[cfg(feature = "default-sink")]
#[cfg_attr(docsrs, doc(cfg(feature = "default-sink")))]
pub use daily::DailyFiles;
pub use error::LogError;
pub use mask::mask_query;
pub use request_id::{trace_id_of, RequestId, MAX_REQUEST_ID_LEN};
pub use settings::{LogSettings, LogSinkKind};
pub use sink::DefaultLogSink;
#[cfg(feature = "default-sink")]
#[cfg_attr(docsrs, doc(cfg(feature = "default-sink")))]
pub use sink::DefaultLogSinkBuilder;
pub use slog_sink::SlogSink;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing_sink::{TracingSink, APP_TARGET, TARGET};

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod context_tests {
    use super::*;

    #[test]
    fn ipv4_text_is_displays_text() {
        let mut buf = [0; 15];
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "10.9.100.99",
            "1.20.255.3",
        ] {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            assert_eq!(ipv4_text(ip, &mut buf), ip.to_string());
        }
    }

    #[test]
    fn a_context_reads_as_before() {
        let id = RequestId::trusted("req-42").unwrap();
        let v4 = LogContext::new(Some("10.0.0.7".parse().unwrap())).with_request_id(Some(id));
        assert_eq!(v4.to_string(), "10.0.0.7-... req=req-42");
        let v6 = LogContext::new(Some("::1".parse().unwrap()));
        assert_eq!(v6.to_string(), "::1-...");
        assert_eq!(LogContext::main().to_string(), "MainThread");
        let generated = RequestId::generate();
        let text = LogContext::new(None)
            .with_request_id(Some(generated.clone()))
            .to_string();
        assert_eq!(text, format!("--... req={generated}"));
        assert!(generated.to_string().contains('-'));
    }
}
