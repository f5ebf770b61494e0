//! The filters and `service(routes)`, driven in-process through the tower service.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use canister_core::session::FaultyStore;
use canister_core::{config::Config, session::SessionStore, Canister};
use canister_warp::{CanisterFilters, CanisterRejection, PeerAddr, Session, User, Visit};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tower::{Service, ServiceExt};
use warp::{Filter, Rejection, Reply};

fn config(extra: &str) -> Config {
    Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{extra}")).unwrap()
}

fn filters_of(extra: &str) -> CanisterFilters {
    CanisterFilters::new(Canister::from_config(config(extra)).unwrap())
}

/// A response, read to its end.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn cookie(&self) -> String {
        let set = self.headers["set-cookie"].to_str().unwrap();
        set.split(';').next().unwrap().to_owned()
    }
}

/// Sends `request` through `service` (a clone of it, as a server would).
async fn send<S>(service: &S, request: Request<String>) -> Answer
where
    S: Service<Request<String>, Response = warp::reply::Response, Error = Infallible> + Clone,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(path: &str) -> Request<String> {
    Request::get(path).body(String::new()).unwrap()
}

fn with(mut request: Request<String>, name: &'static str, value: &str) -> Request<String> {
    request.headers_mut().insert(name, value.parse().unwrap());
    request
}

/// `GET /write` stores a value (so the session gets a cookie), `/` counts the runs of the
/// route; both count in `runs`.
fn counting<S: SessionStore>(
    canister: &CanisterFilters<S>,
    runs: &Arc<AtomicUsize>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    let write_runs = Arc::clone(runs);
    let write = warp::path!("write")
        .and(canister.session())
        .map(move |session: Session| {
            write_runs.fetch_add(1, Ordering::SeqCst);
            session.insert("k", 1).unwrap();
            "written"
        });
    let any_runs = Arc::clone(runs);
    let any = warp::path::end().map(move || {
        any_runs.fetch_add(1, Ordering::SeqCst);
        "ran"
    });
    write.or(any)
}

#[tokio::test]
async fn preflight_is_answered_without_running_the_route() {
    let canister = filters_of("cors = *\n");
    let runs = Arc::new(AtomicUsize::new(0));
    let app = canister.service(counting(&canister, &runs));
    let mut preflight = with(get("/"), "origin", "http://elsewhere.example");
    *preflight.method_mut() = http::Method::OPTIONS;
    let preflight = with(preflight, "access-control-request-method", "POST");
    let answer = send(&app, preflight).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.headers.contains_key("access-control-allow-origin"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // A plain request does run it, and gets the CORS header too.
    let answer = send(&app, with(get("/"), "origin", "http://elsewhere.example")).await;
    assert_eq!(answer.body, "ran");
    assert!(answer.headers.contains_key("access-control-allow-origin"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rejections_and_404s_are_warps_and_get_cors_headers() {
    let canister = filters_of("cors = *\n");
    let app = canister.service(warp::path!("only").and(warp::post()).map(|| "posted"));
    for (path, status) in [
        ("/missing", StatusCode::NOT_FOUND),
        ("/only", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let answer = send(&app, with(get(path), "origin", "http://elsewhere.example")).await;
        assert_eq!(answer.status, status, "GET {path}");
        assert!(
            answer.headers.contains_key("access-control-allow-origin"),
            "GET {path}: {:?}",
            answer.headers
        );
    }
}

#[tokio::test]
async fn csrf_refusal_does_not_run_the_route() {
    let canister = filters_of("");
    let runs = Arc::new(AtomicUsize::new(0));
    let app = canister.service(counting(&canister, &runs));
    let written = send(&app, get("/write")).await;
    assert_eq!(written.status, StatusCode::OK);
    let cookie = written.cookie();
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let post = |site: &str| {
        let mut request = with(get("/"), "cookie", &cookie);
        *request.method_mut() = http::Method::POST;
        with(request, "sec-fetch-site", site)
    };
    let answer = send(&app, post("cross-site")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the route must not run");

    // Same-site, the same request runs.
    let answer = send(&app, post("same-origin")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[derive(Debug, Deserialize)]
struct Typed {
    n: u32,
}

#[tokio::test]
async fn params_answer_400_naming_the_field_and_413_past_the_limit() {
    let canister = filters_of("");
    let app = canister.service(
        warp::path!("n")
            .and(canister.params::<Typed>())
            .map(|t: Typed| format!("n={}", t.n)),
    );
    let form = |body: String| {
        let mut request = with(
            get("/n"),
            "content-type",
            "application/x-www-form-urlencoded",
        );
        *request.method_mut() = http::Method::POST;
        *request.body_mut() = body;
        request
    };
    assert_eq!(send(&app, get("/n?n=7")).await.body, "n=7");
    assert_eq!(send(&app, form("n=8".to_owned())).await.body, "n=8");
    let missing = send(&app, get("/n")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.body.contains("missing parameter 'n'"),
        "{}",
        missing.body
    );
    // A malformed value: the 400 names the field.
    let malformed = send(&app, get("/n?n=abc")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.body.contains("invalid parameter 'n'"),
        "{}",
        malformed.body
    );
    let big = "a".repeat(canister_core::config::DEFAULT_PARAMS_BODY_LIMIT + 1);
    let answer = send(&app, form(big)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_failing_store_answers_503() {
    let canister = CanisterFilters::new(
        Canister::builder()
            .config(config(""))
            .store(FaultyStore::down())
            .build()
            .unwrap(),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let app = canister.service(counting(&canister, &runs));

    // Loading fails: the session filter rejects with the 503.
    let cookie = "session_id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let answer = send(&app, with(get("/write"), "cookie", cookie)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers.contains_key("retry-after"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Saving fails after the route ran: its body is replaced by the 503.
    let answer = send(&app, get("/write")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(answer.body, "written");
    assert!(!answer.headers.contains_key("set-cookie"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Answers the client address seen by two lookups of the visit, with a pause between them
/// so that concurrent requests interleave.
fn who(
    canister: &CanisterFilters,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    canister
        .visit()
        .and_then(|visit: Visit| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Rejection>(visit)
        })
        .and(canister.visit())
        .and(canister.log())
        .map(
            |first: Visit, second: Visit, _log: canister_warp::slog::Logger| {
                format!("{:?} {:?}", first.client(), second.client())
            },
        )
}

fn from(i: u8) -> Request<String> {
    let mut request = get("/");
    let peer = SocketAddr::from(([10, 0, 0, i], 4000));
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

/// The visit travels in the request, not in a map keyed by task: requests polled together
/// on one task (which the former task-id map refused with a 500) each see their own.
#[tokio::test]
async fn requests_on_one_task_each_see_their_own_visit() {
    let canister = filters_of("");
    let app = canister.service(who(&canister));
    let answers = futures_util::future::join_all((1..=5).map(|i| send(&app, from(i)))).await;
    for (i, answer) in (1..=5).zip(answers) {
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, format!("Some(10.0.0.{i}) Some(10.0.0.{i})"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_see_their_own_visit() {
    let canister = filters_of("");
    let app = canister.service(who(&canister));
    let tasks: Vec<_> = (1..=20u8)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let answer = send(&app, from(i)).await;
                assert_eq!(answer.body, format!("Some(10.0.0.{i}) Some(10.0.0.{i})"));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn filters_without_the_layer_say_how_to_install_it() {
    let canister = filters_of("");
    let bare = warp::service(
        canister
            .session()
            .map(|_: Session| "unreachable")
            .recover(canister_warp::recover),
    );
    let answer = send(&bare, get("/")).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.body.contains("canister.service(routes)"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn recover_passes_other_rejections_on() {
    let canister = filters_of("");
    let app = canister.service(
        warp::path!("secret")
            .and(canister.user())
            .map(|_| "secret")
            .recover(canister_warp::recover)
            .or(warp::path!("other")
                .and(warp::header::<u32>("x-n"))
                .map(|n| format!("{n}"))),
    );
    assert_eq!(
        send(&app, get("/secret")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let missing = send(&app, get("/other")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body.contains("x-n"), "{}", missing.body);
}

#[derive(Debug)]
struct Teapot;

impl warp::reject::Reject for Teapot {}

/// The recover warp's docs teach: infallible, known causes first, a 500 for the rest.
async fn catch_all(rejection: Rejection) -> Result<impl Reply, Infallible> {
    let (status, text) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such page")
    } else if rejection.find::<Teapot>().is_some() {
        (StatusCode::IM_A_TEAPOT, "teapot")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "unhandled rejection")
    };
    Ok(warp::reply::with_status(text, status))
}

/// issue #17 item 6: an app's own infallible catch-all `recover` compiles around canister's
/// filters, and does not turn canister's 401 (or 503) into its 500; its other answers stay.
#[tokio::test]
async fn an_own_infallible_catch_all_recover_keeps_canisters_401() {
    let canister = filters_of("auth_basic_username = alice\nauth_basic_password = my-secret\n");
    let secret = warp::path!("secret")
        .and(canister.user())
        .map(|user: User| format!("hello {}", user.name()));
    let teapot =
        warp::path!("tea").and_then(|| async { Err::<String, _>(warp::reject::custom(Teapot)) });
    let app = canister.service(secret.or(teapot).recover(catch_all));

    let anonymous = send(&app, get("/secret")).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    let challenge = anonymous.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic"), "{challenge}");

    // alice:my-secret
    let alice = with(
        get("/secret"),
        "authorization",
        "Basic YWxpY2U6bXktc2VjcmV0",
    );
    assert_eq!(send(&app, alice).await.body, "hello alice");
    // The app's own answers are kept.
    let missing = send(&app, get("/nope")).await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (StatusCode::NOT_FOUND, "no such page")
    );
    assert_eq!(
        send(&app, get("/tea")).await.status,
        StatusCode::IM_A_TEAPOT
    );

    // Without any recover, warp's "Unhandled rejection" 500 is canister's 401 as well.
    let bare = canister.service(
        warp::path!("secret")
            .and(canister.user())
            .map(|user: User| user.name().to_owned()),
    );
    assert_eq!(
        send(&bare, get("/secret")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A recover that answers canister's rejection itself (a redirect to the login form instead
/// of the 401) is obeyed.
#[tokio::test]
async fn an_own_recover_may_answer_canisters_rejection_itself() {
    let canister = filters_of("");
    let to_login = |rejection: Rejection| async move {
        match rejection.find::<CanisterRejection>() {
            Some(ours) if ours.0.status() == StatusCode::UNAUTHORIZED => {
                Ok(warp::redirect::see_other(http::Uri::from_static("/login")).into_response())
            }
            _ => Err(rejection),
        }
    };
    let app = canister.service(
        warp::path!("secret")
            .and(canister.user())
            .map(|user: User| user.name().to_owned())
            .recover(to_login),
    );
    let answer = send(&app, get("/secret")).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.headers["location"], "/login");
}
