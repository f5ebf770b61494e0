//! A memory store that can be switched off: the memory cells' "store down".
//!
//! The Redis cells take their store down by killing `redis-server`. The memory store lives in
//! the server's own process and cannot fail, so the memory cells wrap it: while the
//! [`Outage`] switch is on, every operation fails with `StoreError::Unavailable`, as a store
//! that cannot be reached does; switched off, the data held before is there again.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use canister_core::{Change, MemoryStore, Record, SessionStore, StoreError, StoreKey};

/// The switch shared by a test and its [`OutageStore`].
#[derive(Debug, Clone, Default)]
pub struct Outage(Arc<AtomicBool>);

impl Outage {
    /// Takes the store down (`true`) or brings it back (`false`).
    pub fn set_down(&self, down: bool) {
        self.0.store(down, Ordering::SeqCst);
    }

    /// Whether the store is down.
    pub fn is_down(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.is_down() {
            Err(StoreError::unavailable(
                "the suite took the store down",
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            ))
        } else {
            Ok(())
        }
    }
}

/// [`MemoryStore`] behind an [`Outage`] switch.
#[derive(Debug)]
pub struct OutageStore {
    inner: MemoryStore,
    outage: Outage,
}

impl OutageStore {
    /// A fresh memory store, failing while `outage` is on.
    pub fn new(outage: Outage) -> Self {
        Self {
            inner: MemoryStore::new(),
            outage,
        }
    }
}

impl SessionStore for OutageStore {
    type Lock = <MemoryStore as SessionStore>::Lock;

    async fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> Result<Option<Record>, StoreError> {
        self.outage.check()?;
        self.inner.load(key, ttl).await
    }

    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.outage.check()?;
        self.inner.create(key, record, ttl).await
    }

    async fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.outage.check()?;
        self.inner.save(key, change, ttl).await
    }

    async fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.outage.check()?;
        self.inner.cycle(old, new, record, ttl).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.outage.check()?;
        self.inner.delete(key).await
    }

    async fn lock(&self, key: &StoreKey, wait: Duration) -> Result<Self::Lock, StoreError> {
        self.outage.check()?;
        self.inner.lock(key, wait).await
    }

    fn unlock(&self, lock: Self::Lock) -> impl Future<Output = ()> + Send {
        self.inner.unlock(lock)
    }
}
