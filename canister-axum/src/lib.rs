//! canister for [axum] 0.8: sessions, authentication, request logging, typed parameters,
//! CORS and CSRF protection, installed with one line.
//!
//! The decisions live in [`canister_core`]; this crate only translates: [`CanisterLayer`]
//! (from [`canister_tower`], shared with canister-warp) runs each request through
//! [`Canister::enter`](canister_core::Canister::enter) and
//! [`Canister::finish`](canister_core::Canister::finish), and the extractors read the
//! request's [`Visit`](canister_core::Visit) from the request extensions.
//!
//! # Example
//!
//! ```no_run
//! use axum::{routing::{get, post}, Router};
//! use canister_axum::{CanisterLayer, Log, Params, Session, User};
//! use canister_core::Canister;
//!
//! #[derive(serde::Deserialize)]
//! struct Hi {
//!     foo: String,
//!     bar: Option<String>,
//! }
//!
//! // The session: loaded on first use, saved after the handler, cookie set only if written.
//! async fn counter(session: Session) -> String {
//!     let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
//!     let _ = session.insert("counter", counter);
//!     format!("visit number {counter}")
//! }
//!
//! // Query + form + multipart + JSON-object parameters; a missing `foo` is a 400 naming it.
//! async fn hi(log: Log, Params(hi): Params<Hi>) -> String {
//!     slog::info!(log, "greeting {}", hi.foo);
//!     match hi.bar.filter(|b| !b.is_empty()) {
//!         Some(bar) => format!("Hi {} and {bar}!", hi.foo),
//!         None => format!("Hi {}!", hi.foo),
//!     }
//! }
//!
//! // 401 with the configured challenges when nobody is authenticated.
//! async fn secret(user: User) -> String {
//!     format!("You are authenticated as {}", user.name())
//! }
//!
//! // Anonymous visitors welcome.
//! async fn whoami(user: Option<User>) -> String {
//!     user.map_or_else(|| "nobody".to_owned(), |u| u.name().to_owned())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let canister = Canister::from_config_file("canister.ini")?;
//!     let app = Router::new()
//!         .route("/", get(counter))
//!         .route("/hi", get(hi).post(hi))
//!         .route("/secret", get(secret))
//!         .route("/whoami", get(whoami))
//!         .layer(CanisterLayer::new(canister.clone()));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     // With connect info, the log shows the client's address.
//!     let make = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
//!     axum::serve(listener, make).await?;
//!     canister.flush();
//!     Ok(())
//! }
//! ```
//!
//! # Login and logout
//!
//! A login form for browser pages: pages take `Option<User>` and redirect anonymous
//! visitors to the form; an API route keeps [`User`], whose rejection is a plain 401.
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
//! use axum::http::StatusCode;
//! use axum::response::{Html, IntoResponse, Redirect, Response};
//! use axum::routing::{get, post};
//! use axum::Router;
//! use canister_axum::{CanisterLayer, Params, Session, User};
//! use canister_core::{AuthOutcome, Canister};
//!
//! #[derive(serde::Deserialize)]
//! struct Login {
//!     username: String,
//!     password: String,
//! }
//!
//! // A browser page: anonymous visitors are sent to the form, not shown a 401.
//! async fn home(user: Option<User>) -> Response {
//!     match user {
//!         Some(user) => Html(format!(
//!             "<p>Hello {}</p><form method=post action=/logout><button>Log out</button></form>",
//!             user.name()
//!         ))
//!         .into_response(),
//!         None => Redirect::to("/login").into_response(),
//!     }
//! }
//!
//! async fn login_form() -> Html<&'static str> {
//!     Html(
//!         "<form method=post action=/login><input name=username>\
//!          <input name=password type=password><button>Log in</button></form>",
//!     )
//! }
//!
//! // `Params` reads the form (or a JSON object); it reads the body, so it comes last.
//! async fn login(session: Session, Params(form): Params<Login>) -> Response {
//!     match session.verify_password(&form.username, &form.password).await {
//!         AuthOutcome::Authenticated(user) => {
//!             session.login(user); // the session id changes: no fixation
//!             Redirect::to("/").into_response()
//!         }
//!         // Refused, or NotMine: no users configured. Never log anyone in then.
//!         _ => (StatusCode::UNAUTHORIZED, "wrong username or password").into_response(),
//!     }
//! }
//!
//! // The user leaves; the session's other data stays.
//! async fn logout(session: Session) -> Redirect {
//!     session.logout();
//!     Redirect::to("/login")
//! }
//!
//! // Everything goes: the session is deleted and its cookie cleared.
//! async fn forget_me(session: Session) -> Redirect {
//!     session.destroy();
//!     Redirect::to("/")
//! }
//!
//! // An API: a plain 401 for scripts.
//! async fn api_me(user: User) -> String {
//!     user.name().to_owned()
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let canister = Canister::from_config_file("canister.ini")?;
//!     let app = Router::new()
//!         .route("/", get(home))
//!         .route("/login", get(login_form).post(login))
//!         .route("/logout", post(logout))
//!         .route("/forget-me", post(forget_me))
//!         .route("/api/me", get(api_me))
//!         .layer(CanisterLayer::new(canister.clone()));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     let make = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
//!     axum::serve(listener, make).await?;
//!     canister.flush();
//!     Ok(())
//! }
//! ```
//!
//! # What the layer does
//!
//! - Answers CORS preflights and refuses cross-site unsafe requests carrying the session
//!   cookie (403) itself, without running the route.
//! - Otherwise puts the request's [`Visit`](canister_core::Visit) in the request extensions
//!   (handlers may also take `Extension<canister_core::Visit>`), runs the route, then saves
//!   what the route changed in the session, sets or clears the cookie, adds CORS headers and
//!   logs the response. When the store cannot save, the response becomes the engine's 503.
//! - Response bodies pass through untouched (streaming included), except for that 503.
//! - The client's address comes from axum's `ConnectInfo<SocketAddr>` (serve with
//!   `into_make_service_with_connect_info::<SocketAddr>()`), or a
//!   [`canister_tower::PeerAddr`] extension; without either the log shows `-`.
//! - Dropping the response future (a client gone, a timeout) releases the session's lock.
//!
//! # Extractors
//!
//! | extractor | gives | rejection |
//! |---|---|---|
//! | [`Session`] | the session (derefs to [`canister_core::Session`]) | 503 when the store fails |
//! | [`User`] | the authenticated user (derefs to [`canister_core::User`]) | 401 with challenges, 503 |
//! | `Option<User>` | the user, if any | 503 |
//! | [`Params<T>`] | query + body parameters decoded into `T` | 400 naming the parameter |
//! | [`Log`] | a [`slog::Logger`] carrying the client and session (in any argument order) | — |
//!
//! On a route without [`CanisterLayer`], every extractor answers 500 with a message saying
//! to add it (and prints it once to standard error).
//!
//! # Leaving routes out
//!
//! `Router::layer` wraps the routes added before it; routes merged after it, or a nested
//! router, run without canister (no session, no cookie, no log line):
//!
//! ```no_run
//! # use axum::{routing::get, Router};
//! # use canister_axum::CanisterLayer;
//! # fn app(canister: canister_core::Canister) -> Router {
//! Router::new()
//!     .route("/", get(|| async { "with canister" }))
//!     .layer(CanisterLayer::new(canister))
//!     .route("/health", get(|| async { "ok" }))
//! # }
//! ```
//!
//! `Router::route_layer` instead wraps only matched routes, so 404s skip canister.
//!
//! # Logging with `tracing`
//!
//! With `log_sink = tracing` (feature `tracing`, on by default) each request runs in a
//! `tracing` span carrying `request_id`, `client`, `session` (the 6-character tag), `user`,
//! `method`, `uri` and `trace_id` (from a W3C `traceparent`); the route's future runs
//! instrumented with it, so the handler's own events carry those fields. The engine's events
//! have target `canister` ([`canister_core::log::TracingSink`] lists them). Every response
//! carries the request id in `x-request-id` (`request_id_header`), with either sink.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use canister_axum::{CanisterLayer, Session};
//! use canister_core::Canister;
//!
//! async fn index(session: Session) -> String {
//!     tracing::info!("inside the request's span"); // carries request_id, session, ...
//!     format!("{:?}", session.get::<i64>("counter"))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     tracing_subscriber::fmt()
//!         .json()
//!         .with_current_span(true)
//!         .with_env_filter("info,canister=info")
//!         .init();
//!     // canister.ini: [canister] log_sink = tracing
//!     let canister = Canister::from_config_file("canister.ini")?;
//!     let app = Router::new().route("/", get(index)).layer(CanisterLayer::new(canister));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//!         .await?;
//!     Ok(())
//! }
//! ```
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
pub use extract::{Log, Params, Session, User};
