//! canister's demo application on Rocket (the contract is `docs/ADAPTERS.md`).
//!
//! ```text
//! cargo run -p canister-rocket --example demo -- [--config FILE] [--bind ADDR] [--redis URL]
//! ```

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use canister_core::session::Data;
use canister_core::{
    auth::AuthOutcome, auth::Authenticator, auth::Claims, config::Config, log::LogSink,
    session::SessionStore, Canister,
};
use canister_rocket::{CanisterFairing, Log, Params, Rejection, Session, User};
use rocket::fairing::AdHoc;
use rocket::http::{ContentType, Status};
use rocket::{get, post, routes, Build, Rocket};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Index {
    foo: Option<String>,
}

#[derive(Deserialize)]
struct Hi {
    foo: String,
    bar: Option<String>,
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

/// The body of `/` (a typed struct: no intermediate `serde_json::Value` per request).
#[derive(Serialize)]
struct IndexBody<'a> {
    claims: Option<&'a Claims>,
    data: Data,
    foo: Option<String>,
    sid: String,
    user: Option<&'a str>,
}

// `log` comes before `session` on purpose: its lines still carry the session's tag.
#[get("/")]
fn index(
    log: Log,
    session: Session,
    user: Option<User>,
    params: Params<Index>,
) -> (ContentType, String) {
    let counter = session.get("counter").map_or(0, |n: i64| n + 1);
    let _ = session.insert("counter", counter);
    slog::info!(log, "counter = {counter}");
    // With `traced(routes![..])` the handler runs inside the request's span: with
    // `log_sink = tracing` this event carries its `request_id`, `session`, ...
    tracing::info!(target: "demo", counter, "counted");
    let body = IndexBody {
        claims: user.as_ref().and_then(|u| u.claims()),
        data: session.data(),
        foo: params.into_inner().foo,
        sid: session.id(),
        user: user.as_ref().map(|u| u.name()),
    };
    // Maps of strings to JSON values always serialize.
    let body = serde_json::to_string(&body).unwrap_or_default();
    (ContentType::JSON, body)
}

fn greet(hi: Hi) -> String {
    match hi.bar.filter(|bar| !bar.is_empty()) {
        Some(bar) => format!("Hi {} and {bar}!", hi.foo),
        None => format!("Hi {}!", hi.foo),
    }
}

#[get("/hi")]
fn hi_get(hi: Params<Hi>) -> String {
    greet(hi.into_inner())
}

#[post("/hi", data = "<hi>")]
fn hi_post(hi: Params<Hi>) -> String {
    greet(hi.into_inner())
}

#[get("/secret")]
fn secret(user: User) -> String {
    format!("You are authenticated as {}", user.name())
}

/// A route for tokens granting the `orders:read` scope (403 `insufficient_scope` else).
#[get("/orders")]
fn orders(user: User) -> Result<String, canister_rocket::Rejection> {
    user.require_scope("orders:read")?;
    Ok(format!("Orders of {}", user.name()))
}

/// `?`: too many failed logins (429, `auth_throttle`) or the store's counters unavailable
/// (503).
#[post("/login", data = "<form>")]
async fn login(
    session: Session,
    form: Params<Login>,
) -> Result<(Status, String), canister_rocket::Rejection> {
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
            return Ok((Status::Unauthorized, refusal));
        }
    };
    let message = format!("Logged in as {}", user.name());
    if remembered(remember.as_deref()) {
        session.login_remembered(user);
    } else {
        session.login(user);
    }
    Ok((Status::Ok, message))
}

#[derive(Deserialize)]
struct Set {
    key: String,
    value: String,
}

#[post("/set", data = "<form>")]
fn set(session: Session, form: Params<Set>) -> (Status, (ContentType, String)) {
    let Set { key, value } = form.into_inner();
    // A String always serializes: the only refusal is a session past `session_max_bytes`
    // (413, the session left as it was).
    if let Err(error) = session.insert(&key, value) {
        let status = Status::from_code(error.status().as_u16()).unwrap_or(Status::PayloadTooLarge);
        return (status, (ContentType::Plain, format!("{error}\n")));
    }
    // The map of JSON values always serializes.
    let body = serde_json::to_string(&session.data()).unwrap_or_default();
    (Status::Ok, (ContentType::JSON, body))
}

#[derive(Deserialize)]
struct Wait {
    ms: u64,
}

/// `GET /wait?ms=N`: loads the session (its lock with `session_locking`), then waits N
/// milliseconds (at most a minute). Rocket runs a handler to its end even when the client
/// has gone, so the lock is released when the wait is over (docs/ADAPTERS.md).
#[get("/wait")]
async fn wait(session: Session, query: Params<Wait>) -> String {
    let counter = session.get::<i64>("counter").unwrap_or(0);
    let ms = query.into_inner().ms.min(60_000);
    rocket::tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    format!("waited; counter = {counter}")
}

/// `GET /sessions`: the live sessions of the session's user (401 without one).
#[get("/sessions")]
async fn sessions(session: Session) -> Result<(ContentType, String), Rejection> {
    let list = session.visit().user_sessions().await?;
    let body = serde_json::json!({ "sessions": list }).to_string();
    Ok((ContentType::JSON, body))
}

/// `POST /sessions/revoke-others`: ends every other session of the session's user.
#[post("/sessions/revoke-others")]
async fn revoke_others(session: Session) -> Result<(ContentType, String), Rejection> {
    let n = session.visit().end_other_sessions().await?;
    Ok((
        ContentType::JSON,
        serde_json::json!({ "revoked": n }).to_string(),
    ))
}

#[post("/logout")]
fn logout(session: Session) -> &'static str {
    session.logout();
    session.destroy();
    "Logged out"
}

/// Rocket's configuration for the demo: no banner, no colours, nothing else on stdout.
pub(crate) fn quiet_config(addr: SocketAddr) -> rocket::Config {
    rocket::Config {
        address: addr.ip(),
        port: addr.port(),
        log_level: rocket::config::LogLevel::Off,
        cli_colors: false,
        ..rocket::Config::default()
    }
}

/// The demo application on `canister`.
pub(crate) fn app<S, A, L>(canister: Canister<S, A, L>, config: rocket::Config) -> Rocket<Build>
where
    S: SessionStore,
    A: Authenticator,
    L: LogSink,
{
    rocket::custom(config)
        .attach(CanisterFairing::new(canister))
        .mount(
            "/",
            // `traced`: each handler runs inside its request's span (`log_sink = tracing`).
            canister_rocket::traced(routes![
                index,
                hi_get,
                hi_post,
                secret,
                orders,
                login,
                logout,
                set,
                wait,
                sessions,
                revoke_others
            ]),
        )
}

async fn serve<S, A, L>(canister: Canister<S, A, L>, addr: SocketAddr) -> ExitCode
where
    S: SessionStore,
    A: Authenticator,
    L: LogSink,
{
    let listening = AdHoc::on_liftoff("listening", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            println!(
                "listening on http://{}",
                SocketAddr::new(config.address, config.port)
            );
            let _ = std::io::stdout().flush();
        })
    });
    let result = app(canister.clone(), quiet_config(addr))
        .attach(listening)
        .launch()
        .await;
    canister.flush();
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    config: Option<String>,
    bind: String,
    redis: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        bind: "127.0.0.1:8080".to_owned(),
        redis: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => args.config = Some(value()?),
            "--bind" => args.bind = value()?,
            "--redis" => args.redis = Some(value()?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(args)
}

fn config(path: Option<&str>) -> Result<Config, canister_core::config::ConfigError> {
    match path {
        Some(path) => Config::from_file(path),
        None => {
            let mut config = Config::default();
            config.apply_env(std::env::vars_os())?;
            Ok(config)
        }
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

#[rocket::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("demo: {message}\nusage: demo [--config FILE] [--bind ADDR] [--redis URL]");
            return ExitCode::from(2);
        }
    };
    let Some(addr) = args.bind.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("demo: --bind {}: not an address", args.bind);
        return ExitCode::from(2);
    };
    let mut config = match config(args.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("demo: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = &args.redis {
        if let Err(error) = config.set("session_store", url) {
            eprintln!("demo: --redis: {error}");
            return ExitCode::from(2);
        }
    }
    install_json_subscriber(&config);
    // An identity provider (auth_oidc_issuer, auth_jwt_jwks_url): its keys come from
    // canister-oidc, refreshed in the background once the engine is built.
    let provider = if config.has_jwt_provider() {
        match canister_oidc::Provider::from_config(&config) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("demo: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let keys = provider.as_ref().map(canister_oidc::Provider::keys);
    // `--redis` or the configuration's `session_store`, checked at start: the constructor
    // every demo and application shares.
    let built = match canister_store_redis::RedisStore::connect(&config).await {
        Ok(Some(store)) => {
            let builder = Canister::builder().config(config).store(store);
            match keys {
                Some(keys) => builder.jwks(keys),
                None => builder,
            }
            .build()
            .map(Err)
        }
        Ok(None) => {
            let builder = Canister::builder().config(config);
            match keys {
                Some(keys) => builder.jwks(keys),
                None => builder,
            }
            .build()
            .map(Ok)
        }
        Err(error) => {
            eprintln!("demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    let spawn = |logger| {
        if let Some(provider) = provider {
            provider.spawn(logger);
        }
    };
    match built {
        Ok(Ok(canister)) => {
            spawn(canister.logger());
            serve(canister, addr).await
        }
        Ok(Err(canister)) => {
            spawn(canister.logger());
            serve(canister, addr).await
        }
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::from(2)
        }
    }
}
