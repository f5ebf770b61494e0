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

/// Where sessions live. Implemented by [`MemoryStore`](crate::MemoryStore) and, in its own
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

    /// Loads a live session and refreshes its time to live to `ttl` (sliding expiry) without
    /// rewriting its data. `Ok(None)`: no such session, or it expired.
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
}
