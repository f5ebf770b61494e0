//! Sessions in Redis and Redis Cluster for canister.
//!
//! [`RedisStore`] implements canister's [`SessionStore`](canister_core::session::SessionStore),
//! so every instance of an application — axum, Rocket or warp alike — sees the same sessions.
//! It keeps one multiplexed connection that reconnects by itself, bounds every operation by a
//! timeout, stores sessions under a hash of their id, and writes back only what a request
//! changed.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use canister_core::session::{Change, Record, SessionStore, StoreKey};
//! use canister_store_redis::RedisStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::open("redis://127.0.0.1:6379/0")?
//!     .prefix("myapp:session:")
//!     .timeout(Duration::from_millis(500));
//! store.ping().await?; // fail at start-up rather than on the first request
//!
//! let key = StoreKey::from_bytes([7; 32]); // the engine derives it from the session id
//! let ttl = Some(Duration::from_secs(3600));
//! assert!(store.create(&key, &Record::default(), ttl).await?);
//!
//! let change = Change {
//!     set: vec![("counter".to_owned(), 1.into())],
//!     ..Change::default()
//! };
//! assert!(store.save(&key, &change, ttl).await?);
//! let record = store.load(&key, ttl).await?.expect("the session exists");
//! assert_eq!(record.data["counter"], 1);
//! # Ok(())
//! # }
//! ```
//!
//! With a canister configuration, `session_store = redis://…` (several comma-separated URLs
//! for a cluster), `session_store_prefix` and `session_store_timeout` are read by
//! [`RedisStore::from_config`]. For a cluster in code, use [`RedisStore::cluster`].
//!
//! # Stored format
//!
//! This format is shared by every canister application that uses the same Redis and prefix,
//! whatever its framework; it is versioned by the `v` field.
//!
//! - **Key**: the prefix (default `canister:session:`) followed by the 64 lowercase hex digits
//!   of the SHA-256 of the session id ([`StoreKey::to_hex`](canister_core::session::StoreKey)).
//!   A dump of Redis holds no usable session id.
//! - **Value**: a Redis hash with these fields:
//!
//!   | field | value |
//!   |---|---|
//!   | `v` | the format version, `1`. Always present, so a session without data still exists |
//!   | `u` | the logged-in user as JSON (`{"name": …, "claims": …}`); absent when nobody is |
//!   | `d:<key>` | one per data key: the JSON text of its value |
//!
//!   Readers ignore fields they do not know and refuse other versions
//!   ([`StoreError::Corrupt`](canister_core::session::StoreError::Corrupt)).
//! - **Time to live**: the key's own expiry (`PEXPIRE`, milliseconds), refreshed by every load
//!   and save; a session without timeout has none (`PERSIST`).
//! - **Lock** (`session_locking = true`): the string key `<session key>:lock` holding the
//!   holder's random token, set with `SET NX PX <lease>` (default lease 30 s) and released by a
//!   script that deletes it only if it still holds that token.
//!
//! # Round trips
//!
//! Each operation is one Lua script (`EVALSHA`) or one command, so it is atomic and costs one
//! round trip:
//!
//! | operation | Redis | round trips |
//! |---|---|---|
//! | `load` | script: `HGETALL`, then `PEXPIRE`/`PERSIST` if found | 1 |
//! | `create` | script: `HSET` + `PEXPIRE` only if the key does not exist | 1 |
//! | `save` | script: `HDEL`/`HSET` of the changed fields + `PEXPIRE` only if the key exists | 1 |
//! | `cycle` | script: create new + delete old, only if old exists and new is free | 1 (cluster: 2) |
//! | `delete` | `DEL` | 1 |
//! | `lock` / `unlock` | `SET NX PX` per attempt / script | 1 per attempt / 1 |
//!
//! So a read-only request costs one round trip, a modifying one two (load, then save), and a
//! request that never touches its session none. The first use of a script after Redis
//! restarted (or flushed its script cache) costs two more (`NOSCRIPT`, `SCRIPT LOAD`, retry).
//! After a connection broke (Redis restarted), `load`, `create`, `delete`, `lock`, `unlock`
//! and `ping` are tried once more at once, so the first request after a restart does not get
//! a 503; `save` and `cycle` are not, as their first attempt may have been applied (see
//! "Broken connections" on [`RedisStore`]).
//!
//! A save never brings back a session that was destroyed or expired meanwhile, and creation
//! never takes over an existing session. Concurrent saves that change different keys keep each
//! other's writes, since each writes only its own fields.
//!
//! # Redis Cluster
//!
//! Every operation touches one key, except `cycle`, whose old and new keys (random hashes) fall
//! in different slots. On a cluster `cycle` is therefore two round trips: create the new
//! session if its key is free, then delete the old one; if the old one had ended in between,
//! the new one is deleted again and `cycle` answers `false`. The new id is not known to anyone
//! yet, so no other request can observe that short-lived copy. (A hash tag such as
//! `{…}` cannot help: it would have to be shared by old and new keys, putting every session of
//! a lineage — or every session — in one slot.)
//!
//! # Failures
//!
//! Every operation, connecting included, is bounded by [`RedisStore::timeout`] (default 2 s,
//! `session_store_timeout`) and fails with `StoreError::Timeout` when it runs out; a refused or
//! broken connection fails with `StoreError::Unavailable`, whose message never contains the
//! password. The connection is re-established in the background (backoff capped at 1 s), so
//! operations succeed again shortly after Redis is back, without recreating the store.
//!
//! # Dependencies
//!
//! | crate | why |
//! |---|---|
//! | `redis` | the client: multiplexed connection manager, cluster connection, scripts |
//! | `tokio` | operation timeouts and the pauses while waiting for a lock (the `redis` crate runs on tokio) |
//! | `serde_json` | values and the user are stored as JSON text |
//! | `getrandom` | lock tokens from the operating system's random source |
//!
//! `rediss://` (TLS) needs the `redis` crate's TLS support, which this build does not enable.
#![forbid(unsafe_code)]

mod layout;
mod scripts;
mod store;

pub use store::{RedisLock, RedisStore, DEFAULT_LOCK_LEASE, DEFAULT_PREFIX, DEFAULT_TIMEOUT};
