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
//! With a canister configuration, [`RedisStore::connect`] is the one constructor applications
//! (and canister's demos) use: it reads the `session_store*` settings, returns `None` for the
//! memory store, and pings Redis so that a wrong URL, password or certificate stops start-up.
//! [`RedisStore::from_config`] does the same without connecting. For a cluster in code, use
//! [`RedisStore::cluster`]; for Sentinel, [`RedisStore::sentinel`].
//!
//! # Redis in production
//!
//! | `session_store` | what |
//! |---|---|
//! | `redis://[user:password@]host[:port][/db]` | one server; a user name selects an ACL user |
//! | `rediss://…` | the same over TLS (rustls): the server's certificate must chain to the system roots or to `session_store_tls_ca` |
//! | `redis://h1:p1,redis://h2:p2,…` (or `rediss://`) | a Redis Cluster, through any of these seed nodes |
//! | `redis+sentinel://[user:password@]host[:port][,host2[:port2]…]/service_name[/db]` | the master of a Sentinel service (port 26379 by default); `rediss+sentinel://` is TLS to both the sentinels and the data nodes. The user and password are the data nodes' |
//!
//! - **TLS**: `session_store_tls_ca` (PEM CA certificates; unset: the system roots),
//!   `session_store_tls_cert` and `session_store_tls_key` (PEM client certificate and key,
//!   for servers started with `tls-auth-clients yes`). The files are read when the store is
//!   built: a missing file, or TLS files with a plain `redis://` URL, stop start-up. A server
//!   certificate that does not chain to the trusted CAs, or a server that refuses the
//!   client's certificate, fails the handshake: [`RedisStore::connect`] stops start-up, and
//!   a store built without connecting answers [`StoreError::Unavailable`](canister_core::session::StoreError)
//!   (a 503), never a success.
//! - **Passwords** are masked (`********`) in the banner (`canister_core::config::mask_url`),
//!   in every error message of this crate and so in every log line the engine writes about
//!   the store, and in `Debug` output.
//! - **`session_store_replicas = N`**: every write is pipelined with `WAIT N <ms>` (one
//!   round trip still) and acknowledged only once N replicas hold it; fewer within
//!   `session_store_timeout` is a 503. See [`RedisStore::replicas`].
//! - **Failover**: behind Sentinel, a broken, refused or timed-out connection, or one that
//!   finds a replica (`READONLY`), is dropped and the sentinels are asked again; on a
//!   Cluster, the client follows the new slot map. Meanwhile the sessions on the lost master
//!   answer 503; none is reset or brought back. The figures measured are in HARDENING.md
//!   ("Redis failures").
//!
//! # Stored format
//!
//! This format is shared by every canister application that uses the same Redis and prefix,
//! whatever its framework; it is versioned by the `v` field.
//!
//! - **Key**: the prefix (default `canister:session:`) followed by the 64 lowercase hex digits
//!   of the SHA-256 of the session id ([`StoreKey::to_hex`](canister_core::session::StoreKey)).
//!   On a Redis Cluster, a hash tag of the first two of those digits comes between them
//!   (`canister:session:{3f}3f…`; see "Redis Cluster" below). A dump of Redis holds no usable
//!   session id.
//! - **Value**: a Redis hash with these fields:
//!
//!   | field | value |
//!   |---|---|
//!   | `v` | the format version, `1`. Always present, so a session without data still exists |
//!   | `u` | the logged-in user as JSON (`{"name": …, "claims": …}`); absent when nobody is |
//!   | `d:<key>` | one per data key: the JSON text of its value |
//!   | `c` | when the session was created or last logged in or out, in Unix milliseconds (`session_max_lifetime` counts from it); absent in sessions of older versions |
//!   | `r` | a remembered login's own time to live in milliseconds (`session_remember_timeout`); absent otherwise |
//!
//!   Readers ignore fields they do not know and refuse other versions
//!   ([`StoreError::Corrupt`](canister_core::session::StoreError::Corrupt)).
//! - **Time to live**: the key's own expiry (`PEXPIRE`, milliseconds), set by every save and
//!   refreshed by a load only when less than 80 % of it remains (to the `r` field's when
//!   present); a session without timeout has none (`PERSIST`).
//! - **Login throttling counters** (`auth_throttle`, `auth_throttle_ip`): the string key
//!   `<prefix>throttle:<hex>` (the SHA-256 of the user name or client address with a kind
//!   tag, `canister_core::session::throttle_key`) holding `<count>:<since ms>`: the attempts
//!   counted in the window and when it began, by the engine's clock; it expires when the
//!   window ends.
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
//! | `load` | script: `HGETALL`, `PTTL`, then `PEXPIRE` only under 80 % of the time to live | 1 |
//! | `create` | script: `HSET` + `PEXPIRE` only if the key does not exist | 1 |
//! | `save` | script: `HDEL`/`HSET` of the changed fields + `PEXPIRE` only if the key exists | 1 |
//! | `cycle` | script: create new + delete old, only if old exists and new is free | 1 (on a Cluster too: the engine draws the new key in the old one's slot) |
//! | any write, with `session_store_replicas = N` | the same, pipelined with `WAIT N <ms>` | same |
//! | `delete` | `DEL` | 1 |
//! | `lock` / `unlock` | `SET NX PX` per attempt / script | 1 per attempt / 1 |
//! | `count_attempt` / `refund_attempt` (login throttling) | script: `GET` + `SET … PX` / `GET` + `SET … KEEPTTL` per counter | 1 (cluster: 1 per counter) |
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
//! Every operation touches one key, except `cycle` (the change of id at a login, a logout or
//! a `regenerate`), which touches the old and the new key. On a Cluster a session's key
//! carries a hash tag, its store key's first byte (`<prefix>{3f}<hex>`), and the store tells
//! the engine so ([`SessionStore::shard_of`](canister_core::session::SessionStore::shard_of)):
//! the engine then draws the new id until its key has the old key's first byte (256 tags, so
//! about 256 draws of 32 random bytes and a SHA-256 each, a fraction of a millisecond per
//! login), and `cycle` is the same single script as on one server, atomic. Sessions spread
//! over 256 slots, which the cluster spreads over its masters; a session keeps its slot for
//! its whole life (logins and logouts included), and new sessions draw theirs at random.
//!
//! Should the engine ever settle for a new key in another slot (after 4 096 draws; with
//! 256 tags, less than once in ten million changes), or a caller pass two keys of different
//! slots, `cycle` falls back to two round trips: create the new session if its key is free,
//! then delete the old one; if the old one had ended in between, the new one is deleted
//! again and `cycle` answers `false`. Only that fallback allows what a two-step move allows:
//! a save to the *old* id landing between the steps is lost, and a crash between them leaves
//! the old, pre-login session alive until it expires (never holding the login: no fixation).
//!
//! Before this layout (issue #21), Cluster keys had no hash tag: a Cluster deployment that
//! upgrades loses its live sessions (users sign in again). Single servers and Sentinel keep
//! the untagged layout, unchanged.
//!
//! The per-user index (listing a user's sessions, `session_max_per_user`) is not kept on a
//! Cluster: a user's sessions live in many slots, so it could not be written atomically with
//! them; those features answer 503 there.
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
//! | `rustls` | TLS for `rediss://` (through the `redis` crate's `tokio-rustls-comp`), with the `ring` provider: no C toolchain beyond a C compiler, no OpenSSL. Installed as the process default only if the application installed none |
//! | `percent-encoding` | the user and password of `redis+sentinel://` URLs |
#![forbid(unsafe_code)]

mod connect;
mod layout;
mod scripts;
mod store;

pub use redis::{ClientTlsConfig, TlsCertificates};
pub use store::{RedisLock, RedisStore, DEFAULT_LOCK_LEASE, DEFAULT_PREFIX, DEFAULT_TIMEOUT};
