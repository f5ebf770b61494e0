//! [`FaultyStore`]: a store whose operations fail on demand, for tests of the 503 paths.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{
    Change, Counter, MemoryStore, Record, SessionStore, StoreError, StoreKey, UserSession,
};

/// One operation of [`SessionStore`], as [`FaultyStore`] makes it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreOp {
    /// [`SessionStore::load`].
    Load,
    /// [`SessionStore::create`].
    Create,
    /// [`SessionStore::save`].
    Save,
    /// [`SessionStore::cycle`].
    Cycle,
    /// [`SessionStore::delete`].
    Delete,
    /// [`SessionStore::lock`].
    Lock,
    /// [`SessionStore::sessions_of`]: listing a user's sessions.
    List,
    /// [`SessionStore::count_attempt`] and [`SessionStore::refund_attempt`]: login
    /// throttling's counters.
    Counters,
}

impl StoreOp {
    /// Every operation.
    pub const ALL: [StoreOp; 8] = [
        StoreOp::Load,
        StoreOp::Create,
        StoreOp::Save,
        StoreOp::Cycle,
        StoreOp::Delete,
        StoreOp::Lock,
        StoreOp::List,
        StoreOp::Counters,
    ];

    /// The writes `finish` makes: create, save, cycle, delete.
    pub const WRITES: [StoreOp; 4] = [
        StoreOp::Create,
        StoreOp::Save,
        StoreOp::Cycle,
        StoreOp::Delete,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A store wrapping another ([`MemoryStore`] by default) whose operations fail while a test
/// says so, with [`StoreError::Unavailable`] ("connection refused"), as a store that cannot
/// be reached does. Clones share the switch and the data: keep a clone in the test, give
/// the other to the engine.
///
/// Feature `test-util` (off by default): for tests of an application's or adapter's answer
/// to a store outage, without a real outage.
///
/// # Examples
///
/// ```
/// use canister_core::session::{FaultyStore, StoreOp};
///
/// let store = FaultyStore::memory();
/// let switch = store.clone(); // give `store` to `Canister::builder().store(..)`
/// switch.fail(&StoreOp::WRITES); // loads work, every write fails: a 503 after the handler
/// assert!(switch.is_failing(StoreOp::Save));
/// switch.heal();
/// assert!(!switch.is_failing(StoreOp::Save));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FaultyStore<S = MemoryStore> {
    inner: S,
    failing: Arc<AtomicU8>,
}

impl FaultyStore {
    /// A memory store, nothing failing yet.
    pub fn memory() -> Self {
        Self::new(MemoryStore::new())
    }

    /// A memory store on which every operation fails.
    pub fn down() -> Self {
        let store = Self::memory();
        store.fail(&StoreOp::ALL);
        store
    }
}

impl<S> FaultyStore<S> {
    /// `inner`, with nothing failing yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            failing: Arc::default(),
        }
    }

    /// Another store, `inner`, on the same switch: what fails on one fails on the other
    /// (a test restarting a server with a fresh store keeps one switch).
    pub fn wrap<T>(&self, inner: T) -> FaultyStore<T> {
        FaultyStore {
            inner,
            failing: Arc::clone(&self.failing),
        }
    }

    /// Makes `ops` fail from now on (on top of those failing already).
    pub fn fail(&self, ops: &[StoreOp]) {
        let bits = ops.iter().fold(0, |bits, op| bits | op.bit());
        self.failing.fetch_or(bits, Ordering::SeqCst);
    }

    /// Makes every operation work again; the data held before is there.
    pub fn heal(&self) {
        self.failing.store(0, Ordering::SeqCst);
    }

    /// Whether `op` fails now.
    pub fn is_failing(&self, op: StoreOp) -> bool {
        self.failing.load(Ordering::SeqCst) & op.bit() != 0
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn check(&self, op: StoreOp) -> Result<(), StoreError> {
        if self.is_failing(op) {
            Err(StoreError::unavailable(
                format!("connection refused (FaultyStore: {op:?} made to fail)"),
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            ))
        } else {
            Ok(())
        }
    }
}

impl<S: SessionStore> SessionStore for FaultyStore<S> {
    type Lock = S::Lock;

    async fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> Result<Option<Record>, StoreError> {
        self.check(StoreOp::Load)?;
        self.inner.load(key, ttl).await
    }

    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.check(StoreOp::Create)?;
        self.inner.create(key, record, ttl).await
    }

    async fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.check(StoreOp::Save)?;
        self.inner.save(key, change, ttl).await
    }

    async fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.check(StoreOp::Cycle)?;
        self.inner.cycle(old, new, record, ttl).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.check(StoreOp::Delete)?;
        self.inner.delete(key).await
    }

    async fn lock(&self, key: &StoreKey, wait: Duration) -> Result<Self::Lock, StoreError> {
        self.check(StoreOp::Lock)?;
        self.inner.lock(key, wait).await
    }

    fn unlock(&self, lock: Self::Lock) -> impl Future<Output = ()> + Send {
        self.inner.unlock(lock)
    }

    fn shard_of(&self, key: &StoreKey) -> Option<u16> {
        self.inner.shard_of(key)
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.check(StoreOp::List)?;
        self.inner.sessions_of(user).await
    }

    async fn count_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> Result<Vec<Counter>, StoreError> {
        self.check(StoreOp::Counters)?;
        self.inner.count_attempt(counters, now_ms).await
    }

    async fn refund_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.check(StoreOp::Counters)?;
        self.inner.refund_attempt(counters, now_ms).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test")]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fails_only_what_it_is_told_and_keeps_the_data() {
        let store = FaultyStore::memory();
        let key = StoreKey::from_bytes([7; 32]);
        assert!(store.create(&key, &Record::default(), None).await.unwrap());
        store.fail(&[StoreOp::Load]);
        let error = store.load(&key, None).await.unwrap_err();
        assert!(error.to_string().contains("Load"), "{error}");
        assert!(store.save(&key, &Change::default(), None).await.unwrap());
        store.heal();
        assert!(store.load(&key, None).await.unwrap().is_some());
    }
}
