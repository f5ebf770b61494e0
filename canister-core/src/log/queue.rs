//! The queue between the threads that log and the writer thread.
//!
//! A request pays for: checking the level, formatting the message into a fixed-size buffer,
//! reading the clock, and pushing one fixed-size [`Line`] (no allocation unless the message
//! is long) under a mutex that is held for a `Vec::push`. Everything else (the local time and its text, the `[ip-tag]`,
//! escaping, the file) happens on the writer thread.
//!
//! Why not slog-async: its worker blocks in a channel `recv`, so every record sent while it
//! sleeps wakes it with a futex call, and every record's message and key-values are copied
//! into freshly allocated owned values. Measured with `cargo bench -p canister-core --bench
//! log`, that cost a request about 1.1 µs per line (BENCHMARKS.md). Here the writer drains
//! the whole queue at once and, while lines keep coming, sleeps a millisecond between drains
//! instead of waiting on the queue, so a request never makes a system call to log; after
//! [`IDLE_POLLS`] empty polls it parks, and the first line after that wakes it (one
//! `unpark`).
//!
//! The queue is bounded twice: in lines (`channel_size`) and in the bytes of text kept on
//! the heap (`queue_bytes`, the part of a line beyond its inline buffer). A line that would
//! pass either bound is dropped and counted, never waited for, and the next line that fits
//! is followed by a WARNING `Log queue full: N lines dropped`. (Followed, not preceded: only
//! a line that was accepted shows there is room.) Flush markers are never dropped: `flush`
//! retries them until the deadline. Each line's text is also cut at [`MAX_LINE_BYTES`], so
//! no single line can be large.

use std::fmt::{self, Write as _};
use std::mem;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::format::Writer;
use super::line::{Context, Line, FLUSH_TIMEOUT};
use super::text::{Text, TextBuilder, INLINE_CONTEXT};
use super::{Level, CONTEXT_KEY};
use crate::clock::Clock;

/// How long the writer sleeps between drains while lines keep coming.
const POLL: Duration = Duration::from_millis(1);

/// Empty polls in a row after which the writer parks until the next line.
pub(crate) const IDLE_POLLS: u32 = 50;

/// What travels through the queue.
pub(crate) enum Msg {
    /// A line to write.
    Line(Line),
    /// Write everything before this, flush the destination, then report ticket `.0` done.
    Flush(u64),
}

/// Worker progress on flush markers.
#[derive(Debug, Default)]
struct FlushState {
    next: AtomicU64,
    done: Mutex<u64>,
    changed: Condvar,
}

impl FlushState {
    /// Called by the worker once everything before marker `ticket` is written.
    fn done(&self, ticket: u64) {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        *done = (*done).max(ticket);
        self.changed.notify_all();
    }

    /// Waits until marker `ticket` is done, or `deadline`. Returns whether it is done.
    fn wait(&self, ticket: u64, deadline: Instant) -> bool {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        while *done < ticket {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            done = self
                .changed
                .wait_timeout(done, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// What the logging threads and the writer share.
struct Shared {
    pending: Mutex<Pending>,
    capacity: usize,
    /// The most heap bytes queued lines may hold (`queue_bytes`).
    byte_capacity: usize,
    /// Set by the writer before it parks; whoever clears it unparks the writer.
    parked: AtomicBool,
    /// Set when the sink is dropped: nothing more is accepted, the writer finishes.
    closed: AtomicBool,
    writer: OnceLock<Thread>,
    flushed: FlushState,
    /// Dropped since the last report.
    dropped: AtomicU64,
    /// Dropped since the start.
    dropped_total: AtomicU64,
}

/// The queued messages and the heap bytes their lines hold.
#[derive(Default)]
struct Pending {
    msgs: Vec<Msg>,
    bytes: usize,
}

impl Shared {
    /// Queues `msg` unless the queue is full, in lines or in bytes (or closed). Returns
    /// whether it was queued.
    #[must_use]
    fn push(&self, msg: Msg) -> bool {
        let bytes = match &msg {
            Msg::Line(line) => line.heap_bytes(),
            Msg::Flush(_) => 0,
        };
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            // Read under the lock: the writer's last drain reads it under the lock too.
            if pending.msgs.len() >= self.capacity
                || (bytes > 0 && pending.bytes.saturating_add(bytes) > self.byte_capacity)
                || self.closed.load(Ordering::Relaxed)
            {
                return false;
            }
            pending.bytes += bytes;
            pending.msgs.push(msg);
        }
        if self.parked.load(Ordering::SeqCst) {
            self.wake();
        }
        true
    }

    /// Unparks the writer if it is parked (or about to park).
    fn wake(&self) {
        if self.parked.swap(false, Ordering::SeqCst) {
            if let Some(writer) = self.writer.get() {
                writer.unpark();
            }
        }
    }
}

/// The logging side of the queue; dropping it writes what is queued and stops the writer.
pub(crate) struct Queue {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    /// Records below this level are not queued (`log_level`).
    min: Level,
    worker: Option<JoinHandle<()>>,
}

impl Queue {
    /// Starts the writer thread `canister-log`, writing through `writer`.
    ///
    /// # Panics
    ///
    /// If the operating system cannot start a thread.
    pub(crate) fn start(
        writer: Writer,
        min: Level,
        clock: Arc<dyn Clock>,
        channel_size: usize,
        queue_bytes: usize,
    ) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            capacity: channel_size.max(1),
            byte_capacity: queue_bytes,
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            writer: OnceLock::new(),
            flushed: FlushState::default(),
            dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
        });
        let worker = {
            let shared = shared.clone();
            #[allow(clippy::expect_used, reason = "documented: no thread, no logging")]
            thread::Builder::new()
                .name("canister-log".to_owned())
                .spawn(move || run(&shared, writer))
                .expect("cannot start the canister-log writer thread")
        };
        // Before any line is queued, so a parked writer can always be woken.
        let _ = shared.writer.set(worker.thread().clone());
        Self {
            shared,
            clock,
            min,
            worker: Some(worker),
        }
    }

    /// The lowest level queued.
    pub(crate) fn min(&self) -> Level {
        self.min
    }

    /// Lines dropped because the queue was full, since the start.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// Queues a line at `level` (already checked against the minimum) with `context` and
    /// the text of `message`, stamped with the clock's time now.
    pub(crate) fn line(&self, level: Level, context: Context, message: fmt::Arguments<'_>) {
        let line = Line {
            nanos: time_nanos(self.clock.now()),
            level,
            context,
            text: Text::format(message),
        };
        self.queue_line(line);
    }

    fn queue_line(&self, line: Line) {
        if !self.shared.push(Msg::Line(line)) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared.dropped_total.fetch_add(1, Ordering::Relaxed);
        } else if self.shared.dropped.load(Ordering::Relaxed) != 0 {
            self.report_dropped();
        }
    }

    /// Queues the warning about dropped lines, if any were dropped since the last one.
    /// In the main context (`[MainThread]`): the drops are not about any one request.
    fn report_dropped(&self) {
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if dropped == 0 {
            return;
        }
        let line = Line {
            nanos: time_nanos(self.clock.now()),
            level: Level::Warning,
            context: Context::Main,
            text: Text::format(format_args!(
                "Log queue full: {dropped} lines dropped (channel_size {}, queue_bytes {})",
                self.shared.capacity, self.shared.byte_capacity
            )),
        };
        if !self.shared.push(Msg::Line(line)) {
            // Still full: report them next time.
            self.shared.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Waits until every line queued before the call is written and the destination
    /// flushed, or `timeout` passes. Returns whether it completed.
    pub(crate) fn flush_within(&self, timeout: Duration) -> bool {
        if self.shared.closed.load(Ordering::SeqCst) {
            return false;
        }
        let deadline = Instant::now() + timeout;
        let ticket = self.shared.flushed.next.fetch_add(1, Ordering::SeqCst) + 1;
        loop {
            // The count of dropped lines goes before the marker, so a flush writes it too.
            self.report_dropped();
            if self.shared.dropped.load(Ordering::Relaxed) == 0
                && self.shared.push(Msg::Flush(ticket))
            {
                break;
            }
            // Full: neither the report nor the marker may be lost; try again until the
            // deadline.
            if Instant::now() >= deadline || self.shared.closed.load(Ordering::SeqCst) {
                return false;
            }
            self.shared.wake();
            thread::sleep(Duration::from_millis(1));
        }
        // Don't wait for the writer's next poll.
        self.shared.wake();
        self.shared.flushed.wait(ticket, deadline)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        if let Some(worker) = self.worker.take() {
            worker.thread().unpark();
            // A writer that panicked has nothing more to write.
            let _ = worker.join();
        }
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("channel_size", &self.shared.capacity)
            .field("queue_bytes", &self.shared.byte_capacity)
            .field("dropped_total", &self.dropped_total())
            .finish_non_exhaustive()
    }
}

/// The writer thread: drains the queue in batches until the queue is closed and empty.
fn run(shared: &Shared, mut writer: Writer) {
    let mut batch = Vec::new();
    let mut idle = 0;
    loop {
        let closed = {
            let mut pending = shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            mem::swap(&mut pending.msgs, &mut batch);
            pending.bytes = 0;
            shared.closed.load(Ordering::SeqCst)
        };
        if batch.is_empty() {
            if closed {
                // `push` reads `closed` under the same lock: nothing can follow.
                writer.end_batch();
                return;
            }
            idle += 1;
            if idle < IDLE_POLLS {
                thread::sleep(POLL);
            } else {
                shared.parked.store(true, Ordering::SeqCst);
                // A line pushed before `parked` was set was not followed by a wake-up.
                let empty = shared
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .msgs
                    .is_empty();
                if empty && !shared.closed.load(Ordering::SeqCst) {
                    thread::park();
                }
                shared.parked.store(false, Ordering::SeqCst);
                idle = 0;
            }
            continue;
        }
        idle = 0;
        for msg in batch.drain(..) {
            match msg {
                Msg::Line(line) => writer.write(&line),
                Msg::Flush(ticket) => {
                    writer.flush();
                    shared.flushed.done(ticket);
                }
            }
        }
        writer.end_batch();
        // Let memory from a burst go once it is over (two buffers of up to ~1 MB stay).
        if batch.capacity() > 4096 {
            batch = Vec::new();
        }
    }
}

/// The time of a line: nanoseconds since the Unix epoch.
pub(crate) fn time_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The slog drain behind application loggers: one [`Line`] per record.
///
/// The record's context (under [`CONTEXT_KEY`], the record's own first, then the logger's
/// from child to root) goes between the brackets; its other key-values follow the message
/// as `, key: value`.
pub(crate) struct SlogDrain(pub(crate) Arc<Queue>);

impl slog::Drain for SlogDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let level = Level::from(record.level());
        if level < self.0.min {
            return Ok(());
        }
        let mut fields = Fields {
            context: None,
            text: TextBuilder::new(),
        };
        let _ = fields.text.write_fmt(*record.msg());
        // Serializers here never fail (they write to memory), so results are ignored.
        let _ = slog::KV::serialize(&record.kv(), record, &mut fields);
        let _ = slog::KV::serialize(values, record, &mut fields);
        let line = Line {
            nanos: time_nanos(self.0.clock.now()),
            level,
            context: fields.context.map_or(Context::Main, Context::Text),
            text: fields.text.finish(),
        };
        self.0.queue_line(line);
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        Level::from(level) >= self.0.min
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        if self.0.flush_within(FLUSH_TIMEOUT) {
            Ok(())
        } else {
            Err(slog::FlushError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the log writer did not catch up in time",
            )))
        }
    }
}

// The drain holds no state a panic could leave half-updated (a mutex-guarded Vec that is
// only pushed to or swapped, atomics, a clock that only reads); `Logger::root` requires
// these.
impl UnwindSafe for SlogDrain {}
impl RefUnwindSafe for SlogDrain {}

/// Collects a record's key-values: the context, and the rest as `, key: value` text.
struct Fields {
    context: Option<Text<INLINE_CONTEXT>>,
    text: TextBuilder,
}

impl slog::Serializer for Fields {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if key == CONTEXT_KEY {
            if self.context.is_none() {
                self.context = Some(Text::format(*val));
            }
        } else {
            let _ = write!(self.text, ", {key}: {val}");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::log::text::{Clipper, INLINE, MAX_LINE_BYTES};

    #[test]
    fn inline_sizes_fit_a_u8_length() {
        // The widest context: an IPv6 address, a dash and a tag.
        let widest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255-abcdef";
        assert!(matches!(
            Text::<INLINE_CONTEXT>::format(format_args!("{widest}")),
            Text::Inline { .. }
        ));
    }

    #[test]
    fn text_keeps_short_and_long_text() {
        let short = Text::<INLINE>::format(format_args!("{} {}", "GET", "/x"));
        assert!(matches!(short, Text::Inline { .. }));
        assert_eq!(short.as_str(), "GET /x");
        let long = "é".repeat(200);
        let text = Text::<INLINE>::format(format_args!("{}-{long}-{}", "a", "b"));
        assert!(matches!(text, Text::Heap(_)));
        assert_eq!(text.as_str(), format!("a-{long}-b"));
    }

    #[test]
    fn a_line_is_small() {
        // What a request copies into the queue.
        assert!(mem::size_of::<Msg>() <= 256, "{}", mem::size_of::<Msg>());
    }

    #[test]
    fn a_line_keeps_at_most_max_line_bytes() {
        let long = "é".repeat(MAX_LINE_BYTES);
        let text = Text::<INLINE>::format(format_args!("a{long}"));
        let s = text.as_str();
        // 1 + 2·8191 bytes kept: the next `é` would cross the limit.
        let kept = 1 + 2 * ((MAX_LINE_BYTES - 1) / 2);
        assert_eq!(
            s,
            format!(
                "a{}…(+{} bytes)",
                "é".repeat((kept - 1) / 2),
                1 + 2 * MAX_LINE_BYTES - kept
            )
        );
        // Nothing after the cut, even what would still fit.
        let mut builder = TextBuilder::<INLINE>::new();
        let _ = builder.write_str(&"x".repeat(MAX_LINE_BYTES - 1));
        let _ = builder.write_str("日");
        let _ = builder.write_str("c");
        assert!(builder.finish().as_str().ends_with("x…(+4 bytes)"));
        // The limit applies to contexts too.
        let context = Text::<INLINE_CONTEXT>::format(format_args!("{}", "c".repeat(100_000)));
        assert_eq!(
            context.heap_bytes(),
            MAX_LINE_BYTES + "…(+83616 bytes)".len()
        );
    }

    #[test]
    fn clipper_keeps_a_prefix_on_a_char_boundary() {
        let mut out = String::new();
        let mut clip = Clipper::new(&mut out, 5);
        clip.write_str("ab").unwrap();
        clip.write_str("日本").unwrap();
        clip.write_str("c").unwrap();
        assert_eq!(clip.omitted(), 4);
        assert_eq!(out, "ab日");
    }
}
