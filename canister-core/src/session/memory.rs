//! The embedded session store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use event_listener::Event;
use futures_util::future::{select, Either};

use super::{
    refresh_due, user_key, Change, Counter, Meta, Record, SessionStore, StoreError, StoreKey,
    UserSession,
};
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
/// - **Bounded by default**: at most [`DEFAULT_MAX_SESSIONS`] sessions in all (config
///   `session_max`, [`MemoryStore::max_sessions`]). Creating a session in a full store
///   first sweeps the shard it goes to, then evicts the least recently used *anonymous*
///   sessions (no user) of that shard, else of another shard; logged-in sessions are
///   evicted, least recently used first, only when no anonymous session is left. So a
///   client that creates sessions in a loop evicts other anonymous visitors (or its own
///   sessions), never a logged-in user while anonymous sessions remain. "Used" means
///   created, loaded or saved; the order is exact within a shard, and sessions are spread
///   evenly over the shards by their random keys.
/// - **Eviction cost**: a shard is scanned once (O(n) for its n sessions) to evict its least
///   recently used 1 % of n (at least one), so at the cap a creation costs about 100 entry
///   visits amortised, never a scan per creation. Each eviction is counted, and the engine
///   logs a WARNING at most once a minute while the store evicts
///   ([`MemoryStore::take_eviction_report`]).
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
    /// Sessions held, over all shards (kept in step with every insertion and removal).
    count: AtomicUsize,
    /// Sessions evicted to make room and not reported yet.
    evicted: AtomicU64,
    /// When evictions were last reported.
    reported: Mutex<Option<SystemTime>>,
    /// Draws lock tokens.
    next_token: AtomicU64,
    /// The per-user index: [`user_key`] of a user name → keys of sessions created or moved
    /// with that user. Entries that ended (deleted, expired, evicted, moved) are dropped
    /// lazily, when the user's sessions are listed or the list grows; never locked while a
    /// shard is.
    users: Mutex<HashMap<StoreKey, Vec<StoreKey>>>,
    /// Login throttling's failure counters, with when each one's window ends (Unix ms, by
    /// the engine's clock): at most [`MAX_COUNTERS`], see [`SessionStore::count_attempt`].
    counters: Mutex<HashMap<StoreKey, (Counter, u64)>>,
}

/// The most login throttling counters a [`MemoryStore`] keeps. Counters are keyed by the user
/// names and addresses of failed logins, which a client chooses: when the table is full and
/// none of its windows has ended, the counter whose window ends first is dropped (that user
/// or address may then try again early; the table never grows past this bound: by its layout, a
/// 32-byte key and 24 bytes of counter per entry, some 7 to 8 MB of buckets at most).
pub const MAX_COUNTERS: usize = 100_000;

#[derive(Clone)]
struct Options {
    clock: Arc<dyn Clock>,
    max: Option<usize>,
    sweep_every: Duration,
    lease: Duration,
}

#[derive(Default)]
struct Shard {
    map: HashMap<StoreKey, Entry, BuildHasherDefault<KeyHasher>>,
    /// When it was last swept, in nanoseconds since the Unix epoch.
    last_sweep: Option<u64>,
    /// A counter giving each use of an entry its order (least recently used: lowest).
    tick: u64,
}

/// One session, kept compact: a one-key session costs about 210 bytes in all (BENCHMARKS.md;
/// measured before the three 8-byte fields of issue #22 were added),
/// where a [`Record`] (a `BTreeMap` node of ~640 bytes for the data) would cost ~900.
struct Entry {
    /// When it expires, in nanoseconds since the Unix epoch; [`NEVER`] for never (8 bytes
    /// where an `Option<SystemTime>` takes 16).
    expires: u64,
    /// The shard's tick at its last use.
    used: u64,
    /// The data's pairs, in no particular order, keys unique. Shared so that a load without
    /// session locking lends it to the request instead of copying it ([`LentData`]).
    data: LentData,
    user: Option<Box<crate::auth::User>>,
    /// [`Meta::created_ms`]; 0 for none.
    created_ms: u64,
    /// [`Meta::remember_ms`]; 0 for none.
    remember_ms: u64,
    /// When it was last loaded or written, in milliseconds since the Unix epoch.
    seen_ms: u64,
}

/// The hasher of the shard maps: 8 bytes of the [`StoreKey`] itself, no SipHash.
///
/// A store key is a SHA-256 output, so its bytes are already uniformly distributed, and
/// SipHash's keyed defence against crafted collisions buys nothing here: a client chooses the
/// cookie value it sends but not that value's SHA-256, and the shard maps only ever *insert*
/// keys of ids the engine drew from the operating system's random source (`create`, `cycle`);
/// a client's key is only looked up, and a lookup walks the probe sequence that random keys
/// made, adding none. (An application that calls `create` with keys of its own choosing gives
/// up that guarantee; the engine never does.) The lock table, the per-user index and the
/// throttling counters keep SipHash: their keys come from what clients send (any well-formed
/// cookie value gets a lock slot; user names and addresses are chosen), and grinding a name
/// whose SHA-256 collides in a few bits is cheap.
///
/// Bytes 8 to 15, not the first ones: the first byte chooses the shard ([`shard_of`]), so
/// within a shard its low 4 bits are the same for every key, and the map takes its bucket
/// from the hash's low bits.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A `StoreKey` writes its 32 bytes in one call (after its length, `write_usize`).
        match bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(word) => self.0 ^= u64::from_le_bytes(word),
            None => {
                for &b in bytes {
                    self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(MIX);
                }
            }
        }
    }

    fn write_usize(&mut self, n: usize) {
        // The length prefix (always 32 for a key): mixed in, shifting no key bit away.
        self.0 = (self.0 ^ n as u64).wrapping_mul(MIX);
    }
}

/// An odd 64-bit multiplier (the golden ratio's), for the hasher's rare non-key writes.
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// A session's data as the memory store keeps it, lent to a request by
/// [`MemoryStore::load_lent`]: the pairs in no particular order, keys unique. While a request
/// holds it, a write to that session copies the pairs instead of replacing a value in place.
pub(crate) type LentData = Arc<[(Box<str>, serde_json::Value)]>;

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
            created_ms: record.meta.created_ms.unwrap_or(0),
            remember_ms: record.meta.remember_ms.unwrap_or(0),
            seen_ms: 0,
        }
    }

    fn record(&self) -> Record {
        // Inserted one by one: collecting into the map would sort through a `Vec` first (an
        // allocation more per load).
        let mut data = super::Data::new();
        for (k, v) in self.data.iter() {
            data.insert(String::from(&**k), v.clone());
        }
        Record {
            data,
            user: self.user.as_deref().cloned(),
            meta: self.meta(),
        }
    }

    fn meta(&self) -> Meta {
        Meta {
            created_ms: (self.created_ms != 0).then_some(self.created_ms),
            remember_ms: (self.remember_ms != 0).then_some(self.remember_ms),
        }
    }

    /// Refreshes the deadline to `now + ttl` (the entry's own time to live when remembered)
    /// when less than 80 % of it remains ([`refresh_due`]).
    fn slide(&mut self, now: u64, ttl: Option<Duration>) {
        let ttl = if self.remember_ms != 0 {
            Some(Duration::from_millis(self.remember_ms))
        } else {
            ttl
        };
        match ttl {
            None => self.expires = NEVER,
            Some(ttl) => {
                let remaining = Duration::from_nanos(self.expires.saturating_sub(now));
                if self.expires == NEVER || refresh_due(remaining, ttl) {
                    self.expires = deadline(now, Some(ttl));
                }
            }
        }
    }

    /// Applies `change` as [`Change::apply_to`] does to a [`Record`].
    fn apply(&mut self, change: &Change) {
        let in_place = !change.cleared
            && change.removed.is_empty()
            && change
                .set
                .iter()
                .all(|(key, _)| self.data.iter().any(|(k, _)| **k == **key));
        // Only values of keys it holds change (a counter going up): replaced where they are,
        // without rebuilding the entry (no allocation), unless a request holds the data.
        let slots = if in_place {
            Arc::get_mut(&mut self.data)
        } else {
            None
        };
        if let Some(slots) = slots {
            for (key, value) in &change.set {
                if let Some(slot) = slots.iter_mut().find(|(k, _)| **k == **key) {
                    slot.1 = value.clone();
                }
            }
        } else {
            let kept = self.data.iter().filter(|(k, _)| {
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
                .cloned()
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

    /// Caps the store at `max` sessions; `0`: no cap. Default [`DEFAULT_MAX_SESSIONS`].
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
                count: AtomicUsize::new(0),
                options,
                evicted: AtomicU64::new(0),
                reported: Mutex::new(None),
                next_token: AtomicU64::new(0),
                users: Mutex::new(HashMap::new()),
                counters: Mutex::new(HashMap::new()),
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

    /// The most sessions the store holds; `None`: no cap.
    pub fn cap(&self) -> Option<usize> {
        self.inner.options.max
    }

    /// Removes every expired session now.
    pub fn sweep(&self) {
        let now = self.now();
        for shard in &self.inner.shards {
            self.sweep_shard(&mut lock(shard), now);
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
        lock(&self.inner.shards[shard_of(key)])
    }

    /// [`SessionStore::load`], without a future: the memory store never waits.
    pub(crate) fn load_now(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> Result<Option<Record>, StoreError> {
        Ok(self.use_entry(key, ttl, Entry::record))
    }

    /// [`load_now`](Self::load_now), lending the data instead of copying it: the record has
    /// the user and the engine's facts but no data; the data is the [`LentData`] (no
    /// allocation for an anonymous session). The engine calls it directly when it is not
    /// locking sessions: no boxed future, no copy.
    pub(crate) fn load_lent(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> Result<Option<(Record, LentData)>, StoreError> {
        Ok(self.use_entry(key, ttl, |entry| {
            let record = Record {
                data: super::Data::new(),
                user: entry.user.as_deref().cloned(),
                meta: entry.meta(),
            };
            (record, Arc::clone(&entry.data))
        }))
    }

    /// A load's bookkeeping: an expired entry is removed (`None`); a live one slides its
    /// expiry, is marked used and seen, and `read` makes the answer from it.
    fn use_entry<T>(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
        read: impl FnOnce(&Entry) -> T,
    ) -> Option<T> {
        let now = self.now();
        let mut shard = self.shard(key);
        let used = shard.tick();
        match shard.map.get_mut(key) {
            Some(entry) if entry.expired(now) => {
                self.remove(&mut shard, key);
                None
            }
            Some(entry) => {
                entry.slide(now, ttl);
                entry.used = used;
                entry.seen_ms = now / 1_000_000;
                Some(read(entry))
            }
            None => None,
        }
    }

    fn maybe_sweep(&self, shard: &mut Shard, now: u64) {
        let every = u64::try_from(self.inner.options.sweep_every.as_nanos()).unwrap_or(NEVER);
        let due = shard
            .last_sweep
            .is_none_or(|last| now < last || now - last >= every);
        if due {
            self.sweep_shard(shard, now);
        }
    }

    fn sweep_shard(&self, shard: &mut Shard, now: u64) {
        let before = shard.map.len();
        shard.map.retain(|_, e| !e.expired(now));
        shard.last_sweep = Some(now);
        self.inner
            .count
            .fetch_sub(before - shard.map.len(), Ordering::Relaxed);
    }

    fn insert(&self, shard: &mut Shard, key: StoreKey, entry: Entry) {
        if shard.map.insert(key, entry).is_none() {
            self.inner.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&self, shard: &mut Shard, key: &StoreKey) -> Option<Entry> {
        let removed = shard.map.remove(key);
        if removed.is_some() {
            self.inner.count.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Adds `key` to the index of `record`'s user, if it has one (no shard lock held).
    fn index(&self, key: &StoreKey, record: &Record) {
        let Some(user) = &record.user else {
            return;
        };
        let index = user_key(user.name());
        let crowded = {
            let mut users = lock(&self.inner.users);
            let list = users.entry(index).or_default();
            if !list.contains(key) {
                list.push(*key);
            }
            // Ended sessions are dropped lazily; prune when a list has grown.
            list.len() >= 64 && list.len().is_power_of_two()
        };
        if crowded {
            let _ = self.live_of(index, user.name());
        }
    }

    /// The live sessions of `user` among those indexed under `index`; drops the others from
    /// the index. Takes the index lock and shard locks one at a time, never both.
    fn live_of(&self, index: StoreKey, user: &str) -> Vec<UserSession> {
        let keys = lock(&self.inner.users)
            .get(&index)
            .cloned()
            .unwrap_or_default();
        let now = self.now();
        let mut live = Vec::with_capacity(keys.len());
        for key in &keys {
            let shard = self.shard(key);
            if let Some(entry) = shard.map.get(key) {
                let theirs = entry.user.as_ref().is_some_and(|u| u.name() == user);
                if theirs && !entry.expired(now) {
                    live.push(UserSession {
                        key: *key,
                        created_ms: (entry.created_ms != 0).then_some(entry.created_ms),
                        seen_ms: (entry.seen_ms != 0).then_some(entry.seen_ms),
                    });
                }
            }
        }
        let mut users = lock(&self.inner.users);
        if let Some(list) = users.get_mut(&index) {
            // Keep the live ones and any added meanwhile.
            list.retain(|k| !keys.contains(k) || live.iter().any(|s| s.key == *k));
            if list.is_empty() {
                users.remove(&index);
            }
        }
        live
    }

    /// Before a new session goes into `shard` (locked by the caller): when the store is at
    /// its cap, sweeps `shard`, then evicts, in this order of preference, the least recently
    /// used anonymous sessions of `shard`, of another shard (one not locked by someone else
    /// at that instant: never waiting on a second shard lock, so no deadlock), the least
    /// recently used logged-in sessions of `shard`, then of another shard. When every
    /// candidate shard is busy the store briefly holds one more than its cap.
    fn make_room(&self, shard: &mut Shard, index: usize, now: u64) {
        let Some(max) = self.inner.options.max else {
            return;
        };
        let full = || self.inner.count.load(Ordering::Relaxed) >= max;
        if !full() {
            return;
        }
        self.sweep_shard(shard, now);
        if !full() {
            return;
        }
        for anonymous_only in [true, false] {
            if self.evict(shard, anonymous_only) {
                return;
            }
            for other in (1..SHARDS).map(|i| (index + i) % SHARDS) {
                let mut guard = match self.inner.shards[other].try_lock() {
                    Ok(guard) => guard,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => continue,
                };
                self.sweep_shard(&mut guard, now);
                if !full() || self.evict(&mut guard, anonymous_only) {
                    return;
                }
            }
        }
    }

    /// Evicts the least recently used ~1 % of the shard's share of the cap (at least one) of
    /// its anonymous sessions, or of all its sessions; whether it evicted any. One scan per
    /// batch, so a flood at the cap costs about 100 entry visits per creation, amortised.
    fn evict(&self, shard: &mut Shard, anonymous_only: bool) -> bool {
        let per_shard = self.inner.options.max.unwrap_or(0).div_ceil(SHARDS);
        let batch = (per_shard / 100).max(1);
        let mut candidates: Vec<(u64, StoreKey)> = shard
            .map
            .iter()
            .filter(|(_, e)| !anonymous_only || e.user.is_none())
            .map(|(k, e)| (e.used, *k))
            .collect();
        let evict = batch.min(candidates.len());
        if evict == 0 {
            return false;
        }
        candidates.select_nth_unstable(evict - 1);
        for (_, key) in &candidates[..evict] {
            self.remove(shard, key);
        }
        self.inner
            .evicted
            .fetch_add(u64::try_from(evict).unwrap_or(u64::MAX), Ordering::Relaxed);
        true
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

fn shard_of(key: &StoreKey) -> usize {
    usize::from(key.0[0]) % SHARDS
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
        std::future::ready(self.load_now(key, ttl))
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
                self.make_room(&mut shard, shard_of(key), now);
                let used = shard.tick();
                let mut entry = Entry::new(record, deadline(now, ttl), used);
                entry.seen_ms = now / 1_000_000;
                self.insert(&mut shard, *key, entry);
                true
            }
        };
        drop(shard);
        if created {
            self.index(key, record);
        }
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
                entry.seen_ms = now / 1_000_000;
                true
            }
            Some(_) => {
                self.remove(&mut shard, key);
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
            match self.remove(&mut shard, old) {
                Some(entry) => !entry.expired(now),
                None => false,
            }
        };
        let moved = old_alive && {
            let mut shard = self.shard(new);
            if shard.map.get(new).is_some_and(|e| !e.expired(now)) {
                false
            } else {
                self.make_room(&mut shard, shard_of(new), now);
                let used = shard.tick();
                let mut entry = Entry::new(record, deadline(now, ttl), used);
                entry.seen_ms = now / 1_000_000;
                self.insert(&mut shard, *new, entry);
                true
            }
        };
        if moved {
            self.index(new, record);
        }
        std::future::ready(Ok(moved))
    }

    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.remove(&mut self.shard(key), key);
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

    /// Counts under one mutex. When the table holds [`MAX_COUNTERS`], the counters whose
    /// window ended by `now_ms` are dropped first, then, if none had, the one whose window
    /// ends first.
    fn count_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Counter>, StoreError>> + Send {
        let mut table = lock(&self.inner.counters);
        let mut out = Vec::with_capacity(counters.len());
        for (key, window) in counters {
            let current = table.get(key).map(|(counter, _)| *counter);
            let counter = Counter::after_attempt(current, now_ms, *window);
            if current.is_none() && table.len() >= MAX_COUNTERS {
                table.retain(|_, (_, ends)| *ends > now_ms);
                if table.len() >= MAX_COUNTERS {
                    let first = table
                        .iter()
                        .min_by_key(|(_, (_, ends))| *ends)
                        .map(|(k, _)| *k);
                    if let Some(first) = first {
                        table.remove(&first);
                    }
                }
            }
            table.insert(*key, (counter, counter.ends_ms(*window)));
            out.push(counter);
        }
        std::future::ready(Ok(out))
    }

    fn refund_attempt(
        &self,
        counters: &[(StoreKey, Duration)],
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut table = lock(&self.inner.counters);
        for (key, window) in counters {
            if let Some((counter, _)) = table.get_mut(key) {
                *counter = Counter::after_refund(*counter, now_ms, *window);
            }
        }
        std::future::ready(Ok(()))
    }

    /// The user's indexed sessions that are still live and still that user's, oldest first;
    /// the others are dropped from the index.
    fn sessions_of(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send {
        let index = user_key(user);
        let mut live = self.live_of(index, user);
        live.sort_by_key(|s| (s.created_ms, s.seen_ms));
        std::future::ready(Ok(live))
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
            meta: Meta::default(),
        }
    }

    /// Login throttling's counters: counted and refunded per key, and never more than
    /// `MAX_COUNTERS` of them, ended windows dropped first.
    #[tokio::test]
    async fn throttle_counters_are_counted_refunded_and_bounded() {
        let store = MemoryStore::new();
        let window = Duration::from_secs(10);
        let key = |n: u32| {
            let mut bytes = [0; 32];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            StoreKey::from_bytes(bytes)
        };
        let both = [(key(0), window), (key(1), window)];
        store.count_attempt(&both, 1_000).await.unwrap();
        let counted = store.count_attempt(&both, 2_000).await.unwrap();
        assert_eq!(
            counted,
            vec![
                Counter {
                    count: 2,
                    since_ms: 1_000
                };
                2
            ]
        );
        store.refund_attempt(&both[..1], 3_000).await.unwrap();
        let counted = store.count_attempt(&both, 4_000).await.unwrap();
        assert_eq!(counted[0].count, 2, "refunded once");
        assert_eq!(counted[1].count, 3);
        // A refund of an absent counter creates none.
        store
            .refund_attempt(&[(key(9), window)], 4_000)
            .await
            .unwrap();
        assert!(!lock(&store.inner.counters).contains_key(&key(9)));

        for n in 2..u32::try_from(MAX_COUNTERS).unwrap() {
            store
                .count_attempt(&[(key(n), window)], 5_000)
                .await
                .unwrap();
        }
        assert_eq!(lock(&store.inner.counters).len(), MAX_COUNTERS);
        // Full, nothing ended: the counter ending first (keys 0 and 1, from 1 000) goes.
        store
            .count_attempt(&[(key(u32::MAX), window)], 6_000)
            .await
            .unwrap();
        assert_eq!(lock(&store.inner.counters).len(), MAX_COUNTERS);
        // Full, and every window but the newest ended: those are dropped.
        store
            .count_attempt(&[(key(u32::MAX - 1), window)], 15_500)
            .await
            .unwrap();
        assert_eq!(lock(&store.inner.counters).len(), 2);
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

    /// A key in shard 0, told apart by `n`.
    fn key(n: u16) -> StoreKey {
        let mut bytes = [0u8; 32];
        bytes[1..3].copy_from_slice(&n.to_be_bytes());
        StoreKey::from_bytes(bytes)
    }

    fn logged_in() -> Record {
        Record {
            user: Some(User::new("alice")),
            ..Record::default()
        }
    }

    async fn held(store: &MemoryStore, n: u16) -> bool {
        store.load(&key(n), None).await.unwrap().is_some()
    }

    const TTL: Option<Duration> = Some(Duration::from_secs(3600));

    #[tokio::test]
    async fn the_default_store_holds_at_most_the_default_cap() {
        let store = MemoryStore::new();
        assert_eq!(store.cap(), Some(DEFAULT_MAX_SESSIONS));
        let record = record(&[("k", json!(1))]);
        for i in 0..DEFAULT_MAX_SESSIONS + 5_000 {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let created = store
                .create(&StoreKey::from_bytes(bytes), &record, TTL)
                .await
                .unwrap();
            assert!(created);
        }
        assert!(store.len() <= DEFAULT_MAX_SESSIONS, "{}", store.len());
        assert!(store.take_eviction_report().unwrap() >= 5_000);
        // `max_sessions(0)` lifts the cap.
        assert_eq!(MemoryStore::new().max_sessions(0).cap(), None);
    }

    #[tokio::test]
    async fn a_full_shard_evicts_anonymous_sessions_before_logged_in_ones() {
        // Every key here is in shard 0.
        let store = MemoryStore::new().max_sessions(4);
        assert!(store.create(&key(0), &logged_in(), TTL).await.unwrap());
        assert!(store.create(&key(1), &logged_in(), TTL).await.unwrap());
        // A flood of anonymous sessions, far past the cap.
        for n in 2..2_000 {
            assert!(store
                .create(&key(n), &Record::default(), TTL)
                .await
                .unwrap());
        }
        assert_eq!(store.len(), 4);
        assert!(held(&store, 0).await && held(&store, 1).await);
        // The newest anonymous sessions are the ones kept.
        assert!(held(&store, 1_999).await && held(&store, 1_998).await);
    }

    #[tokio::test]
    async fn a_shard_of_logged_in_sessions_evicts_anonymous_ones_elsewhere_first() {
        let store = MemoryStore::new().max_sessions(3);
        let mut elsewhere = [0u8; 32];
        elsewhere[0] = 5;
        let elsewhere = StoreKey::from_bytes(elsewhere);
        store.create(&key(0), &logged_in(), TTL).await.unwrap();
        store
            .create(&elsewhere, &Record::default(), TTL)
            .await
            .unwrap();
        store.create(&key(1), &logged_in(), TTL).await.unwrap();
        // Shard 0 is full of logged-in sessions: the anonymous one in shard 5 goes.
        store.create(&key(2), &logged_in(), TTL).await.unwrap();
        assert!(store.load(&elsewhere, None).await.unwrap().is_none());
        assert!(held(&store, 0).await && held(&store, 1).await && held(&store, 2).await);
        // No anonymous session anywhere: the least recently used logged-in one goes.
        store.create(&key(3), &logged_in(), TTL).await.unwrap();
        assert!(!held(&store, 0).await);
        assert_eq!(store.len(), 3);
    }

    #[tokio::test]
    async fn eviction_is_least_recently_used_first() {
        let store = MemoryStore::new().max_sessions(3);
        for n in 0..3 {
            store
                .create(&key(n), &Record::default(), TTL)
                .await
                .unwrap();
        }
        // Using 0 (a load) makes 1 the least recently used...
        assert!(held(&store, 0).await);
        store
            .create(&key(3), &Record::default(), TTL)
            .await
            .unwrap();
        assert!(!held(&store, 1).await);
        // ... then 2 (a save counts as a use as well).
        assert!(store.save(&key(0), &Change::default(), TTL).await.unwrap());
        store
            .create(&key(4), &Record::default(), TTL)
            .await
            .unwrap();
        assert!(!held(&store, 2).await);
        assert!(held(&store, 0).await && held(&store, 3).await && held(&store, 4).await);

        // Among logged-in sessions (no anonymous one left), the same order.
        let store = MemoryStore::new().max_sessions(3);
        for n in 0..3 {
            store.create(&key(n), &logged_in(), TTL).await.unwrap();
        }
        assert!(held(&store, 0).await);
        store.create(&key(3), &logged_in(), TTL).await.unwrap();
        assert!(!held(&store, 1).await);
        assert!(held(&store, 0).await && held(&store, 2).await && held(&store, 3).await);
    }

    #[tokio::test]
    async fn evictions_are_reported_at_most_once_a_minute() {
        let clock = crate::TestClock::new();
        let store = MemoryStore::new().with_clock(clock.clone()).max_sessions(1);
        assert_eq!(store.take_eviction_report(), None);
        for n in 0..5 {
            store
                .create(&key(n), &Record::default(), TTL)
                .await
                .unwrap();
        }
        assert_eq!(store.take_eviction_report(), Some(4));
        store
            .create(&key(5), &Record::default(), TTL)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(59));
        assert_eq!(store.take_eviction_report(), None);
        clock.advance(Duration::from_secs(1));
        assert_eq!(store.take_eviction_report(), Some(1));
        clock.advance(Duration::from_secs(120));
        assert_eq!(store.take_eviction_report(), None, "nothing evicted since");
    }

    fn timed_out(result: Result<MemoryLock, StoreError>) -> bool {
        matches!(result, Err(StoreError::LockTimeout(_)))
    }

    #[tokio::test]
    async fn a_lock_whose_lease_ran_out_goes_to_the_next_request() {
        let clock = crate::TestClock::new();
        let store = MemoryStore::new().with_clock(clock.clone());
        let k = key(1);
        let stuck = store.lock(&k, Duration::ZERO).await.unwrap();
        assert!(timed_out(store.lock(&k, Duration::from_millis(20)).await));
        clock.advance(DEFAULT_LOCK_LEASE - Duration::from_secs(1));
        assert!(timed_out(store.lock(&k, Duration::ZERO).await));
        clock.advance(Duration::from_secs(1));
        let next = store.lock(&k, Duration::ZERO).await.unwrap();
        // The stuck request finishing late does not release the lock its successor holds.
        store.unlock(stuck).await;
        assert!(timed_out(store.lock(&k, Duration::ZERO).await));
        store.unlock(next).await;
        let again = store.lock(&k, Duration::ZERO).await.unwrap();
        drop(again);
        // Dropping releases too, and the table forgets released locks.
        assert!(lock(&store.inner.locks).is_empty());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_released() {
        let store = MemoryStore::new();
        let k = key(1);
        let first = store.lock(&k, Duration::ZERO).await.unwrap();
        let waiter = store.lock(&k, Duration::from_secs(30));
        let release = async {
            tokio::task::yield_now().await;
            store.unlock(first).await;
        };
        let (second, ()) = tokio::join!(waiter, release);
        assert!(second.is_ok());
    }

    #[tokio::test]
    async fn a_shorter_lease_is_configurable() {
        let clock = crate::TestClock::new();
        let store = MemoryStore::new()
            .with_clock(clock.clone())
            .lock_lease(Duration::from_secs(5));
        let _stuck = store.lock(&key(1), Duration::ZERO).await.unwrap();
        clock.advance(Duration::from_secs(5));
        assert!(store.lock(&key(1), Duration::ZERO).await.is_ok());
    }

    /// Issue #22: the per-user index lists a user's live sessions oldest first and forgets
    /// those moved, deleted, logged out or expired.
    #[tokio::test]
    async fn the_per_user_index_lists_live_sessions_oldest_first() {
        let clock = crate::TestClock::new();
        let store = MemoryStore::new().with_clock(clock.clone());
        let alice = |created: u64| Record {
            user: Some(User::new("alice")),
            meta: Meta {
                created_ms: Some(created),
                remember_ms: None,
            },
            ..Record::default()
        };
        let key_of = |n: u8| StoreKey::from_bytes([n; 32]);
        store.create(&key_of(2), &alice(2), TTL).await.unwrap();
        store.create(&key_of(1), &alice(1), TTL).await.unwrap();
        store.create(&key_of(9), &logged_in(), TTL).await.unwrap();
        store
            .create(&key_of(5), &Record::default(), TTL)
            .await
            .unwrap();
        let keys = |list: Vec<UserSession>| list.iter().map(|s| s.key).collect::<Vec<_>>();
        assert_eq!(
            keys(store.sessions_of("alice").await.unwrap()),
            [key_of(9), key_of(1), key_of(2)],
            "oldest first (no creation time first)"
        );
        assert!(store.sessions_of("bob").await.unwrap().is_empty());
        // A login moves 2 to 3; a logout moves 1 to 4 without a user; 9 is deleted.
        assert!(store
            .cycle(&key_of(2), &key_of(3), &alice(3), TTL)
            .await
            .unwrap());
        assert!(store
            .cycle(&key_of(1), &key_of(4), &Record::default(), TTL)
            .await
            .unwrap());
        store.delete(&key_of(9)).await.unwrap();
        assert_eq!(keys(store.sessions_of("alice").await.unwrap()), [key_of(3)]);
        // Expired: gone from the list, and the index forgets the user.
        clock.advance(Duration::from_secs(3601));
        assert!(store.sessions_of("alice").await.unwrap().is_empty());
        assert!(lock(&store.inner.users).is_empty());
    }

    /// The shard maps' hasher spreads the keys of one shard over all the low bits the map
    /// takes its buckets from (the shard's own bits of the first byte are not used).
    #[test]
    fn keys_of_one_shard_spread_over_the_buckets() {
        let hash = |key: &StoreKey| {
            use std::hash::BuildHasher;
            BuildHasherDefault::<KeyHasher>::default().hash_one(key)
        };
        let mut seen = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for i in 0..4096u32 {
            let mut bytes = [0u8; 32];
            bytes[0] = 3; // one shard
            bytes[8..12].copy_from_slice(&i.wrapping_mul(0x9e37_79b9).to_le_bytes());
            let key = StoreKey(bytes);
            assert_eq!(shard_of(&key), 3);
            let h = hash(&key);
            seen.insert(h & 0xff);
            hashes.insert(h);
        }
        assert_eq!(seen.len(), 256, "low 8 bits take every value");
        assert_eq!(hashes.len(), 4096, "distinct keys, distinct hashes");
        // The same key always hashes the same.
        let seven = StoreKey::from_bytes([7; 32]);
        assert_eq!(hash(&seven), hash(&seven));
    }

    #[test]
    fn an_entry_is_small() {
        // What the table holds per session besides the key; the data lives behind `data`.
        assert!(
            std::mem::size_of::<Entry>() <= 64,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }
}
