//! The default sink (placeholder until the slog sink lands).

use super::{Event, Level, LogContext, LogSink};
use crate::config::{Config, ConfigError};

/// The sink the configuration describes.
///
/// Minimal implementation: writes canister-style lines to stderr without slog.
#[derive(Debug)]
pub struct DefaultLogSink {
    min: Option<Level>,
}

impl DefaultLogSink {
    /// Builds the sink from `log_level` (and, once implemented, `log_path` / `log_days`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the log destination cannot be used.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            min: config.log_level,
        })
    }
}

impl LogSink for DefaultLogSink {
    fn enabled(&self, level: Level) -> bool {
        self.min.is_some_and(|min| level >= min)
    }

    fn log(&self, context: &LogContext, event: &Event<'_>) {
        if self.enabled(event.level()) {
            eprintln!("{:<8} [{context}]   {event}", event.level().as_str());
        }
    }
}
