//! The adapter driven in-process with `tower::ServiceExt::oneshot`: the demo's routes, the
//! cookie, lazy sessions, CORS, CSRF, parameters, per-route opt-out and store failures.

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
use canister_core::session::FaultyStore;
use canister_core::{Canister, Config};
use common::*;

#[tokio::test]
async fn counter_counts_across_requests() {
    let mut browser = Browser::new(demo(""));
    let first = browser.get("/").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let json = first.json();
    assert_eq!(json["data"]["counter"], 0);
    assert_eq!(json["user"], serde_json::Value::Null);
    assert_eq!(json["claims"], serde_json::Value::Null);
    assert_eq!(json["foo"], serde_json::Value::Null);
    let sid = json["sid"].as_str().unwrap().to_owned();
    assert!(!sid.is_empty());
    assert_eq!(
        browser.cookie.as_deref(),
        Some(format!("session_id={sid}").as_str())
    );

    let second = browser.get("/?foo=bar").await.json();
    assert_eq!(second["data"]["counter"], 1);
    assert_eq!(second["sid"], sid.as_str());
    assert_eq!(second["foo"], "bar");
    assert_eq!(browser.get("/").await.json()["data"]["counter"], 2);

    // Another browser has its own session.
    let other = Browser::new(browser.app.clone()).get("/").await.json();
    assert_eq!(other["data"]["counter"], 0);
    assert_ne!(other["sid"], sid.as_str());
}

#[tokio::test]
async fn cookie_attributes() {
    let answer = send(&demo(""), get("/")).await;
    let cookie = answer.set_cookie().unwrap();
    assert!(cookie.starts_with("session_id="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} missing in {cookie}"
        );
    }
    // A browser-session cookie by default (issue #22).
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
}

#[tokio::test]
async fn session_is_lazy() {
    let app = demo(BASIC);
    for request in [
        get("/hi?foo=John"),
        get("/secret"),
        post_form("/logout", ""),
    ] {
        let answer = send(&app, request).await;
        assert!(answer.set_cookie().is_none(), "{answer:?}");
    }
    assert!(send(&app, get("/")).await.set_cookie().is_some());
}

#[tokio::test]
async fn hi_with_query() {
    let app = demo("");
    let answer = send(&app, get("/hi?foo=John&bar=Smith")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "Hi John and Smith!");
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(send(&app, get("/hi?foo=John")).await.body, "Hi John!");
    assert_eq!(send(&app, get("/hi?foo=John&bar=")).await.body, "Hi John!");
}

#[tokio::test]
async fn hi_with_form_and_multipart() {
    let app = demo("");
    let answer = send(&app, post_form("/hi", "foo=Jane&bar=Doe")).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "Hi Jane and Doe!")
    );

    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nJane\r\n--XyZ--\r\n";
    let request = Request::post("/hi")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
        .body(Body::from(body))
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "Hi Jane!")
    );
}

#[tokio::test]
async fn hi_bad_params_are_400() {
    let app = demo("");
    let missing = send(&app, get("/hi?bar=Smith")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.body.contains("missing parameter 'foo'"),
        "{}",
        missing.body
    );

    let missing = send(&app, post_form("/hi", "bar=Smith")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body.contains("foo"), "{}", missing.body);

    let garbage = send(&app, get("/hi?foo=%zz")).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST, "{}", garbage.body);
}

#[tokio::test]
async fn secret_basic() {
    let app = demo(BASIC);
    let anonymous = send(&app, get("/secret")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some(r#"Basic realm="private", charset="UTF-8""#)
    );

    let wrong = send(
        &app,
        with_header(get("/secret"), "authorization", ALICE_WRONG),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let alice = send(&app, with_header(get("/secret"), "authorization", ALICE)).await;
    assert_eq!(alice.status, StatusCode::OK);
    assert_eq!(alice.body, "You are authenticated as alice");

    let index = send(&app, with_header(get("/"), "authorization", ALICE))
        .await
        .json();
    assert_eq!(index["user"], "alice");
    assert_eq!(index["claims"], serde_json::Value::Null);
}

fn token(claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(b"jwt-secret-for-tests"),
    )
    .unwrap()
}

#[tokio::test]
async fn secret_bearer() {
    let app = demo(JWT);
    let anonymous = send(&app, get("/secret")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let challenge = anonymous.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"private\""),
        "{challenge}"
    );

    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({"sub": "bob", "aud": "demo", "exp": exp, "role": "admin"});
    let bearer = format!("Bearer {}", token(&claims));
    let bob = send(&app, with_header(get("/secret"), "authorization", &bearer)).await;
    assert_eq!(bob.body, "You are authenticated as bob");
    let index = send(&app, with_header(get("/"), "authorization", &bearer))
        .await
        .json();
    assert_eq!(index["user"], "bob");
    assert_eq!(index["claims"]["role"], "admin");

    let refused = send(
        &app,
        with_header(get("/secret"), "authorization", "Bearer not.a.token"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn login_checks_the_password_and_cycles_the_id() {
    let mut browser = Browser::new(demo(BASIC));
    let sid = browser.get("/").await.json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    let wrong = browser
        .post_form("/login", "username=alice&password=nope")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, "invalid username or password");
    assert_eq!(
        browser.get("/").await.json()["user"],
        serde_json::Value::Null
    );

    let right = browser
        .post_form("/login", "username=alice&password=my-secret")
        .await;
    assert_eq!(
        (right.status, right.body.as_str()),
        (StatusCode::OK, "Logged in as alice")
    );
    let after = browser.get("/").await.json();
    assert_eq!(after["user"], "alice");
    assert_ne!(after["sid"], sid.as_str(), "the id changes at login");
    assert_eq!(after["data"]["counter"], 2, "data survives the login");
    assert_eq!(
        browser.get("/secret").await.body,
        "You are authenticated as alice"
    );

    // The pre-login id no longer names a session.
    let mut old = Browser::new(browser.app.clone());
    old.cookie = Some(format!("session_id={sid}"));
    assert_eq!(old.get("/").await.json()["data"]["counter"], 0);
}

#[tokio::test]
async fn login_without_basic_user_accepts_any_password() {
    let mut browser = Browser::new(demo(""));
    let answer = browser
        .post_form("/login", "username=carol&password=x")
        .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "Logged in as carol")
    );
    assert_eq!(browser.get("/").await.json()["user"], "carol");
    let missing = browser.post_form("/login", "username=carol").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logout_destroys_the_session() {
    let mut browser = Browser::new(demo(""));
    browser
        .post_form("/login", "username=carol&password=x")
        .await;
    let cookie = browser.cookie.clone().unwrap();
    let answer = browser.post_form("/logout", "").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "Logged out")
    );
    assert!(answer.set_cookie().unwrap().contains("Max-Age=0"));
    assert!(browser.cookie.is_none());

    let mut old = Browser::new(browser.app.clone());
    old.cookie = Some(cookie);
    let index = old.get("/").await.json();
    assert_eq!(index["user"], serde_json::Value::Null);
    assert_eq!(index["data"]["counter"], 0);
}

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

#[tokio::test]
async fn cross_site_post_with_the_cookie_is_refused() {
    let mut browser = Browser::new(demo(""));
    browser.get("/").await;
    assert!(browser.cookie.is_some());
    let request = with_header(post_form("/logout", ""), "sec-fetch-site", "cross-site");
    let refused = browser.send(request).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("cross-site request refused"),
        "{}",
        refused.body
    );
    // The handler did not run: the session is still there.
    assert_eq!(browser.get("/").await.json()["data"]["counter"], 1);

    let same = with_header(post_form("/hi", "foo=x"), "sec-fetch-site", "same-origin");
    assert_eq!(browser.send(same).await.status, StatusCode::OK);
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

#[tokio::test]
async fn store_errors_are_503() {
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED\n").unwrap();
    let canister = Canister::builder()
        .config(config)
        .store(FaultyStore::down())
        .build()
        .unwrap();
    let app = app::router(canister);

    // Saving a new session fails after the handler: the body is replaced.
    let create = send(&app, get("/")).await;
    assert_eq!(create.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        create.body.contains("session store unavailable"),
        "{}",
        create.body
    );
    assert_eq!(create.header("retry-after"), Some("5"));
    assert!(create.set_cookie().is_none());

    // Loading fails in the extractor: the handler does not run.
    let cookie = send(&demo(""), get("/"))
        .await
        .set_cookie()
        .unwrap()
        .to_owned();
    let pair = cookie.split(';').next().unwrap();
    let load = send(&app, with_header(get("/"), "cookie", pair)).await;
    assert_eq!(load.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        load.body.contains("session store unavailable"),
        "{}",
        load.body
    );

    // Routes that do not touch the session do not notice.
    assert_eq!(send(&app, get("/hi?foo=x")).await.status, StatusCode::OK);
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
