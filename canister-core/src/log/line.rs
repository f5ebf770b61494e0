//! The record a log line travels as, from the request's thread through the queue to the
//! writer: [`Line`] and its [`Context`]. Shared by the queue (which moves lines) and the
//! writer (which formats them), so neither imports the other for it.

use std::time::Duration;

use super::text::{Text, INLINE_CONTEXT};
use super::{Level, LogContext};

/// How long `flush` (and dropping the sink) waits for the writer to catch up at most.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// One line to write, as the requesting thread hands it over.
pub(crate) struct Line {
    /// When it was logged, in nanoseconds since the Unix epoch.
    pub(crate) nanos: u64,
    pub(crate) level: Level,
    pub(crate) context: Context,
    pub(crate) text: Text,
}

impl Line {
    /// Bytes this line holds on the heap: what the queue counts against `queue_bytes`.
    pub(crate) fn heap_bytes(&self) -> usize {
        let context = match &self.context {
            Context::Text(text) => text.heap_bytes(),
            Context::Main | Context::Request(_) => 0,
        };
        self.text.heap_bytes() + context
    }
}

/// The bracketed part of a line.
pub(crate) enum Context {
    /// No request: `MainThread`.
    Main,
    /// A request's context, formatted by the writer.
    Request(LogContext),
    /// Text an application logger carried under [`CONTEXT_KEY`].
    Text(Text<INLINE_CONTEXT>),
}
