//! The default log sink: what a request pays per line, and lines per second to the file.
//!
//! `request_path/*` measures the calling thread only (format the message, stamp, queue);
//! the worker thread writes concurrently. When the worker falls behind, the channel fills
//! and lines are dropped (counted); the figure is still the request's cost, which is the
//! same whether the line is queued or dropped. `file_throughput` logs a batch, then flushes,
//! so it measures lines that really reach the file.
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

fn request_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink(dir.path(), DefaultLogSink::DEFAULT_CHANNEL_SIZE);
    let ctx = context();
    let mut group = c.benchmark_group("log/request_path");

    group.throughput(Throughput::Elements(1));
    group.bench_function("one_line", |b| {
        b.iter(|| {
            sink.log(
                black_box(&ctx),
                &Event::Request {
                    method: &Method::GET,
                    url: black_box("http://localhost:8080/items?page=2"),
                },
            );
        });
    });

    group.throughput(Throughput::Elements(3));
    group.bench_function("request_three_lines", |b| {
        b.iter(|| {
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
        });
    });

    group.throughput(Throughput::Elements(1));
    let log = sink.logger(&ctx);
    group.bench_function("app_logger_info", |b| {
        b.iter(|| slog::info!(log, "Hey! {}", black_box(42)));
    });

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
        "log/request_path: {} lines dropped by a full channel during the run",
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
