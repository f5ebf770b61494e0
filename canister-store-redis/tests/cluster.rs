//! `RedisStore` over a real Redis Cluster: 3 masters and 3 replicas started by the harness
//! (always its own servers, whether or not `REDIS_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use canister_core::session::{Change, Record, SessionStore, StoreError, StoreKey};
use canister_core::{auth::User, Canister, Entry, Finish};
use canister_store_redis::RedisStore;
use serde_json::json;
use sha2::{Digest, Sha256};

use common::{failover_under_load, new_key, unique_prefix, Cluster};

const TTL: Option<Duration> = Some(Duration::from_secs(60));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_on_a_cluster() {
    let cluster = Cluster::start();
    let store = RedisStore::cluster(cluster.urls())
        .unwrap()
        .prefix(unique_prefix("cluster"));
    store.ping().await.unwrap();

    // Enough sessions to land on every master.
    let keys: Vec<_> = (0..30).map(|_| new_key()).collect();
    for (i, key) in keys.iter().enumerate() {
        let mut record = Record::default();
        record.data.insert("i".into(), json!(i));
        assert!(store.create(key, &record, TTL).await.unwrap());
        assert!(!store.create(key, &Record::default(), TTL).await.unwrap());
    }
    for (i, key) in keys.iter().enumerate() {
        let change = Change {
            set: vec![("seen".into(), json!(true))],
            user: Some(Some(User::new(format!("user{i}")))),
            ..Change::default()
        };
        assert!(store.save(key, &change, TTL).await.unwrap());
        let record = store.load(key, TTL).await.unwrap().unwrap();
        assert_eq!(record.data["i"], json!(i));
        assert_eq!(record.data["seen"], json!(true));
        assert_eq!(record.user, Some(User::new(format!("user{i}"))));
    }

    // Cycle across slots: moved, old gone.
    let (old, new) = (keys[0], new_key());
    let record = store.load(&old, TTL).await.unwrap().unwrap();
    assert!(store.cycle(&old, &new, &record, TTL).await.unwrap());
    assert_eq!(store.load(&old, TTL).await.unwrap(), None);
    assert_eq!(store.load(&new, TTL).await.unwrap(), Some(record.clone()));
    // Old session gone: nothing is left behind under the new key.
    let newer = new_key();
    assert!(!store.cycle(&old, &newer, &record, TTL).await.unwrap());
    assert_eq!(store.load(&newer, TTL).await.unwrap(), None);
    // New key taken: the old session stays.
    assert!(!store.cycle(&keys[1], &keys[2], &record, TTL).await.unwrap());
    assert!(store.load(&keys[1], TTL).await.unwrap().is_some());

    // Delete, then no resurrection.
    store.delete(&keys[3]).await.unwrap();
    assert!(!store.save(&keys[3], &Change::default(), TTL).await.unwrap());
    assert_eq!(store.load(&keys[3], TTL).await.unwrap(), None);

    // Locks.
    let lock = store.lock(&keys[4], Duration::from_secs(1)).await.unwrap();
    let err = store
        .lock(&keys[4], Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout(_)), "{err:?}");
    store.unlock(lock).await;
    let lock = store
        .lock(&keys[4], Duration::from_millis(100))
        .await
        .unwrap();
    store.unlock(lock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_increments_are_exact_on_a_cluster() {
    let cluster = Cluster::start();
    // From a config value: several comma-separated URLs mean a cluster.
    let prefix = unique_prefix("cluster_lock");
    let config = canister_core::config::Config::from_ini_str(&format!(
        "[canister]\nsession_store = {}\nsession_store_prefix = {prefix}\n",
        cluster.urls().join(",")
    ))
    .unwrap();
    let store = RedisStore::from_config(&config).unwrap();
    let key = new_key();
    let mut record = Record::default();
    record.data.insert("counter".into(), json!(0));
    store.create(&key, &record, TTL).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..5 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..30 {
                let lock = store.lock(&key, Duration::from_secs(10)).await.unwrap();
                let n = store.load(&key, TTL).await.unwrap().unwrap().data["counter"]
                    .as_i64()
                    .unwrap();
                let change = Change {
                    set: vec![("counter".into(), json!(n + 1))],
                    ..Change::default()
                };
                assert!(store.save(&key, &change, TTL).await.unwrap());
                store.unlock(lock).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let record = store.load(&key, TTL).await.unwrap().unwrap();
    assert_eq!(record.data["counter"], json!(150));
}

/// A new session in `store`, before the failover under test. A fresh cluster's first writes
/// with `session_store_replicas` can time out while the replicas finish their first
/// acknowledgement on a loaded machine; set-up retries them (with a new id, as a timed-out
/// create may have written) for up to 30 s, so that only the failover is under test.
async fn created(store: &RedisStore) -> StoreKey {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let key = new_key();
        match store.create(&key, &Record::default(), TTL).await {
            Ok(true) => return key,
            Ok(false) => panic!("a new random id was taken"),
            Err(error) if std::time::Instant::now() < deadline => {
                eprintln!("set-up write retried: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the cluster refused set-up writes for 30 s: {error}"),
        }
    }
}

/// A master killed under load (`cluster-node-timeout` 2 s): the sessions it held answer
/// errors until its replica takes over, the others never do; no session is reset or
/// resurrected and service returns by itself. Prints the 503 window and the recovery time.
///
/// With `session_store_replicas = 1` each master has two replicas, so that the promoted one
/// still has a replica to acknowledge writes; then no acknowledged write may be lost.
async fn master_killed_under_load(replicas: u32) {
    let mut cluster = Cluster::start_with_timeout(2000, 1 + replicas as usize);
    let store = RedisStore::cluster(cluster.urls())
        .unwrap()
        .prefix(unique_prefix("cluster_failover"))
        .timeout(Duration::from_millis(500))
        .replicas(replicas);
    let mut sessions = Vec::new();
    for _ in 0..30 {
        sessions.push(created(&store).await);
    }
    let gone = created(&store).await;
    store.delete(&gone).await.unwrap();
    let victim = cluster.master_of(&store.redis_key(&sessions[0]));
    let on_victim: Vec<usize> = (0..sessions.len())
        .filter(|&i| cluster.master_of(&store.redis_key(&sessions[i])) == victim)
        .collect();
    let outcome = failover_under_load(&store, &sessions, || cluster.kill(victim)).await;
    eprintln!(
        "cluster master kill, session_store_replicas = {replicas}: {outcome:?}; {} of {} \
         sessions on the killed master",
        on_victim.len(),
        sessions.len()
    );
    assert!(outcome.failures > 0, "the kill must have been noticed");
    for i in &outcome.failed_sessions {
        assert!(
            on_victim.contains(i),
            "session {i} was on a live master but failed: {outcome:?}"
        );
    }
    if replicas > 0 {
        assert_eq!(outcome.lost_acknowledged, 0, "{outcome:?}");
        assert_eq!(outcome.reset_sessions, Vec::<usize>::new(), "{outcome:?}");
    }
    assert_eq!(store.load(&gone, TTL).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_fails_over() {
    master_killed_under_load(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_fails_over_with_replicas() {
    master_killed_under_load(1).await;
}

/// Runs one request through `canister` with the session cookie `id`, doing `handler` on the
/// session; the id the response's cookie sets, if any.
async fn request(
    canister: &Canister<RedisStore>,
    id: Option<&str>,
    handler: impl FnOnce(&canister_core::Session),
) -> Option<String> {
    let mut builder = http::Request::post("http://127.0.0.1/");
    if let Some(id) = id {
        builder = builder.header(http::header::COOKIE, format!("session_id={id}"));
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let Entry::Proceed(visit) = canister.enter(&parts, None).await else {
        panic!("the engine answered by itself");
    };
    handler(&visit.session().await.unwrap());
    let (mut head, ()) = http::Response::new(()).into_parts();
    let Finish::Keep = canister.finish(visit, &mut head).await else {
        panic!("the store failed");
    };
    let cookie = head
        .headers
        .get(http::header::SET_COOKIE)?
        .to_str()
        .unwrap();
    let pair = cookie.split(';').next().unwrap();
    Some(pair.strip_prefix("session_id=").unwrap().to_owned())
}

/// Scripts run on the cluster's nodes so far: `EVALSHA` calls that succeeded (`calls` less
/// `failed_calls` and `rejected_calls` of `INFO commandstats`: a first `EVALSHA` on a node
/// that lacks the script fails with `NOSCRIPT`, and the client loads it and sends it again).
fn scripts_run(cluster: &Cluster) -> u64 {
    cluster
        .urls()
        .iter()
        .map(|url| {
            let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
            let out = std::process::Command::new("redis-cli")
                .args(["-p", port, "INFO", "commandstats"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
            let Some(fields) = text
                .lines()
                .find_map(|line| line.strip_prefix("cmdstat_evalsha:"))
            else {
                return 0;
            };
            let field = |name: &str| -> u64 {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(name))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            field("calls=") - field("failed_calls=") - field("rejected_calls=")
        })
        .sum()
}

/// Issue #21: a login on a Cluster changes the session's id in one atomic step. The engine
/// draws the new id until its key is in the old key's slot (the hash tag of the key's first
/// byte), and the store moves the session with one script: a login request runs two scripts
/// (load, cycle) where the two-step move ran three (load, create, delete).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_changes_the_id_in_one_step_on_a_cluster() {
    let cluster = Cluster::start();
    let store = RedisStore::cluster(cluster.urls())
        .unwrap()
        .prefix(unique_prefix("cluster-login"));
    store.ping().await.unwrap();
    let config =
        canister_core::config::Config::from_ini_str("[canister]\nlog_level = DISABLED").unwrap();
    let canister = Canister::builder()
        .config(config)
        .store(store.clone())
        .build()
        .unwrap();
    let key = |id: &str| StoreKey::from_bytes(Sha256::digest(id.as_bytes()).into());
    for round in 0..5 {
        let old = request(&canister, None, |s| s.insert("cart", round).unwrap())
            .await
            .expect("a new session sets its cookie");
        let before = scripts_run(&cluster);
        let new = request(&canister, Some(&old), |s| s.login(User::new("alice")))
            .await
            .expect("a login sets a new cookie");
        assert_eq!(
            scripts_run(&cluster) - before,
            2,
            "round {round}: load + cycle"
        );
        assert_ne!(new, old);
        let (old_key, new_key) = (key(&old), key(&new));
        assert_eq!(
            old_key.as_bytes()[0],
            new_key.as_bytes()[0],
            "round {round}"
        );
        let tag = format!("{{{:02x}}}", old_key.as_bytes()[0]);
        assert!(store.redis_key(&new_key).contains(&tag), "{tag}");
        assert_eq!(store.load(&old_key, TTL).await.unwrap(), None);
        let record = store.load(&new_key, TTL).await.unwrap().unwrap();
        assert_eq!(record.data["cart"], json!(round));
        assert_eq!(record.user, Some(User::new("alice")));
    }
}
