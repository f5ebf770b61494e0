//! Heap allocations per request in canister's engine (issue #24: "allocations per request (no
//! new session) ≤ 4"), counted by a counting global allocator, not estimated.
//!
//! The request is the engine benchmark's (`canister-core/benches/engine.rs`): `enter`, the
//! handler's work on the session, `finish`, memory store, no locking, log sink `()`,
//! authenticator `()`; every future completes at once, so no runtime allocates beside it.
//! Each case runs 1 000 warm-up requests, then counts 10 000.
//!
//! Usage: `engine_allocs` (prints one line per case); `engine_allocs rw`: the loaded read +
//! write case alone, for a profiler.

use std::alloc::System;

use bytes::Bytes;
use canister_core::{config::Config, session::MemoryStore, Canister, Entry, Finish};
use futures_util::FutureExt;
use http::{header, Request, Response};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Engine = Canister<MemoryStore, (), ()>;

const WARM: usize = 1_000;
const COUNTED: usize = 10_000;

fn engine(ini: &str) -> Result<Engine, canister_core::config::ConfigError> {
    let config = Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{ini}"))?;
    Canister::builder()
        .config(config)
        .authenticator(())
        .log_sink(())
        .build()
}

/// What the handler does with the session.
#[derive(Clone, Copy)]
enum Work {
    None,
    Read,
    ReadWrite,
}

/// One request; the session id its response's cookie sets, if any.
fn round(c: &Engine, parts: &http::request::Parts, work: Work) -> Option<String> {
    let visit = match c.enter(parts, None).now_or_never()? {
        Entry::Respond(_) => return None,
        Entry::Proceed(v) => v,
    };
    if !matches!(work, Work::None) {
        let session = visit.session().now_or_never()?.ok()?;
        let n = session.get::<i64>("counter").map_or(0, |n| n + 1);
        if matches!(work, Work::ReadWrite) {
            session.insert("counter", n).ok()?;
        }
    }
    let (mut head, _) = Response::new(Bytes::from_static(b"ok")).into_parts();
    match c.finish(visit, &mut head).now_or_never()? {
        Finish::Keep => {}
        Finish::ReplaceBody(_) => return None,
    }
    let cookie = head.headers.get(header::SET_COOKIE)?.to_str().ok()?;
    let pair = cookie.split(';').next()?;
    pair.strip_prefix("session_id=").map(str::to_owned)
}

fn parts(cookie: Option<&str>) -> Option<http::request::Parts> {
    let mut request =
        Request::get("http://localhost:8080/?foo=bar").header(header::HOST, "localhost:8080");
    if let Some(id) = cookie {
        request = request.header(header::COOKIE, format!("session_id={id}"));
    }
    Some(request.body(()).ok()?.into_parts().0)
}

/// Allocations and bytes allocated per request of `case`.
fn count(name: &str, c: &Engine, parts: &http::request::Parts, work: Work) {
    for _ in 0..WARM {
        let _ = round(c, parts, work);
    }
    let region = Region::new(GLOBAL);
    for _ in 0..COUNTED {
        let _ = round(c, parts, work);
    }
    let stats = region.change();
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let per = |n: usize| n as f64 / COUNTED as f64;
    println!(
        "{name:<52} {:6.2} allocations, {:7.1} bytes, {:6.2} reallocations per request",
        per(stats.allocations),
        per(stats.bytes_allocated),
        per(stats.reallocations)
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `engine_allocs rw`: the loaded read + write case only (for a profiler).
    if std::env::args().nth(1).as_deref() == Some("rw") {
        let c = engine("")?;
        let plain = parts(None).ok_or("request")?;
        let id = round(&c, &plain, Work::ReadWrite).ok_or("no session created")?;
        let loaded = parts(Some(&id)).ok_or("request")?;
        count(
            "loaded session, read + write of one key",
            &c,
            &loaded,
            Work::ReadWrite,
        );
        return Ok(());
    }
    for (label, ini) in [("", ""), (", CORS = *", "CORS = *")] {
        let c = engine(ini)?;
        let plain = parts(None).ok_or("request")?;
        count(
            &format!("no cookie, session untouched{label}"),
            &c,
            &plain,
            Work::None,
        );
        let id = round(&c, &plain, Work::ReadWrite).ok_or("no session created")?;
        let loaded = parts(Some(&id)).ok_or("request")?;
        count(
            &format!("loaded session, read-only{label}"),
            &c,
            &loaded,
            Work::Read,
        );
        count(
            &format!("loaded session, read + write of one key{label}"),
            &c,
            &loaded,
            Work::ReadWrite,
        );
    }
    Ok(())
}
