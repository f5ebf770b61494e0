#![doc = include_str!("../docs/guide.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod extract;

/// [`slog`](https://docs.rs/slog), re-exported from [`canister_core`]:
/// [`Log`] derefs to a `slog::Logger`; with this, an app can name that type and use slog's
/// macros without a `slog` dependency of its own (and always at canister's version).
///
/// ```
/// use canister_axum::slog::{self, Logger};
///
/// fn greet(log: &Logger, name: &str) {
///     slog::info!(log, "greeting {}", name);
/// }
/// greet(&Logger::root(slog::Discard, slog::o!()), "alice");
/// ```
pub use canister_core::slog;
pub use canister_tower::{CanisterLayer, CanisterService, ResponseFuture};
pub use extract::{Log, Params, Rejection, Session, User};
