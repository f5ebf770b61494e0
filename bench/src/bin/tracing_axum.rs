//! canister-axum with a `tracing` subscriber: tracing-subscriber's JSON formatter writing to a
//! daily file through tracing-appender's non-blocking writer, and one of two ways to log
//! each request into it (issue #19, item 4):
//!
//! - `canister`: canister's own `tracing` sink (`log_sink = tracing`, `log_level = INFO`):
//!   the request span and the engine's `request`, `session_found` and `response` events;
//! - `trace-layer`: canister's log off (`log_level = DISABLED`) and tower-http's `TraceLayer`
//!   at INFO (span, "started processing request", "finished processing request") instead.
//!
//! Both serve the same `GET /` (the session's `counter` + 1, as canister's demo), so the
//! difference between them is the logging.
//!
//! ```text
//! tracing_axum [ADDR] --mode canister|trace-layer --log-dir DIR
//! ```
//!
//! Prints `listening on http://ADDR` once it accepts connections; stops on Ctrl-C, flushing
//! the log writer.

use std::process::ExitCode;

use axum::routing::get;
use axum::Router;
use canister_bench::{announce, bind_arg};
use canister_core::{config::Config, Canister};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

const USAGE: &str = "usage: tracing_axum [ADDR] --mode canister|trace-layer --log-dir DIR";

async fn index(visit: axum::Extension<canister_core::Visit>) -> String {
    let Ok(session) = visit.session().await else {
        return "store down".to_owned();
    };
    let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
    let _ = session.insert("counter", counter);
    format!("{{\"counter\":{counter}}}")
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let (Some(mode), Some(dir)) = (flag("--mode"), flag("--log-dir")) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let trace_layer = match mode.as_str() {
        "canister" => false,
        "trace-layer" => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let file = tracing_appender::rolling::daily(&dir, "json.log");
    let (writer, _guard) = tracing_appender::non_blocking(file);
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
        .with_max_level(Level::INFO)
        .init();
    let ini = if trace_layer {
        "[canister]\nlog_level = DISABLED"
    } else {
        "[canister]\nlog_level = INFO\nlog_sink = tracing"
    };
    let canister = match Config::from_ini_str(ini).and_then(Canister::from_config) {
        Ok(canister) => canister,
        Err(error) => {
            eprintln!("tracing_axum: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = Router::new()
        .route("/", get(index))
        .layer(canister_axum::CanisterLayer::new(canister));
    if trace_layer {
        app = app.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(DefaultOnRequest::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        );
    }
    let bind = bind_arg("127.0.0.1:8090");
    let bind = if bind.starts_with("--") {
        "127.0.0.1:8090".to_owned()
    } else {
        bind
    };
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("tracing_axum: {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let announced = listener.local_addr().and_then(announce);
    if let Err(error) = announced {
        eprintln!("tracing_axum: {error}");
        return ExitCode::FAILURE;
    }
    let make = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, make)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tracing_axum: {error}");
            ExitCode::FAILURE
        }
    }
}
