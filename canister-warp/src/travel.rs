//! How a [`Visit`] travels from the wrapper to the filters.
//!
//! warp 0.4 gives filters no way to write into the request (its extensions are read-only
//! outside warp) and no way to run code around the inner filter's polls (`Filter` is sealed),
//! so neither request extensions nor a `tokio::task_local!` scope can carry the visit. What is
//! stable while one request goes through the filter chain is the task polling it: warp's
//! server runs each request on its own task (one task per HTTP/1 connection, which serves one
//! request at a time; one task per HTTP/2 stream). The wrapper registers the visit under the
//! current task's id and the filters look it up there; outside any task (a `block_on` future,
//! as `#[tokio::test]` bodies are), the current thread stands in for the task.
//!
//! The registration is held by the value the wrapper's first filter extracts, which warp keeps
//! alive until the routes have answered, so it ends when the request ends, also when the
//! request's future is dropped half-way. If two wrapped requests run at once on one task (a
//! `join!` of two `warp::test` requests), the filters cannot tell them apart: they answer a 500
//! rather than guess.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use canister_core::Visit;

/// What identifies the request being filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Task(tokio::task::Id),
    Thread(ThreadId),
}

impl Key {
    fn current() -> Self {
        tokio::task::try_id().map_or_else(|| Self::Thread(thread::current().id()), Self::Task)
    }
}

/// The visits of one key: `visit` is `None` once two requests share the key.
struct Slot {
    visit: Option<Visit>,
    live: usize,
}

/// Hashes a [`Key`] by mixing its few words: task and thread ids are numbers the runtime
/// hands out, not input an attacker picks, so SipHash's flooding resistance buys nothing
/// here and its cost was most of a lookup's (five per request).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Visits = HashMap<Key, Slot, BuildHasherDefault<KeyHasher>>;

static VISITS: LazyLock<Mutex<Visits>> = LazyLock::new(Mutex::default);

fn visits() -> MutexGuard<'static, Visits> {
    VISITS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A visit registered for the current task; dropping it ends the registration.
#[derive(Debug)]
pub(crate) struct Installed {
    key: Key,
    visit: Visit,
}

impl Installed {
    /// Registers `visit` as the current task's.
    pub(crate) fn new(visit: Visit) -> Self {
        let key = Key::current();
        match visits().entry(key) {
            Entry::Occupied(mut slot) => {
                let slot = slot.get_mut();
                slot.live += 1;
                slot.visit = None;
            }
            Entry::Vacant(slot) => {
                slot.insert(Slot {
                    visit: Some(visit.clone()),
                    live: 1,
                });
            }
        }
        Self { key, visit }
    }

    /// Ends the registration and hands the visit back (for `finish`).
    pub(crate) fn into_visit(self) -> Visit {
        self.visit.clone()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Entry::Occupied(mut slot) = visits().entry(self.key) {
            slot.get_mut().live -= 1;
            if slot.get().live == 0 {
                slot.remove();
            }
        }
    }
}

/// What the filters find for the current task.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Visit),
    /// No wrapper runs on this task: it was not installed on these routes.
    Missing,
    /// Several wrapped requests run on this task at once.
    Ambiguous,
}

pub(crate) fn current() -> Lookup {
    match visits().get(&Key::current()) {
        None => Lookup::Missing,
        Some(Slot {
            visit: Some(visit), ..
        }) => Lookup::Found(visit.clone()),
        Some(_) => Lookup::Ambiguous,
    }
}
