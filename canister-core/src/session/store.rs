//! The session store contract.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::User;

/// Session data: a JSON object of the keys the application stored.
pub type Data = serde_json::Map<String, serde_json::Value>;

/// The key a session is stored under: the SHA-256 of its id.
///
/// A dump of the store holds no usable session id. [`StoreKey::to_hex`] is the textual form
/// stores use (64 lowercase hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(pub(crate) [u8; 32]);

impl StoreKey {
    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }

    /// A key from its 32 bytes (stores that keep raw bytes; tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({}…)", &self.to_hex()[..12])
    }
}

/// Everything a store keeps for one session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The application's data.
    pub data: Data,
    /// The logged-in user, if any.
    pub user: Option<User>,
    /// What the engine keeps about the session itself (creation time, remembered login).
    #[serde(default)]
    pub meta: Meta,
}

/// The engine's own facts about a session, written with the whole record (at creation and at
/// each id change: login, logout, regenerate) and never by a [`Change`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// When the session was created or its user last changed (login, logout), in
    /// milliseconds since the Unix epoch: where `session_max_lifetime` counts from. `None`
    /// in a record stored by an older canister.
    #[serde(default)]
    pub created_ms: Option<u64>,
    /// A remembered login's own time to live in milliseconds (`session_remember_timeout`):
    /// a store refreshes the session to this rather than to the `ttl` it is given.
    #[serde(default)]
    pub remember_ms: Option<u64>,
}

impl Meta {
    /// The time to live a store refreshes this session to: its own when remembered, else
    /// `ttl`.
    pub fn ttl_or(&self, ttl: Option<Duration>) -> Option<Duration> {
        match self.remember_ms {
            Some(ms) => Some(Duration::from_millis(ms)),
            None => ttl,
        }
    }
}

/// One live session of a user, as a store's per-user index lists it
/// ([`SessionStore::sessions_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserSession {
    /// The session's key.
    pub key: StoreKey,
    /// [`Meta::created_ms`]: when it was created or logged in.
    pub created_ms: Option<u64>,
    /// When a request last wrote it or refreshed its time to live, in milliseconds since the
    /// Unix epoch, by the store's clock. Sliding expiry refreshes at most once per fifth of
    /// the time to live, so this may lag the last request by that much.
    pub seen_ms: Option<u64>,
}

/// The key of a user's entry in a store's per-user index: the SHA-256 of `user\0<name>`, so a
/// dump of the store holds no user name (and never a secret).
pub fn user_key(name: &str) -> StoreKey {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"user\0");
    hasher.update(name.as_bytes());
    StoreKey(hasher.finalize().into())
}

/// Whether a sliding refresh is due: less than 80 % of `ttl` remains (`remaining`), so a
/// session used often is rewritten at most about once per fifth of its time to live.
///
/// Stores call it in [`SessionStore::load`]; the Redis store's script applies the same rule.
pub fn refresh_due(remaining: Duration, ttl: Duration) -> bool {
    // remaining < 0.8 ttl, in integers: 5 remaining < 4 ttl.
    remaining.saturating_mul(5) < ttl.saturating_mul(4)
}

/// A counter of login throttling (`auth_throttle`, `auth_throttle_ip`), as a store keeps it
/// under a [`throttle_key`](crate::session::throttle_key): the password checks begun in the
/// current window that did not succeed (each check is counted before it runs, and given back
/// when it succeeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Checks counted in the window.
    pub count: u64,
    /// When the window began (the first check counted in it), in milliseconds since the
    /// Unix epoch, by the engine's clock.
    pub since_ms: u64,
}

impl Counter {
    /// The counter after one more check begins at `now_ms`: `current` plus one while its
    /// window (`since_ms` + `window`) lasts, else a new window beginning now with a count of
    /// one.
    ///
    /// This is the rule a store applies, atomically, in [`SessionStore::count_attempt`]; the
    /// Redis store's script applies the same.
    pub fn after_attempt(current: Option<Counter>, now_ms: u64, window: Duration) -> Counter {
        match current {
            Some(c) if c.is_live(now_ms, window) => Counter {
                count: c.count.saturating_add(1),
                since_ms: c.since_ms,
            },
            _ => Counter {
                count: 1,
                since_ms: now_ms,
            },
        }
    }

    /// The counter after a check succeeded ([`SessionStore::refund_attempt`]): one less while
    /// its window lasts and it is above zero; otherwise as it was.
    pub fn after_refund(current: Counter, now_ms: u64, window: Duration) -> Counter {
        if current.is_live(now_ms, window) {
            Counter {
                count: current.count.saturating_sub(1),
                since_ms: current.since_ms,
            }
        } else {
            current
        }
    }

    /// Whether the window that began at `since_ms` still lasts at `now_ms`.
    pub fn is_live(&self, now_ms: u64, window: Duration) -> bool {
        now_ms < self.ends_ms(window)
    }

    /// When the window ends, in milliseconds since the Unix epoch.
    pub fn ends_ms(&self, window: Duration) -> u64 {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.since_ms.saturating_add(window_ms)
    }
}

/// What one request changed in a session: only this is written back, so concurrent requests
/// that touch different keys keep each other's writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// Every key was removed before `set` applies ([`Session::clear`](crate::Session::clear)).
    pub cleared: bool,
    /// Keys written, with their new values.
    pub set: Vec<(String, serde_json::Value)>,
    /// Keys removed.
    pub removed: Vec<String>,
    /// The user was set (`Some(Some(_))`) or cleared (`Some(None)`).
    pub user: Option<Option<User>>,
}

impl Change {
    /// Whether this change writes nothing.
    pub fn is_empty(&self) -> bool {
        !self.cleared && self.set.is_empty() && self.removed.is_empty() && self.user.is_none()
    }

    /// Applies the change to a record in memory (what a store does atomically).
    pub fn apply_to(&self, record: &mut Record) {
        if self.cleared {
            record.data.clear();
        }
        for key in &self.removed {
            record.data.remove(key);
        }
        for (key, value) in &self.set {
            record.data.insert(key.clone(), value.clone());
        }
        if let Some(user) = &self.user {
            record.user = user.clone();
        }
    }
}

/// Why a session store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or refused the operation. Check that it is running and
    /// reachable; service resumes by itself when it is back.
    #[error("session store unavailable: {message}")]
    Unavailable {
        /// What went wrong, without credentials.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// The store did not answer within the configured time.
    #[error("session store did not answer within {0:?}")]
    Timeout(Duration),
    /// Another request held the session's lock for longer than `session_lock_timeout`.
    #[error("timed out after {0:?} waiting for the session lock")]
    LockTimeout(Duration),
    /// A stored record could not be decoded (written by an incompatible version?).
    #[error("session record is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// An [`StoreError::Unavailable`] with a message and a source.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Where sessions live. Implemented by [`MemoryStore`](crate::session::MemoryStore) and, in its own
/// crate, the Redis store.
///
/// Every operation names one session by its [`StoreKey`]. `ttl` is the time to live to set
/// (`None`: never expires). The engine calls, per request, at most: one `load` (the first time
/// the session is used), then one of `create`, `save`, `cycle`, `delete` in `finish`, with
/// `lock`/`unlock` around them when `session_locking = true`.
pub trait SessionStore: Send + Sync + 'static {
    /// A held per-session lock, released by [`SessionStore::unlock`].
    ///
    /// Dropping it without `unlock` (a request cancelled half-way: the client went away)
    /// must release it too, at once or in the background; its lease is only the last resort.
    type Lock: Send + Sync + 'static;

    /// Loads a live session and, when less than 80 % of its time to live remains
    /// ([`refresh_due`]), refreshes it (sliding expiry) without rewriting its data: to the
    /// record's own ([`Meta::remember_ms`]) when it has one, else to `ttl` (`None`: the
    /// session never expires). `Ok(None)`: no such session, or it expired.
    ///
    /// Refreshing on every load is correct too, only costlier (a write per request).
    fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Stores a new session only if `key` is free. `Ok(false)`: the key is taken, nothing
    /// was written (the engine then draws another id).
    fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Applies `change` to a live session and refreshes its time to live. `Ok(false)`: the
    /// session no longer exists (destroyed or expired meanwhile) and nothing was written: a
    /// save never brings a session back.
    fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves a session to a new key (the id changed at login or logout): creates `new` with
    /// `record` if `new` is free and `old` still exists, then deletes `old`. `Ok(false)`:
    /// nothing was written (`old` ended meanwhile, or `new` is taken).
    ///
    /// Required, with no default: it must be one atomic step (a script, a transaction, a
    /// lock). A `create` then `delete` would bring back a session that a concurrent logout
    /// destroyed between the two, under a new id.
    fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The shard `key` lives in, for a store that spreads sessions over shards and cannot
    /// write two shards in one atomic step (Redis Cluster: a hash slot); `None` (the
    /// default): one shard, every [`cycle`](Self::cycle) is atomic.
    ///
    /// At a login, a logout or a `regenerate`, the engine draws the session's new id until
    /// its key is in the old key's shard (about as many draws as there are shards; at most
    /// 4 096, after which it keeps the last), so that `cycle` can move the session in one
    /// atomic step there too. Keep it cheap and its shards few: it runs once per draw.
    fn shard_of(&self, key: &StoreKey) -> Option<u16> {
        let _ = key;
        None
    }

    /// Removes a session. Removing an absent session is not an error.
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the session's lock, waiting at most `wait`.
    ///
    /// # Errors
    ///
    /// [`StoreError::LockTimeout`] when the lock is still held after `wait`.
    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
    ) -> impl Future<Output = Result<Self::Lock, StoreError>> + Send;

    /// Releases a lock taken by [`lock`](SessionStore::lock).
    fn unlock(&self, lock: Self::Lock) -> impl Future<Output = ()> + Send;

    /// The live sessions of the user named `user` (a form login, or a header user kept with
    /// `auth_remember`), oldest first by [`UserSession::created_ms`].
    ///
    /// A store that keeps a per-user index adds a session to it when a record with a user is
    /// created or moved ([`create`](Self::create), [`cycle`](Self::cycle)), and drops it when
    /// the session is deleted, moved or has expired, so listing costs about one lookup per
    /// session of that user. [`delete`](Self::delete) then ends one of them.
    ///
    /// Default: an error saying that the store keeps no per-user index (so listing and
    /// `session_max_per_user` answer 503 rather than pretend the user has no session).
    fn sessions_of(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send {
        let _ = user;
        std::future::ready(Err(StoreError::Unavailable {
            message: "this session store keeps no per-user index (SessionStore::sessions_of)"
                .to_owned(),
            source: None,
        }))
    }

    /// Counts one password check about to run, atomically, at each of `counters` (a
    /// [`throttle_key`](crate::session::throttle_key) and its window): each stored counter
    /// becomes [`Counter::after_attempt`] of what it held (at `now_ms`, by the engine's
    /// clock), is kept at least until its window ends, and is returned, in the same order.
    ///
    /// Every instance sharing the store counts into the same counters, and counting before
    /// the check is what bounds concurrent guesses: a burst of parallel attempts gets no
    /// more checks than the limit allows.
    ///
    /// Default: an error saying that the store keeps no counters, so a configuration that
    /// throttles logins answers 503 rather than let every attempt through.
    fn count_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Counter>, StoreError>> + Send {
        let _ = (counters, now_ms);
        std::future::ready(Err(no_counters()))
    }

    /// Gives back the attempt counted by [`count_attempt`](Self::count_attempt) at each of
    /// `counters`, because its check succeeded: each becomes [`Counter::after_refund`] of
    /// what it holds. An absent counter stays absent.
    ///
    /// Default: the same error as [`count_attempt`](Self::count_attempt).
    fn refund_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (counters, now_ms);
        std::future::ready(Err(no_counters()))
    }
}

/// The error of a store without login throttling counters.
fn no_counters() -> StoreError {
    StoreError::Unavailable {
        message: "this session store keeps no login throttling counters \
                  (SessionStore::count_attempt)"
            .to_owned(),
        source: None,
    }
}
