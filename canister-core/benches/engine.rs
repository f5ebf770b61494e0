//! Engine cost per request: `enter` + `finish` around a handler, memory store.
//!
//! Every future here completes without waiting (memory store, no locking), so each is polled
//! once with `now_or_never` and no runtime is measured.

use std::hint::black_box;

use bytes::Bytes;
use canister_core::{config::Config, session::MemoryStore, Canister, Entry, Finish};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::FutureExt;
use http::{header, Request, Response};

type Engine<L> = Canister<MemoryStore, (), L>;

fn engine(ini: &str) -> Engine<()> {
    let config =
        Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{ini}")).expect("config");
    Canister::builder()
        .config(config)
        .authenticator(())
        .log_sink(())
        .build()
        .expect("engine")
}

/// Runs one request; `write` decides whether the handler writes the session.
fn round<L: canister_core::log::LogSink>(
    c: &Engine<L>,
    parts: &http::request::Parts,
    touch: bool,
    write: bool,
) -> Option<String> {
    let visit = match c.enter(parts, None).now_or_never().expect("ready") {
        Entry::Respond(r) => return Some(r.status().to_string()),
        Entry::Proceed(v) => v,
    };
    if touch {
        let session = visit
            .session()
            .now_or_never()
            .expect("ready")
            .expect("session");
        let n = session.get::<i64>("counter").map_or(0, |n| n + 1);
        if write {
            session.insert("counter", n).expect("json");
        }
    }
    let (mut res, _) = Response::new(Bytes::from_static(b"ok")).into_parts();
    match c.finish(visit, &mut res).now_or_never().expect("ready") {
        Finish::Keep => {}
        Finish::ReplaceBody(_) => panic!("store failed"),
    }
    res.headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim_start_matches("session_id=")
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned()
        })
}

fn with_cookie(id: &str) -> http::request::Parts {
    Request::get("http://localhost:8080/?foo=bar")
        .header(header::COOKIE, format!("session_id={id}"))
        .header(header::HOST, "localhost:8080")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

fn bench_engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("enter_finish");
    let plain = Request::get("http://localhost:8080/")
        .body(())
        .expect("request")
        .into_parts()
        .0;

    let e = engine("");
    group.bench_function(BenchmarkId::new("no_cookie", "untouched"), |b| {
        b.iter(|| black_box(round(&e, &plain, false, false)))
    });
    group.bench_function(BenchmarkId::new("new_session", "one_write"), |b| {
        b.iter(|| black_box(round(&e, &plain, true, true)))
    });

    let e = engine("");
    let id = round(&e, &plain, true, true).expect("cookie");
    let loaded = with_cookie(&id);
    group.bench_function(BenchmarkId::new("loaded_session", "read_only"), |b| {
        b.iter(|| black_box(round(&e, &loaded, true, false)))
    });
    group.bench_function(BenchmarkId::new("loaded_session", "read_write"), |b| {
        b.iter(|| black_box(round(&e, &loaded, true, true)))
    });

    let e = engine("CORS = *");
    let id = round(&e, &plain, true, true).expect("cookie");
    let loaded = with_cookie(&id);
    group.bench_function(BenchmarkId::new("loaded_session_cors", "read_write"), |b| {
        b.iter(|| black_box(round(&e, &loaded, true, true)))
    });
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("http://localhost:8080/items")
        .header(header::ORIGIN, "https://app.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
        .body(())
        .expect("request")
        .into_parts()
        .0;
    group.bench_function(BenchmarkId::new("cors", "preflight"), |b| {
        b.iter(|| black_box(round(&e, &preflight, false, false)))
    });

    // The same read+write round with canister's INFO logging to a daily file (async sink):
    // three lines per request (request, session found, response).
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::from_ini_str(&format!(
        "[canister]\nlog_level = INFO\nlog_path = {}\nCORS = *",
        dir.path().display()
    ))
    .expect("config");
    let logged: Canister<MemoryStore, ()> = Canister::builder()
        .config(config)
        .authenticator(())
        .build()
        .expect("engine");
    let id = round(&logged, &plain, true, true).expect("cookie");
    let loaded = with_cookie(&id);
    group.bench_function(
        BenchmarkId::new("loaded_session_cors_info_file_log", "read_write"),
        |b| b.iter(|| black_box(round(&logged, &loaded, true, true))),
    );
    group.finish();
    logged.flush();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
