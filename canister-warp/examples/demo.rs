//! canister's demo application on warp: the routes of `docs/ADAPTERS.md`, "The demo".
//!
//! ```text
//! cargo run -p canister-warp --example demo -- [--config FILE] [--bind ADDR] [--redis URL]
//! ```

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use canister_core::session::Data;
use canister_core::{
    auth::AuthOutcome, auth::Authenticator, auth::Claims, config::Config, log::LogSink,
    session::SessionStore, Canister,
};
use canister_warp::{CanisterFilters, Session, User};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// The demo's command line.
#[derive(Debug, Default)]
pub struct Args {
    config: Option<String>,
    bind: Option<String>,
    redis: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Foo {
    foo: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Set {
    key: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct Hi {
    foo: String,
    bar: Option<String>,
}

#[derive(Debug, Deserialize)]
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

/// The body of `/` (a typed struct: no intermediate `serde_json::Value` per request).
#[derive(Serialize)]
struct IndexBody<'a> {
    claims: Option<&'a Claims>,
    data: Data,
    foo: Option<String>,
    sid: String,
    user: Option<&'a str>,
}

/// The demo's routes, using `canister`'s filters (run by `canister.service(..)`).
pub fn app<S: SessionStore, A: Authenticator, L: LogSink>(
    canister: &CanisterFilters<S, A, L>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    // `log()` comes before `session()` on purpose: its lines still carry the session's tag.
    let index = warp::path::end()
        .and(warp::get())
        .and(canister.log())
        .and(canister.session())
        .and(canister.optional_user())
        .and(canister.params::<Foo>())
        .map(
            |log: slog::Logger, session: Session, user: Option<User>, query: Foo| {
                let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
                if session.insert("counter", counter).is_err() {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                slog::info!(log, "counter = {counter}");
                // The handler runs inside the request's span: with `log_sink = tracing` this
                // event carries its `request_id`, `session`, ...
                tracing::info!(target: "demo", counter, "counted");
                warp::reply::json(&IndexBody {
                    claims: user.as_ref().and_then(User::claims),
                    data: session.data(),
                    foo: query.foo,
                    sid: session.id(),
                    user: user.as_ref().map(User::name),
                })
                .into_response()
            },
        );

    let hi = warp::path!("hi")
        .and(warp::get().or(warp::post()).unify())
        .and(canister.params::<Hi>())
        .map(|hi: Hi| match hi.bar.filter(|bar| !bar.is_empty()) {
            Some(bar) => format!("Hi {} and {bar}!", hi.foo),
            None => format!("Hi {}!", hi.foo),
        });

    let secret = warp::path!("secret")
        .and(warp::get())
        .and(canister.user())
        .map(|user: User| format!("You are authenticated as {}", user.name()));

    // Tokens granting the `orders:read` scope (403 `insufficient_scope` else).
    let orders = warp::path!("orders")
        .and(warp::get())
        .and(canister.scope("orders:read"))
        .map(|user: User| format!("Orders of {}", user.name()));

    let login = warp::path!("login")
        .and(warp::post())
        .and(canister.session())
        .and(canister.params::<Login>())
        .then(|session: Session, form: Login| async move {
            let user = match session
                .verify_password(&form.username, &form.password)
                .await
            {
                Ok(AuthOutcome::Authenticated(user)) => user,
                Ok(AuthOutcome::NotMine) => User::new(form.username),
                // Too many failed logins (429, `auth_throttle`) or the store's counters
                // unavailable (503).
                Err(rejection) => return rejection.into_response().into_response(),
                Ok(AuthOutcome::Refused(_)) => {
                    let refusal = "invalid username or password".to_owned();
                    return warp::reply::with_status(refusal, StatusCode::UNAUTHORIZED)
                        .into_response();
                }
            };
            let answer = format!("Logged in as {}", user.name());
            if remembered(form.remember.as_deref()) {
                session.login_remembered(user);
            } else {
                session.login(user);
            }
            answer.into_response()
        });

    let logout = warp::path!("logout")
        .and(warp::post())
        .and(canister.session())
        .map(|session: Session| {
            session.logout();
            session.destroy();
            "Logged out".to_owned()
        });

    let set = warp::path!("set")
        .and(warp::post())
        .and(canister.session())
        .and(canister.params::<Set>())
        .map(|session: Session, set: Set| {
            // A String always serializes: the only refusal is a session past
            // `session_max_bytes` (413, the session left as it was).
            if let Err(error) = session.insert(&set.key, set.value) {
                let status = StatusCode::from_u16(error.status().as_u16())
                    .unwrap_or(StatusCode::PAYLOAD_TOO_LARGE);
                return warp::reply::with_status(format!("{error}\n"), status).into_response();
            }
            warp::reply::json(&session.data()).into_response()
        });

    // `GET /wait?ms=N`: loads the session (its lock with `session_locking`), then waits N
    // milliseconds (at most a minute), so the suite can cancel a request mid-handler.
    let wait = warp::path!("wait")
        .and(warp::get())
        .and(canister.session())
        .and(canister.params::<Wait>())
        .then(|session: Session, wait: Wait| async move {
            let counter = session.get::<i64>("counter").unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(wait.ms.min(60_000))).await;
            format!("waited; counter = {counter}")
        });

    let sessions = warp::path!("sessions")
        .and(warp::get())
        .and(canister.user_sessions())
        .map(|list: Vec<canister_core::SessionInfo>| {
            warp::reply::json(&serde_json::json!({ "sessions": list }))
        });

    let revoke_others = warp::path!("sessions" / "revoke-others")
        .and(warp::post())
        .and(canister.end_other_sessions())
        .map(|n: usize| warp::reply::json(&serde_json::json!({ "revoked": n })));

    index
        .or(hi)
        .or(secret)
        .or(orders)
        .or(login)
        .or(logout)
        .or(set)
        .or(wait)
        .or(sessions)
        .or(revoke_others)
}

#[derive(Deserialize)]
struct Wait {
    ms: u64,
}

/// Serves the demo on `listener` until `shutdown` completes, then flushes the logs.
pub async fn serve<S: SessionStore, A: Authenticator, L: LogSink>(
    canister: Canister<S, A, L>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let canister = CanisterFilters::new(canister);
    let service = canister.service(app(&canister));
    let served = canister_warp::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(error) = served {
        eprintln!("serving: {error}");
    }
    canister.flush();
}

/// Reads the command line; `Err` is the message for standard error.
pub fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
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
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("--bind {bind}: {error}");
            return ExitCode::from(2);
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| bind.to_owned(), |a: SocketAddr| a.to_string());
    let mut stdout = std::io::stdout();
    // The listener accepts from here on; tell whoever waits for us.
    if writeln!(stdout, "listening on http://{address}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    serve(canister, listener, shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// With `log_sink = tracing`: tracing-subscriber's JSON formatter, one object per line on
/// standard error, each event with its request span's fields (`span`). `RUST_LOG` filters
/// (default `info`); canister's `log_level` filters canister's events before that.
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

#[tokio::main]
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
            config.apply_env(std::env::vars_os()).map(|()| config)
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
    let spawn = |logger| {
        if let Some(provider) = provider {
            provider.spawn(logger);
        }
    };
    // `--redis` or the configuration's `session_store`, checked at start (a wrong URL,
    // password or certificate stops here): the constructor every demo and application shares.
    let store = match canister_store_redis::RedisStore::connect(&config).await {
        Ok(Some(store)) => store,
        Ok(None) => {
            let builder = Canister::builder().config(config);
            let builder = match keys {
                Some(keys) => builder.jwks(keys),
                None => builder,
            };
            return match builder.build() {
                Ok(canister) => {
                    spawn(canister.logger());
                    run(canister, bind).await
                }
                Err(error) => {
                    eprintln!("configuration: {error}");
                    ExitCode::from(2)
                }
            };
        }
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let builder = Canister::builder().config(config).store(store);
    let builder = match keys {
        Some(keys) => builder.jwks(keys),
        None => builder,
    };
    match builder.build() {
        Ok(canister) => {
            spawn(canister.logger());
            run(canister, bind).await
        }
        Err(error) => {
            eprintln!("configuration: {error}");
            ExitCode::from(2)
        }
    }
}
