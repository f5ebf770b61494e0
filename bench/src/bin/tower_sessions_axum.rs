//! The tower-sessions stack of issue #10: axum + tower-sessions 0.14 + tower-http's
//! `CorsLayer` (any origin) + tower-http's `TraceLayer` writing to a daily file through
//! tracing-appender's non-blocking writer, and a `GET /` doing the work of canister's demo
//! `/`: read the session's `counter`, store it + 1 (0 on a first visit), answer JSON
//! `{"sid", "user", "claims", "data", "foo"}` with `foo` from the query.
//!
//! ```text
//! tower_sessions_axum ADDR [--redis URL] [--log-dir DIR]
//! ```
//!
//! - sessions in tower-sessions' `MemoryStore`, or with `--redis` in
//!   tower-sessions-redis-store 0.16 (one fred client: one multiplexed connection);
//! - sessions expire after 1 h of inactivity (canister's default `session_timeout`), cookie
//!   `id`, not `Secure` (plain HTTP);
//! - with `--log-dir`, `TraceLayer` logs each request's span, "started processing request"
//!   and "finished processing request" at INFO (the default `fmt` format) to
//!   `DIR/tower-sessions.log.YYYY-MM-DD`; without it, no `TraceLayer` and no subscriber.
//!
//! Prints `listening on http://ADDR` once it accepts connections; stops on SIGTERM / Ctrl-C
//! (flushing the log writer).

use std::process::ExitCode;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use canister_bench::announce;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::cors::CorsLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::fred::prelude::Client as RedisClient;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config as RedisConfig};
use tower_sessions_redis_store::RedisStore;
use tracing::Level;

const USAGE: &str = "usage: tower_sessions_axum ADDR [--redis URL] [--log-dir DIR]";

struct Args {
    bind: String,
    redis: Option<String>,
    log_dir: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let mut args = Args {
        bind: argv.next().ok_or("missing ADDR")?,
        redis: None,
        log_dir: None,
    };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--redis" => args.redis = Some(value),
            "--log-dir" => args.log_dir = Some(value),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(args)
}

#[derive(Deserialize)]
struct Index {
    foo: Option<String>,
}

async fn index(session: Session, Query(query): Query<Index>) -> Result<Json<Value>, StatusCode> {
    let unavailable = |_| StatusCode::SERVICE_UNAVAILABLE;
    let counter = session
        .get::<i64>("counter")
        .await
        .map_err(unavailable)?
        .map_or(0, |n| n + 1);
    session
        .insert("counter", counter)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({
        "sid": session.id().map(|id| id.to_string()),
        "user": null,
        "claims": null,
        "data": {"counter": counter},
        "foo": query.foo,
    })))
}

fn router<S: SessionStore + Clone>(store: S, trace: bool) -> Router {
    let sessions = SessionManagerLayer::new(store)
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(Duration::hours(1)));
    let app = Router::new()
        .route("/", get(index))
        .layer(sessions)
        .layer(CorsLayer::permissive());
    if trace {
        app.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(DefaultOnRequest::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
    } else {
        app
    }
}

async fn serve(app: Router, bind: &str) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("tower_sessions_axum: cannot listen on {bind}: {error}");
            return ExitCode::from(2);
        }
    };
    if listener.local_addr().and_then(announce).is_err() {
        return ExitCode::FAILURE;
    }
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tower_sessions_axum: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("tower_sessions_axum: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Kept until the server stops: dropping it flushes the log file.
    let _log_guard = args.log_dir.as_ref().map(|dir| {
        let file = tracing_appender::rolling::daily(dir, "tower-sessions.log");
        let (writer, guard) = tracing_appender::non_blocking(file);
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(Level::INFO)
            .init();
        guard
    });
    let trace = args.log_dir.is_some();
    match &args.redis {
        None => serve(router(MemoryStore::default(), trace), &args.bind).await,
        Some(url) => {
            let client = match RedisConfig::from_url(url) {
                Ok(config) => RedisClient::new(config, None, None, None),
                Err(error) => {
                    eprintln!("tower_sessions_axum: --redis {url}: {error}");
                    return ExitCode::from(2);
                }
            };
            if let Err(error) = client.init().await {
                eprintln!("tower_sessions_axum: --redis {url}: {error}");
                return ExitCode::FAILURE;
            }
            serve(router(RedisStore::new(client), trace), &args.bind).await
        }
    }
}
