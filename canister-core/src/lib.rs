//! The sans-IO engine of canister: sessions, authentication, logging, parameters, CORS and
//! CSRF for Rust web apps, on `http` types only.
//!
//! This crate names no web framework, async runtime or socket. The adapters
//! (`canister-axum`, `canister-rocket`, `canister-warp`) translate their framework's request
//! into [`http::request::Parts`] and drive the engine; sessions live in a [`SessionStore`](crate::session::SessionStore)
//! ([`MemoryStore`](crate::session::MemoryStore) here, Redis in `canister-store-redis`).
//!
//! # One request, two passes
//!
//! ```
//! use bytes::Bytes;
//! use canister_core::{Canister, config::Config, Entry, Finish};
//! use http::{Request, Response};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let canister = Canister::from_config(Config::from_ini_str("[canister]\nlog_level = DISABLED")?)?;
//!
//! // 1. The adapter turns the framework's request into parts and calls `enter`. It does no
//! //    store I/O: it answers CORS preflights, refuses cross-site unsafe requests that carry
//! //    the session cookie, reads the cookie and checks the `Authorization` header.
//! let (parts, _body) = Request::get("http://localhost:8080/").body(())?.into_parts();
//! let visit = match canister.enter(&parts, None).await {
//!     Entry::Respond(response) => return Ok(drop(response)), // send it; the handler never runs
//!     Entry::Proceed(visit) => visit,
//! };
//!
//! // 2. The handler asks for the session: it is loaded from the store on first use, and
//! //    reads and writes are plain calls on loaded data.
//! let session = visit.session().await.map_err(|_503| "store down")?;
//! let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
//! session.insert("counter", counter)?;
//!
//! // 3. After the handler, `finish` saves only what changed, sets the cookie, adds CORS
//! //    headers and logs the response line.
//! let (mut response, body) = Response::new(Bytes::from("hello")).into_parts();
//! let body = match canister.finish(visit, &mut response).await {
//!     Finish::Keep => body,
//!     Finish::ReplaceBody(replacement) => replacement, // the save failed: a 503
//! };
//! let cookie = response.headers.get("set-cookie").expect("a new session sets its cookie");
//! assert!(cookie.to_str()?.starts_with("session_id="));
//! # let _ = body;
//! # Ok(())
//! # }
//! ```
//!
//! # Decisions
//!
//! - Sessions are lazy: a request that stores nothing creates nothing and sets no cookie.
//! - Ids carry 256 bits from the OS random source; stores key sessions by their SHA-256;
//!   unknown, expired or forged ids are never adopted; the id changes at login and logout.
//! - A save carries only the request's change ([`session::Change`]), so concurrent requests
//!   writing different keys keep both writes; a save never resurrects a destroyed session.
//! - A user proved by an `Authorization` header belongs to that request only, unless
//!   `auth_remember = true`.
//! - When the store fails, the client gets a 503 (or an unsaved anonymous session with
//!   `session_on_store_error = anonymous`), never a success that dropped a write.
//! - Secrets and full session ids never reach a log; logs carry a 6-character tag of a hash
//!   of the id.
//!
//! # Dependencies and why
//!
//! | crate | for |
//! |---|---|
//! | `http`, `bytes` | the request and response types every adapter shares |
//! | `serde`, `serde_json` | session values and JWT claims |
//! | `serde_urlencoded`, `multer` | typed form decoding and multipart bodies |
//! | `percent-encoding` | decoding query names when masking secret parameters in logs |
//! | `jsonwebtoken` | JWT verification with pinned algorithms, on its `aws_lc_rs` backend (aws-lc-rs: RS256 about 7×, ES256 about 4× faster than `rust_crypto` in BENCHMARKS.md; builds with a C compiler) |
//! | `base64`, `sha2`, `subtle` | Basic credentials, hashed store keys, constant-time comparison |
//! | `bcrypt` | `auth_basic_htpasswd`: checking salted, deliberately slow bcrypt hashes as Apache's `htpasswd -B` writes them (the widely used pure-Rust implementation; writing bcrypt ourselves would be a risk for no gain) |
//! | `getrandom` | session ids from the operating system's random source |
//! | `slog` | the logging API handlers receive (`slog::Logger`), and [`SlogSink`](crate::log::SlogSink) |
//! | `chrono` (feature `default-sink`, on by default) | local time for the default sink's line stamps and its `log.YYYY-MM-DD` files |
//! | `event-listener`, `futures-timer`, `futures-util` | runtime-agnostic session locks with a bounded wait |
//! | `thiserror` | error types |
//! | `tracing` (feature `tracing`, off here, on by default in the adapters) | `log::TracingSink` (`log_sink = tracing`) and the request span |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `default-sink` | on | canister's own log sink: [`DefaultLogSink`](crate::log::DefaultLogSink) writing canister's lines to stderr or to daily files ([`log::DailyFiles`], rotated at *local* midnight, which no rotation crate does), through a bounded queue and a writer thread; [`DefaultLogSinkBuilder`](crate::log::DefaultLogSinkBuilder); `chrono` |
//! | `tracing` | off (on by default in the adapters) | `log::TracingSink` (`log_sink = tracing`) and the request span |
//! | `test-util` | off | `session::FaultyStore`, a store that fails on demand |
//!
//! The engine does no I/O of its own (it reads the files its configuration names, such as
//! keys and `htpasswd`, at start-up); the default sink is the one part that starts a thread
//! and writes to stderr or files, so `default-features = false` leaves a crate without
//! either (CI builds and lints it so).
//! [`DefaultLogSink`](crate::log::DefaultLogSink) stays [`Canister`]'s default sink type in every build (so turning the
//! feature on elsewhere in a dependency graph changes no type), but without `default-sink`
//! it is only the `tracing` sink or a disabled one: [`Canister::from_config`] with
//! `log_sink = canister` (the default) refuses with a [`ConfigError`](crate::config::ConfigError) naming `log_sink`
//! rather than drop the log silently, unless `log_level = DISABLED`. Set `log_sink =
//! tracing`, `log_level = DISABLED`, or give [`Builder::log_sink`] any [`LogSink`](crate::log::LogSink) (a
//! [`SlogSink`](crate::log::SlogSink), a closure, `()`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
pub mod auth;
mod clock;
pub mod config;
mod cors;
mod csrf;
mod engine;
pub mod log;
pub mod params;
mod rejection;
mod report;
mod response;
pub mod session;

/// Not API: what the fuzz targets (`fuzz/`) check the configuration reader against. Hidden,
/// unstable, and not covered by semver.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::ini::parse_ini;
}

pub use clock::{Clock, SystemClock, TestClock};
pub use engine::{Builder, Canister, Entry, Finish, InsertError, Session, SessionInfo, Visit};
pub use rejection::Rejection;
pub use report::ErrorChain;

/// [`slog`](https://docs.rs/slog), the logging crate of canister's request loggers,
/// re-exported: a handler can name `slog::Logger` and use slog's macros without adding a
/// `slog` line of its own, and always at the version canister was built with.
///
/// ```
/// use canister_core::slog::{self, Logger};
///
/// fn greet(log: &Logger, name: &str) {
///     slog::info!(log, "greeting {}", name);
/// }
/// greet(&Logger::root(slog::Discard, slog::o!()), "alice");
/// ```
pub use slog;

/// [`tracing`](https://docs.rs/tracing), re-exported (feature `tracing`): the crate of
/// `log::TracingSink` and of [`Visit::span`], at the version canister was
/// built with.
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing;
