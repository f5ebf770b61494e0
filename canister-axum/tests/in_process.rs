//! The adapter driven in-process with `tower::ServiceExt::oneshot`: what is axum's own
//! (routes outside the layer, `route_layer` and nested routers, the fallback's 404, a
//! preflight that never reaches the handler, a cancelled request's lock). The behaviour every
//! adapter shares (cookies, lazy sessions, parameters, Basic and Bearer, login, CSRF, store
//! failures) is the conformance suite's (`tests/`), run on this adapter there.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing;
use axum::Router;
use canister_axum::{CanisterLayer, Log, Session, User};
use common::*;

#[tokio::test]
async fn preflight_is_answered_without_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/api",
            routing::post(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "handled" }
            })
            .options(|| async { "handled" }),
        )
        .layer(CanisterLayer::new(canister("cors = *\n")));
    let request = Request::options("/api")
        .header(header::ORIGIN, "https://elsewhere.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_ne!(answer.body, "handled");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // The actual cross-origin POST: `CORS = *` lets scripts read answers, but trusts no
    // origin for unsafe requests (CSRF), so it is refused, CORS headers kept.
    let request = with_header(post_form("/api", ""), "origin", "https://elsewhere.example");
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

async fn write_session(session: Session, log: Log) -> &'static str {
    slog::info!(log, "writing");
    session.insert("k", 1).unwrap();
    "written"
}

async fn whoami(user: Option<User>) -> String {
    user.map_or_else(|| "nobody".to_owned(), |u| u.name().to_owned())
}

#[tokio::test]
async fn routes_outside_the_layer_have_no_canister() {
    let app = Router::new()
        .route("/in", routing::get(write_session))
        .layer(CanisterLayer::new(canister("")))
        .route("/out", routing::get(write_session))
        .route("/out/user", routing::get(whoami));
    let inside = send(&app, get("/in")).await;
    assert_eq!(inside.body, "written");
    assert!(inside.set_cookie().is_some());

    for path in ["/out", "/out/user"] {
        let outside = send(&app, get(path)).await;
        assert_eq!(outside.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            outside.body.contains("add `CanisterLayer` to the router"),
            "{}",
            outside.body
        );
        assert!(outside.set_cookie().is_none());
    }
}

#[tokio::test]
async fn route_layer_and_nested_routers() {
    let api = Router::new()
        .route("/write", routing::get(write_session))
        .route_layer(CanisterLayer::new(canister("")));
    let app = Router::new()
        .nest("/api", api)
        .route("/plain", routing::get(write_session));
    let inside = send(&app, get("/api/write")).await;
    assert_eq!(inside.status, StatusCode::OK);
    assert!(inside.set_cookie().is_some());
    let outside = send(&app, get("/plain")).await;
    assert_eq!(outside.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(outside.set_cookie().is_none());
}

#[tokio::test]
async fn other_responses_get_the_cookie_too() {
    // A 404 from the fallback still goes through finish (CORS headers), and a handler that
    // writes and then fails still saves.
    let app = Router::new()
        .route(
            "/fail",
            routing::get(|session: Session| async move {
                session.insert("k", 1).unwrap();
                (StatusCode::IM_A_TEAPOT, "teapot")
            }),
        )
        .layer(CanisterLayer::new(canister("cors = *\n")));
    let teapot = send(&app, get("/fail")).await;
    assert_eq!(teapot.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(teapot.body, "teapot");
    assert!(teapot.set_cookie().is_some());
    let request = with_header(get("/nowhere"), "origin", "https://elsewhere.example");
    let missing = send(&app, request).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("access-control-allow-origin"), Some("*"));
}

/// A request dropped while it holds its session's lock (the client went away, the server
/// cancelled the future) releases the lock: the next request on the session is served at once
/// instead of waiting for it and answering 503.
#[tokio::test]
async fn a_cancelled_request_releases_the_session_lock() {
    use tower::ServiceExt as _;
    let app = Router::new()
        .route("/w", routing::get(write_session))
        .route(
            "/hang",
            routing::get(|session: Session| async move {
                let _held = session;
                std::future::pending::<()>().await;
                "never"
            }),
        )
        .layer(CanisterLayer::new(canister(
            "session_locking = true\nsession_lock_timeout = 2",
        )));
    let first = send(&app, get("/w")).await;
    let cookie = first
        .set_cookie()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let hang = app
        .clone()
        .oneshot(with_header(get("/hang"), "cookie", &cookie));
    // The handler never returns: the future is dropped at the timeout, lock held.
    assert!(tokio::time::timeout(Duration::from_millis(200), hang)
        .await
        .is_err());
    let again = send(&app, with_header(get("/w"), "cookie", &cookie)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}
