//! `config`: the INI reader ([`parse_ini`], [`Config::from_ini_str`]) and what an accepted
//! configuration builds.
//!
//! Input: the text of a configuration file (lossy UTF-8).
//!
//! Checked: a text `Config::from_ini_str` accepts is valid INI; entries have lowercase,
//! trimmed, non-empty keys on increasing lines; the configuration prints (Debug, Display,
//! banner) without panicking; an accepted configuration without a public key file builds an
//! engine (or refuses with an error), and that engine sets a well-formed cookie when a
//! handler writes and finds the session again on the next request (unless the timeout
//! rounds to zero).

use bytes::Bytes;
use canister_core::config::banner_lines;
use canister_core::fuzzing::parse_ini;
use canister_core::{config::Config, Canister, Entry, Finish, InsertError, TestClock};
use http::{header, Request, Response};

use super::common::{block_on, set_cookie, SetCookie};

/// One GET carrying `cookie` (if any), reading and writing the session; returns whether the
/// session held `"n"` and the response's cookie.
fn round<A: canister_core::auth::Authenticator>(
    engine: &Canister<canister_core::session::MemoryStore, A, ()>,
    name: &str,
    cookie: Option<&str>,
) -> Option<(bool, SetCookie)> {
    let mut request = Request::get("http://localhost:8080/");
    if let Some(id) = cookie {
        request = request.header(header::COOKIE, format!("{name}={id}"));
    }
    let Ok(request) = request.body(()) else {
        panic!("request refused");
    };
    let (parts, ()) = request.into_parts();
    let visit = match block_on(engine.enter(&parts, None)) {
        Entry::Proceed(visit) => visit,
        Entry::Respond(response) => panic!("a plain GET answered {}", response.status()),
    };
    let Ok(session) = block_on(visit.session()) else {
        panic!("memory store failed");
    };
    let found = session.get::<i64>("n").is_some();
    match session.insert("n", 1) {
        Ok(()) => {}
        // `session_max_bytes` below the 2 bytes of `n` and `1`: refused, nothing stored.
        Err(InsertError::TooLarge { size, limit, .. }) if size > limit => return None,
        Err(error) => panic!("insert: {error}"),
    }
    let (mut response, _) = Response::new(Bytes::new()).into_parts();
    match block_on(engine.finish(visit, &mut response)) {
        Finish::Keep => {}
        Finish::ReplaceBody(body) => panic!("memory store failed: {body:?}"),
    }
    Some((found, set_cookie(&response.headers, name)))
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let entries = parse_ini(&text, "fuzz");
    let config = Config::from_ini_str(&text);
    let entries = match (entries, &config) {
        (Ok(entries), _) => entries,
        (Err(_), Ok(_)) => panic!("configuration accepted from invalid INI"),
        (Err(error), Err(_)) => {
            let _ = error.to_string();
            return;
        }
    };
    let mut last = 0;
    for entry in &entries {
        assert!(!entry.key.is_empty(), "empty key");
        assert_eq!(
            entry.key,
            entry.key.to_ascii_lowercase(),
            "key not lowercased"
        );
        assert_eq!(entry.key, entry.key.trim(), "key not trimmed");
        assert!(entry.line > last, "lines out of order");
        last = entry.line;
    }
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let _ = format!("{config:?}{config}");
    let _ = banner_lines(&config);
    if config.auth.jwt.public_key.is_some() {
        // Would read a file named by the input.
        return;
    }
    let name = config.cookie.name.clone();
    let ttl = config.session.timeout;
    let max_bytes = config.session.max_bytes;
    let persistent = config.cookie.persistent;
    let engine = Canister::builder()
        .config(config)
        .log_sink(())
        .clock(TestClock::new())
        .build();
    let Ok(engine) = engine else {
        return;
    };
    let Some((_, made)) = round(&engine, &name, None) else {
        assert!(
            max_bytes < 16,
            "a 2-byte session refused under {max_bytes} bytes"
        );
        return;
    };
    let SetCookie::Set(id) = made else {
        panic!("a write to a new session set no cookie: {made:?}");
    };
    let Some((found, again)) = round(&engine, &name, Some(&id)) else {
        panic!("the second write was refused as too large, the first was not");
    };
    if ttl.is_none_or(|ttl| !ttl.is_zero()) {
        assert!(found, "the session was not found on the next request");
        // A persistent cookie is re-sent (its Max-Age slides); a browser-session one, the
        // default since issue #22, is not while its id stays.
        let kept = match &again {
            SetCookie::Set(same) => persistent && *same == id,
            SetCookie::None => !persistent,
            SetCookie::Clear => false,
        };
        assert!(kept, "the next request changed the cookie: {again:?}");
    }
}
