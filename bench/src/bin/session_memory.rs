//! Memory held per session by canister's memory store, and a cookieless flood's footprint
//! (issue #10: ≤ 300 bytes per session beyond its data, 1 M sessions held; a flood that
//! stores nothing leaves the store empty and RSS flat).
//!
//! ```text
//! session_memory [SESSIONS]                    (default 1000000)
//! session_memory SESSIONS --tower-sessions     (part 3 alone; part 1 and 2 run it so)
//! ```
//!
//! Drives canister-core's engine directly (`enter`, the handler's work, `finish`), as
//! `canister-core/benches/engine.rs` does: memory store, logging off, no authenticator.
//! Every future is ready at once, so no runtime is involved. Heap bytes are counted by an
//! instrumenting global allocator (bytes requested and not yet freed, so without malloc's
//! own per-block overhead); RSS comes from `/proc/self/status`.
//!
//! 1. Cookieless flood: SESSIONS requests without a cookie whose handler never touches the
//!    session. Reports the store's length and the heap and RSS growth.
//! 2. SESSIONS new sessions, each request storing `counter` = its index (what the demo's `/`
//!    stores). Reports heap bytes per session, the part that is the session's data (the
//!    `Data` map's own allocations, measured the same way), and what is left: the overhead.
//! 3. For comparison, the same number of sessions through tower-sessions 0.14's
//!    `MemoryStore` (`Session::insert` + `Session::save`, 1 h inactivity expiry), in a child
//!    process of its own so that its RSS starts from a fresh heap.
//! 4. The default cap (`session_max` unset): max(SESSIONS, 1.5 × the cap) sessions created
//!    through the default configuration. Reports what the store holds, how many it evicted,
//!    and the heap and RSS held at the cap (run before part 3).

use std::alloc::System;
use std::sync::Arc;

use bytes::Bytes;
use canister_core::session::Data;
use canister_core::{config::Config, session::MemoryStore, Canister, Entry, Finish};
use futures_util::FutureExt;
use http::{Request, Response};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes requested and not freed yet.
fn live() -> i64 {
    let stats = GLOBAL.stats();
    i64::try_from(stats.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(stats.bytes_deallocated).unwrap_or(i64::MAX)
}

/// Current RSS in KiB (0 where `/proc` is missing).
fn rss() -> i64 {
    canister_bench::rss_kib().map_or(0, |(_, rss)| i64::try_from(rss).unwrap_or(0))
}

type Engine = Canister<MemoryStore, (), ()>;

/// The engine for parts 1 and 2: no cap (`session_max = 0`), so that SESSIONS sessions are
/// all held whatever the default cap; `extra` adds INI lines.
fn engine_with(extra: &str) -> Engine {
    let config = Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{extra}"))
        .expect("a valid configuration");
    Canister::builder()
        .config(config)
        .authenticator(())
        .log_sink(())
        .build()
        .expect("an engine")
}

/// One request without a cookie; with `counter`, the handler stores it in a new session.
fn request(canister: &Engine, parts: &http::request::Parts, counter: Option<i64>) {
    let visit = match canister.enter(parts, None).now_or_never() {
        Some(Entry::Proceed(visit)) => visit,
        Some(Entry::Respond(response)) => panic!("enter answered {}", response.status()),
        None => panic!("enter waited (memory store: it never should)"),
    };
    if let Some(counter) = counter {
        let session = visit
            .session()
            .now_or_never()
            .expect("a ready session")
            .expect("a session");
        session
            .insert("counter", counter)
            .expect("an i64 serializes");
    }
    let (mut response, _) = Response::new(Bytes::from_static(b"ok")).into_parts();
    match canister.finish(visit, &mut response).now_or_never() {
        Some(Finish::Keep) => {}
        Some(Finish::ReplaceBody(_)) => panic!("the memory store failed"),
        None => panic!("finish waited (memory store: it never should)"),
    }
}

fn per(bytes: i64, n: i64) -> f64 {
    // Figures for humans: the precision lost above 2^52 bytes does not matter.
    #[allow(clippy::cast_precision_loss)]
    let per = bytes as f64 / n.max(1) as f64;
    per
}

fn main() {
    let sessions: i64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("SESSIONS: a number"))
        .unwrap_or(1_000_000);
    if std::env::args().nth(2).as_deref() == Some("--tower-sessions") {
        tower_sessions_memory(sessions);
        return;
    }
    let no_cookie = Request::get("http://localhost:8080/")
        .body(())
        .expect("a request")
        .into_parts()
        .0;

    // 1. Cookieless flood, handler never touching the session.
    let canister = engine_with("session_max = 0\n");
    request(&canister, &no_cookie, None); // first-use allocations (lazy statics) out of the way
    let (heap0, rss0) = (live(), rss());
    for _ in 0..sessions {
        request(&canister, &no_cookie, None);
    }
    let (heap1, rss1) = (live(), rss());
    println!(
        "cookieless flood: {sessions} requests, store holds {} sessions, heap {:+} bytes, RSS {rss0} -> {rss1} KiB",
        canister.store().len(),
        heap1 - heap0,
    );

    // 2. SESSIONS sessions holding {"counter": i}.
    let (heap0, rss0) = (live(), rss());
    for i in 0..sessions {
        request(&canister, &no_cookie, Some(i));
    }
    let (heap1, rss1) = (live(), rss());
    let held = canister.store().len();
    assert_eq!(
        i64::try_from(held).ok(),
        Some(sessions),
        "every session kept"
    );
    // The data alone: each session's map as JSON (what a session "holds").
    let json: i64 = (0..sessions)
        .map(|i| {
            let mut data = Data::new();
            data.insert("counter".to_owned(), serde_json::Value::from(i));
            i64::try_from(serde_json::to_vec(&data).map_or(0, |v| v.len())).unwrap_or(0)
        })
        .sum();
    let per_session = per(heap1 - heap0, sessions);
    println!(
        "canister MemoryStore: {held} sessions, heap {per_session:.0} bytes/session \
         (data as JSON {:.1} bytes, overhead beyond it {:.0}), \
         RSS {rss0} -> {rss1} KiB ({:.0} bytes/session)",
        per(json, sessions),
        per_session - per(json, sessions),
        per((rss1 - rss0) * 1024, sessions),
    );
    drop(canister);

    // 4. The default cap: SESSIONS sessions (at least 1.5 × the cap) through the default
    // configuration: the store stops at the cap and evicts; heap and RSS at the cap.
    let canister = engine_with("");
    let cap = canister.store().cap().unwrap_or(0);
    let flood = sessions.max(i64::try_from(cap + cap / 2).unwrap_or(i64::MAX));
    let (heap0, rss0) = (live(), rss());
    for i in 0..flood {
        request(&canister, &no_cookie, Some(i));
    }
    let (heap1, rss1) = (live(), rss());
    let held = canister.store().len();
    println!(
        "default cap {cap}: {flood} sessions created, store holds {held}, \
         {} evicted, heap {:+} bytes ({:.0} bytes per held session), RSS {rss0} -> {rss1} KiB",
        // The engine takes the store's eviction reports itself: count what is missing.
        flood - i64::try_from(held).unwrap_or(0),
        heap1 - heap0,
        per(heap1 - heap0, i64::try_from(held).unwrap_or(1)),
    );
    drop(canister);

    // 3. tower-sessions' MemoryStore, in a fresh process.
    let child = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg(sessions.to_string())
            .arg("--tower-sessions")
            .status()
    });
    match child {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("session_memory --tower-sessions: {status}"),
        Err(error) => eprintln!("session_memory --tower-sessions: {error}"),
    }
}

/// Part 3: SESSIONS sessions holding `{"counter": i}` in tower-sessions' `MemoryStore`.
fn tower_sessions_memory(sessions: i64) {
    let store = Arc::new(tower_sessions::MemoryStore::default());
    let expiry =
        tower_sessions::Expiry::OnInactivity(tower_sessions::cookie::time::Duration::hours(1));
    let (heap0, rss0) = (live(), rss());
    for i in 0..sessions {
        let session = tower_sessions::Session::new(None, Arc::clone(&store), Some(expiry));
        session
            .insert("counter", i)
            .now_or_never()
            .expect("a ready insert (uncontended tokio mutex)")
            .expect("inserted");
        session
            .save()
            .now_or_never()
            .expect("a ready save (uncontended tokio mutex)")
            .expect("saved");
    }
    let (heap1, rss1) = (live(), rss());
    println!(
        "tower-sessions MemoryStore: {sessions} sessions, heap {:.0} bytes/session, \
         RSS {rss0} -> {rss1} KiB ({:.0} bytes/session)",
        per(heap1 - heap0, sessions),
        per((rss1 - rss0) * 1024, sessions),
    );
    drop(store);
}
