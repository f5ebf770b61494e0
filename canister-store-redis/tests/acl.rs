//! Redis ACL users (`redis://user:password@host`): they authenticate, and their password
//! never shows in the banner, the configuration's printouts, an error message (sources and
//! `Debug` included) or a log line of the engine.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use canister_core::{
    auth::DefaultAuthenticator, config::Config, log::DefaultLogSink, Canister, Entry,
};
use canister_store_redis::RedisStore;
use http::StatusCode;

use common::Server;

const RIGHT: &str = "acl-Right-4242";
const WRONG: &str = "acl-Wrong-7777";

/// A server with the ACL user `alice` (password [`RIGHT`]), allowed everything.
async fn server_with_alice() -> Server {
    let server = Server::start();
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("alice")
        .arg("on")
        .arg(format!(">{RIGHT}"))
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query_async(&mut admin)
        .await
        .unwrap();
    server
}

/// Everything an error prints: its message, its sources and their `Debug` forms.
fn all_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{err} / {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(" / {s} / {s:?}"));
        source = s.source();
    }
    text
}

fn config(url: &str, extra: &str) -> Config {
    Config::from_ini_str(&format!(
        "[canister]\nsession_store = {url}\nsession_store_timeout = 2\n{extra}"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_connects_and_its_password_stays_hidden() {
    let server = server_with_alice().await;
    let good = format!("redis://alice:{RIGHT}@127.0.0.1:{}", server.port());
    let store = RedisStore::connect(&config(&good, ""))
        .await
        .unwrap()
        .unwrap();
    store.ping().await.unwrap();
    // The connection is alice's, not the default user's.
    let mut conn = redis::Client::open(good.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(who, "alice");

    // The banner and the configuration's printouts show the user, not the password.
    let config = config(&good, "");
    let banner = canister_core::config::banner_lines(&config).join("\n");
    assert!(banner.contains("alice:********@"), "{banner}");
    for text in [
        banner,
        config.to_string(),
        format!("{config:?}"),
        format!("{store:?}"),
    ] {
        assert!(!text.contains(RIGHT), "{text}");
    }

    // A wrong password: start-up stops, and no message shows the password.
    let bad = format!("redis://alice:{WRONG}@127.0.0.1:{}", server.port());
    let err = RedisStore::connect(&config_for(&bad)).await.unwrap_err();
    let text = all_text(&err);
    assert!(text.contains("alice:********@"), "{text}");
    assert!(!text.contains(WRONG), "{text}");
    // The same through a store built without checking, operation by operation.
    let unchecked = RedisStore::from_config(&config_for(&bad)).unwrap();
    let err = unchecked.ping().await.unwrap_err();
    assert!(!all_text(&err).contains(WRONG), "{}", all_text(&err));
    // Cluster and Sentinel URLs too.
    for url in [
        format!("redis://alice:{WRONG}@127.0.0.1:1,redis://bob:{WRONG}@127.0.0.1:2"),
        format!("redis+sentinel://alice:{WRONG}@127.0.0.1:1,127.0.0.1:2/svc"),
    ] {
        let config = config_for(&url);
        let banner = canister_core::config::banner_lines(&config).join("\n");
        assert!(!banner.contains(WRONG), "{banner}");
        let err = RedisStore::connect(&config).await.unwrap_err();
        assert!(!all_text(&err).contains(WRONG), "{}", all_text(&err));
    }
}

fn config_for(url: &str) -> Config {
    config(url, "session_store_timeout = 1")
}

/// The engine's banner and the line it logs for a 503 from the store never show the
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_log_lines_never_show_the_password() {
    let server = server_with_alice().await;
    let logs = tempfile::tempdir().unwrap();
    let bad = format!("redis://alice:{WRONG}@127.0.0.1:{}", server.port());
    let config = config(
        &bad,
        &format!(
            "log_path = {}\nlog_level = DEBUG\nsession_timeout = 600",
            logs.path().display()
        ),
    );
    let store = RedisStore::from_config(&config).unwrap();
    let app: Canister<RedisStore, DefaultAuthenticator, DefaultLogSink> = Canister::builder()
        .config(config)
        .store(store)
        .build()
        .unwrap();
    let (parts, ()) = http::Request::get("http://127.0.0.1/")
        .header(
            http::header::COOKIE,
            "session_id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .body(())
        .unwrap()
        .into_parts();
    let Entry::Proceed(visit) = app.enter(&parts, None).await else {
        panic!("engine answered without the handler");
    };
    let status = match visit.session().await {
        Err(response) => response.status(),
        Ok(_) => StatusCode::OK,
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (mut response, ()) = http::Response::builder()
        .status(status)
        .body(())
        .unwrap()
        .into_parts();
    let _ = app.finish(visit, &mut response).await;
    app.flush();
    let mut written = String::new();
    for entry in std::fs::read_dir(logs.path()).unwrap() {
        written.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    // The banner names the user; the 503's line says why.
    assert!(written.contains("alice:********@"), "{written}");
    assert!(
        written.to_lowercase().contains("authentication failed"),
        "no store error logged:\n{written}"
    );
    assert!(!written.contains(WRONG), "{written}");
}
