//! `cookie`: the `Cookie` header parser and session-id decoding, through `enter`.
//!
//! Input: one `Cookie` header value per line; `{id}` is replaced by the id of a live session
//! made before the request. The request is a plain GET with those headers; the handler reads
//! the session and writes one key.
//!
//! Checked: canister tries the `session_id` pairs whose values are ids it could have issued
//! (43 characters of canonical base64url, as decided by an independent model), the first four
//! distinct ones in order, until one is live; the store is asked for exactly those ids' keys,
//! or for nothing when no such pair exists; the live session is found only through its own id; after the write the
//! response sets a well-formed cookie, the live id when it was found, a fresh one otherwise.

use std::sync::OnceLock;

use canister_core::{config::Config, session::MemoryStore, Canister, Entry, Finish, TestClock};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response};

use super::common::{
    block_on, config, key_of, request_cookie, session_cookies, set_cookie, RecordingStore,
    RequestCookie, SetCookie,
};

type Engine = Canister<RecordingStore, (), ()>;

/// At most this many `Cookie` headers are read from an input.
const MAX_HEADERS: usize = 64;

fn engine() -> (Engine, RecordingStore) {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    let config = CONFIG.get_or_init(|| config("")).clone();
    let clock = TestClock::new();
    let store = RecordingStore::new(MemoryStore::new().with_clock(clock.clone()));
    let engine = Canister::builder()
        .config(config)
        .store(store.clone())
        .authenticator(())
        .log_sink(())
        .clock(clock)
        .build();
    match engine {
        Ok(engine) => (engine, store),
        Err(error) => panic!("engine: {error}"),
    }
}

/// One GET with `cookies`: reads the session, writes `key`, finishes. Returns what the
/// session held under `"n"` and the response's cookie.
fn round(engine: &Engine, cookies: &[HeaderValue], key: &str) -> (Option<i64>, SetCookie) {
    let mut request = Request::get("http://localhost:8080/");
    for cookie in cookies {
        request = request.header(header::COOKIE, cookie.clone());
    }
    let Ok(request) = request.body(()) else {
        panic!("request with valid header values refused");
    };
    let (parts, ()) = request.into_parts();
    let visit = match block_on(engine.enter(&parts, None)) {
        Entry::Proceed(visit) => visit,
        Entry::Respond(response) => panic!("a plain GET answered {}", response.status()),
    };
    let Ok(session) = block_on(visit.session()) else {
        panic!("memory store failed");
    };
    let found = session.get::<i64>("n");
    if let Err(error) = session.insert(key, 1) {
        panic!("insert: {error}");
    }
    let (mut response, ()) = Response::new(()).into_parts();
    match block_on(engine.finish(visit, &mut response)) {
        Finish::Keep => {}
        Finish::ReplaceBody(body) => panic!("memory store failed: {body:?}"),
    }
    (found, set_cookie(&response.headers, "session_id"))
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let (engine, store) = engine();
    // A live session holding n = 1.
    let (_, made) = round(&engine, &[], "n");
    let SetCookie::Set(live) = made else {
        panic!("a write to a new session set no cookie: {made:?}");
    };
    store.take_loads();

    let mut headers = HeaderMap::new();
    for line in super::common::lines(data).take(MAX_HEADERS) {
        let line = super::common::replace(line, b"{id}", live.as_bytes());
        let Ok(value) = HeaderValue::from_bytes(&line) else {
            return;
        };
        headers.append(header::COOKIE, value);
    }
    let expected = request_cookie(&headers, "session_id", |id| id == live);
    let (_, candidates) = session_cookies(&headers, "session_id");
    let cookies: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    let (found, cookie) = round(&engine, &cookies, "m");
    let loads = store.take_loads();

    // Every candidate in order, up to the live one.
    let asked: Vec<_> = match candidates.iter().position(|id| *id == live) {
        Some(at) => candidates[..=at].iter().map(|id| key_of(id)).collect(),
        None => candidates.iter().map(|id| key_of(id)).collect(),
    };
    assert_eq!(
        loads, asked,
        "store not asked for the cookies' ids in order"
    );
    let is_live = expected == RequestCookie::Id(live.clone());
    assert_eq!(
        found.is_some(),
        is_live,
        "live session found {:?} with {expected:?}",
        found
    );
    // A write to the live session keeps its browser-session cookie (not re-sent since issue
    // #22); a write that made a new session sets the new one.
    match cookie {
        SetCookie::None => assert!(is_live, "a new session set no cookie"),
        SetCookie::Set(id) => assert!(!is_live && id != live, "wrong id set"),
        SetCookie::Clear => panic!("a write cleared the cookie"),
    }
    let sessions = store.inner.len();
    assert_eq!(sessions, if is_live { 1 } else { 2 }, "sessions in store");
}
