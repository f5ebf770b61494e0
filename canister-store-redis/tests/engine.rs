//! canister's engine on `RedisStore`: store round trips per request, 503 while Redis is down
//! and recovery, and exact locked increments from five engines ("processes") sharing Redis.
//! These tests start their own `redis-server` (one of them kills it).

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use canister_core::{auth::DefaultAuthenticator, log::DefaultLogSink, Canister, Entry, Finish};
use canister_store_redis::RedisStore;
use http::{header, StatusCode};

use common::{unique_prefix, CountingProxy, Server};

type App = Canister<RedisStore, DefaultAuthenticator, DefaultLogSink>;

/// What the handler does with the session.
#[derive(Clone, Copy)]
enum Handler {
    /// Never asks for the session.
    Ignore,
    /// Reads `counter`.
    Read,
    /// Increments `counter` (absent: stores 1).
    Increment,
}

/// One request's outcome: status, the session cookie set (if any), the counter seen.
struct Outcome {
    status: StatusCode,
    cookie: Option<String>,
    counter: Option<i64>,
}

fn app(store: RedisStore, extra: &str) -> App {
    let config = canister_core::config::Config::from_ini_str(&format!(
        "[canister]\nlog_level = DISABLED\nsession_timeout = 600\n{extra}"
    ))
    .unwrap();
    Canister::builder()
        .config(config)
        .store(store)
        .build()
        .unwrap()
}

async fn request(app: &App, cookie: Option<&str>, handler: Handler) -> Outcome {
    let mut builder = http::Request::get("http://127.0.0.1/");
    if let Some(id) = cookie {
        builder = builder.header(header::COOKIE, format!("session_id={id}"));
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let Entry::Proceed(visit) = app.enter(&parts, None).await else {
        panic!("engine answered without the handler");
    };
    let mut status = StatusCode::OK;
    let mut counter = None;
    match handler {
        Handler::Ignore => {}
        Handler::Read | Handler::Increment => match visit.session().await {
            Err(response) => status = response.status(),
            Ok(session) => {
                let n = session.get::<i64>("counter");
                counter = n;
                if let Handler::Increment = handler {
                    let next = n.unwrap_or(0) + 1;
                    session.insert("counter", next).unwrap();
                    counter = Some(next);
                }
            }
        },
    }
    let (mut response, ()) = http::Response::builder()
        .status(status)
        .body(())
        .unwrap()
        .into_parts();
    if let Finish::ReplaceBody(_) = app.finish(visit, &mut response).await {
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let cookie = response
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("session_id="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .filter(|v| !v.is_empty());
    Outcome {
        status: response.status,
        cookie,
        counter,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_round_trips_per_request() {
    let server = Server::start();
    let proxy = CountingProxy::start(&server.url()).await;
    let store = proxy.store("engine_rt");
    // Warm up: connect and cache the scripts.
    store.ping().await.unwrap();
    let app = app(store, "");
    let warm = request(&app, None, Handler::Increment)
        .await
        .cookie
        .unwrap();
    request(&app, Some(&warm), Handler::Increment).await;
    proxy.take();

    let out = request(&app, None, Handler::Ignore).await;
    assert_eq!(
        (out.status, proxy.take()),
        (StatusCode::OK, 0),
        "no session used"
    );
    let out = request(&app, None, Handler::Read).await;
    assert_eq!(out.cookie, None, "lazy: nothing stored, no cookie");
    assert_eq!(proxy.take(), 0, "new empty session");

    let out = request(&app, None, Handler::Increment).await;
    let id = out.cookie.unwrap();
    assert_eq!(proxy.take(), 1, "new session stored (create)");

    let out = request(&app, Some(&id), Handler::Read).await;
    assert_eq!(out.counter, Some(1));
    assert_eq!(proxy.take(), 1, "read-only request (load)");

    let out = request(&app, Some(&id), Handler::Increment).await;
    assert_eq!(out.counter, Some(2));
    assert_eq!(proxy.take(), 2, "modifying request (load + save)");

    let out = request(&app, Some(&id), Handler::Ignore).await;
    assert_eq!(
        (out.status, proxy.take()),
        (StatusCode::OK, 0),
        "session not used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_answers_503_then_service_resumes() {
    let mut server = Server::start();
    let store = RedisStore::open(&server.url())
        .unwrap()
        .prefix(unique_prefix("engine_503"))
        .timeout(Duration::from_millis(500));
    let app = app(store, "");
    let id = request(&app, None, Handler::Increment)
        .await
        .cookie
        .unwrap();
    assert_eq!(
        request(&app, Some(&id), Handler::Read).await.counter,
        Some(1)
    );

    server.kill();
    let started = Instant::now();
    let out = request(&app, Some(&id), Handler::Increment).await;
    assert_eq!(out.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let out = request(&app, None, Handler::Increment).await;
    assert_eq!(
        out.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "creating fails too"
    );
    assert_eq!(out.cookie, None);

    server.restart();
    let started = Instant::now();
    loop {
        let out = request(&app, None, Handler::Increment).await;
        if out.status == StatusCode::OK {
            assert!(out.cookie.is_some());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no recovery in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("service resumed {:?} after the restart", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_engines_times_thirty_locked_increments_make_150() {
    let server = Server::start();
    let prefix = unique_prefix("engine_lock");
    let store = || {
        RedisStore::open(&server.url())
            .unwrap()
            .prefix(prefix.clone())
    };
    let first = app(
        store(),
        "session_locking = true\nsession_lock_timeout = 30\n",
    );
    let id = request(&first, None, Handler::Increment)
        .await
        .cookie
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..5 {
        // One engine and one connection per task, as five processes would have.
        let app = if i == 0 {
            first.clone()
        } else {
            app(
                store(),
                "session_locking = true\nsession_lock_timeout = 30\n",
            )
        };
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..30 {
                let out = request(&app, Some(&id), Handler::Increment).await;
                assert_eq!(out.status, StatusCode::OK);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let out = request(&first, Some(&id), Handler::Read).await;
    assert_eq!(
        out.counter,
        Some(151),
        "1 initial + 5 x 30 locked increments"
    );
}
