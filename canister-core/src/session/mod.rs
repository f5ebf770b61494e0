//! Sessions: ids, the store contract, the memory store, and the handle handlers use.

#[cfg(any(test, feature = "test-util"))]
mod faulty;
mod id;
mod memory;
mod store;
mod throttle;

#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use faulty::{FaultyStore, StoreOp};
#[cfg(test)]
pub(crate) use id::fail_random_for_test;
pub(crate) use id::{tag_of, SessionId};
pub(crate) use memory::LentData;
pub use memory::{MemoryLock, MemoryStore, DEFAULT_LOCK_LEASE, DEFAULT_MAX_SESSIONS, MAX_COUNTERS};
pub use store::{
    refresh_due, user_key, Change, Counter, Data, Meta, Record, SessionStore, StoreError, StoreKey,
    UserSession,
};
pub use throttle::{throttle_key, ThrottleKey, ThrottleLimit};
