//! canister for [Rocket](https://rocket.rs) 0.5: sessions, authentication, request logs, CORS
//! and CSRF protection with one fairing and a few request guards.
//!
//! Every decision is made by [`canister_core`]; this crate only translates Rocket's requests
//! and responses for it (see `docs/ADAPTERS.md` in the repository for the contract).
//!
//! # Example
//!
//! ```no_run
//! use canister_core::Canister;
//! use canister_rocket::{CanisterFairing, Params, Session, User};
//! use rocket::{get, post, routes};
//!
//! #[get("/")]
//! fn index(session: Session) -> String {
//!     let visits = session.get("visits").map_or(0, |n: u64| n + 1);
//!     let _ = session.insert("visits", visits);
//!     format!("visit number {visits}")
//! }
//!
//! #[get("/secret")]
//! fn secret(user: User) -> String {
//!     format!("You are authenticated as {}", user.name())
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Hi {
//!     foo: String,
//! }
//!
//! #[post("/hi", data = "<hi>")]
//! fn hi(hi: Params<Hi>) -> String {
//!     format!("Hi {}!", hi.foo)
//! }
//!
//! #[rocket::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let canister = Canister::from_config_file("canister.ini")?;
//!     let _ = rocket::build()
//!         .attach(CanisterFairing::new(canister.clone()))
//!         .mount("/", routes![index, secret, hi])
//!         .launch()
//!         .await?;
//!     canister.flush();
//!     Ok(())
//! }
//! ```
//!
//! # Login and logout
//!
//! A login form for browser pages: pages take `Option<User>` and redirect anonymous
//! visitors to the form; an API route keeps [`User`], whose failure is a plain 401.
//!
//! The users: an htpasswd file of bcrypt hashes (`htpasswd -B users.htpasswd alice`), or one
//! user in `auth_basic_username` / `auth_basic_password`, or your own check
//! ([`Basic::with_check`](canister_core::Basic::with_check), e.g. your database). With
//! `auth_basic_challenge = false`, a 401 carries no `WWW-Authenticate: Basic`, so browsers
//! show your form rather than their own password dialog (Basic headers still work):
//!
//! ```ini
//! [canister]
//! auth_basic_htpasswd = users.htpasswd
//! auth_basic_challenge = false
//! ```
//!
//! `verify_password` answers `NotMine` when no users are configured: treat it as a refusal,
//! as below, or anyone could log in as anyone.
//!
//! Logging out comes in two strengths. [`logout`](canister_core::Session::logout) forgets
//! the user and gives the session a new id, keeping its other data (a cart, a language);
//! [`destroy`](canister_core::Session::destroy) ends the session: deleted from the store,
//! cookie cleared.
//!
//! ```no_run
//! use canister_core::{AuthOutcome, Canister};
//! use canister_rocket::{CanisterFairing, Params, Session, User};
//! use rocket::http::Status;
//! use rocket::response::content::RawHtml;
//! use rocket::response::Redirect;
//! use rocket::{get, post, routes, uri};
//!
//! #[derive(serde::Deserialize)]
//! struct Login {
//!     username: String,
//!     password: String,
//! }
//!
//! // A browser page: anonymous visitors are sent to the form, not shown a 401.
//! #[get("/")]
//! fn home(user: Option<User>) -> Result<RawHtml<String>, Redirect> {
//!     let user = user.ok_or_else(|| Redirect::to(uri!(login_form)))?;
//!     Ok(RawHtml(format!(
//!         "<p>Hello {}</p><form method=post action=/logout><button>Log out</button></form>",
//!         user.name()
//!     )))
//! }
//!
//! #[get("/login")]
//! fn login_form() -> RawHtml<&'static str> {
//!     RawHtml(
//!         "<form method=post action=/login><input name=username>\
//!          <input name=password type=password><button>Log in</button></form>",
//!     )
//! }
//!
//! // `Params` as a data guard reads the form (or a JSON object).
//! #[post("/login", data = "<form>")]
//! async fn login(session: Session, form: Params<Login>) -> Result<Redirect, (Status, &'static str)> {
//!     match session.verify_password(&form.username, &form.password).await {
//!         AuthOutcome::Authenticated(user) => {
//!             session.login(user); // the session id changes: no fixation
//!             Ok(Redirect::to(uri!(home)))
//!         }
//!         // Refused, or NotMine: no users configured. Never log anyone in then.
//!         _ => Err((Status::Unauthorized, "wrong username or password")),
//!     }
//! }
//!
//! // The user leaves; the session's other data stays.
//! #[post("/logout")]
//! fn logout(session: Session) -> Redirect {
//!     session.logout();
//!     Redirect::to(uri!(login_form))
//! }
//!
//! // Everything goes: the session is deleted and its cookie cleared.
//! #[post("/forget-me")]
//! fn forget_me(session: Session) -> Redirect {
//!     session.destroy();
//!     Redirect::to(uri!(home))
//! }
//!
//! // An API: a plain 401 for scripts.
//! #[get("/api/me")]
//! fn api_me(user: User) -> String {
//!     user.name().to_owned()
//! }
//!
//! #[rocket::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let canister = Canister::from_config_file("canister.ini")?;
//!     let _ = rocket::build()
//!         .attach(CanisterFairing::new(canister.clone()))
//!         .mount("/", routes![home, login_form, login, logout, forget_me, api_me])
//!         .launch()
//!         .await?;
//!     canister.flush();
//!     Ok(())
//! }
//! ```
//!
//! A failing 401 from `Option<User>` is stashed for the fairing, which would replace a
//! handler's own 401 with it (see "Guards"); the redirect above is a 303, which it keeps.
//!
//! # The two passes
//!
//! - **`on_request`**: the fairing turns the request into `http` parts (method; URI with
//!   `http`/`https` (Rocket's TLS setting) and the `Host` header as authority; headers) plus
//!   the peer address from [`Request::remote`](rocket::Request::remote) and calls
//!   [`Canister::enter`](canister_core::Canister::enter). The resulting
//!   [`Visit`](canister_core::Visit) goes in the request's local cache, where the guards find
//!   it.
//! - **`on_response`**: for every response (routes, forwards, Rocket's catchers' 404 and 500
//!   pages), the fairing calls [`Canister::finish`](canister_core::Canister::finish) and
//!   writes the status and headers back: the session cookie, the CORS headers, or the 503
//!   with its body when the store failed while saving.
//!
//! # Answers the core gives itself
//!
//! A Rocket fairing cannot answer a request. When `enter` answers itself (a CORS preflight,
//! a CSRF refusal), the fairing keeps that response in the local cache and **rewrites the
//! request** to `GET` [`RESPOND_PATH`], a route it mounts at ignite (rank -1000). No route
//! of the application can match it, so no handler runs; the response pass then replaces the
//! internal route's empty answer with exactly the core's response (status, headers, body). A
//! direct request to that path finds nothing stashed and is forwarded (404).
//!
//! # Guards
//!
//! | guard | what | failure |
//! |---|---|---|
//! | [`Session`] | the session (loaded on first use) | 503 (store down) |
//! | [`User`] | the header's or the session's user | 401 with the core's `WWW-Authenticate` challenges, or 503 |
//! | `Option<User>` | the user, if any | `None`; a 503 still replaces the handler's response |
//! | [`Params<T>`] | query (request guard), query + form/multipart/JSON-object body (data guard) | 400 `missing parameter 'foo'` |
//! | [`Log`] | the request's `slog::Logger` | — |
//!
//! A failing guard makes Rocket run its catcher for the status; the guard also stashes the
//! core's response and the fairing sends that instead of the catcher's page, so clients see
//! the same bodies and headers as with every other canister adapter. (Consequently a
//! handler's own response with that same status, after an `Option<Guard>` came back `None`,
//! is replaced too.) The guard's error, [`Rejection`], is a [`Responder`](rocket::response::Responder)
//! for handlers that take `Result<User, Rejection>`.
//!
//! Without the fairing a guard fails with 500 and logs, once, what to attach.
//!
//! # Opting out
//!
//! Routes that take no canister guard pay only the fairing's two passes: no store access
//! (sessions are lazy), just the log lines and CORS headers. To leave paths to Rocket
//! entirely (health checks, static files), use [`CanisterFairing::exclude`].
//!
//! # Request ids and `tracing`
//!
//! Every response canister handles carries the request's id in `x-request-id`
//! (`request_id_header`), the fairing's own answers included. With `log_sink = tracing`
//! (feature `tracing`, on by default) the engine's events and the [`Log`] guard's lines go
//! to the application's `tracing` subscriber inside the request's span; mount routes through
//! `traced(routes![...])` (feature `tracing`) so that the handler, guards included, runs
//! inside that span and its own `tracing::info!` carries the request's fields: a fairing
//! cannot wrap the handler's future.
//!
//! # Dependencies
//!
//! | crate | why |
//! |---|---|
//! | `rocket` | the framework |
//! | `http`, `bytes` | the core's request and response types (Rocket 0.5 uses `http` 0.2 inside) |
//! | `slog` | the [`Log`] guard's logger |
//! | `serde` | [`Params<T>`] is generic over `Deserialize` types |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod fairing;
mod guards;
#[cfg(feature = "tracing")]
mod traced;

pub use fairing::{CanisterFairing, RESPOND_PATH};
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
