//! Sessions: ids, the store contract, the memory store.

mod store;

pub use store::{Change, Data, Record, SessionStore, StoreError, StoreKey};
