//! [`TracingSink`]: the engine's events as `tracing` events, each request in a span.

use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;

use http::request;

use super::text::{Text, INLINE_CONTEXT};
use super::MAX_REQUEST_ID_LEN;
use super::{Event, Level, LiveContext, LogContext, LogSettings, LogSink, RequestId};

/// The `tracing` target of the engine's events and spans.
pub const TARGET: &str = "canister";

/// The `tracing` target of what handlers log through their `Log` (a slog logger).
pub const APP_TARGET: &str = "canister::app";

/// The `tracing` sink (`log_sink = tracing`; feature `tracing`): every request runs in a span
/// and the engine's events are `tracing` events, so the application's own subscriber (JSON,
/// OpenTelemetry, Loki) receives them.
///
/// **The span** `request` (level INFO, target `canister`) carries:
///
/// | field | value |
/// |---|---|
/// | `request_id` | the id the response carries in `request_id_header` |
/// | `client` | the client address (`log_trust_proxy` applies), or empty |
/// | `session` | the session's 6-character tag once known (never the id) |
/// | `user` | the user's name once known (header, session or login) |
/// | `method` | the request method |
/// | `uri` | the URL, secret-looking query values masked, as canister's `GET <url>` line |
/// | `trace_id` | the trace id of a valid W3C `traceparent` header, when there is one |
///
/// Each adapter runs the handler's future inside the span (`tracing::Instrument`, canister-tower
/// for axum and warp), so a handler's own `tracing::info!` carries these fields too.
///
/// **The events** (target `canister`, parent the request's span) carry a field `event` naming
/// them, a `message` with canister's text (but for the two events every request makes,
/// `request` and a response that is not slow: their fields say it all), and their own
/// fields:
///
/// | `event` | level | fields |
/// |---|---|---|
/// | `request` | INFO | (the span has `method` and `uri`; outside a request's span: `method`, `uri`, `message`) |
/// | `session_created`, `session_unknown`, `session_destroyed` | INFO | |
/// | `session_ended` | WARN | (a write discarded: the session ended meanwhile) |
/// | `login` | INFO | `user` |
/// | `logout` | INFO | `user` |
/// | `refusal` | WARN | `kind` (`auth`, `csrf`, `params`) and `scheme` + `reason`, `origin`, or `reason` |
/// | `store_error` | ERROR | `error` |
/// | `response` | INFO, or WARN when slow | `status`, `latency_ms`; a slow request (past `log_slow_ms`) at WARN with `slow = true` and a `message` |
///
/// A session found in the store makes no event (canister's own sink writes `Session found`):
/// the span's `session` field names it. The fields are chosen for what a request costs with
/// a formatting subscriber (BENCHMARKS.md, "INFO over WARNING, and the `tracing` sink"): the
/// span's fields known at the start are given at once, nothing is repeated between the span
/// and its events.
/// | `message` | its own | (adapters' and the engine's other messages) |
/// | `banner` | INFO | (the start-up banner, secrets masked) |
///
/// Levels map as canister's: DEBUG → DEBUG, INFO → INFO, WARNING → WARN, ERROR and CRITICAL →
/// ERROR. `log_level` still filters (an event below it is not emitted), and so does the
/// subscriber: when it filters `canister` out, nothing is formatted or allocated for it (the
/// engine asks [`enabled`](LogSink::enabled), which asks `tracing`'s callsite interest first).
///
/// The handler's `Log` (a `slog::Logger`) writes `tracing` events with target
/// `canister::app` into the same span; `log_path`, `log_days` and the file modes do not apply
/// (the subscriber decides where events go).
///
/// # Examples
///
/// Chosen in the configuration, with a subscriber the application installs:
///
/// ```
/// use canister_core::{Canister, config::Config};
///
/// let config = Config::from_ini_str("[canister]\nlog_sink = tracing")?;
/// let canister = Canister::from_config(config)?; // DefaultLogSink, writing to `tracing`
/// # let _ = canister;
/// # Ok::<(), canister_core::config::ConfigError>(())
/// ```
///
/// Or in code:
///
/// ```
/// use canister_core::log::{Level, TracingSink};
/// use canister_core::{Canister, config::Config};
///
/// let canister = Canister::builder()
///     .config(Config::default())
///     .log_sink(TracingSink::new(Some(Level::Info)))
///     .build()?;
/// # let _ = canister;
/// # Ok::<(), canister_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TracingSink {
    min: Option<Level>,
}

impl TracingSink {
    /// A sink emitting events at `min` and above (`None`: nothing, as `log_level = DISABLED`).
    pub fn new(min: Option<Level>) -> Self {
        Self { min }
    }

    /// The sink `log_level` describes (`config.log`).
    pub fn from_settings(settings: &LogSettings) -> Self {
        Self::new(settings.level)
    }
}

impl Default for TracingSink {
    /// INFO and above, as canister's default `log_level`.
    fn default() -> Self {
        Self::new(Some(Level::Info))
    }
}

/// Whether the subscriber wants `canister` events at `level` (callsite interest first).
fn tracing_enabled(level: Level) -> bool {
    match level {
        Level::Debug => tracing::enabled!(target: TARGET, tracing::Level::DEBUG),
        Level::Info => tracing::enabled!(target: TARGET, tracing::Level::INFO),
        Level::Warning => tracing::enabled!(target: TARGET, tracing::Level::WARN),
        Level::Error | Level::Critical => tracing::enabled!(target: TARGET, tracing::Level::ERROR),
    }
}

/// One `tracing` event at a level chosen at run time, inside `$span` when it is a real span.
macro_rules! emit {
    ($target:expr, $level:expr, $span:expr, $($fields:tt)+) => {{
        let span: Option<&tracing::Span> = $span;
        match (span.filter(|s| !s.is_none()), $level) {
            (Some(p), Level::Debug) => tracing::event!(target: $target, parent: p, tracing::Level::DEBUG, $($fields)+),
            (Some(p), Level::Info) => tracing::event!(target: $target, parent: p, tracing::Level::INFO, $($fields)+),
            (Some(p), Level::Warning) => tracing::event!(target: $target, parent: p, tracing::Level::WARN, $($fields)+),
            (Some(p), Level::Error | Level::Critical) => tracing::event!(target: $target, parent: p, tracing::Level::ERROR, $($fields)+),
            (None, Level::Debug) => tracing::event!(target: $target, tracing::Level::DEBUG, $($fields)+),
            (None, Level::Info) => tracing::event!(target: $target, tracing::Level::INFO, $($fields)+),
            (None, Level::Warning) => tracing::event!(target: $target, tracing::Level::WARN, $($fields)+),
            (None, Level::Error | Level::Critical) => tracing::event!(target: $target, tracing::Level::ERROR, $($fields)+),
        }
    }};
}

impl TracingSink {
    fn wants(&self, level: Level) -> bool {
        self.min.is_some_and(|min| level >= min)
    }

    fn emit(&self, span: Option<&tracing::Span>, event: &Event<'_>) {
        let level = event.level();
        if !self.wants(level) {
            return;
        }
        match event {
            Event::Banner(_) => emit!(TARGET, level, span, event = "banner", message = %event),
            // The span holds the method and the URL; outside a request they are fields here.
            Event::Request { method, url } => match span.filter(|s| !s.is_none()) {
                Some(_) => emit!(TARGET, level, span, event = "request"),
                None => emit!(
                    TARGET, level, span,
                    event = "request", method = %method, uri = %url, message = %event
                ),
            },
            Event::SessionCreated => {
                emit!(TARGET, level, span, event = "session_created", message = %event)
            }
            // Not an event of this sink: every request with a live session would make one,
            // and the span's `session` field already says which session it found.
            Event::SessionFound => {}
            Event::SessionUnknown => {
                emit!(TARGET, level, span, event = "session_unknown", message = %event)
            }
            Event::SessionDestroyed => {
                emit!(TARGET, level, span, event = "session_destroyed", message = %event)
            }
            Event::SessionEndedConcurrently => {
                emit!(TARGET, level, span, event = "session_ended", message = %event)
            }
            Event::LoggedIn { name } => {
                emit!(TARGET, level, span, event = "login", user = %name, message = %event)
            }
            Event::LoggedOut { name } => {
                emit!(TARGET, level, span, event = "logout", user = %name, message = %event)
            }
            Event::AuthRefused { scheme, reason } => emit!(
                TARGET, level, span,
                event = "refusal", kind = "auth", scheme = %scheme, reason = %reason,
                message = %event
            ),
            Event::LoginThrottled {
                name,
                by,
                retry_after,
            } => emit!(
                TARGET, level, span,
                event = "refusal", kind = "throttle", user = %name, by = *by,
                retry_after = *retry_after, message = %event
            ),
            Event::CsrfRefused { origin } => emit!(
                TARGET, level, span,
                event = "refusal", kind = "csrf", origin = %origin, message = %event
            ),
            Event::BadParams { reason } => emit!(
                TARGET, level, span,
                event = "refusal", kind = "params", reason = %reason, message = %event
            ),
            Event::StoreError { error } => emit!(
                TARGET, level, span,
                event = "store_error", error = %error, message = %event
            ),
            Event::Response {
                status,
                elapsed,
                slow,
            } => {
                let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                if *slow {
                    emit!(
                        TARGET, level, span,
                        event = "response", status = status.as_u16(), latency_ms, slow = true,
                        message = %event
                    )
                } else {
                    emit!(
                        TARGET,
                        level,
                        span,
                        event = "response",
                        status = status.as_u16(),
                        latency_ms
                    )
                }
            }
            Event::Message { .. } => {
                emit!(TARGET, level, span, event = "message", message = %event)
            }
        }
    }
}

impl LogSink for TracingSink {
    fn enabled(&self, level: Level) -> bool {
        self.wants(level) && tracing_enabled(level)
    }

    fn log(&self, context: &LogContext, event: &Event<'_>) {
        let _ = context;
        self.emit(None, event);
    }

    fn log_request(&self, context: &LiveContext, event: &Event<'_>) {
        self.emit(Some(context.span()), event);
    }

    fn logger(&self, context: &LogContext) -> slog::Logger {
        let _ = context;
        slog::Logger::root(
            TracingDrain {
                min: self.min,
                live: None,
            },
            slog::o!(),
        )
    }

    fn request_logger(&self, context: &LiveContext) -> slog::Logger {
        slog::Logger::root(
            TracingDrain {
                min: self.min,
                live: Some(context.clone()),
            },
            slog::o!(),
        )
    }

    fn traces_requests(&self) -> bool {
        self.min.is_some()
    }
}

/// The span of a request: `request` at INFO, target `canister`. Its fields are computed only
/// when the subscriber wants the span (the URL is masked then, not before).
pub(crate) fn request_span(
    parts: &request::Parts,
    request_id: &RequestId,
    client: Option<IpAddr>,
    session: Option<&str>,
    trace_id: Option<&str>,
) -> tracing::Span {
    // Every field known now is given now: a subscriber that formats fields as they come
    // (tracing-subscriber's JSON formatter re-parses and re-writes a span's fields for each
    // `record`) pays for each later `record`. So the session's tag is the cookie's, given
    // here, and recorded later only when the session turns out to be another (a new one) or
    // none; `user` comes later. `uri` is the request target as the client sent it (path and
    // query, secret-looking query values masked), as tower-http's `TraceLayer` logs it: the
    // host is in the `Host` header, not the URI, of an HTTP/1.1 request.
    //
    // Each field is handed over as a `&str` (made on the stack where it is not one already):
    // a formatting subscriber copies a string once, where a `Display` value costs it a
    // formatting pass into a buffer grown as it goes.
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let id = Text::<MAX_REQUEST_ID_LEN>::format(format_args!("{request_id}"));
    let client = client.map(|ip| Text::<INLINE_CONTEXT>::format(format_args!("{ip}")));
    tracing::info_span!(
        target: TARGET,
        "request",
        request_id = id.as_str(),
        client = client.as_ref().map(Text::as_str),
        session = session,
        user = tracing::field::Empty,
        method = parts.method.as_str(),
        uri = &*crate::log::mask_query(target),
        trace_id = trace_id,
    )
}

/// The drain of the `Log` a handler gets with the `tracing` sink: each record becomes an
/// event with target `canister::app` in the request's span, its key-values appended to the
/// message as `key=value`.
struct TracingDrain {
    min: Option<Level>,
    live: Option<LiveContext>,
}

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let level = Level::from(record.level());
        if self.min.is_none_or(|min| level < min) || !app_enabled(level) {
            return Ok(());
        }
        let mut message = String::new();
        let _ = write!(message, "{}", record.msg());
        let mut kv = KvText(&mut message);
        let _ = slog::KV::serialize(&record.kv(), record, &mut kv);
        let _ = slog::KV::serialize(values, record, &mut kv);
        let span = self.live.as_ref().map(LiveContext::span);
        emit!(APP_TARGET, level, span, message = %message);
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        let level = Level::from(level);
        self.min.is_some_and(|min| level >= min) && app_enabled(level)
    }
}

fn app_enabled(level: Level) -> bool {
    match level {
        Level::Debug => tracing::enabled!(target: APP_TARGET, tracing::Level::DEBUG),
        Level::Info => tracing::enabled!(target: APP_TARGET, tracing::Level::INFO),
        Level::Warning => tracing::enabled!(target: APP_TARGET, tracing::Level::WARN),
        Level::Error | Level::Critical => {
            tracing::enabled!(target: APP_TARGET, tracing::Level::ERROR)
        }
    }
}

/// Appends slog key-values as ` key=value`.
struct KvText<'a>(&'a mut String);

impl slog::Serializer for KvText<'_> {
    fn emit_arguments(&mut self, key: slog::Key, value: &fmt::Arguments<'_>) -> slog::Result {
        let _ = write!(self.0, " {key}={value}");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::{Request, Response};

    use crate::{config::Config, Canister, Entry, Finish};

    fn canister(ini: &str) -> Canister {
        let config = Config::from_ini_str(&format!("[canister]\nlog_sink = tracing\n{ini}"));
        Canister::from_config(config.unwrap()).unwrap()
    }

    /// One request through the engine: a handler that stores a value and logs through its
    /// `Log` and `tracing` inside the span. Returns the response's request id.
    async fn one_request(canister: &Canister) -> String {
        let (parts, ()) = Request::get("http://localhost/p?token=s3cr3t")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(())
            .unwrap()
            .into_parts();
        let Entry::Proceed(visit) = canister
            .enter(&parts, Some("10.1.2.3:4000".parse().unwrap()))
            .await
        else {
            panic!("proceed")
        };
        let session = visit.session().await.unwrap();
        session.insert("n", 1).unwrap();
        slog::info!(visit.logger(), "from the Log"; "k" => 7);
        visit
            .span()
            .in_scope(|| tracing::info!(target: "app", "from tracing"));
        let (mut parts, body) = Response::new(Bytes::new()).into_parts();
        let Finish::Keep = canister.finish(visit, &mut parts).await else {
            panic!("keep")
        };
        drop(body);
        parts.headers["x-request-id"].to_str().unwrap().to_owned()
    }

    /// A request with `cookie`, whose handler only reads the session: the `session` of
    /// every event's span, in order.
    async fn sessions_seen(canister: &Canister, cookie: &str) -> Vec<serde_json::Value> {
        let (buffer, _guard) = json_capture("trace");
        let (parts, ()) = Request::get("http://localhost/")
            .header("cookie", cookie)
            .body(())
            .unwrap()
            .into_parts();
        let Entry::Proceed(visit) = canister.enter(&parts, None).await else {
            panic!("proceed")
        };
        let _ = visit.session().await.unwrap().get::<i64>("n");
        let (mut parts, ()) = Response::new(()).into_parts();
        let Finish::Keep = canister.finish(visit, &mut parts).await else {
            panic!("keep")
        };
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|e| e["span"]["session"].clone())
            .collect()
    }

    /// The span opens with the tag of the session the cookie names, so a known session
    /// needs no `record` (each one makes tracing-subscriber's JSON formatter re-parse the
    /// span's fields); a cookie that names no live session leaves `-`.
    #[tokio::test(flavor = "current_thread")]
    async fn the_span_opens_with_the_cookies_session() {
        let canister = canister("log_level = INFO");
        let (parts, ()) = Request::get("http://localhost/")
            .body(())
            .unwrap()
            .into_parts();
        let Entry::Proceed(visit) = canister.enter(&parts, None).await else {
            panic!("proceed")
        };
        visit.session().await.unwrap().insert("n", 1).unwrap();
        let (mut head, ()) = Response::new(()).into_parts();
        let Finish::Keep = canister.finish(visit, &mut head).await else {
            panic!("keep")
        };
        let set = head.headers["set-cookie"].to_str().unwrap().to_owned();
        let pair = set.split(';').next().unwrap().to_owned();
        let known = sessions_seen(&canister, &pair).await;
        assert!(known.len() >= 2, "{known:?}");
        let tag = known[0]
            .as_str()
            .expect("the first event already has the tag");
        assert_eq!(tag.len(), 6);
        assert!(known.iter().all(|s| s == tag), "{known:?}");

        let forged = format!("session_id={}", "A".repeat(43));
        let unknown = sessions_seen(&canister, &forged).await;
        assert_ne!(
            unknown[0],
            serde_json::Value::Null,
            "opened with the cookie's tag"
        );
        assert_eq!(unknown.last().unwrap(), "-", "{unknown:?}");
    }

    /// tracing-subscriber's JSON formatter (each event with its span's fields) writing into
    /// the returned buffer, for this thread while the guard lives; `filter` as `RUST_LOG`.
    fn json_capture(filter: &str) -> (Buffer, tracing::subscriber::DefaultGuard) {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(move || writer.clone())
            .finish();
        (buffer, tracing::subscriber::set_default(subscriber))
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn events_are_json_in_the_request_span() {
        let (buffer, _guard) = json_capture("canister=info,app=info");
        let canister = canister("");
        let id = one_request(&canister).await;
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|e: &serde_json::Value| e["span"]["request_id"] == id.as_str())
            .collect();
        let kinds: Vec<_> = events
            .iter()
            .map(|e| e["fields"]["event"].as_str().unwrap_or("-").to_owned())
            .collect();
        assert_eq!(
            kinds,
            ["request", "-", "-", "session_created", "response"],
            "{text}"
        );
        for event in &events {
            let span = &event["span"];
            assert_eq!(span["client"], "10.1.2.3");
            assert_eq!(span["method"], "GET");
            assert_eq!(span["uri"], "/p?token=********");
            assert_eq!(span["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        }
        assert_eq!(events[1]["target"], "canister::app");
        assert_eq!(events[1]["fields"]["message"], "from the Log k=7");
        assert_eq!(events[2]["target"], "app");
        // The span holds method and URL: the `request` event does not repeat them.
        assert!(events[0]["fields"].get("uri").is_none(), "{text}");
        assert!(events[0]["fields"].get("method").is_none(), "{text}");
        assert_eq!(events[4]["fields"]["status"], 200);
        assert!(events[4]["fields"].get("slow").is_none(), "{text}");
        assert!(events[4]["fields"]["latency_ms"].is_u64());
        assert_eq!(events[4]["span"]["session"].as_str().unwrap().len(), 6);
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn log_level_still_filters() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter("canister=trace")
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let canister = canister("log_level = WARNING");
        one_request(&canister).await;
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("\"INFO\""), "{text}");
    }

    /// A subscriber that wants nothing of `canister` and counts what reaches it anyway.
    #[derive(Default)]
    struct NotCanister {
        spans: AtomicUsize,
        events: AtomicUsize,
    }

    impl tracing::Subscriber for NotCanister {
        fn register_callsite(
            &self,
            metadata: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            if metadata.target().starts_with("canister") {
                tracing::subscriber::Interest::never()
            } else {
                tracing::subscriber::Interest::always()
            }
        }
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            !metadata.target().starts_with("canister")
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            self.spans.fetch_add(1, Ordering::Relaxed);
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {
            self.events.fetch_add(1, Ordering::Relaxed);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test(flavor = "current_thread")]
    async fn nothing_reaches_a_subscriber_that_filters_canister_out() {
        let subscriber = Arc::new(NotCanister::default());
        let _guard = tracing::subscriber::set_default(Arc::clone(&subscriber));
        let canister = canister("log_level = DEBUG");
        assert!(!crate::log::LogSink::enabled(
            canister.log_sink(),
            crate::log::Level::Critical
        ));
        one_request(&canister).await;
        // Only the test's own `app` event: no span, no canister event was built.
        assert_eq!(subscriber.spans.load(Ordering::Relaxed), 0);
        assert_eq!(subscriber.events.load(Ordering::Relaxed), 1);
    }
}
