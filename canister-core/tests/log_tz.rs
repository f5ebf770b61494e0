//! Days and timestamps are local, not UTC: run with a fixed zone 9 hours east of UTC.
//!
//! One test in its own binary, because it sets the process's `TZ` before anything reads
//! local time.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::fs;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use canister_core::log::{DefaultLogSink, Event, Level, LogContext, LogSink};
use canister_core::TestClock;

#[test]
fn file_day_and_timestamp_follow_the_local_zone() {
    // POSIX zone string: UTC+9 all year, no tzdata needed. Set before any local-time read.
    std::env::set_var("TZ", "JST-9");
    let dir = tempfile::tempdir().unwrap();
    // 2016-07-02 20:00:00.250 UTC is 2016-07-03 05:00:00.250 in UTC+9.
    let utc = UNIX_EPOCH + Duration::from_millis(1_467_489_600_250);
    let clock = TestClock::at(utc);
    let sink = DefaultLogSink::builder()
        .log_path(dir.path())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    sink.log(
        &LogContext::main(),
        &Event::Message {
            level: Level::Info,
            text: "local",
        },
    );
    // 2016-07-03 15:00:00 UTC is midnight of the 4th in UTC+9 (while UTC is still the 3rd).
    clock.set(UNIX_EPOCH + Duration::from_secs(1_467_558_000));
    sink.log(
        &LogContext::main(),
        &Event::Message {
            level: Level::Info,
            text: "next local day",
        },
    );
    drop(sink);

    let day3 = fs::read_to_string(dir.path().join("log.2016-07-03")).unwrap();
    assert_eq!(
        day3,
        "2016-07-03 05:00:00,250 INFO     [MainThread]   local\n"
    );
    let day4 = fs::read_to_string(dir.path().join("log.2016-07-04")).unwrap();
    assert_eq!(
        day4,
        "2016-07-04 00:00:00,000 INFO     [MainThread]   next local day\n"
    );
    assert!(!dir.path().join("log.2016-07-02").exists());
}
