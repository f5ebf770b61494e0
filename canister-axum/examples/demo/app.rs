//! The demo application every canister adapter serves (docs/ADAPTERS.md, "The demo").
//!
//! Shared with the tests (`#[path]`), so they drive exactly these routes.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use canister_axum::{CanisterLayer, Log, Params, Rejection, Session, User};
use canister_core::session::Data;
use canister_core::{
    auth::AuthOutcome, auth::Authenticator, auth::Claims, log::LogSink, session::SessionStore,
    Canister,
};
use serde::{Deserialize, Serialize};

/// The demo's routes behind `CanisterLayer`.
pub(crate) fn router<S: SessionStore, A: Authenticator, L: LogSink>(
    canister: Canister<S, A, L>,
) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/hi", get(hi).post(hi))
        .route("/secret", get(secret))
        .route("/orders", get(orders))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/set", post(set))
        .route("/wait", get(wait))
        .route("/sessions", get(sessions))
        .route("/sessions/revoke-others", post(revoke_others))
        .layer(CanisterLayer::new(canister))
}

fn text(status: StatusCode, body: String) -> impl IntoResponse {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
}

#[derive(Deserialize)]
struct Index {
    foo: Option<String>,
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
async fn index(
    log: Log,
    session: Session,
    user: Option<User>,
    Params(query): Params<Index>,
) -> impl IntoResponse {
    let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
    // An i64 always serializes.
    let _ = session.insert("counter", counter);
    slog::info!(log, "counter = {counter}");
    // The handler runs inside the request's span: with `log_sink = tracing` this event
    // carries its `request_id`, `session`, ...
    tracing::info!(target: "demo", counter, "counted");
    Json(IndexBody {
        claims: user.as_ref().and_then(|u| u.claims()),
        data: session.data(),
        foo: query.foo,
        sid: session.id(),
        user: user.as_ref().map(|u| u.name()),
    })
    .into_response()
}

#[derive(Deserialize)]
struct Hi {
    foo: String,
    bar: Option<String>,
}

async fn hi(Params(hi): Params<Hi>) -> impl IntoResponse {
    let body = match hi.bar.filter(|bar| !bar.is_empty()) {
        Some(bar) => format!("Hi {} and {bar}!", hi.foo),
        None => format!("Hi {}!", hi.foo),
    };
    text(StatusCode::OK, body)
}

async fn secret(user: User) -> impl IntoResponse {
    text(
        StatusCode::OK,
        format!("You are authenticated as {}", user.name()),
    )
}

/// A route for tokens granting the `orders:read` scope (403 `insufficient_scope` else).
async fn orders(user: User) -> Result<impl IntoResponse, axum::response::Response> {
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
    Params(form): Params<Login>,
) -> Result<axum::response::Response, Rejection> {
    let user = match session
        .verify_password(&form.username, &form.password)
        .await?
    {
        AuthOutcome::Authenticated(user) => user,
        AuthOutcome::NotMine => canister_core::auth::User::new(form.username),
        AuthOutcome::Refused(_) => {
            let refusal = "invalid username or password".to_owned();
            return Ok(text(StatusCode::UNAUTHORIZED, refusal).into_response());
        }
    };
    let body = format!("Logged in as {}", user.name());
    if remembered(form.remember.as_deref()) {
        session.login_remembered(user);
    } else {
        session.login(user);
    }
    Ok(text(StatusCode::OK, body).into_response())
}

#[derive(Deserialize)]
struct Set {
    key: String,
    value: String,
}

async fn set(session: Session, Params(set): Params<Set>) -> axum::response::Response {
    // A String always serializes: the only refusal is a session past `session_max_bytes`
    // (413, the session left as it was).
    if let Err(error) = session.insert(&set.key, set.value) {
        return text(error.status(), format!("{error}\n")).into_response();
    }
    Json(session.data()).into_response()
}

async fn logout(session: Session) -> impl IntoResponse {
    session.logout();
    session.destroy();
    text(StatusCode::OK, "Logged out".to_owned())
}

/// `GET /sessions`: the live sessions of the session's user (401 without one).
async fn sessions(session: Session) -> axum::response::Response {
    match session.visit().user_sessions().await {
        Ok(list) => Json(serde_json::json!({ "sessions": list })).into_response(),
        Err(rejection) => rejection.into_response().map(axum::body::Body::from),
    }
}

/// `POST /sessions/revoke-others`: ends every other session of the session's user.
async fn revoke_others(session: Session) -> axum::response::Response {
    match session.visit().end_other_sessions().await {
        Ok(n) => Json(serde_json::json!({ "revoked": n })).into_response(),
        Err(rejection) => rejection.into_response().map(axum::body::Body::from),
    }
}

#[derive(Deserialize)]
struct Wait {
    ms: u64,
}

/// `GET /wait?ms=N`: loads the session (taking its lock with `session_locking`), then waits
/// `N` milliseconds (at most a minute) before answering, so the suite can cancel a request
/// in the middle of its handler.
async fn wait(session: Session, Params(wait): Params<Wait>) -> impl IntoResponse {
    let counter = session.get::<i64>("counter").unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(wait.ms.min(60_000))).await;
    text(StatusCode::OK, format!("waited; counter = {counter}"))
}
