//! The embedded session store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use event_listener::Event;
use futures_util::future::{select, Either};

use super::{Change, Record, SessionStore, StoreError, StoreKey};
use crate::clock::{Clock, SystemClock};

const SHARDS: usize = 16;

/// How many sessions a [`MemoryStore`] holds unless told otherwise (the default of
/// `session_max`).
///
/// Chosen so that the bound holds the live sessions of a busy single-process site while
/// capping what a client that creates sessions in a loop can pin: a session of one small key
/// costs about 210 bytes of heap (BENCHMARKS.md, `session_memory`), so the full default store
/// of such sessions holds about 21 MB; the hard ceiling is `DEFAULT_MAX_SESSIONS` ×
/// `session_max_bytes` (64 KiB by default) of data on top.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// The lease of a [`MemoryStore`] session lock: a request that holds a session's lock longer
/// than this (a handler that never returns) loses it to the next request that asks, as a
/// Redis lock's lease runs out (`canister_store_redis::DEFAULT_LOCK_LEASE`, also 30 s).
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(30);

/// Evictions are reported ([`MemoryStore::take_eviction_report`]) at most this often.
const EVICTION_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Sessions in this process's memory: the default store.
///
/// - **Sharded**: 16 maps behind their own mutexes, chosen by the key's first byte, so
///   requests of different sessions rarely contend.
/// - **Lazy expiry**: an expired session is never returned; each shard is swept of expired
///   entries when it is written to and its last sweep is older than a quarter of the
///   session timeout (at least 1 s), so the cost is amortised and no background thread is
///   needed.
/// - **Bounded by default**: at most [`DEFAULT_MAX_SESSIONS`] sessions (config
///   `session_max`, [`MemoryStore::max_sessions`]), spread evenly over the shards. Creating
///   a session in a full shard first sweeps it, then evicts the least recently used
///   *anonymous* sessions (no user); logged-in sessions are evicted, least recently used
///   first, only when the shard holds no anonymous one. So a client that creates sessions in
///   a loop evicts other anonymous visitors (or its own sessions), never a logged-in user
///   while anonymous sessions remain. "Used" means created, loaded or saved.
/// - **Eviction cost**: a full shard is scanned once (O(n) for its n sessions) to evict its
///   least recently used 1 % (at least one), so at the cap a creation costs O(100) entry
///   visits amortised, never a scan per creation.
/// - **Keyed by hash**: entries are keyed by [`StoreKey`], the SHA-256 of the id.
/// - **Locking**: a lock per locked session, released when the lock is dropped (so a request
///   that fails half-way cannot leave a session locked) or, for a request that never ends,
///   when its lease ([`DEFAULT_LOCK_LEASE`], 30 s) runs out: the next request to ask then
///   takes it. The lease is read from the store's clock.
///
/// Clones share the same sessions.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    locks: Arc<Mutex<HashMap<StoreKey, LockSlot>>>,
    options: Options,
    per_shard_max: Option<usize>,
    /// Sessions evicted to make room and not reported yet.
    evicted: AtomicU64,
    /// When evictions were last reported.
    reported: Mutex<Option<SystemTime>>,
    /// Draws lock tokens.
    next_token: AtomicU64,
}

#[derive(Clone)]
struct Options {
    clock: Arc<dyn Clock>,
    max: Option<usize>,
    sweep_every: Duration,
    lease: Duration,
}

#[derive(Default)]
struct Shard {
    map: HashMap<StoreKey, Entry>,
    /// When it was last swept, in nanoseconds since the Unix epoch.
    last_sweep: Option<u64>,
    /// A counter giving each use of an entry its order (least recently used: lowest).
    tick: u64,
}

/// One session, kept compact: a one-key session costs about 210 bytes in all (BENCHMARKS.md),
/// where a [`Record`] (a `BTreeMap` node of ~640 bytes for the data) would cost ~900.
struct Entry {
    /// When it expires, in nanoseconds since the Unix epoch; [`NEVER`] for never (8 bytes
    /// where an `Option<SystemTime>` takes 16).
    expires: u64,
    /// The shard's tick at its last use.
    used: u64,
    /// The data's pairs, in no particular order, keys unique.
    data: Box<[(Box<str>, serde_json::Value)]>,
    user: Option<Box<crate::auth::User>>,
}

/// [`Entry::expires`] of a session that never expires.
const NEVER: u64 = u64::MAX;

/// Who holds a session's lock, since when, and what its waiters listen to.
struct LockSlot {
    token: u64,
    since: SystemTime,
    released: Arc<Event>,
}

impl Entry {
    fn new(record: &Record, expires: u64, used: u64) -> Self {
        Self {
            expires,
            used,
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

/// A held lock of a [`MemoryStore`] session; dropping it releases the lock (unless its lease
/// ran out and another request took it meanwhile).
pub struct MemoryLock {
    key: StoreKey,
    token: u64,
    locks: Arc<Mutex<HashMap<StoreKey, LockSlot>>>,
}

impl fmt::Debug for MemoryLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLock")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        let mut locks = lock(&self.locks);
        // Only the current holder releases: a holder whose lease ran out must not free the
        // lock of the request that took it over.
        if locks.get(&self.key).is_some_and(|s| s.token == self.token) {
            if let Some(slot) = locks.remove(&self.key) {
                slot.released.notify(usize::MAX);
            }
        }
    }
}

impl MemoryStore {
    /// An empty store on the system clock, holding at most [`DEFAULT_MAX_SESSIONS`].
    pub fn new() -> Self {
        Self::build(Options {
            clock: Arc::new(SystemClock),
            max: Some(DEFAULT_MAX_SESSIONS),
            sweep_every: Duration::from_secs(60),
            lease: DEFAULT_LOCK_LEASE,
        })
    }

    /// The same store configuration on another clock (tests use a [`TestClock`]).
    ///
    /// [`TestClock`]: crate::TestClock
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let mut options = self.inner.options.clone();
        options.clock = Arc::new(clock);
        Self::build(options)
    }

    /// Caps the store at about `max` sessions (`max` is spread evenly over the shards);
    /// `0`: no cap. Default [`DEFAULT_MAX_SESSIONS`].
    ///
    /// # Warning
    ///
    /// Without a cap, every client that makes the application store something (a counter, a
    /// cart, a flash message) adds a session that lives until the session timeout: memory
    /// grows with the request rate.
    pub fn max_sessions(self, max: usize) -> Self {
        let mut options = self.inner.options.clone();
        options.max = (max > 0).then_some(max);
        Self::build(options)
    }

    /// Sweeps a shard at most once per `every` (default: a quarter of the session timeout
    /// when built by the engine, else 60 s).
    pub fn sweep_every(self, every: Duration) -> Self {
        let mut options = self.inner.options.clone();
        options.sweep_every = every;
        Self::build(options)
    }

    /// Sets the lease of session locks (default [`DEFAULT_LOCK_LEASE`], 30 s): a lock whose
    /// holder has not released it within the lease goes to the next request that asks.
    ///
    /// # Warning
    ///
    /// A request that holds a lock longer than the lease loses it without knowing, and its
    /// save may then interleave with the next holder's: keep the lease well above the
    /// slowest request.
    pub fn lock_lease(self, lease: Duration) -> Self {
        let mut options = self.inner.options.clone();
        options.lease = lease;
        Self::build(options)
    }

    pub(crate) fn with_shared_clock(clock: Arc<dyn Clock>) -> Self {
        let mut options = Self::new().inner.options.clone();
        options.clock = clock;
        Self::build(options)
    }

    fn build(options: Options) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
                locks: Arc::new(Mutex::new(HashMap::new())),
                per_shard_max: options.max.map(|m| m.div_ceil(SHARDS).max(1)),
                options,
                evicted: AtomicU64::new(0),
                reported: Mutex::new(None),
                next_token: AtomicU64::new(0),
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

    /// The most sessions the store holds (about: the cap is spread over 16 shards and
    /// rounded up); `None`: no cap.
    pub fn cap(&self) -> Option<usize> {
        self.inner.options.max
    }

    /// Removes every expired session now.
    pub fn sweep(&self) {
        let now = self.now();
        for shard in &self.inner.shards {
            let mut shard = lock(shard);
            shard.map.retain(|_, e| !e.expired(now));
            shard.last_sweep = Some(now);
        }
    }

    /// How many sessions were evicted to make room since the last report, when there were
    /// some and the last report is at least a minute old (by the store's clock); else `None`.
    ///
    /// The engine calls it after each request and logs a WARNING when it answers, so a full
    /// store is reported at most once a minute however fast it evicts.
    pub fn take_eviction_report(&self) -> Option<u64> {
        if self.inner.evicted.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = self.inner.options.clock.now();
        let mut reported = lock(&self.inner.reported);
        let due = reported.is_none_or(|last| {
            now.duration_since(last)
                .is_ok_and(|since| since >= EVICTION_REPORT_EVERY)
        });
        if !due {
            return None;
        }
        *reported = Some(now);
        Some(self.inner.evicted.swap(0, Ordering::Relaxed))
    }

    fn now(&self) -> u64 {
        nanos(self.inner.options.clock.now())
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[usize::from(key.0[0]) % SHARDS])
    }

    fn maybe_sweep(&self, shard: &mut Shard, now: u64) {
        let every = u64::try_from(self.inner.options.sweep_every.as_nanos()).unwrap_or(NEVER);
        let due = shard
            .last_sweep
            .is_none_or(|last| now < last || now - last >= every);
        if due {
            shard.map.retain(|_, e| !e.expired(now));
            shard.last_sweep = Some(now);
        }
    }

    fn make_room(&self, shard: &mut Shard, now: u64) {
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
        // Evict the least recently used ~1 % (at least one) of the anonymous sessions, or of
        // the logged-in ones when there is no anonymous one left: one scan per hundred
        // creations at the cap rather than one per creation.
        let batch = (max / 100).max(1);
        let mut anonymous: Vec<(u64, StoreKey)> = shard
            .map
            .iter()
            .filter(|(_, e)| e.user.is_none())
            .map(|(k, e)| (e.used, *k))
            .collect();
        if anonymous.is_empty() {
            anonymous = shard.map.iter().map(|(k, e)| (e.used, *k)).collect();
        }
        let evict = batch.min(anonymous.len());
        if evict == 0 {
            return;
        }
        anonymous.select_nth_unstable(evict - 1);
        for (_, key) in &anonymous[..evict] {
            shard.map.remove(key);
        }
        self.inner
            .evicted
            .fetch_add(u64::try_from(evict).unwrap_or(u64::MAX), Ordering::Relaxed);
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
            .field("cap", &self.inner.options.max)
            .field("lock_lease", &self.inner.options.lease)
            .finish_non_exhaustive()
    }
}

impl Entry {
    fn expired(&self, now: u64) -> bool {
        self.expires <= now
    }
}

impl Shard {
    fn tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `time` in nanoseconds since the Unix epoch (0 before it, saturating in 2554).
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(NEVER - 1))
}

fn deadline(now: u64, ttl: Option<Duration>) -> u64 {
    ttl.map_or(NEVER, |ttl| {
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(NEVER);
        now.saturating_add(ttl).min(NEVER - 1)
    })
}

impl SessionStore for MemoryStore {
    type Lock = MemoryLock;

    fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        let now = self.now();
        let mut shard = self.shard(key);
        let used = shard.tick();
        let found = match shard.map.get_mut(key) {
            Some(entry) if entry.expired(now) => {
                shard.map.remove(key);
                None
            }
            Some(entry) => {
                entry.expires = deadline(now, ttl);
                entry.used = used;
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
        let now = self.now();
        let mut shard = self.shard(key);
        self.maybe_sweep(&mut shard, now);
        let created = match shard.map.get(key) {
            Some(entry) if !entry.expired(now) => false,
            _ => {
                self.make_room(&mut shard, now);
                let used = shard.tick();
                shard
                    .map
                    .insert(*key, Entry::new(record, deadline(now, ttl), used));
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
        let now = self.now();
        let mut shard = self.shard(key);
        self.maybe_sweep(&mut shard, now);
        let used = shard.tick();
        let saved = match shard.map.get_mut(key) {
            Some(entry) if !entry.expired(now) => {
                entry.apply(change);
                entry.expires = deadline(now, ttl);
                entry.used = used;
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
        let now = self.now();
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
                let used = shard.tick();
                shard
                    .map
                    .insert(*new, Entry::new(record, deadline(now, ttl), used));
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
        let store = self.clone();
        async move {
            let token = store.inner.next_token.fetch_add(1, Ordering::Relaxed);
            let clock = &store.inner.options.clock;
            let lease = store.inner.options.lease;
            // Measured by a timer, not the clock: a test clock that stands still must not make a
            // waiter wait forever.
            let mut timeout = futures_timer::Delay::new(wait);
            loop {
                let now = clock.now();
                // Take the lock if it is free or its lease ran out; else listen for its
                // release (registered under the table's mutex, so no release is missed).
                let (listener, lease_left) = {
                    let mut locks = lock(&store.inner.locks);
                    let held = locks.get(&key).map(|slot| {
                        let age = now.duration_since(slot.since).unwrap_or_default();
                        (age, Arc::clone(&slot.released))
                    });
                    match held {
                        Some((age, released)) if age < lease => (released.listen(), lease - age),
                        held => {
                            let released = held.map_or_else(|| Arc::new(Event::new()), |h| h.1);
                            locks.insert(
                                key,
                                LockSlot {
                                    token,
                                    since: now,
                                    released,
                                },
                            );
                            return Ok(MemoryLock {
                                key,
                                token,
                                locks: Arc::clone(&store.inner.locks),
                            });
                        }
                    }
                };
                let lease_timer = futures_timer::Delay::new(lease_left);
                match select(listener, select(&mut timeout, lease_timer)).await {
                    // Released, or the holder's lease may have run out: look again.
                    Either::Left(_) | Either::Right((Either::Right(_), _)) => {}
                    Either::Right((Either::Left(_), _)) => {
                        return Err(StoreError::LockTimeout(wait));
                    }
                }
            }
        }
    }

    fn unlock(&self, lock_held: MemoryLock) -> impl Future<Output = ()> + Send {
        drop(lock_held);
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
        let mut entry = Entry::new(&start, NEVER, 0);
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
