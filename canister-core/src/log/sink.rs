//! [`DefaultLogSink`], the sink the configuration describes (`log_sink`): canister's layout
//! written off the request thread (feature `default-sink`), or the `tracing` sink (feature
//! `tracing`).

use std::fmt;
#[cfg(feature = "default-sink")]
use std::io::Write;
#[cfg(feature = "default-sink")]
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "default-sink")]
use super::daily::DailyFiles;
use super::error::LogError;
#[cfg(feature = "default-sink")]
use super::format::{Destination, Writer};
#[cfg(feature = "default-sink")]
use super::line::{Context, FLUSH_TIMEOUT};
#[cfg(feature = "default-sink")]
use super::queue::{Queue, SlogDrain};
use super::slog_sink::discard;
#[cfg(feature = "default-sink")]
use super::slog_sink::SlogSink;
use super::{Event, Level, LiveContext, LogContext, LogSettings, LogSink, LogSinkKind};
use crate::clock::{Clock, SystemClock};

/// The sink the configuration describes: canister's lines on stderr or in daily files
/// (feature `default-sink`, on by default), or `tracing` events (`log_sink = tracing`,
/// feature `tracing`). The engine's default sink: [`Canister::from_config`](crate::Canister::from_config)
/// builds one from `config.log`.
///
/// Lines look like canister's:
///
/// ```text
/// 2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   GET http://localhost:8080/
/// ```
///
/// - **Destination**: `log_path` unset → stderr; set → [`DailyFiles`] in that directory
///   (created), one `log.YYYY-MM-DD` per local day, `log_days` days kept.
/// - **Level**: records below `log_level` are discarded before they are queued;
///   `log_level = DISABLED` builds a sink that starts no thread, opens no file, writes
///   nothing, and whose [`enabled`](LogSink::enabled) is always `false`.
/// - **Off the request path**: the calling thread formats the message into a fixed-size
///   buffer, stamps it with the clock and queues it on a bounded queue
///   ([`channel_size`](DefaultLogSinkBuilder::channel_size) lines, default
///   [`DEFAULT_CHANNEL_SIZE`](Self::DEFAULT_CHANNEL_SIZE), and
///   [`queue_bytes`](DefaultLogSinkBuilder::queue_bytes) bytes of longer messages, default
///   [`DEFAULT_QUEUE_BYTES`](Self::DEFAULT_QUEUE_BYTES)): no system call, no allocation
///   for a message under ~120 bytes. One thread, `canister-log`, drains the queue in
///   batches, formats the time and the `[ip-tag]`, and writes each batch with one write.
///   While lines keep coming it polls every millisecond (so lines reach the file within a
///   few milliseconds); after 50 ms without any it sleeps until the next line. When the
///   queue is full (in lines or in bytes) the line is dropped and counted, never waited
///   for; the next line that fits is followed by a WARNING `Log queue full: N lines
///   dropped`.
///   [`dropped_lines`](Self::dropped_lines) counts them all. (slog-async, which this sink
///   used first, cost about 1.1 µs per line on the calling thread: BENCHMARKS.md.)
/// - **Shutdown**: [`flush`](LogSink::flush) returns once every line queued before it is
///   written (or after 10 seconds at most); dropping the sink writes every queued line and
///   stops the thread. Application loggers that outlive the sink write nothing more.
/// - **Application loggers**: [`logger`](LogSink::logger) gives a child `slog::Logger`
///   carrying the context, so `info!(log, "Hey!")` produces the same `[ip-tag]`; extra
///   key-values follow the message as `, key: value`. Control characters, U+2028/U+2029
///   and bidi controls in messages and contexts are escaped (`\n`, `\u{2028}`), so a line
///   cannot forge another or read in another order.
/// - **Bounded lines**: each field of an engine [`Event`] (URL, user name, ...) is cut after
///   [`MAX_FIELD_BYTES`](super::MAX_FIELD_BYTES) (4 KiB) and a whole line's text after
///   16 KiB, marked `…(+N bytes)`. With the default bounds, a stalled destination (a pipe
///   nobody reads, a hung disk) makes the queue hold at most 16 MiB of fixed-size lines
///   (65 536 of at most 256 bytes) plus 8 MiB of text, and as much again in the batch the
///   stuck writer holds: under 50 MiB in all, whatever the clients send.
///
/// # Examples
///
/// ```
/// use canister_core::{log::DefaultLogSink, config::Config};
///
/// // `log_path` unset: canister's lines on stderr.
/// let sink = DefaultLogSink::from_settings(&Config::default().log)?;
/// # Ok::<(), canister_core::log::LogError>(())
/// ```
///
/// Customised:
///
/// ```
/// use std::sync::Arc;
/// use canister_core::{log::{DefaultLogSink, Level, LogSink}, SystemClock};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let sink = DefaultLogSink::builder()
///     .log_path(dir.path())
///     .log_level(Some(Level::Debug))
///     .log_days(7)
///     .channel_size(1 << 20)
///     .clock(Arc::new(SystemClock))
///     .build()?;
/// assert!(sink.enabled(Level::Debug));
/// # Ok::<(), canister_core::log::LogError>(())
/// ```
///
/// With `log_sink = tracing` (feature `tracing`) it is a `log::TracingSink`
/// instead: no thread, no file; events go to the application's `tracing` subscriber.
///
/// # Without the feature `default-sink`
///
/// The type stays (it is [`Canister`](crate::Canister)'s default sink type whatever the
/// features, so enabling `default-sink` anywhere in a build never changes a type), but it
/// can no longer write canister's lines: `builder`, `DEFAULT_CHANNEL_SIZE`,
/// `DEFAULT_QUEUE_BYTES`, `DefaultLogSinkBuilder` and `DailyFiles` are gone, and
/// [`from_settings`](Self::from_settings) builds only the `tracing` sink (`log_sink =
/// tracing`) or the disabled one (`log_level = DISABLED`). With `log_sink = canister` (the
/// default) and a level, it returns [`LogError::DefaultSinkUnavailable`] rather than
/// discarding the log silently: the log records refusals and store failures, so losing it
/// must be asked for.
pub struct DefaultLogSink {
    #[cfg(feature = "default-sink")]
    active: Option<Active>,
    #[cfg(feature = "tracing")]
    tracing: Option<super::TracingSink>,
}

/// A sink that writes: its logger, queue and writer thread.
#[cfg(feature = "default-sink")]
struct Active {
    sink: SlogSink,
    /// Dropped last (after the logger's handle): writes what is queued, stops the thread.
    queue: Arc<Queue>,
    destination: String,
}

#[cfg(feature = "default-sink")]
impl DefaultLogSink {
    /// The default number of lines the channel holds before new lines are dropped.
    ///
    /// Large enough for a burst of tens of thousands of lines while the disk stalls; each
    /// queued line takes about 200 bytes (plus its text when longer than ~120 bytes), and
    /// memory is taken as lines queue up, not up front.
    pub const DEFAULT_CHANNEL_SIZE: usize = 65_536;

    /// The default number of bytes of text queued lines may hold on the heap: 8 MiB.
    ///
    /// A message of up to ~120 bytes lives inside its fixed-size line and does not count;
    /// longer ones (a long URL, an application's message) count their length. 8 MiB holds
    /// about 40 000 lines of 200 bytes, or 2 000 of 4 KiB: enough for a burst while the disk
    /// stalls, and a bound on what clients can make the process hold (the review measured
    /// ~400 MiB for 1 500 requests with 250 KB `Host` headers before this bound).
    pub const DEFAULT_QUEUE_BYTES: usize = 8 * 1024 * 1024;

    /// A builder, with the defaults of an empty configuration (stderr, INFO, 30 days)
    /// (feature `default-sink`).
    #[cfg_attr(docsrs, doc(cfg(feature = "default-sink")))]
    pub fn builder() -> DefaultLogSinkBuilder {
        DefaultLogSinkBuilder::default()
    }
}

impl DefaultLogSink {
    /// Builds the sink from the log's settings (`log_path`, `log_level`, `log_days`,
    /// `log_file_mode`, `log_dir_mode`, `log_sink`: `config.log`), reading the system clock.
    ///
    /// # Errors
    ///
    /// [`LogError`] when the directory cannot be created or today's file cannot be opened,
    /// when `log_sink = tracing` and canister-core was built without its `tracing`
    /// feature, or when `log_sink = canister` with a level (not `DISABLED`) and it was built
    /// without its `default-sink` feature.
    pub fn from_settings(settings: &LogSettings) -> Result<Self, LogError> {
        Self::from_settings_with_clock(settings, Arc::new(SystemClock))
    }

    /// Like [`from_settings`](Self::from_settings), with the clock that time-stamps lines
    /// and picks the day's file (a `TestClock` in tests).
    ///
    /// # Errors
    ///
    /// As [`from_settings`](Self::from_settings).
    pub fn from_settings_with_clock(
        settings: &LogSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LogError> {
        if settings.sink == LogSinkKind::Tracing {
            #[cfg(feature = "tracing")]
            return Ok(Self {
                #[cfg(feature = "default-sink")]
                active: None,
                tracing: Some(super::TracingSink::from_settings(settings)),
            });
            #[cfg(not(feature = "tracing"))]
            return Err(LogError::TracingUnavailable);
        }
        #[cfg(feature = "default-sink")]
        {
            let mut builder = Self::builder()
                .log_level(settings.level)
                .log_days(settings.days)
                .log_file_mode(settings.file_mode)
                .log_dir_mode(settings.dir_mode)
                .clock(clock);
            if let Some(path) = &settings.path {
                builder = builder.log_path(path);
            }
            builder.build()
        }
        #[cfg(not(feature = "default-sink"))]
        {
            let _ = clock;
            match settings.level {
                None => Ok(Self::disabled()),
                Some(_) => Err(LogError::DefaultSinkUnavailable),
            }
        }
    }

    /// A sink that writes nothing (`log_level = DISABLED`).
    pub fn disabled() -> Self {
        Self {
            #[cfg(feature = "default-sink")]
            active: None,
            #[cfg(feature = "tracing")]
            tracing: None,
        }
    }

    /// A logger with no request context (lines show `[MainThread]`), for start-up,
    /// shutdown and background tasks. Discards everything when the sink is disabled (and
    /// with `log_sink = tracing`).
    pub fn root_logger(&self) -> slog::Logger {
        #[cfg(feature = "default-sink")]
        if let Some(active) = &self.active {
            return active.sink.root_logger().clone();
        }
        discard()
    }

    /// How many lines were dropped because the channel was full (in lines or bytes), since
    /// the start (always 0 without canister's lines).
    pub fn dropped_lines(&self) -> u64 {
        #[cfg(feature = "default-sink")]
        if let Some(active) = &self.active {
            return active.queue.dropped_total();
        }
        0
    }
}

/// With `log_sink = tracing`, hands `$call` to the tracing sink and returns.
macro_rules! to_tracing {
    ($self:ident, |$t:ident| $call:expr) => {
        #[cfg(feature = "tracing")]
        if let Some($t) = &$self.tracing {
            return $call;
        }
    };
}

/// With canister's lines (feature `default-sink`), runs `$body` with the active sink.
macro_rules! with_active {
    ($self:ident, |$a:ident| $body:expr) => {
        #[cfg(feature = "default-sink")]
        if let Some($a) = &$self.active {
            $body
        }
    };
}

impl LogSink for DefaultLogSink {
    fn enabled(&self, level: Level) -> bool {
        to_tracing!(self, |t| t.enabled(level));
        with_active!(self, |active| return level >= active.queue.min());
        #[cfg(not(feature = "default-sink"))]
        let _ = level;
        false
    }

    fn log(&self, context: &LogContext, event: &Event<'_>) {
        to_tracing!(self, |t| t.log(context, event));
        with_active!(self, |active| {
            let level = event.level();
            if level >= active.queue.min() {
                let context = if context.client().is_some() || context.request_id().is_some() {
                    Context::Request(context.clone())
                } else {
                    Context::Main
                };
                active.queue.line(level, context, format_args!("{event}"));
            }
        });
        #[cfg(not(feature = "default-sink"))]
        let _ = (context, event);
    }

    fn log_request(&self, context: &LiveContext, event: &Event<'_>) {
        to_tracing!(self, |t| t.log_request(context, event));
        with_active!(self, |active| {
            let level = event.level();
            if level >= active.queue.min() {
                active.queue.line(
                    level,
                    Context::Request(context.now()),
                    format_args!("{event}"),
                );
            }
        });
        #[cfg(not(feature = "default-sink"))]
        let _ = (context, event);
    }

    fn logger(&self, context: &LogContext) -> slog::Logger {
        to_tracing!(self, |t| t.logger(context));
        with_active!(self, |active| return active.sink.logger(context));
        #[cfg(not(feature = "default-sink"))]
        let _ = context;
        discard()
    }

    fn request_logger(&self, context: &LiveContext) -> slog::Logger {
        to_tracing!(self, |t| t.request_logger(context));
        with_active!(self, |active| return active.sink.request_logger(context));
        #[cfg(not(feature = "default-sink"))]
        let _ = context;
        discard()
    }

    #[cfg(feature = "tracing")]
    fn traces_requests(&self) -> bool {
        self.tracing.as_ref().is_some_and(|t| t.traces_requests())
    }

    fn flush(&self) {
        with_active!(self, |active| {
            active.queue.flush_within(FLUSH_TIMEOUT);
        });
    }
}

#[cfg(feature = "default-sink")]
impl Drop for DefaultLogSink {
    fn drop(&mut self) {
        if let Some(active) = &self.active {
            // Queues the count of dropped lines if any, and waits (bounded) for the writer;
            // dropping the queue's last handle then stops the thread. Application loggers
            // still holding a handle keep the thread until they go, but their lines are
            // written too.
            active.queue.flush_within(FLUSH_TIMEOUT);
        }
    }
}

impl fmt::Debug for DefaultLogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "tracing")]
        if let Some(tracing) = &self.tracing {
            return f
                .debug_struct("DefaultLogSink")
                .field("tracing", tracing)
                .finish();
        }
        #[cfg(feature = "default-sink")]
        if let Some(a) = &self.active {
            return f
                .debug_struct("DefaultLogSink")
                .field("level", &a.queue.min())
                .field("destination", &a.destination)
                .field("queue", &a.queue)
                .finish_non_exhaustive();
        }
        f.debug_struct("DefaultLogSink")
            .field("level", &"DISABLED")
            .finish()
    }
}

/// Builds a [`DefaultLogSink`]; setters are named after the configuration keys.
///
/// # Examples
///
/// ```
/// use canister_core::log::{DefaultLogSink, Level, LogSink};
///
/// let sink = DefaultLogSink::builder().log_level(None).build()?;
/// assert!(!sink.enabled(Level::Critical));
/// # Ok::<(), canister_core::log::LogError>(())
/// ```
#[cfg(feature = "default-sink")]
#[cfg_attr(docsrs, doc(cfg(feature = "default-sink")))]
pub struct DefaultLogSinkBuilder {
    level: Option<Level>,
    path: Option<PathBuf>,
    days: u32,
    file_mode: u32,
    dir_mode: u32,
    clock: Arc<dyn Clock>,
    channel_size: usize,
    queue_bytes: usize,
    writer: Option<Box<dyn Write + Send>>,
}

#[cfg(feature = "default-sink")]
impl DefaultLogSinkBuilder {
    /// The lowest level written; `None` is `DISABLED`. Default: `Some(Level::Info)`.
    pub fn log_level(mut self, level: Option<Level>) -> Self {
        self.level = level;
        self
    }

    /// Writes daily files `log.YYYY-MM-DD` in directory `path` (created if needed) instead
    /// of stderr.
    pub fn log_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// How many days of files to keep, today's included (0 is read as 1). Default: 30.
    pub fn log_days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// Unix mode of each log file the sink creates; existing files keep theirs.
    /// Default: [`DailyFiles::DEFAULT_FILE_MODE`] (`0o600`). See [`DailyFiles`].
    pub fn log_file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode;
        self
    }

    /// Unix mode of the `log_path` directory when the sink creates it; an existing one keeps
    /// its own. Default: [`DailyFiles::DEFAULT_DIR_MODE`] (`0o700`). See [`DailyFiles`].
    pub fn log_dir_mode(mut self, mode: u32) -> Self {
        self.dir_mode = mode;
        self
    }

    /// The clock that time-stamps lines and picks the day's file. Default: the system's.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many lines the channel holds before new lines are dropped (0 is read as 1).
    /// Default: [`DefaultLogSink::DEFAULT_CHANNEL_SIZE`].
    pub fn channel_size(mut self, lines: usize) -> Self {
        self.channel_size = lines.max(1);
        self
    }

    /// How many bytes of text queued lines may hold on the heap before new lines are dropped
    /// (messages of up to ~120 bytes do not count; see
    /// [`DEFAULT_QUEUE_BYTES`](DefaultLogSink::DEFAULT_QUEUE_BYTES), the default). A line
    /// whose text alone is larger is always dropped (and counted).
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// Writes the lines to `writer` (one `write_all` per line) instead of stderr or files;
    /// overrides [`log_path`](Self::log_path).
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.writer = Some(Box::new(writer));
        self
    }

    /// Opens the destination and starts the writer thread (unless the level is `DISABLED`).
    ///
    /// # Errors
    ///
    /// [`LogError`] when the `log_path` directory cannot be created or today's file cannot
    /// be opened.
    ///
    /// # Panics
    ///
    /// If the operating system cannot start a thread.
    pub fn build(self) -> Result<DefaultLogSink, LogError> {
        let Some(min) = self.level else {
            return Ok(DefaultLogSink::disabled());
        };
        let destination = match (self.writer, self.path) {
            (Some(writer), _) => Destination::Writer(writer),
            (None, Some(path)) => Destination::Daily(DailyFiles::new_with_modes(
                path,
                self.days,
                self.clock.clone(),
                self.file_mode,
                self.dir_mode,
            )?),
            (None, None) => Destination::Stderr,
        };
        let description = format!("{destination:?}");
        let queue = Arc::new(Queue::start(
            Writer::new(destination),
            min,
            self.clock,
            self.channel_size,
            self.queue_bytes,
        ));
        let logger = slog::Logger::root(SlogDrain(queue.clone()), slog::o!());
        Ok(DefaultLogSink {
            active: Some(Active {
                sink: SlogSink::from_logger(logger),
                queue,
                destination: description,
            }),
            #[cfg(feature = "tracing")]
            tracing: None,
        })
    }
}

#[cfg(feature = "default-sink")]
impl Default for DefaultLogSinkBuilder {
    fn default() -> Self {
        Self {
            // Canister's default level.
            level: Some(Level::Info),
            path: None,
            // Canister's default retention.
            days: 30,
            file_mode: DailyFiles::DEFAULT_FILE_MODE,
            dir_mode: DailyFiles::DEFAULT_DIR_MODE,
            clock: Arc::new(SystemClock),
            channel_size: DefaultLogSink::DEFAULT_CHANNEL_SIZE,
            queue_bytes: DefaultLogSink::DEFAULT_QUEUE_BYTES,
            writer: None,
        }
    }
}

#[cfg(feature = "default-sink")]
impl fmt::Debug for DefaultLogSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultLogSinkBuilder")
            .field("log_level", &self.level)
            .field("log_path", &self.path)
            .field("log_days", &self.days)
            .field("log_file_mode", &format_args!("{:04o}", self.file_mode))
            .field("log_dir_mode", &format_args!("{:04o}", self.dir_mode))
            .field("channel_size", &self.channel_size)
            .field("queue_bytes", &self.queue_bytes)
            .field("writer", &self.writer.is_some())
            .finish_non_exhaustive()
    }
}
