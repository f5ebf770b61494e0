//! The wrapper and the filters through `warp::test::request()`.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use canister_core::session::{Change, Record, StoreKey};
use canister_core::{Canister, Config, SessionStore, StoreError};
use canister_warp::{Session, Visit, Warp};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::test::request;
use warp::Filter;

fn config(extra: &str) -> Config {
    Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{extra}")).unwrap()
}

fn warp_of(extra: &str) -> Warp {
    Warp::new(Canister::from_config(config(extra)).unwrap())
}

/// `GET /write` stores a value (so the session gets a cookie), `/` counts the runs of the
/// route; both count in `runs`.
fn counting<S: SessionStore>(
    canister: &Warp<S>,
    runs: &Arc<AtomicUsize>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
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
    canister.wrap(write.or(any))
}

fn cookie_of(response: &warp::http::Response<bytes::Bytes>) -> String {
    let set = response.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn preflight_is_answered_without_running_the_route() {
    let canister = warp_of("cors = *\n");
    let runs = Arc::new(AtomicUsize::new(0));
    let app = counting(&canister, &runs);
    let response = request()
        .method("OPTIONS")
        .path("/")
        .header("origin", "http://elsewhere.example")
        .header("access-control-request-method", "POST")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // A plain request does run it, and gets the CORS header too.
    let response = request()
        .path("/")
        .header("origin", "http://elsewhere.example")
        .reply(&app)
        .await;
    assert_eq!(response.body().as_ref(), b"ran");
    assert!(response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rejections_and_404s_get_cors_headers() {
    let canister = warp_of("cors = *\n");
    let app = canister.wrap(warp::path!("only").and(warp::post()).map(|| "posted"));
    for (method, path, status) in [
        ("GET", "/missing", StatusCode::NOT_FOUND),
        ("GET", "/only", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let response = request()
            .method(method)
            .path(path)
            .header("origin", "http://elsewhere.example")
            .reply(&app)
            .await;
        assert_eq!(response.status(), status, "{method} {path}");
        assert!(
            response
                .headers()
                .contains_key("access-control-allow-origin"),
            "{method} {path}: {:?}",
            response.headers()
        );
    }
}

#[tokio::test]
async fn csrf_refusal_does_not_run_the_route() {
    let canister = warp_of("");
    let runs = Arc::new(AtomicUsize::new(0));
    let app = counting(&canister, &runs);
    let written = request().path("/write").reply(&app).await;
    assert_eq!(written.status(), StatusCode::OK);
    let cookie = cookie_of(&written);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let response = request()
        .method("POST")
        .path("/")
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the route must not run");

    // Same-site, the same request runs.
    let response = request()
        .method("POST")
        .path("/")
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[derive(Debug, Deserialize)]
struct Typed {
    n: u32,
}

#[tokio::test]
async fn params_answer_400_naming_the_field_and_413_past_the_limit() {
    let canister = warp_of("");
    let app = canister.wrap(
        warp::path!("n")
            .and(canister.params::<Typed>())
            .map(|t: Typed| format!("n={}", t.n)),
    );
    let ok = request().path("/n?n=7").reply(&app).await;
    assert_eq!(ok.body().as_ref(), b"n=7");
    let form = request()
        .method("POST")
        .path("/n")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("n=8")
        .reply(&app)
        .await;
    assert_eq!(form.body().as_ref(), b"n=8");
    let missing = request().path("/n").reply(&app).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let body = String::from_utf8_lossy(missing.body());
    assert!(body.contains("missing parameter 'n'"), "{body}");
    // A malformed value: the 400 names the field.
    let malformed = request().path("/n?n=abc").reply(&app).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body = String::from_utf8_lossy(malformed.body());
    assert!(body.contains("invalid parameter 'n'"), "{body}");
    let big = vec![b'a'; canister_warp::PARAMS_BODY_LIMIT + 1];
    let response = request()
        .method("POST")
        .path("/n")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A store that is down.
#[derive(Debug)]
struct Down;

fn down() -> StoreError {
    StoreError::unavailable("the test store is down", "connection refused")
}

impl SessionStore for Down {
    type Lock = ();

    async fn load(&self, _: &StoreKey, _: Option<Duration>) -> Result<Option<Record>, StoreError> {
        Err(down())
    }

    async fn create(
        &self,
        _: &StoreKey,
        _: &Record,
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn cycle(
        &self,
        _: &StoreKey,
        _: &StoreKey,
        _: &Record,
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }

    async fn save(
        &self,
        _: &StoreKey,
        _: &Change,
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }

    async fn delete(&self, _: &StoreKey) -> Result<(), StoreError> {
        Err(down())
    }

    async fn lock(&self, _: &StoreKey, _: Duration) -> Result<(), StoreError> {
        Err(down())
    }

    async fn unlock(&self, (): ()) {}
}

#[tokio::test]
async fn a_failing_store_answers_503() {
    let canister = Warp::new(
        Canister::builder()
            .config(config(""))
            .store(Down)
            .build()
            .unwrap(),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let app = counting(&canister, &runs);

    // Loading fails: the session filter rejects with the 503.
    let cookie = "session_id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let response = request()
        .path("/write")
        .header("cookie", cookie)
        .reply(&app)
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // Saving fails after the route ran: its body is replaced by the 503.
    let response = request().path("/write").reply(&app).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(response.body().as_ref(), b"written");
    assert!(!response.headers().contains_key("set-cookie"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Answers the client address seen by two lookups of the visit, with a pause between them
/// so that concurrent requests interleave.
fn who(
    canister: &Warp,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    canister.wrap(
        canister
            .visit()
            .and_then(|visit: Visit| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, warp::Rejection>(visit)
            })
            .and(canister.visit())
            .and(canister.log())
            .map(|first: Visit, second: Visit, _log: slog::Logger| {
                format!("{:?} {:?}", first.client(), second.client())
            }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_see_their_own_visit() {
    let canister = warp_of("");
    let app = who(&canister);
    let tasks: Vec<_> = (1..=20u8)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let peer = SocketAddr::from(([10, 0, 0, i], 4000));
                let response = request().remote_addr(peer).reply(&app).await;
                let expected = format!("Some({0}) Some({0})", peer.ip());
                assert_eq!(String::from_utf8_lossy(response.body()), expected);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn two_requests_on_one_task_are_refused_not_confused() {
    let canister = warp_of("");
    let app = who(&canister);
    let one = request()
        .remote_addr(SocketAddr::from(([10, 0, 0, 1], 1)))
        .reply(&app);
    let two = request()
        .remote_addr(SocketAddr::from(([10, 0, 0, 2], 2)))
        .reply(&app);
    let (one, two) = tokio::join!(one, two);
    for response in [one, two] {
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(String::from_utf8_lossy(response.body()).contains("its own task"));
    }
    // Alone again, the task's requests are served.
    let alone = request()
        .remote_addr(SocketAddr::from(([10, 0, 0, 3], 3)))
        .reply(&app)
        .await;
    assert_eq!(alone.status(), StatusCode::OK);
}

#[tokio::test]
async fn filters_without_the_wrapper_say_how_to_install_it() {
    let canister = warp_of("");
    let bare = canister
        .session()
        .map(|_: Session| "unreachable")
        .recover(canister_warp::recover);
    let response = request().reply(&bare).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = String::from_utf8_lossy(response.body());
    assert!(body.contains("canister.wrap"), "{body}");
}

#[tokio::test]
async fn recover_passes_other_rejections_on() {
    let canister = warp_of("");
    let app = canister.wrap(
        warp::path!("secret")
            .and(canister.user())
            .map(|_| "secret")
            .recover(canister_warp::recover)
            .or(warp::path!("other")
                .and(warp::header::<u32>("x-n"))
                .map(|n| format!("{n}"))),
    );
    let secret = request().path("/secret").reply(&app).await;
    assert_eq!(secret.status(), StatusCode::UNAUTHORIZED);
    let missing = request().path("/other").reply(&app).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(missing.body()).contains("x-n"));
}
