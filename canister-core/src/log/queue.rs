//! The request side of the default sink: stamps each record with the time and hands it to
//! slog-async's channel without ever blocking.
//!
//! slog-async's own `Async` drain drops on overflow and reports it, but its `log` cannot
//! tell the caller whether a record was queued, which `flush` needs (its marker must not be
//! dropped silently). So this wraps `AsyncCore`, which reports a full channel, and does the
//! counting itself: a dropped line is counted, and the next line that finds room is followed
//! by a WARNING `Log queue full: N lines dropped`. (Followed, not preceded: only a line that
//! was accepted shows there is room, so a full channel costs one attempt per line, not two.)

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use slog::Drain as _;
use slog_async::{AsyncCore, AsyncError};

use super::format::time_nanos;
use crate::clock::Clock;

/// Key under which a record carries its time (nanoseconds since the Unix epoch).
pub(crate) const TIME_KEY: &str = "canister.time";

/// Key under which a flush marker carries its ticket.
pub(crate) const TICKET_KEY: &str = "canister.flush";

/// The tag of flush markers (never written as lines).
pub(crate) const FLUSH_TAG: &str = "canister-flush";

/// The key under which the original record's key-values travel (never printed).
const REST_KEY: &str = "canister.rest";

/// Worker progress on flush markers.
#[derive(Debug, Default)]
pub(crate) struct FlushState {
    next: AtomicU64,
    done: Mutex<u64>,
    changed: Condvar,
}

impl FlushState {
    /// Called by the worker once everything before marker `ticket` is written.
    pub(crate) fn done(&self, ticket: u64) {
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

/// The drain application and engine records go through, in front of slog-async's channel.
pub(crate) struct Queue {
    core: AsyncCore,
    /// Records below this level are not queued (`log_level`).
    min: slog::Level,
    clock: Arc<dyn Clock>,
    flushed: Arc<FlushState>,
    /// Dropped since the last report.
    dropped: AtomicU64,
    /// Dropped since the start.
    dropped_total: AtomicU64,
    /// Set when the sink is dropped: the worker is gone, nothing more gets written.
    closed: AtomicBool,
    channel_size: usize,
}

impl Queue {
    pub(crate) fn new(
        core: AsyncCore,
        min: slog::Level,
        clock: Arc<dyn Clock>,
        flushed: Arc<FlushState>,
        channel_size: usize,
    ) -> Self {
        Self {
            core,
            min,
            clock,
            flushed,
            dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            channel_size,
        }
    }

    /// Lines dropped because the channel was full, since the start.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Marks the queue closed: flushes return at once from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits until every line queued before the call is written and the destination
    /// flushed, or `timeout` passes. Returns whether it completed.
    pub(crate) fn flush_within(&self, timeout: Duration) -> bool {
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        let deadline = Instant::now() + timeout;
        let ticket = self.flushed.next.fetch_add(1, Ordering::SeqCst) + 1;
        let empty = slog::OwnedKVList::from(slog::o!());
        loop {
            self.report_dropped();
            let queued = self.core.log(
                &slog::record!(
                    slog::Level::Critical,
                    FLUSH_TAG,
                    &format_args!(""),
                    slog::b!(TICKET_KEY => ticket)
                ),
                &empty,
            );
            match queued {
                Ok(()) => break,
                // Full (or the worker is gone): the marker must not be lost, try again.
                Err(AsyncError::Full) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        self.flushed.wait(ticket, deadline)
    }

    /// Queues the warning about dropped lines, if any were dropped since the last one.
    /// In the main context (`[MainThread]`): the drops are not about any one request.
    fn report_dropped(&self) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped == 0 {
            return;
        }
        let values = slog::OwnedKVList::from(slog::o!());
        let nanos = time_nanos(self.clock.now());
        let queued = self.core.log(
            &slog::record!(
                slog::Level::Warning,
                "canister-log",
                &format_args!(
                    "Log queue full: {dropped} lines dropped (channel_size {})",
                    self.channel_size
                ),
                slog::b!(TIME_KEY => nanos)
            ),
            &values,
        );
        if queued.is_err() {
            // Still full: report them next time.
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

impl slog::Drain for Queue {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        if !record.level().is_at_least(self.min) {
            return Ok(());
        }
        let nanos = time_nanos(self.clock.now());
        // The same record with the time added. `RecordStatic`'s fields are public (though
        // hidden from docs) and slog-async rebuilds records the same way.
        let rs = slog::RecordStatic {
            location: record.location(),
            tag: record.tag(),
            level: record.level(),
        };
        let rest = Rest(record.kv());
        let queued = self.core.log(
            &slog::Record::new(
                &rs,
                record.msg(),
                slog::b!(TIME_KEY => nanos, REST_KEY => rest),
            ),
            values,
        );
        if queued.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.dropped_total.fetch_add(1, Ordering::Relaxed);
        } else {
            self.report_dropped();
        }
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        level.is_at_least(self.min)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        if self.flush_within(super::sink::FLUSH_TIMEOUT) {
            Ok(())
        } else {
            Err(slog::FlushError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the log writer did not catch up in time",
            )))
        }
    }
}

// The queue holds no state a panic could leave half-updated (atomics, a channel, a clock
// that only reads); `Logger::root` requires these.
impl UnwindSafe for Queue {}
impl RefUnwindSafe for Queue {}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("channel_size", &self.channel_size)
            .field("dropped_total", &self.dropped_total())
            .finish_non_exhaustive()
    }
}

/// A record's original key-values, carried as one value so the time can be added in front.
struct Rest<'a>(slog::BorrowedKV<'a>);

impl slog::Value for Rest<'_> {
    fn serialize(
        &self,
        record: &slog::Record<'_>,
        _key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        slog::KV::serialize(&self.0, record, serializer)
    }
}
