//! canister-axum with a `tracing` subscriber: tracing-subscriber's JSON formatter writing to a
//! daily file through tracing-appender's non-blocking writer, and one of two ways to log
//! each request into it (issue #19, item 4):
//!
//! - `canister`: canister's own `tracing` sink (`log_sink = tracing`, `log_level = INFO`):
//!   the request span and the engine's `request`, `session_found` and `response` events;
//! - `trace-layer`: canister's log off (`log_level = DISABLED`) and tower-http's `TraceLayer`
//!   at INFO (span, "started processing request", "finished processing request") instead;
//! - `trace-layer-ids`: the same, with the span carrying what canister's span carries beyond
//!   `TraceLayer`'s default fields: a request id (tower-http's `SetRequestIdLayer`, numbered
//!   by a counter as canister's ids are, so that no random generator is charged to it) and
//!   the client's address. What an axum user assembles from tower-http to get canister's
//!   span fields.
//!
//! Both serve the same `GET /` (the session's `counter` + 1, as canister's demo), so the
//! difference between them is the logging.
//!
//! ```text
//! tracing_axum [ADDR] --mode canister|trace-layer|trace-layer-ids --log-dir DIR
//! ```
//!
//! Prints `listening on http://ADDR` once it accepts connections; stops on Ctrl-C, flushing
//! the log writer.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use canister_bench::{announce, bind_arg};
use canister_core::{config::Config, Canister};
use http::HeaderValue;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

const USAGE: &str =
    "usage: tracing_axum [ADDR] --mode canister|trace-layer|trace-layer-ids --log-dir DIR";

/// Request ids for `trace-layer-ids`: a counter, as canister's (no random generator).
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("Kq3xZp7a-{n}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The span of `trace-layer-ids`: `TraceLayer`'s default fields, the request id and the
/// client's address.
fn span_with_ids<B>(request: &http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| tracing::field::display(c.0.ip()));
    tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri(),
        version = ?request.version(),
        request_id = id,
        client,
    )
}

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
    let (trace_layer, ids) = match mode.as_str() {
        "canister" => (false, false),
        "trace-layer" => (true, false),
        "trace-layer-ids" => (true, true),
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
    if ids {
        app = app.layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(Counter::default()))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(span_with_ids)
                        .on_request(DefaultOnRequest::new().level(Level::INFO))
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                ),
        );
    } else if trace_layer {
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
