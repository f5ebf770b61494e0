//! The embedded session store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures_util::future::{select, Either};

use super::{Change, Record, SessionStore, StoreError, StoreKey};
use crate::clock::{Clock, SystemClock};

const SHARDS: usize = 16;

/// Sessions in this process's memory: the default store.
///
/// - **Sharded**: 16 maps behind their own mutexes, chosen by the key's first byte, so
///   requests of different sessions rarely contend.
/// - **Lazy expiry**: an expired session is never returned; each shard is swept of expired
///   entries when it is written to and its last sweep is older than a quarter of the
///   session timeout (at least 1 s), so the cost is amortised and no background thread is
///   needed.
/// - **Bounded**: with [`MemoryStore::max_sessions`], creating a session in a full shard
///   evicts the sessions closest to expiry first.
/// - **Keyed by hash**: entries are keyed by [`StoreKey`], the SHA-256 of the id.
/// - **Locking**: an async mutex per locked session, released when the lock is dropped, so a
///   request that fails half-way cannot leave a session locked.
///
/// Clones share the same sessions.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    locks: Mutex<HashMap<StoreKey, Arc<async_lock::Mutex<()>>>>,
    clock: Arc<dyn Clock>,
    per_shard_max: Option<usize>,
    sweep_every: Duration,
}

#[derive(Default)]
struct Shard {
    map: HashMap<StoreKey, Entry>,
    last_sweep: Option<SystemTime>,
}

/// One session, kept compact: a one-key session costs about 250 bytes in all (BENCHMARKS.md),
/// where a [`Record`] (a `BTreeMap` node of ~640 bytes for the data) would cost ~900.
struct Entry {
    expires: Option<SystemTime>,
    /// The data's pairs, in no particular order, keys unique.
    data: Box<[(Box<str>, serde_json::Value)]>,
    user: Option<Box<crate::auth::User>>,
}

impl Entry {
    fn new(record: &Record, expires: Option<SystemTime>) -> Self {
        Self {
            expires,
            data: record
                .data
                .iter()
                .map(|(k, v)| (Box::from(k.as_str()), v.clone()))
                .collect(),
            user: record.user.clone().map(Box::new),
        }
    }

    fn record(&self) -> Record {
        Record {
            data: self
                .data
                .iter()
                .map(|(k, v)| (String::from(&**k), v.clone()))
                .collect(),
            user: self.user.as_deref().cloned(),
        }
    }

    /// Applies `change` as [`Change::apply_to`] does to a [`Record`].
    fn apply(&mut self, change: &Change) {
        if change.cleared || !change.removed.is_empty() || !change.set.is_empty() {
            let kept = std::mem::take(&mut self.data)
                .into_vec()
                .into_iter()
                .filter(|(k, _)| {
                    !change.cleared
                        && !change.removed.iter().any(|r| r == &**k)
                        && !change.set.iter().any(|(s, _)| s == &**k)
                });
            let mut set: Vec<(&str, &serde_json::Value)> = Vec::new();
            for (key, value) in &change.set {
                // The last write of a key wins, as in a map.
                match set.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => set.push((key, value)),
                }
            }
            self.data = kept
                .chain(set.into_iter().map(|(k, v)| (Box::from(k), v.clone())))
                .collect();
        }
        if let Some(user) = &change.user {
            self.user = user.clone().map(Box::new);
        }
    }
}

/// A held lock of a [`MemoryStore`] session; dropping it releases the lock.
pub struct MemoryLock {
    key: StoreKey,
    _guard: async_lock::MutexGuardArc<()>,
}

impl fmt::Debug for MemoryLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLock")
            .field("key", &self.key)
            .finish()
    }
}

impl MemoryStore {
    /// An empty store on the system clock, without a cap.
    pub fn new() -> Self {
        Self::build(Arc::new(SystemClock), None, Duration::from_secs(60))
    }

    /// The same store configuration on another clock (tests use a [`TestClock`]).
    ///
    /// [`TestClock`]: crate::TestClock
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.rebuild(
            Arc::new(clock),
            self.inner.per_shard_max.map(|m| m * SHARDS),
        )
    }

    /// Caps the store at about `max` sessions (`max` is spread evenly over the shards).
    pub fn max_sessions(self, max: usize) -> Self {
        self.rebuild(Arc::clone(&self.inner.clock), Some(max))
    }

    /// Sweeps a shard at most once per `every` (default: a quarter of the session timeout
    /// when built by the engine, else 60 s).
    pub fn sweep_every(self, every: Duration) -> Self {
        let mut store = self.rebuild(
            Arc::clone(&self.inner.clock),
            self.inner.per_shard_max.map(|m| m * SHARDS),
        );
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.sweep_every = every;
        }
        store
    }

    pub(crate) fn with_shared_clock(clock: Arc<dyn Clock>) -> Self {
        Self::build(clock, None, Duration::from_secs(60))
    }

    fn rebuild(&self, clock: Arc<dyn Clock>, max: Option<usize>) -> Self {
        Self::build(clock, max, self.inner.sweep_every)
    }

    fn build(clock: Arc<dyn Clock>, max: Option<usize>, sweep_every: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
                locks: Mutex::new(HashMap::new()),
                clock,
                per_shard_max: max.map(|m| m.div_ceil(SHARDS).max(1)),
                sweep_every,
            }),
        }
    }

    /// The number of sessions held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired session now.
    pub fn sweep(&self) {
        let now = self.inner.clock.now();
        for shard in &self.inner.shards {
            let mut shard = lock(shard);
            shard.map.retain(|_, e| !e.expired(now));
            shard.last_sweep = Some(now);
        }
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[usize::from(key.0[0]) % SHARDS])
    }

    fn maybe_sweep(&self, shard: &mut Shard, now: SystemTime) {
        let due = shard.last_sweep.is_none_or(|last| {
            now.duration_since(last)
                .map_or(true, |since| since >= self.inner.sweep_every)
        });
        if due {
            shard.map.retain(|_, e| !e.expired(now));
            shard.last_sweep = Some(now);
        }
    }

    fn make_room(&self, shard: &mut Shard, now: SystemTime) {
        let Some(max) = self.inner.per_shard_max else {
            return;
        };
        if shard.map.len() < max {
            return;
        }
        shard.map.retain(|_, e| !e.expired(now));
        shard.last_sweep = Some(now);
        if shard.map.len() < max {
            return;
        }
        // Evict the ~1 % closest to expiry (at least one), so a flood at the cap costs one
        // scan per hundred creations rather than one per creation.
        let evict = (max / 100).max(1).min(shard.map.len());
        let mut by_expiry: Vec<(Option<SystemTime>, StoreKey)> =
            shard.map.iter().map(|(k, e)| (e.expires, *k)).collect();
        // `None` (never expires) sorts before `Some`: order it last instead.
        let order = |a: &Option<SystemTime>| (a.is_none(), *a);
        by_expiry.select_nth_unstable_by(evict - 1, |a, b| order(&a.0).cmp(&order(&b.0)));
        for (_, key) in &by_expiry[..evict] {
            shard.map.remove(key);
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("per_shard_max", &self.inner.per_shard_max)
            .finish_non_exhaustive()
    }
}

impl Entry {
    fn expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn deadline(now: SystemTime, ttl: Option<Duration>) -> Option<SystemTime> {
    ttl.and_then(|ttl| now.checked_add(ttl))
}

impl SessionStore for MemoryStore {
    type Lock = MemoryLock;

    fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        let now = self.inner.clock.now();
        let mut shard = self.shard(key);
        let found = match shard.map.get_mut(key) {
            Some(entry) if entry.expired(now) => {
                shard.map.remove(key);
                None
            }
            Some(entry) => {
                entry.expires = deadline(now, ttl);
                Some(entry.record())
            }
            None => None,
        };
        std::future::ready(Ok(found))
    }

    fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let now = self.inner.clock.now();
        let mut shard = self.shard(key);
        self.maybe_sweep(&mut shard, now);
        let created = match shard.map.get(key) {
            Some(entry) if !entry.expired(now) => false,
            _ => {
                self.make_room(&mut shard, now);
                shard
                    .map
                    .insert(*key, Entry::new(record, deadline(now, ttl)));
                true
            }
        };
        std::future::ready(Ok(created))
    }

    fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let now = self.inner.clock.now();
        let mut shard = self.shard(key);
        self.maybe_sweep(&mut shard, now);
        let saved = match shard.map.get_mut(key) {
            Some(entry) if !entry.expired(now) => {
                entry.apply(change);
                entry.expires = deadline(now, ttl);
                true
            }
            Some(_) => {
                shard.map.remove(key);
                false
            }
            None => false,
        };
        std::future::ready(Ok(saved))
    }

    fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let now = self.inner.clock.now();
        let old_alive = {
            let mut shard = self.shard(old);
            match shard.map.remove(old) {
                Some(entry) => !entry.expired(now),
                None => false,
            }
        };
        let moved = old_alive && {
            let mut shard = self.shard(new);
            if shard.map.get(new).is_some_and(|e| !e.expired(now)) {
                false
            } else {
                self.make_room(&mut shard, now);
                shard
                    .map
                    .insert(*new, Entry::new(record, deadline(now, ttl)));
                true
            }
        };
        std::future::ready(Ok(moved))
    }

    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shard(key).map.remove(key);
        std::future::ready(Ok(()))
    }

    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
    ) -> impl Future<Output = Result<MemoryLock, StoreError>> + Send {
        let key = *key;
        let mutex = Arc::clone(
            lock(&self.inner.locks)
                .entry(key)
                .or_insert_with(|| Arc::new(async_lock::Mutex::new(()))),
        );
        async move {
            if let Some(guard) = mutex.try_lock_arc() {
                return Ok(MemoryLock { key, _guard: guard });
            }
            let acquire = std::pin::pin!(mutex.lock_arc());
            match select(acquire, futures_timer::Delay::new(wait)).await {
                Either::Left((guard, _)) => Ok(MemoryLock { key, _guard: guard }),
                Either::Right(_) => Err(StoreError::LockTimeout(wait)),
            }
        }
    }

    fn unlock(&self, lock_held: MemoryLock) -> impl Future<Output = ()> + Send {
        let key = lock_held.key;
        drop(lock_held);
        let mut locks = lock(&self.inner.locks);
        // Forget the mutex when nobody else holds or waits for it (only the table's Arc left).
        if locks.get(&key).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(&key);
        }
        std::future::ready(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::User;

    fn record(pairs: &[(&str, serde_json::Value)]) -> Record {
        Record {
            data: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            user: None,
        }
    }

    /// The compact entry applies a change exactly as `Change::apply_to` does to a record.
    #[test]
    fn compact_entries_apply_changes_like_records() {
        let start = record(&[("a", json!(1)), ("b", json!("x")), ("c", json!([1, 2]))]);
        let set = |pairs: &[(&str, i64)]| -> Vec<(String, serde_json::Value)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect()
        };
        let changes = [
            Change::default(),
            Change {
                set: set(&[("a", 2), ("d", 4)]),
                ..Change::default()
            },
            Change {
                removed: vec!["b".to_owned(), "zz".to_owned()],
                ..Change::default()
            },
            Change {
                cleared: true,
                set: set(&[("e", 5)]),
                ..Change::default()
            },
            Change {
                removed: vec!["a".to_owned()],
                set: set(&[("a", 7), ("a", 8), ("f", 1)]),
                user: Some(Some(User::new("alice"))),
                ..Change::default()
            },
            Change {
                user: Some(None),
                ..Change::default()
            },
        ];
        let mut expected = start.clone();
        let mut entry = Entry::new(&start, None);
        assert_eq!(entry.record(), start);
        for change in &changes {
            change.apply_to(&mut expected);
            entry.apply(change);
            assert_eq!(entry.record(), expected, "after {change:?}");
        }
    }

    #[test]
    fn an_entry_is_small() {
        // What the table holds per session besides the key; the data lives behind `data`.
        assert!(
            std::mem::size_of::<Entry>() <= 40,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }
}
