//! canister's demo application on actix-web (docs/ADAPTERS.md, "The demo").
//!
//! ```text
//! cargo run -p canister-actix --example demo -- [--config FILE] [--bind ADDR] [--redis URL]
//! ```
//!
//! Prints `listening on http://ADDR` once it accepts connections; stops on Ctrl-C or SIGTERM.
//! The routes are shared with the conformance suite (`#[path]`), which drives exactly these.

use std::io::Write as _;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use canister_actix::{slog, CanisterMiddleware, Log, Params, Rejection, Session, User};
use canister_core::session::Data;
use canister_core::{
    auth::AuthOutcome, auth::Authenticator, auth::Claims, config::Config, log::LogSink,
    session::SessionStore, Canister,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Foo {
    foo: Option<String>,
}

/// The body of `/`.
#[derive(Serialize)]
struct IndexBody<'a> {
    claims: Option<&'a Claims>,
    data: Data,
    foo: Option<String>,
    sid: String,
    user: Option<&'a str>,
}

// `log` comes before `session` on purpose: its lines still carry the session's tag.
async fn index(log: Log, session: Session, user: Option<User>, query: Params<Foo>) -> HttpResponse {
    let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
    // An i64 always serializes.
    let _ = session.insert("counter", counter);
    slog::info!(log, "counter = {counter}");
    // The handler runs inside the request's span: with `log_sink = tracing` this event
    // carries its `request_id`, `session`, ...
    tracing::info!(target: "demo", counter, "counted");
    HttpResponse::Ok().json(IndexBody {
        claims: user.as_ref().and_then(|u| u.claims()),
        data: session.data(),
        foo: query.into_inner().foo,
        sid: session.id(),
        user: user.as_ref().map(|u| u.name()),
    })
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

#[derive(Deserialize)]
struct Hi {
    foo: String,
    bar: Option<String>,
}

async fn hi(hi: Params<Hi>) -> HttpResponse {
    let hi = hi.into_inner();
    let body = match hi.bar.filter(|bar| !bar.is_empty()) {
        Some(bar) => format!("Hi {} and {bar}!", hi.foo),
        None => format!("Hi {}!", hi.foo),
    };
    text(StatusCode::OK, body)
}

async fn secret(user: User) -> HttpResponse {
    text(
        StatusCode::OK,
        format!("You are authenticated as {}", user.name()),
    )
}

/// A route for tokens granting the `orders:read` scope (403 `insufficient_scope` else).
async fn orders(user: User) -> Result<HttpResponse, canister_actix::Rejection> {
    user.require_scope("orders:read")?;
    Ok(text(StatusCode::OK, format!("Orders of {}", user.name())))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    /// A "remember me" box: `1`, `true` or `on` remembers the login (a persistent cookie).
    #[serde(default)]
    remember: Option<String>,
}

/// Whether a login form's `remember` field asks to be remembered.
fn remembered(field: Option<&str>) -> bool {
    matches!(field, Some("1" | "true" | "on"))
}

/// `?`: too many failed logins (429, `auth_throttle`) or the store's counters unavailable
/// (503).
async fn login(
    session: Session,
    form: Params<Login>,
) -> Result<HttpResponse, canister_actix::Rejection> {
    let Login {
        username,
        password,
        remember,
    } = form.into_inner();
    let user = match session.verify_password(&username, &password).await? {
        AuthOutcome::Authenticated(user) => user,
        AuthOutcome::NotMine => canister_core::auth::User::new(username),
        AuthOutcome::Refused(_) => {
            let refusal = "invalid username or password".to_owned();
            return Ok(text(StatusCode::UNAUTHORIZED, refusal));
        }
    };
    let message = format!("Logged in as {}", user.name());
    if remembered(remember.as_deref()) {
        session.login_remembered(user);
    } else {
        session.login(user);
    }
    Ok(text(StatusCode::OK, message))
}

async fn logout(session: Session) -> HttpResponse {
    session.logout();
    session.destroy();
    text(StatusCode::OK, "Logged out".to_owned())
}

#[derive(Deserialize)]
struct Set {
    key: String,
    value: String,
}

async fn set(session: Session, form: Params<Set>) -> HttpResponse {
    let Set { key, value } = form.into_inner();
    // A String always serializes: the only refusal is a session past `session_max_bytes`
    // (413, the session left as it was).
    if let Err(error) = session.insert(&key, value) {
        let status =
            StatusCode::from_u16(error.status().as_u16()).unwrap_or(StatusCode::PAYLOAD_TOO_LARGE);
        return text(status, format!("{error}\n"));
    }
    HttpResponse::Ok().json(session.data())
}

#[derive(Deserialize)]
struct Wait {
    ms: u64,
}

/// `GET /wait?ms=N`: loads the session (its lock with `session_locking`), then waits N
/// milliseconds (at most a minute), so the suite can cancel a request mid-handler.
async fn wait(session: Session, wait: Params<Wait>) -> HttpResponse {
    let counter = session.get::<i64>("counter").unwrap_or(0);
    let ms = wait.into_inner().ms.min(60_000);
    actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
    text(StatusCode::OK, format!("waited; counter = {counter}"))
}

/// `GET /sessions`: the live sessions of the session's user (401 without one).
async fn sessions(session: Session) -> Result<HttpResponse, Rejection> {
    let list = session.visit().user_sessions().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions": list })))
}

/// `POST /sessions/revoke-others`: ends every other session of the session's user.
async fn revoke_others(session: Session) -> Result<HttpResponse, Rejection> {
    let n = session.visit().end_other_sessions().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "revoked": n })))
}

/// The demo's routes, for `App::configure`.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(index))
        .route("/hi", web::get().to(hi))
        .route("/hi", web::post().to(hi))
        .route("/secret", web::get().to(secret))
        .route("/orders", web::get().to(orders))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/set", web::post().to(set))
        .route("/wait", web::get().to(wait))
        .route("/sessions", web::get().to(sessions))
        .route("/sessions/revoke-others", web::post().to(revoke_others));
}

/// The demo's server on `listener` (not yet running: await it), without signal handling:
/// stop it through its handle.
pub fn server<S: SessionStore, A: Authenticator, L: LogSink>(
    canister: Canister<S, A, L>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(CanisterMiddleware::new(canister.clone()))
            .configure(routes)
    })
    .workers(workers)
    // actix-web answers 408 when a request's head takes over 5 s to arrive (its default).
    // The conformance suite runs dozens of clients at once on a loaded 2-core machine, where
    // that happened (`concurrent_writers`); 30 s still ends a stalled client.
    .client_request_timeout(std::time::Duration::from_secs(30))
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(server)
}

#[derive(Default)]
struct Args {
    config: Option<String>,
    bind: Option<String>,
    redis: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--config" => &mut parsed.config,
            "--bind" => &mut parsed.bind,
            "--redis" => &mut parsed.redis,
            other => return Err(format!("unknown argument {other:?}")),
        };
        *slot = Some(args.next().ok_or_else(|| format!("{flag} needs a value"))?);
    }
    Ok(parsed)
}

async fn run<S: SessionStore>(canister: Canister<S>, bind: &str) -> ExitCode {
    let listener = match TcpListener::bind(bind) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("--bind {bind}: {error}");
            return ExitCode::from(2);
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| bind.to_owned(), |a| a.to_string());
    // One worker per core, or `ACTIX_WORKERS` (bench/run.sh runs every server on one).
    let workers = std::env::var("ACTIX_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let server = match server(canister.clone(), listener, workers) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("--bind {bind}: {error}");
            return ExitCode::from(2);
        }
    };
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        handle.stop(true).await;
    });
    let mut stdout = std::io::stdout();
    // The listener accepts from here on; tell whoever waits for us.
    if writeln!(stdout, "listening on http://{address}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    let served = server.await;
    canister.flush();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: server error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if actix_web::rt::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    futures_util::future::select(std::pin::pin!(ctrl_c), std::pin::pin!(terminate)).await;
}

/// With `log_sink = tracing`: tracing-subscriber's JSON formatter on standard error
/// (`RUST_LOG` filters; default `info`), as DESIGN.md's demo contract asks.
fn install_json_subscriber(config: &Config) {
    if config.log.sink == canister_core::log::LogSinkKind::Tracing {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\nusage: demo [--config FILE] [--bind ADDR] [--redis URL]");
            return ExitCode::from(2);
        }
    };
    let config = match &args.config {
        Some(path) => Config::from_file(path),
        None => {
            let mut config = Config::default();
            config
                .apply_env(std::env::vars_os())
                .and_then(|()| config.validate())
                .map(|()| config)
        }
    };
    let mut config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = &args.redis {
        if let Err(error) = config.set("session_store", url) {
            eprintln!("--redis: {error}");
            return ExitCode::from(2);
        }
    }
    install_json_subscriber(&config);
    let bind = args.bind.as_deref().unwrap_or("127.0.0.1:8080");
    // An identity provider (auth_oidc_issuer, auth_jwt_jwks_url): its keys come from
    // canister-oidc, refreshed in the background once the engine is built.
    let provider = if config.has_jwt_provider() {
        match canister_oidc::Provider::from_config(&config) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("identity provider: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let keys = provider.as_ref().map(canister_oidc::Provider::keys);
    // The store the configuration (or `--redis`) names, checked at start: the constructor
    // every demo and application shares.
    let store = match canister_store_redis::RedisStore::connect(&config).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let spawn = |canister_logger| {
        if let Some(provider) = provider {
            provider.spawn(canister_logger);
        }
    };
    let builder = Canister::builder().config(config);
    let builder = match keys {
        Some(keys) => builder.jwks(keys),
        None => builder,
    };
    let built = match store {
        Some(store) => builder.store(store).build().map(Err),
        None => builder.build().map(Ok),
    };
    match built {
        Ok(Ok(canister)) => {
            spawn(canister.logger());
            run(canister, bind).await
        }
        Ok(Err(canister)) => {
            spawn(canister.logger());
            run(canister, bind).await
        }
        Err(error) => {
            eprintln!("configuration: {error}");
            ExitCode::from(2)
        }
    }
}
