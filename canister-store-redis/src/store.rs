//! [`RedisStore`]: the connection, the timeouts, and the [`SessionStore`] implementation.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use canister_core::config::Config;
use canister_core::session::{
    user_key, Change, Counter, Record, SessionStore, StoreError, StoreKey, UserSession,
};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{
    Client, Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, Script,
    ServerErrorKind, TlsCertificates, Value,
};

use crate::connect::{self, mask_password, scrub, unavailable, SentinelUrl};
use crate::{layout, scripts};

/// Default key prefix, as `session_store_prefix`.
pub const DEFAULT_PREFIX: &str = "canister:session:";
/// Default time one operation may take, as `session_store_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default lease of a session lock: a holder that crashes blocks the session at most this long.
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(30);

/// The longest time to live or lease sent to Redis, in milliseconds: 2^53 - 1 (about
/// 285 000 years), the largest integer a Lua number holds exactly, well inside the range
/// Redis accepts for `PEXPIRE` and `SET … PX`. Longer durations are cut to it.
const MAX_REDIS_MS: u64 = (1 << 53) - 1;

/// How long a lock wait too long for the clock lasts instead: a year.
const LONGEST_LOCK_WAIT: Duration = Duration::from_secs(365 * 86_400);

/// Suffix of a session's lock key (`<prefix><hex>:lock`).
const LOCK_SUFFIX: &str = ":lock";
/// Longest pause between two attempts to take a held lock.
const MAX_LOCK_PAUSE: Duration = Duration::from_millis(50);

/// Sessions in Redis or Redis Cluster.
///
/// See the [crate documentation](crate) for the stored format and the round trips of each
/// operation. Cloning is cheap and clones share one connection.
///
/// The connection is made on first use, not by the constructors, so an application starts
/// while Redis is down (its session requests fail with [`StoreError::Unavailable`] or
/// [`StoreError::Timeout`] until Redis is back); call [`RedisStore::ping`] at start-up to fail
/// early instead.
///
/// # Broken connections
///
/// A connection whose server went away (a Redis restart, a proxy or firewall that dropped
/// it) is only noticed by the next command, which fails with a broken pipe, a reset or an
/// unexpected end of stream while the connection is remade behind it. So that the first
/// request after a restart does not get a 503, an operation that is safe to repeat is tried
/// **once more, at once**, when its first attempt failed that way; both attempts together
/// stay within [`RedisStore::timeout`]. A refused connection (Redis is down) is not retried:
/// it fails fast, as before.
///
/// The error does not tell whether the command reached Redis before the connection broke
/// (redis-rs reports a broken pipe both when the connection was already closed and when it
/// closed while awaiting the reply), so each operation is retried only if running it twice
/// is harmless:
///
/// | operation | retried | why |
/// |---|---|---|
/// | `ping`, `load` | yes | reads (`load` also refreshes the time to live, which is the same twice) |
/// | `create` | yes | create-if-absent: if the first attempt wrote the session, the second finds the key taken and the engine draws another id; the first record is never known to anyone and expires with its time to live |
/// | `delete` | yes | `DEL` twice deletes once |
/// | `lock` | yes | `SET NX` with this request's random token never takes a lock held by another; if the first attempt took the lock before the connection broke, the retry finds this request's own token in the lock key and keeps it |
/// | `unlock` | yes | deletes the lock only while it holds this request's token |
/// | `save` | **no** | it applies a delta (set, delete, clear): if the first attempt was applied and another request of the session saved in between, applying it again would undo that save. A save follows a load in the same request, which has just remade the connection, so only a connection that breaks within one request fails it |
/// | `cycle` | **no** | if the first attempt moved the session, the second finds the old id gone and would report the login as lost to a concurrent logout, while the session sits under an id nobody holds; a 503 is the honest answer |
#[derive(Clone)]
pub struct RedisStore {
    target: Arc<Target>,
    conn: Arc<Mutex<Option<Conn>>>,
    prefix: String,
    timeout: Duration,
    lock_lease: Duration,
    replicas: u32,
    /// The URL(s) the store was opened with, to mask their passwords in error messages;
    /// never printed.
    url: Arc<str>,
}

impl RedisStore {
    /// A store on one Redis server (or a proxy in front of several).
    ///
    /// `url` is `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS, trusting
    /// the system roots), `redis+unix:///path` or `unix:///path`. A user name selects a Redis
    /// ACL user. No connection is made yet.
    ///
    /// For a CA file or a client certificate, use [`RedisStore::from_config`] (or
    /// [`RedisStore::open_tls`]); for Sentinel, `redis+sentinel://` URLs go through
    /// [`RedisStore::from_config`] too.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the URL does not parse (the message masks its password).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        if connect::is_sentinel(url) {
            return Self::sentinel(url, None);
        }
        if connect::is_tls(url) {
            connect::install_crypto_provider();
        }
        let client = Client::open(url).map_err(|e| bad_url(url, &e))?;
        Ok(Self::from_client(client).with_url(url))
    }

    /// A store on one Redis server over TLS (`rediss://`), trusting the CA certificates and
    /// presenting the client certificate of `certificates` (PEM).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the URL does not parse or is not `rediss://`, or a
    /// certificate or key does not parse.
    pub fn open_tls(url: &str, certificates: TlsCertificates) -> Result<Self, StoreError> {
        if connect::is_sentinel(url) {
            return Self::sentinel(url, Some(certificates));
        }
        if !connect::is_tls(url) {
            return Err(unavailable(format!(
                "session_store: TLS certificates are set (session_store_tls_*) but {:?} is not \
                 a rediss:// URL",
                mask_password(url)
            )));
        }
        connect::install_crypto_provider();
        let client = Client::build_with_tls(url, certificates).map_err(|e| bad_url(url, &e))?;
        Ok(Self::from_client(client).with_url(url))
    }

    /// A store on the master of a Redis Sentinel service:
    /// `redis+sentinel://[user:password@]host[:port][,host2[:port2]…]/service_name[/db]`
    /// (`rediss+sentinel://`: TLS to the sentinels and the data nodes). The port defaults to
    /// 26379. The user and password are those of the data nodes (the sentinels are asked
    /// without credentials). `certificates`: CA and client certificate for TLS.
    ///
    /// Each new connection asks the sentinels for the current master. A connection that
    /// breaks, times out or finds a replica (`READONLY`, after a failover) is dropped, so the
    /// next operation asks again: service returns by itself once the sentinels have promoted
    /// a replica.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the URL does not parse.
    pub fn sentinel(url: &str, certificates: Option<TlsCertificates>) -> Result<Self, StoreError> {
        let parsed = SentinelUrl::parse(url)?;
        if parsed.tls {
            connect::install_crypto_provider();
        } else if certificates.is_some() {
            return Err(unavailable(format!(
                "session_store: TLS certificates are set (session_store_tls_*) but {:?} is not \
                 a rediss+sentinel:// URL",
                mask_password(url)
            )));
        }
        let client = parsed
            .builder(certificates)?
            .build()
            .map_err(|e| bad_url(url, &e))?;
        Ok(Self::with_target(Target::Sentinel(tokio::sync::Mutex::new(client))).with_url(url))
    }

    /// A store on a Redis Cluster, reached through any of the seed `urls` (one is enough; more
    /// help when a node is down). No connection is made yet.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when a URL does not parse or the list is empty.
    pub fn cluster<I, S>(urls: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::cluster_with(urls, None)
    }

    /// A store on a Redis Cluster whose nodes are reached over TLS (`rediss://` seed URLs),
    /// with the CA and client certificate of `certificates` (`None`: the system roots, no
    /// client certificate).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when a URL does not parse or the list is empty.
    pub fn cluster_with<I, S>(
        urls: I,
        certificates: Option<TlsCertificates>,
    ) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        let joined = urls.join(",");
        let tls = urls.iter().any(|u| connect::is_tls(u));
        if tls {
            connect::install_crypto_provider();
        } else if certificates.is_some() {
            return Err(unavailable(format!(
                "session_store: TLS certificates are set (session_store_tls_*) but {:?} are not \
                 rediss:// URLs",
                mask_password(&joined)
            )));
        }
        let mut builder = ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(DEFAULT_TIMEOUT)
            .response_timeout(DEFAULT_TIMEOUT);
        if let Some(certificates) = certificates {
            builder = builder.certs(certificates);
        }
        let client = builder.build().map_err(|e| bad_url(&joined, &e))?;
        Ok(Self::from_cluster_client(client).with_url(&joined))
    }

    /// A store from the `session_store*` settings of a canister configuration:
    ///
    /// - `session_store`: `redis://` or `rediss://` (one server), several comma-separated
    ///   `redis://` / `rediss://` URLs (a cluster), or `redis+sentinel://` /
    ///   `rediss+sentinel://` (a Sentinel service; see [`RedisStore::sentinel`]);
    /// - `session_store_tls_ca`, `session_store_tls_cert`, `session_store_tls_key`: PEM files
    ///   for TLS, read now (they need a `rediss` URL);
    /// - `session_store_prefix`, `session_store_timeout`, `session_store_replicas`.
    ///
    /// No connection is made: see [`RedisStore::connect`] for the constructor that also checks
    /// that Redis answers, as applications should at start-up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when `session_store` is not set (the memory store is
    /// configured), its URL does not parse, or a TLS file cannot be read or parsed. Messages
    /// mask passwords.
    pub fn from_config(config: &Config) -> Result<Self, StoreError> {
        let Some(url) = &config.store.url else {
            return Err(unavailable(
                "session_store is memory: expected a redis://, rediss:// or redis+sentinel:// URL",
            ));
        };
        let url = url.expose().trim();
        let certificates = connect::tls_certificates(config)?;
        let store = if connect::is_sentinel(url) {
            Self::sentinel(url, certificates)?
        } else if url.contains(',') {
            Self::cluster_with(
                url.split(',').map(str::trim).filter(|u| !u.is_empty()),
                certificates,
            )?
        } else if let Some(certificates) = certificates {
            Self::open_tls(url, certificates)?
        } else {
            Self::open(url)?
        };
        Ok(store
            .prefix(config.store.prefix.clone())
            .timeout(config.store.timeout)
            .replicas(config.store.replicas))
    }

    /// The store a configuration asks for, ready to serve: `Ok(None)` when `session_store`
    /// is memory (the engine then keeps sessions itself), else the store of
    /// [`RedisStore::from_config`] once it has answered a `PING`.
    ///
    /// This is the one constructor applications and canister's demos share, so that a wrong
    /// URL, password, CA or client certificate stops start-up with a clear message instead of
    /// failing the first requests:
    ///
    /// ```no_run
    /// # async fn run(config: canister_core::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    /// match canister_store_redis::RedisStore::connect(&config).await? {
    ///     Some(store) => { /* Canister::builder().config(config).store(store).build()? */ }
    ///     None => { /* Canister::builder().config(config).build()? (memory) */ }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`RedisStore::from_config`], and those of [`RedisStore::ping`] (Redis down,
    /// refused credentials, TLS handshake refused), each prefixed with `session_store` and the
    /// masked URL.
    pub async fn connect(config: &Config) -> Result<Option<Self>, StoreError> {
        let Some(url) = &config.store.url else {
            return Ok(None);
        };
        let store = Self::from_config(config)?;
        store.ping().await.map_err(|e| {
            let url = canister_core::config::mask_url(url.expose());
            match e {
                StoreError::Unavailable { message, source } => StoreError::Unavailable {
                    message: format!("session_store {url}: {message}"),
                    source,
                },
                other => unavailable(format!("session_store {url}: {other}")),
            }
        })?;
        Ok(Some(store))
    }

    /// A store on one Redis server through an existing client (e.g. built from a
    /// `redis::ConnectionInfo`).
    pub fn from_client(client: Client) -> Self {
        Self::with_target(Target::Single(client))
    }

    /// A store on the master of a Sentinel service through an existing sentinel client (see
    /// [`RedisStore::sentinel`]).
    pub fn from_sentinel_client(client: SentinelClient) -> Self {
        Self::with_target(Target::Sentinel(tokio::sync::Mutex::new(client)))
    }

    fn with_url(mut self, url: &str) -> Self {
        self.url = Arc::from(url);
        self
    }

    /// A store on a Redis Cluster through an existing cluster client. Its connection and
    /// response timeouts are the client's; every operation is still bounded by
    /// [`RedisStore::timeout`].
    pub fn from_cluster_client(client: ClusterClient) -> Self {
        Self::with_target(Target::Cluster(Box::new(client)))
    }

    /// Sets the key prefix (default `canister:session:`). Stores that share sessions must use
    /// the same prefix.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long one operation may take, connecting included (default 2 s); a slower
    /// operation fails with [`StoreError::Timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many replicas must hold a write before it is acknowledged (default 0,
    /// `session_store_replicas`).
    ///
    /// With `n > 0`, every write (create, save, login id change, delete) is sent in one
    /// pipeline with `WAIT n <ms>`: still one round trip, answered once `n` replicas hold it.
    /// When fewer do within the timeout, the operation fails with
    /// [`StoreError::Unavailable`] (a 503): the write may be on the master, but it was not
    /// acknowledged, so a failover may lose it. Then a failover that promotes one of those
    /// replicas loses no write a client saw succeed (Redis's replication stays asynchronous:
    /// `WAIT` does not make it strongly consistent, but it bounds what an acknowledged write
    /// can lose to a failover that promotes a replica which did not acknowledge).
    #[must_use]
    pub fn replicas(mut self, n: u32) -> Self {
        self.replicas = n;
        self
    }

    /// Sets the lease of session locks (default 30 s): a lock whose holder neither releases it
    /// nor finishes within the lease is freed by Redis.
    ///
    /// # Warning
    ///
    /// A request that holds a lock for longer than the lease loses it without knowing, and
    /// read-modify-write on the session is no longer exact. Keep it well above the slowest
    /// request.
    #[must_use]
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.lock_lease = lease;
        self
    }

    /// Connects if not connected yet and checks that Redis answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", Retry::Once, || async {
            let mut conn = self.conn().await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }

    /// The Redis key of a user's index of sessions: the prefix, `user:`, and the 64 hex digits
    /// of [`user_key`] (a hash of the name: no user name is stored in clear). `None` on Redis
    /// Cluster, which keeps no index (its key would live in another slot than the sessions').
    pub fn index_key(&self, user: &str) -> Option<String> {
        (!self.is_cluster()).then(|| format!("{}user:{}", self.prefix, user_key(user).to_hex()))
    }

    /// The field/value pairs of `record`, with the name of its user's index (`x`) when it is
    /// kept; and that index.
    fn pairs_and_index(
        &self,
        record: &Record,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let mut pairs = layout::record_pairs(record)?;
        let index = record.user.as_ref().and_then(|u| self.index_key(u.name()));
        if let Some(index) = &index {
            pairs.push(layout::INDEX_FIELD.to_owned());
            pairs.push(index.clone());
        }
        Ok((pairs, index))
    }

    /// The Redis key of a session: the prefix followed by the 64 hex digits of its store key.
    /// On a Cluster, a hash tag of the key's first byte comes between them
    /// (`<prefix>{3f}<hex>`), so that a session and the session it becomes at a login share
    /// a slot ([`SessionStore::shard_of`]).
    pub fn redis_key(&self, key: &StoreKey) -> String {
        let hex = key.to_hex();
        let mut out = String::with_capacity(self.prefix.len() + 68);
        out.push_str(&self.prefix);
        if self.is_cluster() {
            out.push('{');
            out.push_str(&hex[..2]);
            out.push('}');
        }
        out.push_str(&hex);
        out
    }

    fn with_target(target: Target) -> Self {
        Self {
            target: Arc::new(target),
            conn: Arc::new(Mutex::new(None)),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            lock_lease: DEFAULT_LOCK_LEASE,
            replicas: 0,
            url: Arc::from(""),
        }
    }

    /// The shared connection, made on first use.
    ///
    /// A single-node connection reconnects by itself after I/O errors (with a backoff capped
    /// at one second); a cluster connection refreshes its slots and reconnects to nodes by
    /// itself. Errors those do not recover from (see [`RedisStore::forget_connection`]) drop
    /// the connection, and the next operation makes a new one.
    async fn conn(&self) -> Result<Conn, RedisError> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let fresh = match &*self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1))
                    .set_number_of_retries(4);
                // Lazy: connects in the background on first use, so no I/O happens here.
                Conn::Single(ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    config,
                )?)
            }
            Target::Cluster(client) => {
                Conn::Cluster(Box::new(client.get_async_connection().await?))
            }
            Target::Sentinel(sentinel) => {
                // Ask the sentinels for the current master, then keep one multiplexed
                // connection to it; it is dropped on errors (see `forget_connection`), so a
                // failover is followed by asking again.
                let client = sentinel.lock().await.async_get_client().await?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(0);
                Conn::Single(ConnectionManager::new_with_config(client, config).await?)
            }
        };
        // Two first operations may race here: keep the first connection, drop the other.
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(slot.get_or_insert(fresh).clone())
    }

    fn cached(&self) -> Option<Conn> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the shared connection after an error it would not recover from by itself: the
    /// connection manager only reconnects after I/O errors, so a failed handshake (wrong
    /// password, or `LOADING` while a restarted Redis reads its dump) would otherwise be
    /// answered forever, even after Redis is fixed.
    ///
    /// Behind Sentinel, a connection is also dropped when it broke, was refused or timed out,
    /// or found a replica (`READONLY`, `MASTERDOWN`): the master may have changed, and the
    /// next operation asks the sentinels again.
    fn forget_connection(&self, error: &RedisError) {
        let stuck = matches!(
            error.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::Server(ServerErrorKind::NoPerm)
        );
        let moved = matches!(*self.target, Target::Sentinel(_))
            && (error.is_connection_dropped()
                || error.is_connection_refusal()
                || error.is_timeout()
                || error.is_io_error()
                || matches!(
                    error.kind(),
                    ErrorKind::Server(ServerErrorKind::ReadOnly)
                        | ErrorKind::Server(ServerErrorKind::MasterDown)
                ));
        if stuck || moved {
            self.forget();
        }
    }

    fn forget(&self) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn is_cluster(&self) -> bool {
        matches!(*self.target, Target::Cluster(_))
    }

    /// Runs one operation under the timeout and maps its error.
    ///
    /// `attempt` makes the request. With [`Retry::Once`], when the first attempt finds the
    /// connection broken ([`is_broken`]), it is called once more at once, within what is left
    /// of the timeout (the connection manager is remaking the connection by then, and the
    /// second attempt waits for it); see "Broken connections" on [`RedisStore`].
    async fn run<T, F, Fut>(
        &self,
        op: &'static str,
        retry: Retry,
        attempt: F,
    ) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let started = tokio::time::Instant::now();
        let first = match tokio::time::timeout(self.timeout, attempt()).await {
            Err(_) => return Err(self.timed_out()),
            Ok(result) => result,
        };
        let result = match first {
            Err(e) if retry == Retry::Once && is_broken(&e) => {
                let left = self.timeout.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, attempt()).await {
                    Err(_) => return Err(self.timed_out()),
                    Ok(result) => result,
                }
            }
            other => other,
        };
        result.map_err(|e| {
            self.forget_connection(&e);
            self.map_error(op, e)
        })
    }

    /// The error of an operation that ran out of time. Behind Sentinel the connection is
    /// dropped too: a master that stopped answering may have been replaced.
    fn timed_out(&self) -> StoreError {
        if matches!(*self.target, Target::Sentinel(_)) {
            self.forget();
        }
        StoreError::Timeout(self.timeout)
    }

    fn map_error(&self, op: &'static str, error: RedisError) -> StoreError {
        if error.is_timeout() {
            return StoreError::Timeout(self.timeout);
        }
        if error.code() == Some("WRONGTYPE") {
            return StoreError::Corrupt(format!(
                "{op}: the key holds a value that is not a session hash"
            ));
        }
        let text = error.to_string();
        let mut clean = scrub(&text, &self.url);
        if let Some(password) = self.password().filter(|p| !p.is_empty()) {
            clean = clean.replace(password, "********");
        }
        if clean == text {
            StoreError::unavailable(format!("redis {op} failed"), error)
        } else {
            // Never let a password through, even if a future redis version prints it: the
            // source error is dropped too, as it would print it.
            StoreError::Unavailable {
                message: format!("redis {op} failed: {clean}"),
                source: None,
            }
        }
    }

    fn password(&self) -> Option<&str> {
        match &*self.target {
            Target::Single(client) => client.get_connection_info().redis_settings().password(),
            // The cluster and sentinel clients do not expose their credentials: the URL the
            // store was opened with is scrubbed instead.
            Target::Cluster(_) | Target::Sentinel(_) => None,
        }
    }

    /// Sends `command` and, with [`RedisStore::replicas`] set, `WAIT n <ms>` in the same
    /// pipeline (one round trip); fails unless `n` replicas acknowledged the write.
    async fn write<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
        command: Cmd,
    ) -> Result<T, RedisError> {
        if self.replicas == 0 {
            return command.query_async(conn).await;
        }
        // WAIT's own timeout leaves a quarter of the operation's for the answer to come
        // back, so that the caller learns how many replicas answered rather than a bare
        // timeout.
        let wait_ms = u64::try_from((self.timeout * 3 / 4).as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut pipe = redis::pipe();
        pipe.add_command(command)
            .cmd("WAIT")
            .arg(self.replicas)
            .arg(wait_ms);
        let (value, acked): (T, i64) = pipe.query_async(conn).await?;
        if acked < i64::from(self.replicas) {
            // Not an I/O error: the connection is fine, and the write is not retried.
            return Err(RedisError::from((
                ErrorKind::Client,
                "not acknowledged by enough replicas",
                format!(
                    "{acked} of the {} replicas of session_store_replicas held the write \
                     within {wait_ms} ms",
                    self.replicas
                ),
            )));
        }
        Ok(value)
    }

    /// Runs `script` on `keys` and `args` as a write (see [`RedisStore::write`]): `EVALSHA`,
    /// and on `NOSCRIPT` (Redis restarted or flushed its scripts) `SCRIPT LOAD` and once more
    /// — safe, as a `NOSCRIPT` answer means nothing ran.
    async fn write_script<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
        script: &Script,
        keys: &[&str],
        args: impl Fn(&mut Cmd),
    ) -> Result<T, RedisError> {
        let command = || {
            let mut eval = redis::cmd("EVALSHA");
            eval.arg(script.get_hash()).arg(keys.len()).arg(keys);
            args(&mut eval);
            eval
        };
        match self.write(conn, command()).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                script.load_async(conn).await?;
                self.write(conn, command()).await
            }
            other => other,
        }
    }

    /// Creates `key` if free. `retry`: [`Retry::Once`] for a new session (a "taken" answer
    /// after a retry only costs another id), [`Retry::Never`] within a cluster `cycle`
    /// (there it would read as a lost login).
    async fn create_at(
        &self,
        key: &str,
        pairs: &[String],
        index: Option<&str>,
        ttl: Option<Duration>,
        retry: Retry,
    ) -> Result<bool, StoreError> {
        let keys: Vec<&str> = std::iter::once(key).chain(index).collect();
        self.run("create", retry, || async {
            let mut conn = self.conn().await?;
            self.write_script::<i64>(&mut conn, &scripts::CREATE, &keys, |c| {
                c.arg(ttl_ms(ttl)).arg(pairs);
            })
            .await
        })
        .await
        .map(|n| n == 1)
    }

    /// Deletes `key`; whether it existed. `retry` as for [`create_at`](Self::create_at): a
    /// retried `DEL` answers "did not exist", which a cluster `cycle` must not be told.
    async fn delete_at(&self, key: &str, retry: Retry) -> Result<bool, StoreError> {
        self.run("delete", retry, || async {
            let mut conn = self.conn().await?;
            self.write_script::<i64>(&mut conn, &scripts::DELETE, &[key], |_| {})
                .await
        })
        .await
        .map(|n| n > 0)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The clients' Debug output would show the password: print the kind only.
        let kind = match *self.target {
            Target::Single(_) => "single",
            Target::Cluster(_) => "cluster",
            Target::Sentinel(_) => "sentinel",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("lock_lease", &self.lock_lease)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}

impl SessionStore for RedisStore {
    type Lock = RedisLock;

    /// One round trip: a script returns the hash and refreshes the time to live.
    async fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> Result<Option<Record>, StoreError> {
        let key = self.redis_key(key);
        let flat = self
            .run("load", Retry::Once, || async {
                let mut conn = self.conn().await?;
                let mut call = scripts::LOAD.prepare_invoke();
                call.key(&key).arg(ttl_ms(ttl));
                call.invoke_async::<Option<Vec<Vec<u8>>>>(&mut conn).await
            })
            .await?;
        flat.map(layout::decode).transpose()
    }

    /// One round trip: a script writes only if the key is free.
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let (pairs, index) = self.pairs_and_index(record)?;
        self.create_at(
            &self.redis_key(key),
            &pairs,
            index.as_deref(),
            ttl,
            Retry::Once,
        )
        .await
    }

    /// One round trip: a script applies `HDEL`/`HSET` only if the session exists.
    async fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let args = layout::change_args(change)?;
        let key = self.redis_key(key);
        // Never repeated: see "Broken connections" on `RedisStore`.
        self.run("save", Retry::Never, || async {
            let mut conn = self.conn().await?;
            self.write_script::<i64>(&mut conn, &scripts::SAVE, &[&key], |c| {
                c.arg(ttl_ms(ttl)).arg(&args);
            })
            .await
        })
        .await
        .map(|n| n == 1)
    }

    /// One round trip, atomic: a script creates `new` and deletes `old`. On a Cluster too
    /// when the two keys share a slot, which the engine arranges ([`shard_of`]): the new id is
    /// drawn until its key's first byte, the hash tag, is the old one's. For keys in two slots
    /// (a caller that did not draw so), two round trips — create `new` if free, then delete
    /// `old`; if `old` had ended meanwhile, `new` is deleted again and the answer is `false`.
    ///
    /// [`shard_of`]: SessionStore::shard_of
    async fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let (pairs, index) = self.pairs_and_index(record)?;
        let (old_key, new_key) = (*old, *new);
        let (old, new) = (self.redis_key(old), self.redis_key(new));
        // Never repeated: see "Broken connections" on `RedisStore`.
        if self.is_cluster() && old_key.as_bytes()[0] != new_key.as_bytes()[0] {
            if !self
                .create_at(&new, &pairs, None, ttl, Retry::Never)
                .await?
            {
                return Ok(false);
            }
            if self.delete_at(&old, Retry::Never).await? {
                return Ok(true);
            }
            self.delete_at(&new, Retry::Never).await?;
            return Ok(false);
        }
        self.run("cycle", Retry::Never, || async {
            let mut conn = self.conn().await?;
            let keys: Vec<&str> = [old.as_str(), new.as_str()]
                .into_iter()
                .chain(index.as_deref())
                .collect();
            self.write_script::<i64>(&mut conn, &scripts::CYCLE, &keys, |c| {
                c.arg(ttl_ms(ttl)).arg(&pairs);
            })
            .await
        })
        .await
        .map(|n| n == 1)
    }

    /// On a Cluster, the key's first byte: the hash tag of its Redis key (256 slots used, so
    /// about 256 draws of a new id per login there). Elsewhere `None`: one shard.
    fn shard_of(&self, key: &StoreKey) -> Option<u16> {
        self.is_cluster().then(|| u16::from(key.as_bytes()[0]))
    }

    /// One round trip: a script deletes the session and its entry in its user's index.
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.delete_at(&self.redis_key(key), Retry::Once)
            .await
            .map(drop)
    }

    /// `SET <key>:lock <token> NX PX <lease>`, retried with pauses of up to 50 ms until `wait`
    /// has passed.
    async fn lock(&self, key: &StoreKey, wait: Duration) -> Result<RedisLock, StoreError> {
        let mut lock = RedisLock {
            key: format!("{}{LOCK_SUFFIX}", self.redis_key(key)),
            token: token()?,
            store: None,
        };
        let lease_ms = u64::try_from(self.lock_lease.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_REDIS_MS);
        // `now + wait` panicked for a wait past the clock's range (`session_lock_timeout =
        // 1e19`, every request): such a wait is as good as a year, which cannot overflow.
        let start = tokio::time::Instant::now();
        let deadline = start
            .checked_add(wait)
            .or_else(|| start.checked_add(LONGEST_LOCK_WAIT))
            .unwrap_or(start);
        let mut pause = Duration::from_millis(2);
        loop {
            let (key, token) = (&lock.key, &lock.token);
            let again = AtomicBool::new(false);
            let taken = self
                .run("lock", Retry::Once, || async {
                    let retried = again.swap(true, Ordering::Relaxed);
                    let mut conn = self.conn().await?;
                    let taken = redis::cmd("SET")
                        .arg(key)
                        .arg(token)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease_ms)
                        .query_async::<Option<String>>(&mut conn)
                        .await?;
                    if taken.is_none() && retried {
                        // The first attempt may have taken the lock before the connection
                        // broke: the token is this request's alone, so the lock is ours if
                        // it holds it.
                        let holder = redis::cmd("GET")
                            .arg(key)
                            .query_async::<Option<String>>(&mut conn)
                            .await?;
                        if holder.as_deref() == Some(token.as_str()) {
                            return Ok(holder);
                        }
                    }
                    Ok(taken)
                })
                .await?;
            if taken.is_some() {
                // Held from here on: dropping it releases it.
                lock.store = Some(self.clone());
                return Ok(lock);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::LockTimeout(wait));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_LOCK_PAUSE);
        }
    }

    /// One round trip: a script deletes the lock key only if it still holds this lock's
    /// token. A failure is ignored: the lease frees the lock.
    async fn unlock(&self, mut lock: RedisLock) {
        lock.store = None;
        self.release_lock(&lock.key, &lock.token).await;
    }

    /// One round trip: a script reads the user's index (a sorted set), the creation and
    /// last-seen fields of each session in it, and drops the sessions that ended.
    ///
    /// The index is written in the same scripts as the sessions (create, login, logout,
    /// delete), with a time to live at least as long as its longest-lived session's, so it
    /// never outlives them. **Not on Redis Cluster**: a user's index lives in another slot
    /// than the user's sessions, so it could not be updated atomically with them; there this
    /// answers [`StoreError::Unavailable`] (and `session_max_per_user` with it).
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let Some(index) = self.index_key(user) else {
            return Err(unavailable(
                "Redis Cluster keeps no per-user session index (its key would live in another \
                 slot than the sessions'): listing a user's sessions and session_max_per_user \
                 need a single Redis node or Sentinel",
            ));
        };
        let flat = self
            .run("list", Retry::Once, || async {
                let mut conn = self.conn().await?;
                self.write_script::<Vec<String>>(&mut conn, &scripts::LIST, &[&index], |_| {})
                    .await
            })
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        for item in flat.chunks_exact(3) {
            let Some(key) = item[0]
                .strip_prefix(self.prefix.as_str())
                .and_then(layout::key_from_hex)
            else {
                continue;
            };
            let ms = |v: &str| v.parse::<u64>().ok();
            out.push(UserSession {
                key,
                created_ms: ms(&item[1]),
                seen_ms: ms(&item[2]),
            });
        }
        out.sort_by_key(|s| (s.created_ms, s.seen_ms));
        Ok(out)
    }

    /// One round trip on a single node or Sentinel (a script counts at every key); one per
    /// counter on a Cluster. Each counter is a string key `<prefix>throttle:<hex>` holding
    /// `<count>:<since ms>`, expiring when its window ends.
    async fn count_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> Result<Vec<Counter>, StoreError> {
        let flat = self
            .throttle_script("count", &scripts::COUNT, counters, now_ms)
            .await?;
        if flat.len() != 2 * counters.len() {
            return Err(StoreError::Corrupt(format!(
                "the throttling script answered {} numbers for {} counters",
                flat.len(),
                counters.len()
            )));
        }
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Counter {
                count: pair[0],
                since_ms: pair[1],
            })
            .collect())
    }

    /// As [`count_attempt`](SessionStore::count_attempt): one round trip, one per counter
    /// on a Cluster.
    async fn refund_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.throttle_script("refund", &scripts::REFUND, counters, now_ms)
            .await
            .map(drop)
    }
}

impl RedisStore {
    /// The Redis key of a login throttling counter: the prefix, `throttle:`, and the
    /// counter's key in hex (no user name or address in Redis).
    pub fn throttle_redis_key(&self, key: &StoreKey) -> String {
        format!("{}throttle:{}", self.prefix, key.to_hex())
    }

    /// Runs a throttling script on `counters`: all in one call on a single node or
    /// Sentinel, one call per counter on a Cluster (their keys live in different slots).
    /// Never repeated after a broken connection: a repeated count would count twice.
    async fn throttle_script(
        &self,
        op: &'static str,
        script: &Script,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let groups: Vec<&[(StoreKey, Duration)]> = if self.is_cluster() {
            counters.chunks(1).collect()
        } else {
            vec![counters]
        };
        let mut out = Vec::with_capacity(2 * counters.len());
        for group in groups {
            let keys: Vec<String> = group
                .iter()
                .map(|(key, _)| self.throttle_redis_key(key))
                .collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let windows: Vec<u64> = group
                .iter()
                .map(|(_, window)| {
                    u64::try_from(window.as_millis())
                        .unwrap_or(u64::MAX)
                        .clamp(1, MAX_REDIS_MS)
                })
                .collect();
            let answer = self
                .run(op, Retry::Never, || async {
                    let mut conn = self.conn().await?;
                    self.write_script::<Vec<u64>>(&mut conn, script, &keys, |c| {
                        c.arg(now_ms).arg(&windows);
                    })
                    .await
                })
                .await?;
            out.extend(answer);
        }
        Ok(out)
    }

    async fn release_lock(&self, key: &str, token: &str) {
        let _ = self
            .run("unlock", Retry::Once, || async {
                let mut conn = self.conn().await?;
                let mut call = scripts::UNLOCK.prepare_invoke();
                call.key(key).arg(token);
                call.invoke_async::<i64>(&mut conn).await
            })
            .await;
    }
}

/// A session lock held in Redis: the lock key and this holder's random token.
///
/// Release it with [`SessionStore::unlock`]. Dropping it unreleased (the request was
/// cancelled: the client went away) releases it in the background on the current tokio
/// runtime; only without a runtime does it wait for its lease to run out.
pub struct RedisLock {
    key: String,
    token: String,
    /// The store to release it in when dropped; `None` once released (or never taken).
    store: Option<RedisStore>,
}

impl Drop for RedisLock {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (key, token) = (
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            runtime.spawn(async move { store.release_lock(&key, &token).await });
        }
    }
}

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Whether an operation may be tried again after a broken connection (see "Broken
/// connections" on [`RedisStore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Repeating it is harmless: once more, at once.
    Once,
    /// Its first attempt may have been applied, and a second one would not be harmless.
    Never,
}

/// Whether `error` says the connection broke under the command (broken pipe, reset,
/// aborted, unexpected end of stream, not connected): the connection manager is then
/// remaking it. A refused connection is not broken but down: retrying at once would fail
/// the same way, so it is not included.
fn is_broken(error: &RedisError) -> bool {
    error.is_connection_dropped() && !error.is_connection_refusal()
}

/// Where the store connects.
enum Target {
    Single(Client),
    Cluster(Box<ClusterClient>),
    /// Asked for the master at each new connection.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// One shared, multiplexed connection (cheap to clone).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(Box<ClusterConnection>),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The time to live argument of the scripts: milliseconds, `0` for none.
fn ttl_ms(ttl: Option<Duration>) -> u64 {
    match ttl {
        None => 0,
        // A zero duration would mean "no time to live": keep it the shortest real one. A
        // longer one than Redis takes made every write fail (`u64::MAX` is out of range):
        // it is cut to the longest the scripts pass on exactly.
        Some(d) => u64::try_from(d.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_REDIS_MS),
    }
}

/// 128 random bits from the operating system, as hex.
fn token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        StoreError::unavailable("no random source for the lock token", e.to_string())
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn bad_url(url: &str, error: &RedisError) -> StoreError {
    let masked = mask_password(url);
    let text = scrub(&error.to_string(), url);
    unavailable(format!(
        "session_store {masked:?}: {text}; expected \
         redis://[[user]:password@]host[:port][/db], rediss://… (TLS), redis+unix:///path or \
         redis+sentinel://[user:password@]host[:port][,host2[:port2]…]/service_name[/db]"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(
            mask_password("redis://user:s3cret@host:6379/2"),
            "redis://user:********@host:6379/2"
        );
        assert_eq!(
            mask_password("redis://:pw@h,redis://h2"),
            "redis://:********@h,redis://h2"
        );
        assert_eq!(mask_password("redis://host"), "redis://host");
    }

    #[test]
    fn bad_url_hides_the_password() {
        let err = RedisStore::open("rediss://u:topsecret@").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("session_store"), "{text}");
    }

    #[test]
    fn redis_key_is_prefix_and_hex() {
        let store = RedisStore::open("redis://127.0.0.1:1")
            .unwrap()
            .prefix("p:");
        let key = StoreKey::from_bytes([0xab; 32]);
        assert_eq!(store.redis_key(&key), format!("p:{}", "ab".repeat(32)));
    }

    #[test]
    fn debug_hides_the_url() {
        let store = RedisStore::open("redis://:topsecret@127.0.0.1:1").unwrap();
        assert!(!format!("{store:?}").contains("topsecret"));
    }

    #[test]
    fn broken_connections_are_told_from_refused_ones() {
        use std::io::{Error, ErrorKind as Io};
        let io = |kind: Io| RedisError::from(Error::from(kind));
        for kind in [
            Io::BrokenPipe,
            Io::ConnectionReset,
            Io::ConnectionAborted,
            Io::UnexpectedEof,
            Io::NotConnected,
        ] {
            assert!(is_broken(&io(kind)), "{kind:?}");
        }
        for kind in [Io::ConnectionRefused, Io::TimedOut, Io::PermissionDenied] {
            assert!(!is_broken(&io(kind)), "{kind:?}");
        }
        assert!(!is_broken(&RedisError::from((
            ErrorKind::AuthenticationFailed,
            "no"
        ))));
    }

    #[test]
    fn ttl_argument() {
        assert_eq!(ttl_ms(None), 0);
        assert_eq!(ttl_ms(Some(Duration::ZERO)), 1);
        assert_eq!(ttl_ms(Some(Duration::from_secs(2))), 2000);
        // Finding 13: `u64::MAX` made Redis refuse every write.
        assert_eq!(ttl_ms(Some(Duration::MAX)), MAX_REDIS_MS);
    }
}
