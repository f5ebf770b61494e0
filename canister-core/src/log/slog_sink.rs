//! [`SlogSink`]: the engine's events on any `slog::Logger` the application already has.
//! Needs no thread and no file, so it is part of every build (feature `default-sink` or not).

use std::fmt;

use slog::Drain as _;

use super::text::Text;
use super::{Event, Level, LiveContext, LogContext, LogSink, CONTEXT_KEY};

/// A sink that hands the engine's events to a `slog::Logger` the application already has.
///
/// Each event becomes a record at its level (`Level::Warning` → `slog::Level::Warning`, ...)
/// whose message is the event's text and which carries the context under [`CONTEXT_KEY`].
/// [`enabled`](LogSink::enabled) asks the logger's drain (`Drain::is_enabled`, which a
/// `LevelFilter` answers), and [`flush`](LogSink::flush) calls `Logger::flush`. The layout
/// is whatever the logger's drain writes.
///
/// # Examples
///
/// ```
/// use canister_core::log::{Event, LogContext, LogSink, SlogSink};
///
/// let app_logger = slog::Logger::root(slog::Discard, slog::o!("app" => "demo"));
/// let sink = SlogSink::from_logger(app_logger);
/// sink.log(&LogContext::main(), &Event::SessionCreated);
/// ```
#[derive(Clone)]
pub struct SlogSink {
    logger: slog::Logger,
}

impl SlogSink {
    /// A sink writing to `logger`.
    pub fn from_logger(logger: slog::Logger) -> Self {
        Self { logger }
    }

    /// The logger events are written to.
    pub fn root_logger(&self) -> &slog::Logger {
        &self.logger
    }
}

impl From<slog::Logger> for SlogSink {
    fn from(logger: slog::Logger) -> Self {
        Self::from_logger(logger)
    }
}

impl LogSink for SlogSink {
    fn enabled(&self, level: Level) -> bool {
        self.logger.is_enabled(level.into())
    }

    fn log(&self, context: &LogContext, event: &Event<'_>) {
        emit(&self.logger, context, event);
    }

    fn logger(&self, context: &LogContext) -> slog::Logger {
        self.logger.new(slog::o!(CONTEXT_KEY => context.clone()))
    }

    fn request_logger(&self, context: &LiveContext) -> slog::Logger {
        self.logger.new(slog::o!(CONTEXT_KEY => context.clone()))
    }

    fn flush(&self) {
        // `NotSupported` from drains that write synchronously means there is nothing to do.
        let _ = self.logger.flush();
    }
}

impl fmt::Debug for SlogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlogSink")
            .field("logger", &self.logger)
            .finish()
    }
}

/// Logs `event` on `logger` at its level with `context`, whatever slog's compile-time
/// maximum level (the sink's own level decides).
fn emit(logger: &slog::Logger, context: &LogContext, event: &Event<'_>) {
    let rs = slog::record_static!(slog::Level::from(event.level()), "");
    let message = Text::<128>::format(format_args!("{event}"));
    logger.log(&slog::Record::new(
        &rs,
        &format_args!("{}", message.as_str()),
        slog::b!(CONTEXT_KEY => context),
    ));
}

/// A logger that discards everything.
pub(super) fn discard() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}
