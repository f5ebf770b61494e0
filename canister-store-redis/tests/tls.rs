//! `rediss://` through rustls against a `redis-server` serving TLS with throwaway
//! certificates made at run time: the CA file, client certificates, and the refusals (wrong
//! CA, missing client certificate, missing file) that must stop start-up.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use canister_core::config::Config;
use canister_core::session::{Change, Record, SessionStore};
use canister_store_redis::RedisStore;
use common::{new_key, unique_prefix, Cluster, SentinelSet, Server, Tls};

const TTL: Option<Duration> = Some(Duration::from_secs(60));

fn config(pairs: &[(&str, String)]) -> Config {
    let mut config = Config::default();
    for (key, value) in pairs {
        config.set(key, value).unwrap();
    }
    config
}

/// The error `RedisStore::connect` stops start-up with, as text (sources included).
async fn start_up_error(config: &Config) -> String {
    let err = RedisStore::connect(config)
        .await
        .expect_err("start-up must fail");
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    eprintln!("start-up error: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_ca_file_round_trips() {
    let tls = Tls::generate();
    let (server, tls_port) = Server::start_tls(&tls, false);
    let prefix = unique_prefix("tls");
    let config = config(&[
        ("session_store", format!("rediss://127.0.0.1:{tls_port}")),
        (
            "session_store_tls_ca",
            tls.path("ca.pem").display().to_string(),
        ),
        ("session_store_prefix", prefix.clone()),
    ]);
    let store = RedisStore::connect(&config).await.unwrap().unwrap();
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    let change = Change {
        set: vec![("n".to_owned(), 7.into())],
        ..Change::default()
    };
    assert!(store.save(&key, &change, TTL).await.unwrap());
    assert_eq!(store.load(&key, TTL).await.unwrap().unwrap().data["n"], 7);
    // The session really went through that server (read back on its plain port).
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stored: Option<String> = redis::cmd("HGET")
        .arg(store.redis_key(&key))
        .arg("d:n")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_or_the_system_roots_stop_start_up() {
    let tls = Tls::generate();
    let (_server, tls_port) = Server::start_tls(&tls, false);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    // A CA that did not sign the server's certificate.
    let text = start_up_error(&config(&[
        ("session_store", url.clone()),
        (
            "session_store_tls_ca",
            tls.path("other-ca.pem").display().to_string(),
        ),
        ("session_store_timeout", "3".to_owned()),
    ]))
    .await;
    assert!(text.contains("session_store"), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    // No CA file: the system roots, which do not hold the throwaway CA.
    let text = start_up_error(&config(&[
        ("session_store", url),
        ("session_store_timeout", "3".to_owned()),
    ]))
    .await;
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_presented_and_required() {
    let tls = Tls::generate();
    let (_server, tls_port) = Server::start_tls(&tls, true);
    let path = |n: &str| tls.path(n).display().to_string();
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let with_cert = config(&[
        ("session_store", url.clone()),
        ("session_store_tls_ca", path("ca.pem")),
        ("session_store_tls_cert", path("client.pem")),
        ("session_store_tls_key", path("client.key")),
    ]);
    let store = RedisStore::connect(&with_cert).await.unwrap().unwrap();
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    assert!(store.load(&key, TTL).await.unwrap().is_some());

    // Without a client certificate the server ends the handshake: start-up fails.
    let without = config(&[
        ("session_store", url),
        ("session_store_tls_ca", path("ca.pem")),
        ("session_store_timeout", "3".to_owned()),
    ]);
    let text = start_up_error(&without).await;
    assert!(text.contains("session_store"), "{text}");
    // And a store built without checking answers 503-class errors, never a success.
    let unchecked = RedisStore::from_config(&without).unwrap();
    assert!(unchecked
        .create(&new_key(), &Record::default(), TTL)
        .await
        .is_err());
}

#[tokio::test]
async fn tls_settings_are_checked_before_connecting() {
    let tls = Tls::generate();
    let path = |n: &str| tls.path(n).display().to_string();
    // A file that does not exist is named with its key.
    let err = RedisStore::from_config(&config(&[
        ("session_store", "rediss://127.0.0.1:1".to_owned()),
        ("session_store_tls_ca", path("missing.pem")),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("session_store_tls_ca"), "{err}");
    assert!(err.contains("missing.pem"), "{err}");
    // TLS files with a plain redis:// URL are a mistake, not silently ignored.
    let err = RedisStore::from_config(&config(&[
        ("session_store", "redis://:pw-123@127.0.0.1:1".to_owned()),
        ("session_store_tls_ca", path("ca.pem")),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("rediss://"), "{err}");
    assert!(!err.contains("pw-123"), "{err}");
    // A key file that holds no key.
    let err = RedisStore::from_config(&config(&[
        ("session_store", "rediss://127.0.0.1:1".to_owned()),
        ("session_store_tls_cert", path("client.pem")),
        ("session_store_tls_key", path("client.pem")),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("session_store"), "{err}");
}

/// `rediss+sentinel://`: TLS to the sentinel and to the master it names, both trusted
/// through `session_store_tls_ca`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_over_tls() {
    let tls = Tls::generate();
    let set = SentinelSet::start_tls(&tls);
    let config = config(&[
        ("session_store", set.url()),
        (
            "session_store_tls_ca",
            tls.path("ca.pem").display().to_string(),
        ),
        ("session_store_prefix", unique_prefix("tls_sentinel")),
    ]);
    assert!(set.url().starts_with("rediss+sentinel://"));
    let store = RedisStore::connect(&config).await.unwrap().unwrap();
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    assert!(store.load(&key, TTL).await.unwrap().is_some());
    // The master holds it (read on its plain port).
    let mut raw = redis::Client::open(set.master.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.redis_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 1);
}

/// A Redis Cluster over TLS: `rediss://` seed URLs, the CA from `session_store_tls_ca`; the
/// nodes also talk TLS to each other. Every operation, the cross-slot login id change
/// included, works; a wrong CA stops start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls() {
    let tls = Tls::generate();
    let cluster = Cluster::start_tls(&tls);
    let config = config(&[
        ("session_store", cluster.tls_urls().join(",")),
        (
            "session_store_tls_ca",
            tls.path("ca.pem").display().to_string(),
        ),
        ("session_store_prefix", unique_prefix("tls_cluster")),
    ]);
    let store = RedisStore::connect(&config).await.unwrap().unwrap();
    assert!(format!("{store:?}").contains("cluster"));
    let keys: Vec<_> = (0..10).map(|_| new_key()).collect();
    for key in &keys {
        assert!(store.create(key, &Record::default(), TTL).await.unwrap());
        let change = Change {
            set: vec![("n".to_owned(), 1.into())],
            ..Change::default()
        };
        assert!(store.save(key, &change, TTL).await.unwrap());
        assert_eq!(store.load(key, TTL).await.unwrap().unwrap().data["n"], 1);
    }
    let new = new_key();
    assert!(store
        .cycle(&keys[0], &new, &Record::default(), TTL)
        .await
        .unwrap());
    assert!(store.load(&keys[0], TTL).await.unwrap().is_none());

    let mut wrong = config.clone();
    wrong.store.tls_ca = Some(tls.path("other-ca.pem"));
    wrong.store.timeout = Duration::from_secs(3);
    let text = start_up_error(&wrong).await;
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}
