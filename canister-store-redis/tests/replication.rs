//! `session_store_replicas` (writes acknowledged once replicas hold them) and Redis Sentinel
//! (`redis+sentinel://`), including a master killed under load. Always the tests' own
//! servers, whether or not `REDIS_URL` is set.
//!
//! The failover test prints what it measured (503 window, recovery, lost acknowledged
//! writes); run it with `--nocapture` to read them. It asserts no lost acknowledged write
//! with `session_store_replicas = 1`, no session reset or resurrected, and that service
//! returns by itself; it asserts no duration.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use canister_core::session::{Record, SessionStore, StoreError, StoreKey};
use canister_store_redis::RedisStore;

use common::{
    failover_under_load, new_key, set_n, unique_prefix, wait_for_replicas, CountingProxy, Outcome,
    SentinelSet, Server,
};

const TTL: Option<Duration> = Some(Duration::from_secs(600));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_replicas() {
    let master = Server::start();
    let mut replica = Server::replica_of(&master);
    wait_for_replicas(&master, 1);
    let store = RedisStore::open(&master.url())
        .unwrap()
        .prefix(unique_prefix("replicas"))
        // Generous: a loaded machine delays the replica's acknowledgement (not what is tested).
        .timeout(Duration::from_secs(5))
        .replicas(1);
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    assert!(store.save(&key, &set_n(1), TTL).await.unwrap());
    // Acknowledged means the replica holds it: read it there.
    let mut raw = redis::Client::open(replica.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let on_replica: Option<String> = redis::cmd("HGET")
        .arg(store.redis_key(&key))
        .arg("d:n")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(on_replica.as_deref(), Some("1"));
    let (new, old) = (new_key(), key);
    assert!(store
        .cycle(&old, &new, &Record::default(), TTL)
        .await
        .unwrap());
    store.delete(&new).await.unwrap();

    // Asking for more replicas than answer: a 503-class error, never a success.
    // (A store of its own: clones share the connection, made with the first one's timeout.)
    let greedy = RedisStore::open(&master.url())
        .unwrap()
        .prefix(unique_prefix("greedy"))
        .timeout(Duration::from_secs(2))
        .replicas(2);
    let key = new_key();
    let err = greedy
        .create(&key, &Record::default(), TTL)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    // The cause is the error's `source()`: read the whole chain.
    let chain = canister_core::ErrorChain(&err).to_string();
    assert!(chain.contains("1 of the 2 replicas"), "{chain}");

    // The replica gone: writes fail, reads still work, and without the setting writes work.
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    replica.kill();
    let err = store.save(&key, &set_n(2), TTL).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable { .. } | StoreError::Timeout(_)),
        "{err:?}"
    );
    assert!(store.load(&key, TTL).await.unwrap().is_some());
    let relaxed = store.clone().replicas(0);
    assert!(relaxed.save(&key, &set_n(3), TTL).await.unwrap());
}

/// The cost of `session_store_replicas = 1` per modifying request, on loopback (printed; the
/// machine may be shared, so the figure is indicative). The round trips are counted by
/// construction: the save and its `WAIT` go in one pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_cost_per_save() {
    let master = Server::start();
    let _replica = Server::replica_of(&master);
    wait_for_replicas(&master, 1);
    let base = RedisStore::open(&master.url())
        .unwrap()
        .prefix(unique_prefix("cost"));
    let key = new_key();
    assert!(base.create(&key, &Record::default(), TTL).await.unwrap());
    // Batches alternate between the two settings; the fastest batch of each is reported,
    // the least disturbed by other work on the machine.
    let mut best = [Duration::MAX; 2];
    let rounds: u32 = 300;
    for batch in 0..10u32 {
        let replicas = batch % 2;
        let store = base.clone().replicas(replicas);
        let started = Instant::now();
        for i in 0..rounds {
            assert!(store.save(&key, &set_n(i64::from(i)), TTL).await.unwrap());
        }
        let per_save = started.elapsed() / rounds;
        let slot = &mut best[usize::try_from(replicas).unwrap()];
        *slot = (*slot).min(per_save);
    }
    eprintln!(
        "per save, fastest of 5 batches of {rounds}: session_store_replicas = 0: {:?}, = 1: {:?}",
        best[0], best[1]
    );
}

/// Creates a session before the failover starts. On a loaded machine a replica may
/// acknowledge later than the store's 500 ms timeout even while in sync (a 503, as it should
/// be): the set-up retries, the failover under load is what the test measures.
async fn create_before_the_failover(store: &RedisStore, key: &StoreKey) {
    for attempt in 1..=20 {
        match store.create(key, &Record::default(), TTL).await {
            // After an unacknowledged attempt the key may exist already: its own earlier write.
            Ok(created) => {
                assert!(created || attempt > 1, "a new key was taken");
                return;
            }
            Err(error) if attempt < 20 => {
                eprintln!("set-up create, attempt {attempt}: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("set-up create failed 20 times: {error}"),
        }
    }
}

async fn sentinel_failover(replicas: u32) -> Outcome {
    let mut set = SentinelSet::start(2);
    let store = RedisStore::open(&set.url())
        .unwrap()
        .prefix(unique_prefix("sentinel"))
        .timeout(Duration::from_millis(500))
        .replicas(replicas);
    let sessions: Vec<StoreKey> = (0..20).map(|_| new_key()).collect();
    for key in &sessions {
        create_before_the_failover(&store, key).await;
    }
    // A destroyed session must stay destroyed through the failover.
    let gone = new_key();
    create_before_the_failover(&store, &gone).await;
    store.delete(&gone).await.unwrap();
    let outcome = failover_under_load(&store, &sessions, || set.master.kill()).await;
    assert!(
        store.load(&gone, TTL).await.unwrap().is_none(),
        "a destroyed session came back"
    );
    eprintln!("sentinel failover, session_store_replicas = {replicas}: {outcome:?}");
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_round_trip_and_url_forms() {
    let set = SentinelSet::start(1);
    let store = RedisStore::open(&set.url()).unwrap();
    assert!(format!("{store:?}").contains("sentinel"));
    let key = new_key();
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    assert!(store.save(&key, &set_n(5), TTL).await.unwrap());
    // It went to the master.
    let mut raw = redis::Client::open(set.master.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let n: Option<String> = redis::cmd("HGET")
        .arg(store.redis_key(&key))
        .arg("d:n")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(n.as_deref(), Some("5"));
    // An unknown service name is a clear error, not a hang or a success.
    let wrong = set.url().replace("/canister", "/nosuchservice");
    let err = RedisStore::open(&wrong)
        .unwrap()
        .timeout(Duration::from_secs(2))
        .ping()
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable { .. } | StoreError::Timeout(_)),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_loses_no_acknowledged_write() {
    let with = sentinel_failover(1).await;
    assert_eq!(with.lost_acknowledged, 0, "{with:?}");
    assert_eq!(with.reset_sessions, Vec::<usize>::new(), "{with:?}");
    assert!(
        with.failures > 0,
        "the kill must have been noticed: {with:?}"
    );
    let without = sentinel_failover(0).await;
    assert!(without.failures > 0, "{without:?}");
}

/// With `session_store_replicas`, a write is its command and `WAIT` in one pipeline: one
/// batch on the wire (one round trip), two commands; reads are unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_write_is_still_one_round_trip() {
    let master = Server::start();
    let _replica = Server::replica_of(&master);
    wait_for_replicas(&master, 1);
    let proxy = CountingProxy::start(&master.url()).await;
    let store = proxy.store("one_trip").replicas(1);
    let key = new_key();
    store.ping().await.unwrap();
    // Warm: scripts loaded.
    assert!(store.create(&key, &Record::default(), TTL).await.unwrap());
    assert!(store.save(&key, &set_n(0), TTL).await.unwrap());
    store.load(&key, TTL).await.unwrap();
    proxy.take();
    for i in 1..=20 {
        assert!(store.save(&key, &set_n(i), TTL).await.unwrap());
    }
    assert_eq!(proxy.take_both(), (40, 20), "20 saves: (commands, batches)");
    store.load(&key, TTL).await.unwrap();
    assert_eq!(proxy.take_both(), (1, 1), "a load");
}
