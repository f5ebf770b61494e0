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
use super::{Level, LogContext, CONTEXT_KEY};
use crate::clock::Clock;

/// How long the writer sleeps between drains while lines keep coming.
const POLL: Duration = Duration::from_millis(1);

/// Empty polls in a row after which the writer parks until the next line.
pub(crate) const IDLE_POLLS: u32 = 50;

/// Bytes of message text kept inline in a [`Line`]; longer messages go to the heap.
const INLINE: usize = 118;

/// Bytes of slog-provided context text kept inline (`<ipv4>-<tag> req=<generated id>` fits;
/// a long IPv6 address with a request id goes to the heap, keeping every queued line small).
const INLINE_CONTEXT: usize = 54;

/// The most bytes of text one line keeps (message and key-values, or a context); the rest is
/// cut and marked `…(+N bytes)`.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

// Inline lengths are stored in a `u8`.
const _: () = assert!(INLINE <= 255 && INLINE_CONTEXT <= 255);

/// One line to write, as the requesting thread hands it over.
pub(crate) struct Line {
    /// When it was logged, in nanoseconds since the Unix epoch.
    pub(crate) nanos: u64,
    pub(crate) level: Level,
    pub(crate) context: Context,
    pub(crate) text: Text,
}

impl Line {
    /// Bytes this line holds on the heap: what [`Shared::push`] counts against `queue_bytes`.
    fn heap_bytes(&self) -> usize {
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

/// What travels through the queue.
pub(crate) enum Msg {
    /// A line to write.
    Line(Line),
    /// Write everything before this, flush the destination, then report ticket `.0` done.
    Flush(u64),
}

/// Text formatted into a fixed buffer, spilling to the heap when it does not fit.
pub(crate) enum Text<const N: usize = INLINE> {
    /// Up to `N` bytes, `len` of them used.
    Inline {
        /// Bytes used.
        len: u8,
        /// The bytes; `buf[..len]` is UTF-8.
        buf: [u8; N],
    },
    /// Longer text.
    Heap(Box<str>),
}

impl<const N: usize> Text<N> {
    /// Formats `args`.
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Self {
        let mut builder = TextBuilder::<N>::new();
        // Writing to memory cannot fail; a failing `Display` leaves what it wrote.
        let _ = builder.write_fmt(args);
        builder.finish()
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only whole `&str`s are copied in, so the bytes are UTF-8.
            Text::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Heap(s) => s,
        }
    }

    /// Bytes kept on the heap (0 when inline).
    fn heap_bytes(&self) -> usize {
        match self {
            Text::Inline { .. } => 0,
            Text::Heap(s) => s.len(),
        }
    }
}

/// Builds a [`Text`] piece by piece (a message, then `, key: value` pairs), keeping at most
/// [`MAX_LINE_BYTES`] bytes of it and marking the cut `…(+N bytes)`.
pub(crate) struct TextBuilder<const N: usize = INLINE> {
    len: usize,
    buf: [u8; N],
    spilled: Option<String>,
    /// Bytes that may still be added.
    room: usize,
    /// Bytes cut.
    omitted: usize,
}

impl<const N: usize> TextBuilder<N> {
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            buf: [0; N],
            spilled: None,
            room: MAX_LINE_BYTES,
            omitted: 0,
        }
    }

    pub(crate) fn finish(mut self) -> Text<N> {
        if self.omitted > 0 {
            let mut marker = TextBuilder::<32>::new();
            let _ = write!(marker, "…(+{} bytes)", self.omitted);
            self.push(marker.finish().as_str());
        }
        match self.spilled {
            Some(s) => Text::Heap(s.into_boxed_str()),
            // N ≤ 255 for every instance (checked at compile time above), so it fits.
            None => Text::Inline {
                len: u8::try_from(self.len).unwrap_or(u8::MAX),
                buf: self.buf,
            },
        }
    }
}

impl<const N: usize> TextBuilder<N> {
    /// Appends `s`, whatever the room left.
    fn push(&mut self, s: &str) {
        if let Some(spilled) = &mut self.spilled {
            spilled.push_str(s);
        } else if let Some(dest) = self.buf.get_mut(self.len..self.len + s.len()) {
            dest.copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spilled = String::with_capacity(2 * (self.len + s.len()));
            spilled.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
            spilled.push_str(s);
            self.spilled = Some(spilled);
        }
    }
}

impl<const N: usize> fmt::Write for TextBuilder<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let kept = cut(s, &mut self.room, &mut self.omitted);
        self.push(kept);
        Ok(())
    }
}

/// A writer that passes on the first `limit` bytes written to it and counts the rest.
///
/// The cut falls on a character boundary; nothing is passed on after it, so the text stays
/// a prefix of what was written.
pub(crate) struct Clipper<W> {
    inner: W,
    room: usize,
    omitted: usize,
}

impl<W: fmt::Write> Clipper<W> {
    /// Passes at most `limit` bytes on to `inner`.
    pub(crate) fn new(inner: W, limit: usize) -> Self {
        Self {
            inner,
            room: limit,
            omitted: 0,
        }
    }

    /// Bytes written past the limit.
    pub(crate) fn omitted(&self) -> usize {
        self.omitted
    }
}

impl<W: fmt::Write> fmt::Write for Clipper<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let kept = cut(s, &mut self.room, &mut self.omitted);
        if kept.is_empty() {
            Ok(())
        } else {
            self.inner.write_str(kept)
        }
    }
}

/// The part of `s` that fits in `room` bytes (cut at a character boundary); updates `room`
/// (0 after a cut, so nothing follows it) and adds the bytes left out to `omitted`.
fn cut<'s>(s: &'s str, room: &mut usize, omitted: &mut usize) -> &'s str {
    if s.len() <= *room {
        *room -= s.len();
        return s;
    }
    let mut end = *room;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    *room = 0;
    *omitted += s.len() - end;
    &s[..end]
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
        if self.0.flush_within(super::sink::FLUSH_TIMEOUT) {
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
