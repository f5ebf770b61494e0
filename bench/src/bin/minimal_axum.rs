//! The least a session layer can do (issue #24): the work of the canister demo's `GET /`,
//! by hand, on bare axum, and nothing else.
//!
//! It reads the `session_id` cookie, looks the session up in one in-process map, increments
//! `counter`, answers the same JSON as the demo (`claims`, `data`, `foo`, `sid`, `user`), and
//! adds the CORS grant (`Access-Control-Allow-Origin: *`, `Vary: Origin`). A request without
//! a known cookie gets a new session and its `Set-Cookie`. With `--log DIR` it also appends
//! the three lines canister writes at INFO for such a request (the request line, the
//! handler's `counter = N` and the response line), in canister's layout, to a buffered file
//! `DIR/log` (an 8 KiB `BufWriter`, written when full, as a log queue batches).
//!
//! None of canister's guarantees are here: the id is a counter, not 256 random bits, and is
//! the map's key as it is (no SHA-256); no expiry, no CSRF check, no `Secure` detection, no
//! delta saves, no logging thread. BENCHMARKS.md ("The least a session layer can do") lists
//! what each of those costs in canister.
//!
//! Usage: `minimal_axum ADDR [--log DIR]`; prints `listening on http://ADDR`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use canister_bench::{announce, bind_arg};
use serde::Serialize;

#[derive(Default)]
struct App {
    sessions: Mutex<HashMap<String, i64>>,
    next: AtomicU64,
    log: Option<Mutex<BufWriter<File>>>,
}

#[derive(Serialize)]
struct Data {
    counter: i64,
}

#[derive(Serialize)]
struct Body<'a> {
    claims: Option<()>,
    data: Data,
    foo: Option<()>,
    sid: &'a str,
    user: Option<()>,
}

/// The `session_id` cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix("session_id="))
}

/// Canister's line layout, `YYYY-MM-DD HH:MM:SS,mmm LEVEL    [context]   message` (UTC here:
/// no time zone database in this server).
fn line(out: &mut impl Write, client: &SocketAddr, tag: &str, message: std::fmt::Arguments<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, ms) = (now.as_secs(), now.subsec_millis());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest / 60 % 60, rest % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(mo <= 2);
    let ip = client.ip();
    let _ = writeln!(
        out,
        "{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02},{ms:03} INFO     [{ip}-{tag}]   {message}"
    );
}

async fn index(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let known = session_cookie(&headers).map(str::to_owned);
    let (sid, counter, new) = {
        let mut sessions = app.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        match known.and_then(|sid| sessions.get_mut(&sid).map(|c| (sid, c))) {
            Some((sid, counter)) => {
                *counter += 1;
                (sid, *counter, false)
            }
            None => {
                let sid = format!("{:032x}", app.next.fetch_add(1, Ordering::Relaxed));
                sessions.insert(sid.clone(), 0);
                (sid, 0, true)
            }
        }
    };
    let body = Body {
        claims: None,
        data: Data { counter },
        foo: None,
        sid: &sid,
        user: None,
    };
    let mut response = Json(body).into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    out.insert(header::VARY, HeaderValue::from_static("origin"));
    if new {
        if let Ok(cookie) =
            HeaderValue::from_str(&format!("session_id={sid}; HttpOnly; SameSite=Lax; Path=/"))
        {
            out.insert(header::SET_COOKIE, cookie);
        }
    }
    if let Some(log) = &app.log {
        let tag = &sid[sid.len() - 6..];
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("-");
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        line(
            &mut *log,
            &client,
            tag,
            format_args!("GET http://{host}{uri}"),
        );
        line(&mut *log, &client, tag, format_args!("counter = {counter}"));
        let ms = started.elapsed().as_millis();
        line(
            &mut *log,
            &client,
            tag,
            format_args!("Response: 200 ({ms}ms)"),
        );
    }
    response
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = bind_arg("127.0.0.1:8096");
    let mut args = std::env::args().skip(2);
    let mut app = App::default();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--log", Some(dir)) => {
                std::fs::create_dir_all(&dir)?;
                let file = File::create(std::path::Path::new(&dir).join("log"))?;
                app.log = Some(Mutex::new(BufWriter::with_capacity(8192, file)));
            }
            _ => {
                eprintln!("usage: minimal_axum ADDR [--log DIR]");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let app = Router::new()
        .route("/", get(index))
        .with_state(Arc::new(app));
    announce(listener.local_addr()?)?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
