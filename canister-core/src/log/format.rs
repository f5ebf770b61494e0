//! The writer side of the default sink: formats canister's line and writes it out.
//!
//! Runs on slog-async's worker thread, never on a request.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Local, NaiveDate, Timelike};

use super::daily::DailyFiles;
use super::queue::{FlushState, FLUSH_TAG, TICKET_KEY, TIME_KEY};
use super::CONTEXT_KEY;
use crate::clock::Clock;

/// Where the lines go.
pub(crate) enum Destination {
    /// The process's standard error.
    Stderr,
    /// `log.YYYY-MM-DD` files.
    Daily(DailyFiles),
    /// Any writer (tests, custom destinations); one `write_all` per line.
    Writer(Box<dyn Write + Send>),
}

impl Destination {
    fn write_line(&mut self, day: NaiveDate, line: &[u8]) -> io::Result<()> {
        match self {
            Destination::Stderr => io::stderr().lock().write_all(line),
            Destination::Daily(files) => files.write_line(day, line),
            Destination::Writer(w) => w.write_all(line),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Destination::Stderr => io::stderr().flush(),
            Destination::Daily(files) => files.flush(),
            Destination::Writer(w) => w.flush(),
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Stderr => f.write_str("Stderr"),
            Destination::Daily(files) => files.fmt(f),
            Destination::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// The slog drain on the worker thread: one canister line per record.
pub(crate) struct LineDrain {
    state: Mutex<State>,
    flushed: Arc<FlushState>,
    clock: Arc<dyn Clock>,
}

/// Reused buffers and the destination (only the worker thread locks it).
struct State {
    destination: Destination,
    line: Vec<u8>,
    scratch: String,
    context: String,
    extra: String,
    failing: bool,
}

impl LineDrain {
    pub(crate) fn new(
        destination: Destination,
        flushed: Arc<FlushState>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                destination,
                line: Vec::with_capacity(256),
                scratch: String::with_capacity(128),
                context: String::with_capacity(32),
                extra: String::new(),
                failing: false,
            }),
            flushed,
            clock,
        }
    }
}

impl slog::Drain for LineDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        state.context.clear();
        state.extra.clear();
        let mut fields = Fields {
            context: &mut state.context,
            has_context: false,
            extra: &mut state.extra,
            time: None,
            ticket: None,
        };
        // Serializers here never fail (they write to Strings), so results are ignored.
        let _ = slog::KV::serialize(&record.kv(), record, &mut fields);
        let _ = slog::KV::serialize(values, record, &mut fields);
        let (time, ticket, has_context) = (fields.time, fields.ticket, fields.has_context);

        if record.tag() == FLUSH_TAG {
            if let Some(ticket) = ticket {
                let result = state.destination.flush();
                report(&mut state.failing, &state.destination, result);
                self.flushed.done(ticket);
                return Ok(());
            }
        }

        let time = time.map_or_else(
            || self.clock.now(),
            |nanos| UNIX_EPOCH + Duration::from_nanos(nanos),
        );
        let local = DateTime::<Local>::from(time);
        state.scratch.clear();
        let _ = write!(state.scratch, "{}", record.msg());
        let context = if has_context {
            state.context.as_str()
        } else {
            "MainThread"
        };
        format_line(
            &mut state.line,
            &local,
            record.level(),
            context,
            &state.scratch,
            &state.extra,
        );
        let result = state
            .destination
            .write_line(local.date_naive(), &state.line);
        report(&mut state.failing, &state.destination, result);
        Ok(())
    }
}

/// Canister's name of a slog level, as printed in the line.
pub(crate) fn level_name(level: slog::Level) -> &'static str {
    super::Level::from(level).as_str()
}

/// Formats one line into `line` (cleared first), ending in `\n`.
///
/// `message` and `extra` are escaped so a line never spans two lines (no forged lines).
pub(crate) fn format_line(
    line: &mut Vec<u8>,
    time: &DateTime<Local>,
    level: slog::Level,
    context: &str,
    message: &str,
    extra: &str,
) {
    line.clear();
    // A leap second shows as ,999 rather than ,1000.
    let millis = (time.nanosecond() / 1_000_000).min(999);
    // Writing to a Vec cannot fail.
    let _ = write!(
        line,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{millis:03} {:<8} [{context}]   ",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        level_name(level),
    );
    push_escaped(line, message);
    push_escaped(line, extra);
    line.push(b'\n');
}

/// Appends `text` with CR, LF and other control characters (but tab) escaped.
fn push_escaped(line: &mut Vec<u8>, text: &str) {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        match c {
            '\n' => line.extend_from_slice(b"\\n"),
            '\r' => line.extend_from_slice(b"\\r"),
            '\t' => line.push(b'\t'),
            c if c.is_control() => {
                let _ = write!(line, "\\u{{{:x}}}", u32::from(c));
            }
            c => {
                let mut buf = [0; 4];
                line.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Says once on stderr that writing fails, and once that it works again.
fn report(failing: &mut bool, destination: &Destination, result: io::Result<()>) {
    match result {
        Ok(()) if *failing => {
            *failing = false;
            eprintln!("canister: writing the log to {destination:?} works again");
        }
        Ok(()) => {}
        Err(e) if !*failing => {
            *failing = true;
            eprintln!(
                "canister: cannot write the log to {destination:?}: {e}; lines are lost until it works again"
            );
        }
        Err(_) => {}
    }
}

/// Collects a record's key-values: our context, time and flush ticket, and the rest as
/// `, key: value` text.
struct Fields<'a> {
    context: &'a mut String,
    has_context: bool,
    extra: &'a mut String,
    time: Option<u64>,
    ticket: Option<u64>,
}

impl slog::Serializer for Fields<'_> {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if key == CONTEXT_KEY {
            // The record's own context comes first, then the logger's from child to root.
            if !self.has_context {
                self.has_context = true;
                let _ = self.context.write_fmt(*val);
            }
        } else if key != TIME_KEY && key != TICKET_KEY {
            let _ = write!(self.extra, ", {key}: {val}");
        }
        Ok(())
    }

    fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
        if key == TIME_KEY {
            self.time = Some(val);
            Ok(())
        } else if key == TICKET_KEY {
            self.ticket = Some(val);
            Ok(())
        } else {
            self.emit_arguments(key, &format_args!("{val}"))
        }
    }
}

/// The time of a record, as carried under [`TIME_KEY`]: nanoseconds since the Unix epoch.
pub(crate) fn time_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Text formatted on the stack (spilling to the heap past 256 bytes).
///
/// slog-async copies a record's message and values into `String`s it grows as it goes; a
/// message written in several pieces (`GET`, ` `, the URL) costs several reallocations.
/// Formatting here first hands it one `&str`, copied with one exact allocation.
pub(crate) struct InlineText {
    buf: [u8; 256],
    len: usize,
    spilled: Option<String>,
}

impl InlineText {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
            spilled: None,
        }
    }

    pub(crate) fn format(args: fmt::Arguments<'_>) -> Self {
        let mut text = Self::new();
        // Writing to memory cannot fail; a failing `Display` leaves what it wrote.
        let _ = text.write_fmt(args);
        text
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.spilled {
            Some(s) => s,
            // Only whole `&str`s are copied in, so the bytes are UTF-8.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(),
        }
    }
}

impl fmt::Write for InlineText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
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
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
            + chrono::Duration::milliseconds(i64::from(ms))
    }

    fn line(level: slog::Level, context: &str, message: &str, extra: &str) -> String {
        let mut buf = Vec::new();
        let time = at(2016, 7, 2, 9, 38, 33, 216);
        format_line(&mut buf, &time, level, context, message, extra);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn canister_layout() {
        assert_eq!(
            line(
                slog::Level::Info,
                "149.172.44.162-VJ8zq5",
                "GET http://localhost:8080/",
                ""
            ),
            "2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   GET http://localhost:8080/\n"
        );
    }

    #[test]
    fn level_names_and_padding() {
        for (level, text) in [
            (slog::Level::Critical, "CRITICAL "),
            (slog::Level::Error, "ERROR    "),
            (slog::Level::Warning, "WARNING  "),
            (slog::Level::Info, "INFO     "),
            (slog::Level::Debug, "DEBUG    "),
            (slog::Level::Trace, "DEBUG    "),
        ] {
            let l = line(level, "MainThread", "m", "");
            assert_eq!(&l[24..24 + text.len()], text, "{l}");
            assert_eq!(&l[33..], "[MainThread]   m\n", "{l}");
        }
    }

    #[test]
    fn milliseconds_are_zero_padded() {
        let mut buf = Vec::new();
        format_line(
            &mut buf,
            &at(2016, 1, 2, 3, 4, 5, 7),
            slog::Level::Info,
            "c",
            "m",
            "",
        );
        assert!(String::from_utf8(buf)
            .unwrap()
            .starts_with("2016-01-02 03:04:05,007 INFO"));
    }

    #[test]
    fn newlines_cannot_forge_lines() {
        let l = line(
            slog::Level::Info,
            "c",
            "Logged in as: eve\n2016-07-02 09:38:33,216 INFO     [1.2.3.4-abc]   forged\r\u{1b}[31m\t.",
            ", user: a\nb",
        );
        assert_eq!(l.matches('\n').count(), 1, "{l}");
        assert!(l.ends_with("eve\\n2016-07-02 09:38:33,216 INFO     [1.2.3.4-abc]   forged\\r\\u{1b}[31m\t., user: a\\nb\n"), "{l}");
    }

    #[test]
    fn inline_text_keeps_short_and_long_text() {
        let short = InlineText::format(format_args!("{} {}", "GET", "/x"));
        assert_eq!(short.as_str(), "GET /x");
        let long = "é".repeat(200);
        let text = InlineText::format(format_args!("{}-{long}-{}", "a", "b"));
        assert_eq!(text.as_str(), format!("a-{long}-b"));
    }

    #[test]
    fn extra_key_values_follow_the_message() {
        let l = line(slog::Level::Info, "c", "Hey!", ", user: alice, n: 3");
        assert!(l.ends_with("[c]   Hey!, user: alice, n: 3\n"), "{l}");
    }
}
