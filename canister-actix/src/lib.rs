#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod extract;
mod middleware;

/// [`slog`](https://docs.rs/slog), re-exported from [`canister_core`]: [`Log`] derefs to a
/// `slog::Logger`, and with this an app can use slog's macros without its own dependency.
pub use canister_core::slog;
pub use extract::{Log, Params, Rejection, Session, User};
pub use middleware::{Body, CanisterMiddleware, CanisterService};
