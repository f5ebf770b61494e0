#![doc = include_str!("../docs/guide.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod fairing;
mod guards;
#[cfg(feature = "tracing")]
mod traced;

pub use fairing::CanisterFairing;
pub use guards::{Log, Params, Rejection, Session, User};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use traced::traced;

/// [`slog`](https://docs.rs/slog), re-exported from [`canister_core`]:
/// [`Log`] derefs to a `slog::Logger`; with this, an app can name that type and use slog's
/// macros without a `slog` dependency of its own (and always at canister's version).
///
/// ```
/// use canister_rocket::slog::{self, Logger};
///
/// fn greet(log: &Logger, name: &str) {
///     slog::info!(log, "greeting {}", name);
/// }
/// greet(&Logger::root(slog::Discard, slog::o!()), "alice");
/// ```
pub use canister_core::slog;
