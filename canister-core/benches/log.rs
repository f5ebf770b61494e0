//! The default log sink: what a request pays per line, and lines per second to the file.
//!
//! `request_path/*` measures the calling thread only (format the message, stamp, queue)
//! while the worker thread writes to a file concurrently. Lines are timed in batches of
//! 1 000 that fit the channel, with an untimed flush between batches, so the figures are for
//! a writer that keeps up (the normal case). `one_line_saturated` logs without pause: the
//! channel stays full and most lines are dropped (counted), which is what a request pays
//! when the disk cannot keep up. `file_throughput` logs a batch, then flushes, so it
//! measures lines that really reach the file.
#![allow(missing_docs, reason = "criterion generates the bench entry points")]
#![allow(clippy::unwrap_used, reason = "benchmarks")]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use canister_core::log::{DefaultLogSink, Event, Level, LogContext, LogSink};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::{Method, StatusCode};

fn context() -> LogContext {
    LogContext::new(Some(IpAddr::V4(Ipv4Addr::new(149, 172, 44, 162)))).with_tag(Some(*b"VJ8zq5"))
}

fn file_sink(dir: &std::path::Path, channel_size: usize) -> DefaultLogSink {
    DefaultLogSink::builder()
        .log_path(dir)
        .log_level(Some(Level::Info))
        .channel_size(channel_size)
        .build()
        .unwrap()
}

/// Runs `f` `iters` times in batches that fit the channel; times only the calls.
fn paced(sink: &DefaultLogSink, iters: u64, mut f: impl FnMut()) -> Duration {
    const BATCH: u64 = 1_000;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        sink.flush();
        left -= n;
    }
    total
}

fn request_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink(dir.path(), DefaultLogSink::DEFAULT_CHANNEL_SIZE);
    let ctx = context();
    let mut group = c.benchmark_group("log/request_path");

    group.throughput(Throughput::Elements(1));
    let one_line = || {
        sink.log(
            black_box(&ctx),
            &Event::Request {
                method: &Method::GET,
                url: black_box("http://localhost:8080/items?page=2"),
            },
        );
    };
    group.bench_function("one_line", |b| {
        b.iter_custom(|iters| paced(&sink, iters, one_line));
    });

    group.throughput(Throughput::Elements(3));
    group.bench_function("request_three_lines", |b| {
        b.iter_custom(|iters| {
            paced(&sink, iters, || {
                let ctx = black_box(&ctx);
                sink.log(
                    ctx,
                    &Event::Request {
                        method: &Method::GET,
                        url: black_box("http://localhost:8080/items?page=2"),
                    },
                );
                sink.log(ctx, &Event::SessionFound);
                sink.log(
                    ctx,
                    &Event::Response {
                        status: StatusCode::OK,
                        elapsed: Duration::from_millis(1),
                        slow: false,
                    },
                );
            })
        });
    });

    group.throughput(Throughput::Elements(1));
    let log = sink.logger(&ctx);
    group.bench_function("app_logger_info", |b| {
        b.iter_custom(|iters| paced(&sink, iters, || slog::info!(log, "Hey! {}", black_box(42))));
    });
    let paced_dropped = sink.dropped_lines();
    group.bench_function("one_line_saturated", |b| b.iter(one_line));

    let filtered = DefaultLogSink::builder()
        .log_level(Some(Level::Warning))
        .build()
        .unwrap();
    group.bench_function("below_level", |b| {
        b.iter(|| {
            if filtered.enabled(Level::Info) {
                filtered.log(&ctx, &Event::SessionFound);
            }
        });
    });
    group.finish();
    sink.flush();
    eprintln!(
        "log/request_path: {paced_dropped} lines dropped while paced, {} in all",
        sink.dropped_lines()
    );
}

fn file_throughput(c: &mut Criterion) {
    const BATCH: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink(dir.path(), 1 << 17);
    let ctx = context();
    let mut group = c.benchmark_group("log/file_throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("batch_then_flush", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for _ in 0..BATCH {
                    sink.log(&ctx, &Event::SessionFound);
                }
                sink.flush();
            }
            start.elapsed()
        });
    });
    group.finish();
    assert_eq!(
        sink.dropped_lines(),
        0,
        "throughput lines must all be written"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = request_path, file_throughput
}
criterion_main!(benches);
