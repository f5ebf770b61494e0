//! `RedisStore` when Redis fails: errors instead of hangs, recovery without a restart, and no
//! password in error messages. These tests always start their own `redis-server` (they kill
//! it), whether or not `REDIS_URL` is set.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use canister_core::session::{Record, SessionStore, StoreError};
use canister_store_redis::RedisStore;

use common::{new_key, unique_prefix, Server};

const TTL: Option<Duration> = Some(Duration::from_secs(60));
const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// Retries `load` until it succeeds; returns how long that took.
async fn wait_for_recovery(store: &RedisStore, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match store.load(&new_key(), TTL).await {
            Ok(_) => return started.elapsed(),
            Err(e) => assert!(
                started.elapsed() < limit,
                "still failing after {limit:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_store_down(err: &StoreError) {
    assert!(
        matches!(err, StoreError::Unavailable { .. } | StoreError::Timeout(_)),
        "expected unavailable or timeout, got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_then_restart_fails_fast_then_recovers() {
    let mut server = Server::start();
    let store = RedisStore::open(&server.url())
        .unwrap()
        .prefix(unique_prefix("kill"))
        .timeout(OP_TIMEOUT);
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load(&key, TTL).await.unwrap_err();
        assert_store_down(&err);
        assert!(
            started.elapsed() < OP_TIMEOUT + Duration::from_millis(500),
            "took {:?}",
            started.elapsed()
        );
        let err = store
            .save(&key, &Default::default(), TTL)
            .await
            .unwrap_err();
        assert_store_down(&err);
    }
    let started = Instant::now();
    let err = store.lock(&key, Duration::from_secs(5)).await.unwrap_err();
    assert_store_down(&err);
    assert!(started.elapsed() < OP_TIMEOUT + Duration::from_millis(500));

    server.restart();
    let took = wait_for_recovery(&store, Duration::from_secs(5)).await;
    eprintln!("recovered {took:?} after the restart");

    // The restarted server is empty (no persistence): the store works on it as new.
    assert_eq!(store.load(&key, TTL).await.unwrap(), None);
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    assert!(store.load(&key, TTL).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_then_up() {
    let mut server = Server::start();
    server.kill();
    let store = RedisStore::open(&server.url())
        .unwrap()
        .prefix(unique_prefix("late"))
        .timeout(OP_TIMEOUT);
    let started = Instant::now();
    let err = store.ping().await.unwrap_err();
    assert_store_down(&err);
    assert!(started.elapsed() < OP_TIMEOUT + Duration::from_millis(500));

    server.restart();
    let took = wait_for_recovery(&store, Duration::from_secs(5)).await;
    eprintln!("connected {took:?} after the server came up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_server_times_out() {
    let server = Server::start();
    let store = RedisStore::open(&server.url())
        .unwrap()
        .prefix(unique_prefix("pause"))
        .timeout(OP_TIMEOUT);
    store.ping().await.unwrap();
    // CLIENT PAUSE makes the server hold every client's commands without answering.
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(2000)
        .arg("ALL")
        .query_async(&mut raw)
        .await
        .unwrap();
    let started = Instant::now();
    let err = store.load(&new_key(), TTL).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Timeout(d) if d == OP_TIMEOUT),
        "{err:?}"
    );
    assert!(started.elapsed() < OP_TIMEOUT + Duration::from_millis(500));
    assert_eq!(err.to_string(), "session store did not answer within 500ms");

    let took = wait_for_recovery(&store, Duration::from_secs(5)).await;
    eprintln!("answered again {took:?} after the pause");
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let server = Server::start_with(&["--requirepass", "right-pass-123"]);
    let url = format!("redis://:wrong-pass-456@127.0.0.1:{}", server.port());
    let store = RedisStore::open(&url).unwrap().timeout(OP_TIMEOUT);
    let err = store.load(&new_key(), TTL).await.unwrap_err();
    assert_store_down(&err);
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s} / {s:?}"));
        source = s.source();
    }
    assert!(!text.contains("wrong-pass-456"), "{text}");
    assert!(!format!("{store:?}").contains("wrong-pass-456"));

    let good = format!("redis://:right-pass-123@127.0.0.1:{}", server.port());
    let store = RedisStore::open(&good).unwrap();
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_when_a_wrong_password_is_fixed_on_the_server() {
    let server = Server::start_with(&["--requirepass", "old-pass"]);
    let url = format!("redis://:new-pass@127.0.0.1:{}", server.port());
    let store = RedisStore::open(&url)
        .unwrap()
        .timeout(Duration::from_secs(2));
    let err = store.ping().await.unwrap_err();
    assert_store_down(&err);
    eprintln!("{err}");

    // The server now takes the store's password: the store must notice without a restart.
    let mut admin = redis::Client::open(format!("redis://:old-pass@127.0.0.1:{}", server.port()))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("new-pass")
        .query_async(&mut admin)
        .await
        .unwrap();
    let took = wait_for_recovery(&store, Duration::from_secs(5)).await;
    eprintln!("recovered {took:?} after the password was fixed");
}

/// Finding F12: after Redis restarted (and was back), the first request of each instance got
/// a 503 ("broken pipe"): the store's connection was dead and only the failed command made it
/// reconnect. Operations that are safe to repeat now retry once, at once, on a broken
/// connection; see `RedisStore`'s "Broken connections" documentation for which ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_operations_after_a_restart_succeed() {
    let mut server = Server::start();
    let store = RedisStore::open(&server.url())
        .unwrap()
        .prefix(unique_prefix("restart"))
        .timeout(Duration::from_secs(2));
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());

    // Each operation meets a connection that died with the server it was made to.
    server.restart();
    assert_eq!(store.load(&key, TTL).await.unwrap(), None, "load");
    server.restart();
    assert!(
        store.create(&key, &Record::default(), TTL).await.unwrap(),
        "create"
    );
    server.restart();
    let lock = store.lock(&key, Duration::from_secs(1)).await.unwrap();
    server.restart();
    store.unlock(lock).await;
    server.restart();
    store.delete(&key).await.unwrap();
    server.restart();
    store.ping().await.unwrap();

    // A save is not repeated (its first attempt may have been applied, and applying it again
    // after another request's save would undo that one): it fails once, and the next
    // operation finds the connection remade.
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    server.restart();
    let err = store
        .save(&key, &Default::default(), TTL)
        .await
        .unwrap_err();
    assert_store_down(&err);
    assert_eq!(store.load(&key, TTL).await.unwrap(), None);
}
