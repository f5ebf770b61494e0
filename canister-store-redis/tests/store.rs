//! `RedisStore` against a real Redis: layout, round trips, TTL, deltas, races and locking.
//!
//! Round trips are counted by a proxy between the store and Redis that counts the RESP commands
//! the store sends (see `common::CountingProxy`); every operation must be one command. Redis's
//! own `INFO commandstats` would also count the commands the scripts run inside Redis, which
//! cost no round trip.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use canister_core::auth::User;
use canister_core::session::{Change, Record, SessionStore, StoreError};
use redis::AsyncCommands as _;
use serde_json::json;

use common::{new_key, new_session, CountingProxy, Redis, Server};

const TTL: Option<Duration> = Some(Duration::from_secs(60));

fn record(pairs: &[(&str, serde_json::Value)]) -> Record {
    let mut record = Record::default();
    for (k, v) in pairs {
        record.data.insert((*k).to_owned(), v.clone());
    }
    record
}

fn set(key: &str, value: serde_json::Value) -> Change {
    Change {
        set: vec![(key.to_owned(), value)],
        ..Change::default()
    }
}

#[tokio::test]
async fn round_trips_per_operation() {
    let redis = Redis::start();
    let proxy = CountingProxy::start(redis.url()).await;
    let store = proxy.store("round_trips");
    let (old, new, other) = (new_key(), new_key(), new_key());

    // Warm up: connect and let Redis cache every script once.
    store.ping().await.unwrap();
    assert!(store.create(&other, &Record::default(), TTL).await.unwrap());
    store.load(&other, TTL).await.unwrap();
    store.save(&other, &set("a", json!(1)), TTL).await.unwrap();
    store
        .cycle(&old, &new, &Record::default(), TTL)
        .await
        .unwrap();
    let lock = store.lock(&other, Duration::from_secs(1)).await.unwrap();
    store.unlock(lock).await;
    store.delete(&new_key()).await.unwrap();
    let _ = store.sessions_of("nobody").await.unwrap();
    proxy.take();

    assert!(store
        .create(&old, &record(&[("n", json!(0))]), TTL)
        .await
        .unwrap());
    assert_eq!(proxy.take(), 1, "create");
    assert!(store.load(&old, TTL).await.unwrap().is_some());
    assert_eq!(proxy.take(), 1, "load (read-only request)");
    assert!(store.load(&new_key(), TTL).await.unwrap().is_none());
    assert_eq!(proxy.take(), 1, "load of an absent session");
    assert!(store.save(&old, &set("n", json!(1)), TTL).await.unwrap());
    assert_eq!(proxy.take(), 1, "save");
    assert!(store
        .cycle(&old, &new, &record(&[("n", json!(1))]), TTL)
        .await
        .unwrap());
    assert_eq!(proxy.take(), 1, "cycle");
    store.delete(&new).await.unwrap();
    assert_eq!(proxy.take(), 1, "delete");
    assert!(store.sessions_of("alice").await.unwrap().is_empty());
    assert_eq!(proxy.take(), 1, "list a user's sessions");
    let lock = store.lock(&other, Duration::from_secs(1)).await.unwrap();
    assert_eq!(proxy.take(), 1, "uncontended lock");
    store.unlock(lock).await;
    assert_eq!(proxy.take(), 1, "unlock");

    // A modifying request: load then save.
    store.load(&other, TTL).await.unwrap();
    store.save(&other, &set("b", json!(2)), TTL).await.unwrap();
    assert_eq!(proxy.take(), 2, "modifying request");
}

#[tokio::test]
async fn first_script_call_after_a_flush_loads_the_script() {
    // Its own server even with REDIS_URL: flushing a shared script cache would disturb the
    // round-trip counts of tests running beside it.
    let server = Server::start();
    let proxy = CountingProxy::start(&server.url()).await;
    let store = proxy.store("noscript");
    let key = new_key();
    store.ping().await.unwrap();
    store.create(&key, &Record::default(), TTL).await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(
            &mut redis::Client::open(server.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    proxy.take();
    assert!(store.load(&key, TTL).await.unwrap().is_some());
    assert_eq!(proxy.take(), 3, "EVALSHA (NOSCRIPT), SCRIPT LOAD, EVALSHA");
    assert!(store.load(&key, TTL).await.unwrap().is_some());
    assert_eq!(proxy.take(), 1);
}

#[tokio::test]
async fn keys_are_hashes_of_the_id_and_fields_follow_the_format() {
    let redis = Redis::start();
    let store = redis.store("hashed");
    let (id, key) = new_session();
    let mut rec = record(&[("counter", json!(3)), ("v", json!("data key named v"))]);
    rec.user = Some(User::new("alice"));
    assert!(store.create(&key, &rec, TTL).await.unwrap());

    let mut raw = redis.raw().await;
    let keys: Vec<String> = raw.keys("*").await.unwrap();
    assert!(
        keys.iter().all(|k| !k.contains(&id)),
        "raw id stored: {keys:?}"
    );
    let redis_key = store.redis_key(&key);
    assert!(redis_key.ends_with(&key.to_hex()));
    assert!(keys.contains(&redis_key), "{redis_key} not in {keys:?}");

    let mut fields: Vec<(String, String)> = raw.hgetall(&redis_key).await.unwrap();
    fields.sort();
    // `s`: when it was last written or refreshed (Unix ms, Redis's clock).
    let seen = fields
        .iter()
        .position(|(f, _)| f == "s")
        .expect("an `s` field");
    assert!(fields.remove(seen).1.parse::<u64>().is_ok());
    let index = store
        .index_key("alice")
        .expect("a single node keeps the index");
    assert!(!index.contains("alice"), "the user name is hashed: {index}");
    assert_eq!(
        fields,
        [
            ("d:counter".to_owned(), "3".to_owned()),
            ("d:v".to_owned(), "\"data key named v\"".to_owned()),
            ("u".to_owned(), r#"{"name":"alice"}"#.to_owned()),
            ("v".to_owned(), "1".to_owned()),
            ("x".to_owned(), index.clone()),
        ]
    );
    let members: Vec<String> = raw.zrange(&index, 0, -1).await.unwrap();
    assert_eq!(members, std::slice::from_ref(&redis_key));
    assert_eq!(store.load(&key, TTL).await.unwrap(), Some(rec));
}

#[tokio::test]
async fn empty_session_exists() {
    let redis = Redis::start();
    let store = redis.store("empty");
    let key = new_key();
    assert!(store.create(&key, &Record::default(), None).await.unwrap());
    assert_eq!(
        store.load(&key, None).await.unwrap(),
        Some(Record::default())
    );
    assert!(store.save(&key, &Change::default(), None).await.unwrap());
}

#[tokio::test]
async fn ttl_is_set_and_refreshed() {
    let redis = Redis::start();
    let store = redis.store("ttl");
    let mut raw = redis.raw().await;
    let key = new_key();
    let rkey = store.redis_key(&key);
    let ttl = Some(Duration::from_millis(2000));

    store.create(&key, &Record::default(), ttl).await.unwrap();
    let pttl: i64 = raw.pttl(&rkey).await.unwrap();
    assert!((1500..=2000).contains(&pttl), "after create: {pttl}");

    let _: () = raw.pexpire(&rkey, 500).await.unwrap();
    store.load(&key, ttl).await.unwrap();
    let pttl: i64 = raw.pttl(&rkey).await.unwrap();
    assert!(pttl > 1500, "load did not refresh: {pttl}");

    let _: () = raw.pexpire(&rkey, 500).await.unwrap();
    store.save(&key, &set("a", json!(1)), ttl).await.unwrap();
    let pttl: i64 = raw.pttl(&rkey).await.unwrap();
    assert!(pttl > 1500, "save did not refresh: {pttl}");

    store.load(&key, None).await.unwrap();
    let pttl: i64 = raw.pttl(&rkey).await.unwrap();
    assert_eq!(pttl, -1, "no timeout: the key persists");

    store
        .save(&key, &set("a", json!(2)), Some(Duration::from_millis(50)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.load(&key, ttl).await.unwrap(), None, "expired");
}

/// Issue #22: a load refreshes the time to live only when less than 80 % of it remains, and a
/// remembered login (its `r` field) slides to its own time to live.
#[tokio::test]
async fn load_refreshes_only_under_80_percent_and_remembered_logins_keep_their_ttl() {
    let redis = Redis::start();
    let store = redis.store("slide");
    let mut raw = redis.raw().await;
    let key = new_key();
    let rkey = store.redis_key(&key);
    let ttl = Some(Duration::from_secs(100));

    store.create(&key, &Record::default(), ttl).await.unwrap();
    // 90 % left: no refresh.
    let _: () = raw.pexpire(&rkey, 90_000).await.unwrap();
    store.load(&key, ttl).await.unwrap();
    let pttl: i64 = raw.pttl(&rkey).await.unwrap();
    assert!(pttl <= 90_000, "refreshed at 90 %: {pttl}");
    // 70 % left: refreshed to the full time to live.
    let _: () = raw.pexpire(&rkey, 70_000).await.unwrap();
    store.load(&key, ttl).await.unwrap();
    let pttl: i64 = raw.pttl(&rkey).await.unwrap();
    assert!(pttl > 95_000, "not refreshed at 70 %: {pttl}");

    let remembered = new_key();
    let rrkey = store.redis_key(&remembered);
    let mut record = Record::default();
    record.meta.remember_ms = Some(1_000_000);
    record.meta.created_ms = Some(1_700_000_000_000);
    store
        .create(&remembered, &record, Some(Duration::from_secs(1000)))
        .await
        .unwrap();
    let _: () = raw.pexpire(&rrkey, 500_000).await.unwrap();
    assert_eq!(store.load(&remembered, ttl).await.unwrap(), Some(record));
    let pttl: i64 = raw.pttl(&rrkey).await.unwrap();
    assert!(pttl > 990_000, "not refreshed to its own TTL: {pttl}");
}

#[tokio::test]
async fn concurrent_writers_of_different_keys_both_keep_their_writes() {
    let redis = Redis::start();
    let store = redis.store("delta");
    let key = new_key();
    store
        .create(
            &key,
            &record(&[("keep", json!("x")), ("gone", json!(1))]),
            TTL,
        )
        .await
        .unwrap();

    // Two requests load the same session, then each saves what it changed.
    let a = store.load(&key, TTL).await.unwrap().unwrap();
    let b = store.load(&key, TTL).await.unwrap().unwrap();
    assert_eq!(a, b);
    let change_a = set("a", json!("from a"));
    let change_b = Change {
        set: vec![("b".into(), json!({"from": "b"}))],
        removed: vec!["gone".into()],
        user: Some(Some(User::new("bob"))),
        ..Change::default()
    };
    let (ra, rb) = tokio::join!(
        store.save(&key, &change_a, TTL),
        store.save(&key, &change_b, TTL),
    );
    assert!(ra.unwrap() && rb.unwrap());
    let mut expected = record(&[
        ("keep", json!("x")),
        ("a", json!("from a")),
        ("b", json!({"from": "b"})),
    ]);
    expected.user = Some(User::new("bob"));
    assert_eq!(store.load(&key, TTL).await.unwrap(), Some(expected.clone()));

    // Clearing removes data but not the user; clearing the user removes it.
    let change = Change {
        cleared: true,
        set: vec![("after".into(), json!(true))],
        user: Some(None),
        ..Change::default()
    };
    let mut applied = expected;
    change.apply_to(&mut applied);
    assert!(store.save(&key, &change, TTL).await.unwrap());
    assert_eq!(store.load(&key, TTL).await.unwrap(), Some(applied));
}

#[tokio::test]
async fn save_after_delete_or_expiry_does_not_resurrect() {
    let redis = Redis::start();
    let store = redis.store("resurrect");
    let mut raw = redis.raw().await;
    let key = new_key();
    store
        .create(&key, &record(&[("a", json!(1))]), TTL)
        .await
        .unwrap();
    store.delete(&key).await.unwrap();
    assert!(!store.save(&key, &set("a", json!(2)), TTL).await.unwrap());
    assert!(!raw.exists::<_, bool>(store.redis_key(&key)).await.unwrap());
    assert_eq!(store.load(&key, TTL).await.unwrap(), None);
    store.delete(&key).await.unwrap(); // deleting an absent session is fine

    let key = new_key();
    store
        .create(&key, &Record::default(), Some(Duration::from_millis(30)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!store.save(&key, &set("a", json!(2)), TTL).await.unwrap());
    assert!(!raw.exists::<_, bool>(store.redis_key(&key)).await.unwrap());
}

#[tokio::test]
async fn create_never_takes_over() {
    let redis = Redis::start();
    let store = redis.store("create");
    let key = new_key();
    let first = record(&[("owner", json!("first"))]);
    assert!(store.create(&key, &first, TTL).await.unwrap());
    assert!(!store
        .create(&key, &record(&[("owner", json!("second"))]), TTL)
        .await
        .unwrap());
    assert_eq!(store.load(&key, TTL).await.unwrap(), Some(first));
}

#[tokio::test]
async fn cycle_moves_only_a_live_session_to_a_free_key() {
    let redis = Redis::start();
    let store = redis.store("cycle");
    let (old, new, taken) = (new_key(), new_key(), new_key());
    let mut rec = record(&[("n", json!(1))]);
    store.create(&old, &rec, TTL).await.unwrap();
    store.create(&taken, &Record::default(), TTL).await.unwrap();

    rec.user = Some(User::new("alice"));
    assert!(
        !store.cycle(&old, &taken, &rec, TTL).await.unwrap(),
        "new key taken"
    );
    assert_eq!(
        store.load(&taken, TTL).await.unwrap(),
        Some(Record::default())
    );
    assert!(store.load(&old, TTL).await.unwrap().is_some(), "old kept");

    assert!(store.cycle(&old, &new, &rec, TTL).await.unwrap());
    assert_eq!(store.load(&old, TTL).await.unwrap(), None);
    assert_eq!(store.load(&new, TTL).await.unwrap(), Some(rec.clone()));

    let newer = new_key();
    assert!(
        !store.cycle(&old, &newer, &rec, TTL).await.unwrap(),
        "old gone"
    );
    assert_eq!(store.load(&newer, TTL).await.unwrap(), None);
}

#[tokio::test]
async fn corrupt_records_are_reported() {
    let redis = Redis::start();
    let store = redis.store("corrupt");
    let mut raw = redis.raw().await;
    let key = new_key();
    let _: () = raw.set(store.redis_key(&key), "not a hash").await.unwrap();
    let err = store.load(&key, TTL).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");

    let key = new_key();
    let _: () = raw
        .hset(store.redis_key(&key), "d:a", "{not json")
        .await
        .unwrap();
    let _: () = raw.hset(store.redis_key(&key), "v", "1").await.unwrap();
    let err = store.load(&key, TTL).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_increments_are_exact() {
    let redis = Redis::start();
    let store = redis.store("lock_exact");
    let key = new_key();
    store
        .create(&key, &record(&[("counter", json!(0))]), TTL)
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..5 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..30 {
                let lock = store.lock(&key, Duration::from_secs(10)).await.unwrap();
                let rec = store.load(&key, TTL).await.unwrap().unwrap();
                let n = rec.data["counter"].as_i64().unwrap();
                tokio::task::yield_now().await;
                assert!(store
                    .save(&key, &set("counter", json!(n + 1)), TTL)
                    .await
                    .unwrap());
                store.unlock(lock).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rec = store.load(&key, TTL).await.unwrap().unwrap();
    assert_eq!(rec.data["counter"], json!(150));
}

#[tokio::test]
async fn lock_wait_is_bounded() {
    let redis = Redis::start();
    let store = redis.store("lock_timeout");
    let key = new_key();
    let held = store.lock(&key, Duration::from_secs(1)).await.unwrap();

    let started = Instant::now();
    let err = store
        .lock(&key, Duration::from_millis(200))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, StoreError::LockTimeout(d) if d == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_millis(1000), "{waited:?}");
    assert_eq!(
        err.to_string(),
        "timed out after 200ms waiting for the session lock"
    );

    // Another session's lock is independent.
    let other = store
        .lock(&new_key(), Duration::from_millis(10))
        .await
        .unwrap();
    store.unlock(other).await;

    store.unlock(held).await;
    let again = store.lock(&key, Duration::from_millis(10)).await.unwrap();
    store.unlock(again).await;
}

/// A lock dropped without `unlock` (its request was cancelled: the client went away) is
/// released in the background, long before its 30 s lease.
#[tokio::test]
async fn dropped_lock_is_released() {
    let redis = Redis::start();
    let store = redis.store("lock_dropped");
    let key = new_key();
    let held = store.lock(&key, Duration::from_secs(1)).await.unwrap();
    drop(held);
    // Waits at most 5 s (the lease is 30 s): the background release must have run by then.
    let again = store.lock(&key, Duration::from_secs(5)).await;
    assert!(again.is_ok(), "a dropped lock is still held: {again:?}");
    store.unlock(again.unwrap()).await;
}

#[tokio::test]
async fn lock_lease_frees_a_crashed_holder_and_stale_unlock_is_harmless() {
    let redis = Redis::start();
    let store = redis
        .store("lock_lease")
        .lock_lease(Duration::from_millis(200));
    let key = new_key();
    let crashed = store.lock(&key, Duration::from_secs(1)).await.unwrap();

    let started = Instant::now();
    let next = store.lock(&key, Duration::from_secs(2)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));

    // The old holder wakes up and releases: the new holder's lock must survive.
    store.unlock(crashed).await;
    let err = store
        .lock(&key, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout(_)), "{err:?}");
    store.unlock(next).await;
}

#[tokio::test]
async fn from_config_reads_the_session_store_settings() {
    let redis = Redis::start();
    let prefix = common::unique_prefix("config");
    let config = canister_core::config::Config::from_ini_str(&format!(
        "[canister]\nsession_store = {}\nsession_store_prefix = {prefix}\n",
        redis.url()
    ))
    .unwrap();
    let store = canister_store_redis::RedisStore::from_config(&config).unwrap();
    let key = new_key();
    store.create(&key, &Record::default(), TTL).await.unwrap();
    assert_eq!(store.redis_key(&key), format!("{prefix}{}", key.to_hex()));
    let mut raw = redis.raw().await;
    assert!(raw.exists::<_, bool>(store.redis_key(&key)).await.unwrap());

    let memory = canister_core::config::Config::default();
    let err = canister_store_redis::RedisStore::from_config(&memory).unwrap_err();
    assert!(err.to_string().contains("session_store"), "{err}");
}

/// Finding 13: a lock wait past the clock's range panicked (`Instant + Duration` overflow) and
/// a time to live of `Duration::MAX` made every write fail. The engine's configuration no
/// longer lets such values through; the store copes with them anyway.
#[tokio::test]
async fn durations_past_any_range_neither_panic_nor_fail() {
    let redis = Redis::start();
    let store = redis.store("huge_durations");
    let key = new_key();
    let ttl = Some(Duration::MAX);
    assert!(store
        .create(&key, &record(&[("n", json!(0))]), ttl)
        .await
        .unwrap());
    assert!(store.save(&key, &set("n", json!(1)), ttl).await.unwrap());
    let loaded = store.load(&key, ttl).await.unwrap().unwrap();
    assert_eq!(loaded.data["n"], json!(1));
    let lock = store.lock(&key, Duration::MAX).await.unwrap();
    store.unlock(lock).await;
    let lock = store
        .lock(&key, Duration::from_secs(10_000_000_000_000_000_000))
        .await
        .unwrap();
    store.unlock(lock).await;
}

/// Issue #22: the per-user index follows creates, logins (cycles), logouts and deletes, lists
/// live sessions oldest first, never outlives them, and is dropped when empty.
#[tokio::test]
async fn the_per_user_index_follows_the_sessions() {
    let redis = Redis::start();
    let store = redis.store("index");
    let mut raw = redis.raw().await;
    let alice = |created: u64| Record {
        user: Some(User::new("alice")),
        meta: canister_core::session::Meta {
            created_ms: Some(created),
            remember_ms: None,
        },
        ..Record::default()
    };
    let (a1, a2, a3, b1) = (new_key(), new_key(), new_key(), new_key());
    store.create(&a2, &alice(2_000), TTL).await.unwrap();
    store.create(&a1, &alice(1_000), TTL).await.unwrap();
    let bob = Record {
        user: Some(User::new("bob")),
        ..Record::default()
    };
    store.create(&b1, &bob, TTL).await.unwrap();
    let listed = store.sessions_of("alice").await.unwrap();
    let keys: Vec<_> = listed.iter().map(|s| s.key).collect();
    assert_eq!(keys, [a1, a2], "oldest first");
    assert_eq!(listed[0].created_ms, Some(1_000));
    assert!(listed[0].seen_ms.is_some());
    assert_eq!(store.sessions_of("bob").await.unwrap().len(), 1);

    // A login moves a2 to a3: the index follows.
    assert!(store.cycle(&a2, &a3, &alice(3_000), TTL).await.unwrap());
    let keys: Vec<_> = store
        .sessions_of("alice")
        .await
        .unwrap()
        .iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, [a1, a3]);
    // The index lives at least as long as its sessions.
    let index = store.index_key("alice").unwrap();
    let index_ttl: i64 = raw.pttl(&index).await.unwrap();
    let session_ttl: i64 = raw.pttl(store.redis_key(&a3)).await.unwrap();
    assert!(index_ttl >= session_ttl - 50, "{index_ttl} < {session_ttl}");
    assert!(index_ttl > 0 && index_ttl <= 4_500_000, "{index_ttl}");

    // A logout (cycle to no user) and a delete take them out; the empty index goes.
    assert!(store
        .cycle(&a3, &new_key(), &Record::default(), TTL)
        .await
        .unwrap());
    store.delete(&a1).await.unwrap();
    assert!(store.sessions_of("alice").await.unwrap().is_empty());
    let exists: bool = raw.exists(&index).await.unwrap();
    assert!(!exists, "an empty index is removed");

    // A session that expired is dropped from the index when listed.
    store
        .create(&a1, &alice(1_000), Some(Duration::from_millis(30)))
        .await
        .unwrap();
    store.create(&a2, &alice(2_000), TTL).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let keys: Vec<_> = store
        .sessions_of("alice")
        .await
        .unwrap()
        .iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, [a2]);
    let members: Vec<String> = raw.zrange(&index, 0, -1).await.unwrap();
    assert_eq!(members, [store.redis_key(&a2)]);
}
