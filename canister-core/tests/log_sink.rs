//! The default log sink end to end: real files in a temporary directory, a test clock.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use canister_core::log::{
    mask_query, DefaultLogSink, Event, Level, LogContext, LogSink, SlogSink, MAX_FIELD_BYTES,
};
use canister_core::{config::Config, TestClock};
use chrono::{Local, NaiveDate, NaiveTime, TimeZone};
use http::{Method, StatusCode};
use regex::Regex;

/// A clock at `time` (`HH:MM:SS.mmm`) local time on `date`, whatever the machine's zone.
fn local_clock(date: &str, time: &str) -> TestClock {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let t = NaiveTime::parse_from_str(time, "%H:%M:%S%.3f").unwrap();
    let local = Local
        .from_local_datetime(&day.and_time(t))
        .single()
        .unwrap();
    TestClock::at(SystemTime::from(local))
}

fn client(ip: &str) -> LogContext {
    LogContext::new(Some(ip.parse::<IpAddr>().unwrap()))
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sink_in(dir: &Path, clock: &TestClock, level: Option<Level>) -> DefaultLogSink {
    DefaultLogSink::builder()
        .log_path(dir)
        .log_level(level)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// Canister's layout: date, comma milliseconds, level padded to 8, `[context]`, 3 spaces.
fn layout() -> Regex {
    Regex::new(
        r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG   |INFO    |WARNING |ERROR   |CRITICAL) \[[^\]]+\]   \S.*$",
    )
    .unwrap()
}

#[test]
fn request_cycle_lines_have_canisters_layout_in_the_days_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "09:38:33.216");
    let sink = sink_in(dir.path(), &clock, Some(Level::Info));
    let context = client("149.172.44.162");
    let url = mask_query("http://localhost:8080/?user=alice&password=hunter2");
    sink.log(
        &context,
        &Event::Request {
            method: &Method::GET,
            url: &url,
        },
    );
    let context = context.with_tag(Some(*b"VJ8zq5"));
    sink.log(&context, &Event::SessionCreated);
    slog::info!(sink.logger(&context), "Hey!"; "n" => 3);
    clock.advance(Duration::from_millis(1));
    sink.log(
        &context,
        &Event::Response {
            status: StatusCode::OK,
            elapsed: Duration::from_millis(1),
            slow: false,
        },
    );
    drop(sink);

    let lines = read_lines(&dir.path().join("log.2016-07-02"));
    assert_eq!(
        lines,
        [
            "2016-07-02 09:38:33,216 INFO     [149.172.44.162-...]   GET http://localhost:8080/?user=alice&password=********",
            "2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   Session created",
            "2016-07-02 09:38:33,216 INFO     [149.172.44.162-VJ8zq5]   Hey!, n: 3",
            "2016-07-02 09:38:33,217 INFO     [149.172.44.162-VJ8zq5]   Response: 200 (1ms)",
        ]
    );
    let layout = layout();
    assert!(lines.iter().all(|l| layout.is_match(l)), "{lines:#?}");
}

#[test]
fn every_level_and_the_banner_match_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "09:00:00.000");
    let config = Config::from_ini_str(
        "[canister]\nauth_basic_username = alice\nauth_basic_password = hunter2\n",
    )
    .unwrap();
    let sink = sink_in(dir.path(), &clock, Some(Level::Debug));
    canister_core::config::log_banner(&sink, &config);
    let context = client("::1");
    for level in [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ] {
        sink.log(&context, &Event::Message { level, text: "m" });
    }
    let log = sink.logger(&context);
    slog::trace!(log, "trace shows as DEBUG");
    slog::crit!(log, "crit shows as CRITICAL");
    drop(sink);

    let lines = read_lines(&dir.path().join("log.2016-07-02"));
    let layout = layout();
    for line in &lines {
        assert!(layout.is_match(line), "{line}");
    }
    let text = lines.join("\n");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("INFO     [MainThread]   Initializing"),
        "{text}"
    );
    assert!(text.contains(&format!("{:<30} = ********", "auth_basic_password")));
    for name in [
        "DEBUG    [::1-...]   m",
        "CRITICAL [::1-...]   m",
        "WARNING  [::1-...]   m",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // slog's `trace!` is compiled out in some builds; when present it reads DEBUG.
    assert!(!text.contains("TRACE"), "{text}");
    assert!(
        text.contains("CRITICAL [::1-...]   crit shows as CRITICAL"),
        "{text}"
    );
}

#[test]
fn level_filtering_drops_lower_levels_for_events_and_app_loggers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "09:00:00.000");
    let sink = sink_in(dir.path(), &clock, Some(Level::Warning));
    assert!(!sink.enabled(Level::Debug));
    assert!(!sink.enabled(Level::Info));
    assert!(sink.enabled(Level::Warning));
    assert!(sink.enabled(Level::Critical));
    let context = client("10.0.0.1");
    sink.log(&context, &Event::SessionFound);
    sink.log(
        &context,
        &Event::Response {
            status: StatusCode::OK,
            elapsed: Duration::from_millis(1234),
            slow: true,
        },
    );
    sink.log(
        &context,
        &Event::Message {
            level: Level::Error,
            text: "store down",
        },
    );
    let log = sink.logger(&context);
    slog::info!(log, "app info");
    slog::warn!(log, "app warning");
    drop(sink);

    let lines = read_lines(&dir.path().join("log.2016-07-02"));
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].ends_with("WARNING  [10.0.0.1-...]   Response: 200 (1234ms !!!)"));
    assert!(lines[1].ends_with("ERROR    [10.0.0.1-...]   store down"));
    assert!(lines[2].ends_with("WARNING  [10.0.0.1-...]   app warning"));
}

#[test]
fn disabled_writes_nothing_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut config = Config::default();
    config.log.path = Some(logs.clone());
    config.log.level = None;
    let sink =
        DefaultLogSink::from_settings_with_clock(&config.log, Arc::new(TestClock::new())).unwrap();
    for level in [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ] {
        assert!(!sink.enabled(level), "{level}");
    }
    let context = client("10.0.0.1");
    sink.log(
        &context,
        &Event::Message {
            level: Level::Critical,
            text: "x",
        },
    );
    slog::crit!(sink.logger(&context), "x");
    slog::crit!(sink.root_logger(), "x");
    sink.flush();
    drop(sink);
    assert!(!logs.exists(), "DISABLED created {}", logs.display());
}

#[test]
fn from_config_uses_log_path_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("nested").join("logs");
    let mut config = Config::default();
    config.log.path = Some(logs.clone());
    config.log.level = Some(Level::Error);
    let clock = local_clock("2016-07-02", "12:00:00.000");
    let sink = DefaultLogSink::from_settings_with_clock(&config.log, Arc::new(clock)).unwrap();
    assert!(!sink.enabled(Level::Warning));
    sink.log(
        &LogContext::main(),
        &Event::Message {
            level: Level::Error,
            text: "e",
        },
    );
    drop(sink);
    assert_eq!(read_lines(&logs.join("log.2016-07-02")).len(), 1);
}

#[test]
fn unusable_log_path_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    fs::write(&blocker, "x").unwrap();
    let mut config = Config::default();
    config.log.path = Some(blocker.join("logs"));
    let err = DefaultLogSink::from_settings(&config.log).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("log_path") && text.contains("a-file"),
        "{text}"
    );
}

#[test]
fn rotates_at_local_midnight_and_keeps_log_days() {
    let dir = tempfile::tempdir().unwrap();
    for old in [
        "log.2016-06-29",
        "log.2016-06-30",
        "log.2016-07-01",
        "notes.txt",
    ] {
        fs::write(dir.path().join(old), "old\n").unwrap();
    }
    let clock = local_clock("2016-07-02", "23:59:59.500");
    let sink = DefaultLogSink::builder()
        .log_path(dir.path())
        .log_days(2)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let context = client("10.0.0.1");
    sink.log(
        &context,
        &Event::Message {
            level: Level::Info,
            text: "before midnight",
        },
    );
    clock.advance(Duration::from_millis(500));
    sink.log(
        &context,
        &Event::Message {
            level: Level::Info,
            text: "after midnight",
        },
    );
    drop(sink);

    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // At start (07-02, 2 days): 06-29 and 06-30 go. At midnight (07-03): 07-01 goes.
    assert_eq!(names, ["log.2016-07-02", "log.2016-07-03", "notes.txt"]);
    let day1 = read_lines(&dir.path().join("log.2016-07-02"));
    let day2 = read_lines(&dir.path().join("log.2016-07-03"));
    assert_eq!(day1.len(), 1);
    assert!(
        day1[0].starts_with("2016-07-02 23:59:59,500 INFO "),
        "{day1:?}"
    );
    assert!(day1[0].ends_with("before midnight"));
    assert_eq!(day2.len(), 1);
    assert!(
        day2[0].starts_with("2016-07-03 00:00:00,000 INFO "),
        "{day2:?}"
    );
}

#[test]
fn no_line_lost_100_000_lines_from_8_threads_then_drop() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 12_500;
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "12:00:00.000");
    // The channel holds the whole burst, so the test checks shutdown, not overflow (which
    // `overflow_drops_lines_with_a_counted_warning` checks).
    let sink = DefaultLogSink::builder()
        .log_path(dir.path())
        .channel_size(THREADS * PER_THREAD)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let sink = &sink;
            s.spawn(move || {
                let context = client(&format!("10.0.0.{t}"));
                let log = sink.logger(&context);
                for i in 0..PER_THREAD {
                    if i % 2 == 0 {
                        slog::info!(log, "line {t}-{i}");
                    } else {
                        let text = format!("line {t}-{i}");
                        sink.log(
                            &context,
                            &Event::Message {
                                level: Level::Info,
                                text: &text,
                            },
                        );
                    }
                }
            });
        }
    });
    assert_eq!(sink.dropped_lines(), 0);
    drop(sink);

    let lines = read_lines(&dir.path().join("log.2016-07-02"));
    assert_eq!(lines.len(), THREADS * PER_THREAD);
    let mut seen = vec![false; THREADS * PER_THREAD];
    for line in &lines {
        let (_, id) = line.rsplit_once("line ").unwrap();
        let (t, i) = id.split_once('-').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert!(line.contains(&format!("[10.0.0.{t}-...]")), "{line}");
        assert!(
            !std::mem::replace(&mut seen[t * PER_THREAD + i], true),
            "twice: {line}"
        );
    }
    assert!(seen.iter().all(|s| *s));
}

#[test]
fn flush_writes_queued_lines_while_the_sink_lives() {
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "12:00:00.000");
    let sink = sink_in(dir.path(), &clock, Some(Level::Info));
    let log = sink.root_logger();
    for i in 0..5_000 {
        slog::info!(log, "line {i}");
    }
    sink.flush();
    let lines = read_lines(&dir.path().join("log.2016-07-02"));
    assert_eq!(lines.len(), 5_000);
    assert!(lines[4_999].ends_with("INFO     [MainThread]   line 4999"));
    // The application's own handle flushes too.
    slog::info!(log, "one more");
    log.flush().unwrap();
    assert_eq!(read_lines(&dir.path().join("log.2016-07-02")).len(), 5_001);
}

/// A writer that blocks until opened, collecting what it is given.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Gate {
    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }

    fn text(&self) -> String {
        String::from_utf8(self.out.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut open = self.open.0.lock().unwrap();
        while !*open {
            open = self.open.1.wait(open).unwrap();
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn overflow_drops_lines_with_a_counted_warning_and_never_blocks() {
    let gate = Gate::default();
    let sink = DefaultLogSink::builder()
        .writer(gate.clone())
        .channel_size(8)
        .clock(Arc::new(local_clock("2016-07-02", "12:00:00.000")))
        .build()
        .unwrap();
    let context = client("10.0.0.1");
    // The writer is stuck: these calls must return anyway.
    for i in 0..100 {
        let text = format!("line {i}");
        sink.log(
            &context,
            &Event::Message {
                level: Level::Info,
                text: &text,
            },
        );
    }
    let dropped = sink.dropped_lines();
    // At most 8 queued and one batch of 8 (plus a report line) in the stuck writer's hands.
    assert!(dropped >= 100 - 17, "dropped {dropped}");
    gate.open();
    sink.flush();
    let text = gate.text();
    let written = text.lines().filter(|l| l.contains("   line ")).count();
    assert_eq!(written as u64 + dropped, 100, "{text}");
    let warning = Regex::new(
        r"(?m)^\S+ \S+ WARNING  \[MainThread\]   Log queue full: (\d+) lines dropped \(channel_size 8, queue_bytes 8388608\)$",
    )
    .unwrap();
    let reported: u64 = warning
        .captures_iter(&text)
        .map(|c| c[1].parse::<u64>().unwrap())
        .sum();
    assert_eq!(reported, dropped, "{text}");
}

/// Collects `(level, message, context)` of the records it receives.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<(slog::Level, String, String)>>>);

impl slog::Drain for Collect {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        struct Ctx(Option<String>);
        impl slog::Serializer for Ctx {
            fn emit_arguments(
                &mut self,
                key: slog::Key,
                val: &std::fmt::Arguments<'_>,
            ) -> slog::Result {
                if key == canister_core::log::CONTEXT_KEY && self.0.is_none() {
                    self.0 = Some(val.to_string());
                }
                Ok(())
            }
        }
        let mut ctx = Ctx(None);
        slog::KV::serialize(&record.kv(), record, &mut ctx).unwrap();
        slog::KV::serialize(values, record, &mut ctx).unwrap();
        self.0.lock().unwrap().push((
            record.level(),
            record.msg().to_string(),
            ctx.0.unwrap_or_default(),
        ));
        Ok(())
    }
}

#[test]
fn slog_sink_hands_events_to_the_applications_logger() {
    let collect = Collect::default();
    let logger = slog::Logger::root(
        slog::Drain::ignore_res(slog::LevelFilter::new(collect.clone(), slog::Level::Info)),
        slog::o!(),
    );
    let sink = SlogSink::from_logger(logger);
    assert!(!sink.enabled(Level::Debug));
    assert!(sink.enabled(Level::Info));
    let context = client("10.0.0.1").with_tag(Some(*b"abcdef"));
    sink.log(&context, &Event::LoggedIn { name: "alice" });
    sink.log(
        &context,
        &Event::Message {
            level: Level::Debug,
            text: "filtered",
        },
    );
    slog::warn!(sink.logger(&context), "from the app");
    sink.flush();
    let seen = collect.0.lock().unwrap();
    assert_eq!(
        *seen,
        [
            (
                slog::Level::Info,
                "Logged in as: alice".to_owned(),
                "10.0.0.1-abcdef".to_owned()
            ),
            (
                slog::Level::Warning,
                "from the app".to_owned(),
                "10.0.0.1-abcdef".to_owned()
            ),
        ]
    );
}

#[test]
fn log_trust_proxy_takes_booleans_and_hop_counts() {
    for (value, hops) in [
        ("false", 0),
        ("true", 1),
        ("yes", 1),
        ("0", 0),
        ("1", 1),
        ("2", 2),
        ("16", 16),
    ] {
        let config =
            Config::from_ini_str(&format!("[canister]\nlog_trust_proxy = {value}")).unwrap();
        assert_eq!(config.log.trust_proxy, hops, "{value}");
    }
    assert_eq!(Config::default().log.trust_proxy, 0);
    for bad in ["17", "-1", "maybe"] {
        let err =
            Config::from_ini_str(&format!("[canister]\nlog_trust_proxy = {bad}")).unwrap_err();
        assert!(err.to_string().contains("log_trust_proxy"), "{err}");
    }
}

#[test]
#[cfg(unix)]
fn log_file_and_dir_modes_come_from_the_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "12:00:00.000");

    let logs = dir.path().join("default");
    let config =
        Config::from_ini_str(&format!("[canister]\nlog_path = {}", logs.display())).unwrap();
    drop(DefaultLogSink::from_settings_with_clock(&config.log, Arc::new(clock.clone())).unwrap());
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&logs.join("log.2016-07-02")), 0o600);

    let logs = dir.path().join("group");
    let config = Config::from_ini_str(&format!(
        "[canister]\nlog_path = {}\nlog_file_mode = 0640\nlog_dir_mode = 750",
        logs.display()
    ))
    .unwrap();
    assert_eq!((config.log.file_mode, config.log.dir_mode), (0o640, 0o750));
    drop(DefaultLogSink::from_settings_with_clock(&config.log, Arc::new(clock)).unwrap());
    assert_eq!(mode(&logs), 0o750);
    assert_eq!(mode(&logs.join("log.2016-07-02")), 0o640);

    for (key, bad) in [
        ("log_file_mode", "0644x"),
        ("log_file_mode", "0200"),
        ("log_dir_mode", "0644"),
    ] {
        let err = Config::from_ini_str(&format!("[canister]\n{key} = {bad}")).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn the_queue_is_bounded_in_bytes_while_the_writer_is_stuck() {
    // Finding 4 of the security review: 65 536 lines of any size could queue up.
    const BUDGET: usize = 64 * 1024;
    const LINES: usize = 1_000;
    let gate = Gate::default();
    let sink = DefaultLogSink::builder()
        .writer(gate.clone())
        .queue_bytes(BUDGET)
        .clock(Arc::new(local_clock("2016-07-02", "12:00:00.000")))
        .build()
        .unwrap();
    let context = client("10.0.0.1");
    let url = format!("http://h/{}", "u".repeat(2_000));
    for _ in 0..LINES {
        sink.log(
            &context,
            &Event::Request {
                method: &Method::GET,
                url: &url,
            },
        );
    }
    let dropped = sink.dropped_lines();
    // Queued: at most BUDGET bytes of 2 KB lines; the stuck writer holds one such batch more.
    let held = 2 * (BUDGET / 2_000 + 1);
    assert!(dropped >= (LINES - held) as u64, "dropped {dropped}");
    gate.open();
    sink.flush();
    let text = gate.text();
    let written = text
        .lines()
        .filter(|l| l.contains("   GET http://h/"))
        .count();
    assert_eq!(written as u64 + dropped, LINES as u64, "{written}");
    assert!(written <= held, "{written}");
    let warning = Regex::new(
        r"(?m)^\S+ \S+ WARNING  \[MainThread\]   Log queue full: (\d+) lines dropped \(channel_size 65536, queue_bytes 65536\)$",
    )
    .unwrap();
    let reported: u64 = warning
        .captures_iter(&text)
        .map(|c| c[1].parse::<u64>().unwrap())
        .sum();
    assert_eq!(reported, dropped);
}

#[test]
fn long_fields_are_cut_with_a_marker() {
    let gate = Gate::default();
    gate.open();
    let sink = DefaultLogSink::builder()
        .writer(gate.clone())
        .clock(Arc::new(local_clock("2016-07-02", "12:00:00.000")))
        .build()
        .unwrap();
    let context = client("10.0.0.1");
    let name = "n".repeat(10_000);
    sink.log(&context, &Event::LoggedIn { name: &name });
    let url = format!("/{}?password=hunter2", "p".repeat(300_000));
    sink.log(
        &context,
        &Event::Request {
            method: &Method::GET,
            url: &url,
        },
    );
    // An application's own message is cut at the line limit (16 KiB).
    slog::info!(sink.logger(&context), "{}", "a".repeat(100_000); "k" => "v");
    sink.flush();
    let text = gate.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].ends_with(&format!(
            "   Logged in as: {}…(+{} bytes)",
            "n".repeat(MAX_FIELD_BYTES),
            10_000 - MAX_FIELD_BYTES
        )),
        "{}",
        &lines[0][..80]
    );
    assert!(
        lines[1].ends_with(&format!(
            "   GET /{}…(+{} bytes)",
            "p".repeat(MAX_FIELD_BYTES - 1),
            url.len() - MAX_FIELD_BYTES
        )),
        "{}",
        &lines[1][..80]
    );
    assert!(!lines[1].contains("hunter2"));
    assert!(
        lines[2].ends_with(&format!(
            "   {}…(+{} bytes)",
            "a".repeat(16 * 1024),
            100_000 - 16 * 1024 + ", k: v".len()
        )),
        "{}",
        &lines[2][..80]
    );
}

#[test]
fn forged_lines_through_a_user_name_are_escaped() {
    // Finding 7 of the security review, through the form-login / Basic / JWT `sub` name.
    let dir = tempfile::tempdir().unwrap();
    let clock = local_clock("2016-07-02", "12:00:00.000");
    let sink = sink_in(dir.path(), &clock, Some(Level::Info));
    let name = "eve\u{2028}2026-11-30 23:59:59,000 CRITICAL [MainThread]   Database dropped\u{202e}exe.txt";
    sink.log(&client("10.0.0.1"), &Event::LoggedIn { name });
    sink.flush();
    let text = fs::read_to_string(dir.path().join("log.2016-07-02")).unwrap();
    assert!(
        text.ends_with("   Logged in as: eve\\u{2028}2026-11-30 23:59:59,000 CRITICAL [MainThread]   Database dropped\\u{202e}exe.txt\n"),
        "{text}"
    );
    assert!(!text.contains(['\u{2028}', '\u{202e}']), "{text}");
}
