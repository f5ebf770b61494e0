//! The writer side of the default sink: formats canister's line and writes it out.
//!
//! Runs on the `canister-log` thread, never on a request.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Local, NaiveDate, Timelike};

use super::daily::DailyFiles;
use super::line::{Context, Line};
use super::Level;

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

/// The writer thread's side: formats canister's lines and writes them out in batches.
pub(crate) struct Writer {
    destination: Destination,
    /// Lines formatted since the last write, all of day `out_day`.
    out: Vec<u8>,
    out_day: Option<NaiveDate>,
    stamp: Stamp,
    failing: bool,
}

/// Written out before a batch ends once this many bytes are waiting.
const OUT_LIMIT: usize = 64 * 1024;

/// The local time of the last line's second, formatted once per second.
struct Stamp {
    second: Option<u64>,
    /// `YYYY-MM-DD HH:MM:SS`.
    text: String,
    day: NaiveDate,
}

impl Stamp {
    fn new() -> Self {
        Self {
            second: None,
            text: String::with_capacity(19),
            day: NaiveDate::MIN,
        }
    }

    /// Makes `self` the local time of Unix second `second`.
    fn set(&mut self, second: u64) {
        if self.second == Some(second) {
            return;
        }
        let local = DateTime::<Local>::from(UNIX_EPOCH + Duration::from_secs(second));
        self.set_local(&local);
        self.second = Some(second);
    }

    fn set_local(&mut self, local: &DateTime<Local>) {
        self.text.clear();
        // Writing to a String cannot fail.
        let _ = write!(
            self.text,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
        );
        self.day = local.date_naive();
    }
}

impl Writer {
    pub(crate) fn new(destination: Destination) -> Self {
        Self {
            destination,
            out: Vec::with_capacity(OUT_LIMIT + 1024),
            out_day: None,
            stamp: Stamp::new(),
            failing: false,
        }
    }

    /// Formats `line` and adds it to the batch (written by [`end_batch`](Self::end_batch)).
    pub(crate) fn write(&mut self, line: &Line) {
        self.stamp.set(line.nanos / 1_000_000_000);
        if self.out_day != Some(self.stamp.day) || self.out.len() >= OUT_LIMIT {
            self.end_batch();
            self.out_day = Some(self.stamp.day);
        }
        let millis = (line.nanos % 1_000_000_000) / 1_000_000;
        push_line(
            &mut self.out,
            &self.stamp.text,
            millis,
            line.level,
            &line.context,
            line.text.as_str(),
        );
    }

    /// Writes the lines formatted so far to the destination (one write for the batch).
    pub(crate) fn end_batch(&mut self) {
        if let (Some(day), false) = (self.out_day, self.out.is_empty()) {
            let result = self.destination.write_line(day, &self.out);
            report(&mut self.failing, &self.destination, result);
        }
        self.out.clear();
    }

    /// Writes what is batched and flushes the destination.
    pub(crate) fn flush(&mut self) {
        self.end_batch();
        let result = self.destination.flush();
        report(&mut self.failing, &self.destination, result);
    }
}

/// Appends one line, ending in `\n`, to `out`: `stamp,mmm LEVEL    [context]   message`.
///
/// The message and a context given as text are escaped, so a line never spans two lines
/// (no forged lines).
fn push_line(
    out: &mut Vec<u8>,
    stamp: &str,
    millis: u64,
    level: Level,
    context: &Context,
    message: &str,
) {
    out.extend_from_slice(stamp.as_bytes());
    // `,mmm LEVEL    [` by hand (the formatter's padding was a large share of the writer
    // thread's instructions at INFO, issue #19). Milliseconds are below 1 000 by
    // construction; `% 1000` keeps three digits whatever comes.
    let millis = millis % 1000;
    let digit = |n: u64| b'0' + u8::try_from(n % 10).unwrap_or(0);
    out.extend_from_slice(&[
        b',',
        digit(millis / 100),
        digit(millis / 10),
        digit(millis),
        b' ',
    ]);
    let name = level.as_str().as_bytes();
    out.extend_from_slice(name);
    out.extend_from_slice(&b"        "[..8usize.saturating_sub(name.len())]);
    out.extend_from_slice(b" [");
    match context {
        Context::Main => out.extend_from_slice(b"MainThread"),
        Context::Request(context) => {
            // Through `fmt::Write` on the `Vec`: `io::Write`'s `write!` adds an adapter that
            // checks every piece for an error a `Vec` never returns. Cannot fail.
            let _ = fmt::Write::write_fmt(&mut VecText(out), format_args!("{context}"));
        }
        Context::Text(text) => push_escaped(out, text.as_str()),
    }
    out.extend_from_slice(b"]   ");
    push_escaped(out, message);
    out.push(b'\n');
}

/// A `Vec<u8>` written as text.
struct VecText<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `text` with line breaks, control and bidi formatting characters escaped.
///
/// Escaped, so that a line never looks like two lines or reads in another order than it is
/// written (no forged lines, no "Trojan Source" reordering):
///
/// - CR and LF as `\r` and `\n`;
/// - the other C0 and C1 controls (ESC, DEL, NEL, CSI, ...) but tab, as `\u{1b}`;
/// - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, which JavaScript, Python's
///   `str.splitlines()` and many editors and log viewers treat as line breaks;
/// - the bidi controls U+202A–U+202E (embeddings and overrides), U+2066–U+2069 (isolates)
///   and the marks U+200E, U+200F and U+061C, which reorder what follows them on screen.
///
/// Any other character, printable Unicode included, is kept as written.
fn push_escaped(line: &mut Vec<u8>, text: &str) {
    // Fast path, byte by byte: printable ASCII and tab need no escape (callgrind: the
    // char-by-char check was the writer thread's largest cost at INFO, issue #19).
    if text.bytes().all(|b| matches!(b, b' '..=b'~' | b'\t')) {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    if !text.chars().any(needs_escape) {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        match c {
            '\n' => line.extend_from_slice(b"\\n"),
            '\r' => line.extend_from_slice(b"\\r"),
            c if needs_escape(c) => {
                let _ = write!(line, "\\u{{{:x}}}", u32::from(c));
            }
            c => {
                let mut buf = [0; 4];
                line.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Whether [`push_escaped`] writes `c` escaped.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
        )
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::log::text::Text;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
    }

    fn line_at(
        time: &DateTime<Local>,
        millis: u64,
        level: Level,
        context: &Context,
        message: &str,
    ) -> String {
        let mut stamp = Stamp::new();
        stamp.set_local(time);
        let mut buf = Vec::new();
        push_line(&mut buf, &stamp.text, millis, level, context, message);
        String::from_utf8(buf).unwrap()
    }

    fn line(level: Level, context: &str, message: &str) -> String {
        let context = Context::Text(Text::format(format_args!("{context}")));
        line_at(&at(2016, 7, 2, 9, 38, 33), 216, level, &context, message)
    }

    #[test]
    fn canister_layout() {
        assert_eq!(
            line(Level::Info, "149.172.44.162-VJ8zq5", "GET http://localhost:8080/"),
            "2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   GET http://localhost:8080/\n"
        );
        let request = Context::Request(
            super::super::LogContext::new(Some([149, 172, 44, 162].into()))
                .with_tag(Some(*b"VJ8zq5")),
        );
        assert_eq!(
            line_at(
                &at(2016, 7, 2, 9, 38, 33),
                216,
                Level::Info,
                &request,
                "Session found"
            ),
            "2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   Session found\n"
        );
        assert_eq!(
            line_at(
                &at(2016, 7, 2, 9, 38, 33),
                216,
                Level::Info,
                &Context::Main,
                "Initializing"
            ),
            "2016-07-02 09:38:33,216 INFO     [MainThread]   Initializing\n"
        );
    }

    #[test]
    fn level_names_and_padding() {
        for (level, text) in [
            (Level::Critical, "CRITICAL "),
            (Level::Error, "ERROR    "),
            (Level::Warning, "WARNING  "),
            (Level::Info, "INFO     "),
            (Level::Debug, "DEBUG    "),
        ] {
            let l = line(level, "MainThread", "m");
            assert_eq!(&l[24..24 + text.len()], text, "{l}");
            assert_eq!(&l[33..], "[MainThread]   m\n", "{l}");
        }
    }

    #[test]
    fn milliseconds_are_zero_padded() {
        let l = line_at(
            &at(2016, 1, 2, 3, 4, 5),
            7,
            Level::Info,
            &Context::Main,
            "m",
        );
        assert!(l.starts_with("2016-01-02 03:04:05,007 INFO"), "{l}");
    }

    #[test]
    fn the_stamp_follows_each_second_and_day() {
        let mut stamp = Stamp::new();
        let first = at(2016, 7, 2, 23, 59, 59);
        let second = u64::try_from(first.timestamp()).unwrap();
        stamp.set(second);
        assert_eq!(stamp.text, "2016-07-02 23:59:59");
        stamp.set(second + 1);
        assert_eq!(stamp.text, "2016-07-03 00:00:00");
        assert_eq!(stamp.day, NaiveDate::from_ymd_opt(2016, 7, 3).unwrap());
    }

    #[test]
    fn newlines_cannot_forge_lines() {
        let l = line(
            Level::Info,
            "c\nd",
            "Logged in as: eve\n2016-07-02 09:38:33,216 INFO     [1.2.3.4-abc]   forged\r\u{1b}[31m\t., user: a\nb",
        );
        assert_eq!(l.matches('\n').count(), 1, "{l}");
        assert!(l.contains("[c\\nd]"), "{l}");
        assert!(l.ends_with("eve\\n2016-07-02 09:38:33,216 INFO     [1.2.3.4-abc]   forged\\r\\u{1b}[31m\t., user: a\\nb\n"), "{l}");
    }

    #[test]
    fn unicode_line_breaks_and_bidi_controls_are_escaped() {
        let forged = "eve\u{2028}2026-11-30 23:59:59,000 CRITICAL [MainThread]   dropped\u{2029}x";
        let bidi = "a\u{202a}b\u{202b}c\u{202c}d\u{202d}e\u{202e}txt.exe\u{2066}f\u{2067}g\u{2068}h\u{2069}i\u{200e}j\u{200f}k\u{61c}l";
        let l = line(
            Level::Info,
            "ctx\u{2028}\u{202e}",
            &format!("{forged} {bidi}"),
        );
        assert_eq!(
            l,
            "2016-07-02 09:38:33,216 INFO     [ctx\\u{2028}\\u{202e}]   eve\\u{2028}2026-11-30 23:59:59,000 CRITICAL [MainThread]   dropped\\u{2029}x \
             a\\u{202a}b\\u{202b}c\\u{202c}d\\u{202d}e\\u{202e}txt.exe\\u{2066}f\\u{2067}g\\u{2068}h\\u{2069}i\\u{200e}j\\u{200f}k\\u{61c}l\n"
        );
        // Nothing a reader could take for a line break or a reordering is left raw.
        assert!(!l.chars().any(|c| needs_escape(c) && c != '\n'), "{l}");
        // Printable Unicode stays as written.
        assert_eq!(
            line(Level::Info, "c", "caf\u{e9} \u{65e5}\u{672c} \u{1f600}"),
            "2016-07-02 09:38:33,216 INFO     [c]   caf\u{e9} \u{65e5}\u{672c} \u{1f600}\n"
        );
    }
}
