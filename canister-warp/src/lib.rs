//! [warp](https://docs.rs/warp) 0.4 adapter for canister: sessions, authentication, request
//! logs, parameters, CORS and CSRF for warp routes.
//!
//! [`Warp`] holds a [`Canister`] and gives one wrapper and a few filters:
//!
//! - [`wrap(routes)`](Warp::wrap) runs canister's first pass before the routes and its second
//!   pass after them, so the session cookie, the CORS headers and the log line are applied to
//!   every reply, 404s and rejections included. A CORS preflight or a CSRF refusal is
//!   answered without running the routes.
//! - [`session()`](Warp::session) extracts the [`Session`], [`user()`](Warp::user) the
//!   [`User`] (else a 401 with the configured challenges),
//!   [`optional_user()`](Warp::optional_user) an `Option<User>`,
//!   [`params::<T>()`](Warp::params) typed parameters from the query and an url-encoded,
//!   multipart or JSON-object body (else a 400 naming the field), [`log()`](Warp::log) a request
//!   [`slog::Logger`].
//!
//! The filters reject with a [`CanisterRejection`] carrying canister's response; the wrapper
//! answers it, and so does [`recover`] for filters used elsewhere.
//!
//! # Example
//!
//! ```no_run
//! use canister_core::{Canister, Config};
//! use canister_warp::{Session, User, Warp};
//! use warp::Filter;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let canister = Warp::new(Canister::from_config(Config::default())?);
//!
//!     let counter = warp::path::end().and(canister.session()).map(|session: Session| {
//!         let visits = session.get::<u64>("visits").map_or(1, |n| n + 1);
//!         let _ = session.insert("visits", visits);
//!         format!("visit number {visits}")
//!     });
//!     let secret = warp::path!("secret")
//!         .and(canister.user())
//!         .map(|user: User| format!("hello {}", user.name()));
//!
//!     let app = canister.wrap(counter.or(secret));
//!     warp::serve(app).run(([127, 0, 0, 1], 8080)).await;
//!     canister.flush(); // `Warp` derefs to the `Canister`
//!     Ok(())
//! }
//! ```
//!
//! # Login and logout
//!
//! A login form for browser pages: pages take [`optional_user()`](Warp::optional_user) and
//! redirect anonymous visitors to the form; an API route keeps [`user()`](Warp::user), whose
//! rejection is a plain 401.
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
//! use canister_warp::{Session, User, Warp};
//! use warp::http::{StatusCode, Uri};
//! use warp::reply::{html, with_status, Response};
//! use warp::{Filter, Reply};
//!
//! #[derive(serde::Deserialize)]
//! struct Login {
//!     username: String,
//!     password: String,
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let canister = Warp::new(Canister::from_config_file("canister.ini")?);
//!
//!     // A browser page: anonymous visitors are sent to the form, not shown a 401.
//!     let home = warp::path::end()
//!         .and(warp::get())
//!         .and(canister.optional_user())
//!         .map(|user: Option<User>| -> Response {
//!             match user {
//!                 Some(user) => html(format!(
//!                     "<p>Hello {}</p><form method=post action=/logout><button>Log out</button></form>",
//!                     user.name()
//!                 ))
//!                 .into_response(),
//!                 None => warp::redirect::see_other(Uri::from_static("/login")).into_response(),
//!             }
//!         });
//!     let login_form = warp::path!("login").and(warp::get()).map(|| {
//!         html(
//!             "<form method=post action=/login><input name=username>\
//!              <input name=password type=password><button>Log in</button></form>",
//!         )
//!     });
//!     // `params()` reads the form (or a JSON object).
//!     let login = warp::path!("login")
//!         .and(warp::post())
//!         .and(canister.session())
//!         .and(canister.params::<Login>())
//!         .then(|session: Session, form: Login| async move {
//!             match session.verify_password(&form.username, &form.password).await {
//!                 AuthOutcome::Authenticated(user) => {
//!                     session.login(user); // the session id changes: no fixation
//!                     warp::redirect::see_other(Uri::from_static("/")).into_response()
//!                 }
//!                 // Refused, or NotMine: no users configured. Never log anyone in then.
//!                 _ => with_status("wrong username or password", StatusCode::UNAUTHORIZED)
//!                     .into_response(),
//!             }
//!         });
//!     // The user leaves; the session's other data stays.
//!     let logout = warp::path!("logout")
//!         .and(warp::post())
//!         .and(canister.session())
//!         .map(|session: Session| {
//!             session.logout();
//!             warp::redirect::see_other(Uri::from_static("/login"))
//!         });
//!     // Everything goes: the session is deleted and its cookie cleared.
//!     let forget_me = warp::path!("forget-me")
//!         .and(warp::post())
//!         .and(canister.session())
//!         .map(|session: Session| {
//!             session.destroy();
//!             warp::redirect::see_other(Uri::from_static("/"))
//!         });
//!     // An API: a plain 401 for scripts (`user()` after the path filters).
//!     let api_me = warp::path!("api" / "me")
//!         .and(canister.user())
//!         .map(|user: User| user.name().to_owned());
//!
//!     let routes = home
//!         .or(login_form)
//!         .or(login)
//!         .or(logout)
//!         .or(forget_me)
//!         .or(api_me);
//!     warp::serve(canister.wrap(routes)).run(([127, 0, 0, 1], 8080)).await;
//!     canister.flush();
//!     Ok(())
//! }
//! ```
//!
//! # Why `canister.wrap(routes)` and not `routes.with(canister.wrap())`
//!
//! warp 0.4 keeps its `Wrap` trait and the type `warp::wrap_fn` returns unnameable, so no
//! function outside warp can return a wrapper for `Filter::with`. `wrap` takes the routes
//! instead; `routes.with(warp::wrap_fn(|routes| canister.wrap(routes)))` is the same thing
//! spelled with `with`.
//!
//! # How the visit reaches the filters
//!
//! warp 0.4 lets no filter write into the request nor run code around another filter, so the
//! wrapper registers each request's [`Visit`] under the tokio task serving it, and the
//! filters look it up there. warp's server serves every request on its own task, so
//! concurrent requests each find their own visit. Two wrapped requests polled at once on one
//! task (a `join!` of `warp::test` requests) cannot be told apart: their filters answer a
//! 500 instead of guessing; spawn each on its own task.

mod reply;
mod travel;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::pin;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use canister_core::{
    Authenticator, Canister, DefaultAuthenticator, DefaultLogSink, Entry, Finish, LogSink,
    MemoryStore, SessionStore,
};
use futures_util::{Stream, StreamExt};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::request;
use serde::de::DeserializeOwned;
use warp::filters::path::FullPath;
use warp::{Filter, Rejection, Reply};

pub use canister_core::{Session, User, Visit};
pub use reply::{recover, CanisterRejection};

/// [`slog`](https://docs.rs/slog), re-exported from [`canister_core`]:
/// [`Warp::log`] gives a `slog::Logger`; with this, an app can name that type and use slog's
/// macros without a `slog` dependency of its own (and always at canister's version).
///
/// ```
/// use canister_warp::slog::{self, Logger};
///
/// fn greet(log: &Logger, name: &str) {
///     slog::info!(log, "greeting {}", name);
/// }
/// greet(&Logger::root(slog::Discard, slog::o!()), "alice");
/// ```
pub use canister_core::slog;

use travel::{Installed, Lookup};

/// The largest request body [`params`](Warp::params) reads, in bytes; a larger one is
/// answered 413.
pub const PARAMS_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// canister for warp: a [`Canister`] with its wrapper and filters.
///
/// Cheap to clone (clones share the engine); dereferences to the [`Canister`]
/// (`flush`, `logger`, `config`). Every filter needs the routes it is part of to be wrapped
/// by [`wrap`](Self::wrap); elsewhere it answers a 500 saying so (and logs it once).
#[derive(Debug)]
pub struct Warp<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    canister: Canister<S, A, L>,
}

impl<S, A, L> Clone for Warp<S, A, L> {
    fn clone(&self) -> Self {
        Self {
            canister: self.canister.clone(),
        }
    }
}

impl<S, A, L> From<Canister<S, A, L>> for Warp<S, A, L> {
    fn from(canister: Canister<S, A, L>) -> Self {
        Self { canister }
    }
}

impl<S, A, L> Deref for Warp<S, A, L> {
    type Target = Canister<S, A, L>;

    fn deref(&self) -> &Self::Target {
        &self.canister
    }
}

impl<S: SessionStore, A: Authenticator, L: LogSink> Warp<S, A, L> {
    /// canister's wrapper and filters for `canister`.
    pub fn new(canister: Canister<S, A, L>) -> Self {
        Self { canister }
    }

    /// The engine.
    pub fn canister(&self) -> &Canister<S, A, L> {
        &self.canister
    }

    /// Wraps `routes`: canister's first pass before them, its second pass after them.
    ///
    /// A CORS preflight or a CSRF refusal (and nothing else) is answered without running
    /// `routes`. Otherwise the routes run with the request's [`Visit`] available to the
    /// filters, their rejections become replies here (canister's own as [`recover`] does,
    /// the others as warp would answer them), and the reply gets its session cookie, CORS
    /// headers and log line; a session that cannot be saved turns it into a 503.
    ///
    /// Because it answers every request, the wrapped filter never rejects: put it outermost,
    /// after any `or` and `recover` of yours.
    pub fn wrap<F, R>(
        &self,
        routes: F,
    ) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible>
           + Clone
           + Send
           + Sync
           + 'static
    where
        F: Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
        R: Reply,
    {
        let entering = self.clone();
        let finishing = self.clone();
        let routes = routes.map(|reply: R| reply.into_response()).or_else(
            |rejection: Rejection| async move { Ok::<_, Infallible>((reply::answer(&rejection),)) },
        );
        request_parts()
            .and_then(move |parts: request::Parts, peer: Option<SocketAddr>| {
                let canister = entering.clone();
                async move {
                    match canister.enter(&parts, peer).await {
                        Entry::Respond(response) => Err(reply::reject(response)),
                        Entry::Proceed(visit) => Ok(Installed::new(visit)),
                    }
                }
            })
            .and(routes)
            .then(
                move |installed: Installed, response: warp::reply::Response| {
                    let canister = finishing.clone();
                    async move {
                        let visit = installed.into_visit();
                        let (mut parts, body) = response.into_parts();
                        match canister.finish(visit, &mut parts).await {
                            Finish::Keep => warp::reply::Response::from_parts(parts, body),
                            Finish::ReplaceBody(bytes) => {
                                http::Response::from_parts(parts, bytes).into_response()
                            }
                        }
                    }
                },
            )
            // Only the first pass rejects here: its early answer is the whole response.
            .or_else(|rejection: Rejection| async move {
                Ok::<_, Infallible>((reply::answer(&rejection),))
            })
    }

    /// The request's [`Visit`], for what the other filters do not cover.
    pub fn visit(
        &self,
    ) -> impl Filter<Extract = (Visit,), Error = Rejection> + Clone + Send + Sync + 'static {
        warp::any().and_then(move || {
            let found = match travel::current() {
                Lookup::Found(visit) => Ok(visit),
                Lookup::Missing => Err(not_installed(
                    "wrap the routes with `canister.wrap(routes)` (canister_warp::Warp)",
                )),
                Lookup::Ambiguous => Err(not_installed(
                    "several wrapped requests run at once on this task; run each on its own task",
                )),
            };
            std::future::ready(found)
        })
    }

    /// The request's [`Session`], loaded from the store the first time it is asked for;
    /// rejects with the 503 to send when the store failed.
    pub fn session(
        &self,
    ) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone + Send + Sync + 'static {
        self.visit()
            .and_then(|visit: Visit| async move { visit.session().await.map_err(reply::reject) })
    }

    /// The request's [`User`] (its `Authorization` header's, else its session's); rejects with
    /// the 401 carrying a `WWW-Authenticate` challenge per configured scheme when there is
    /// none (or the 503 of a failed store). With `auth_basic_challenge = false` the 401
    /// carries no Basic challenge; for browser pages take
    /// [`optional_user()`](Self::optional_user) and redirect (crate docs, "Login and
    /// logout").
    pub fn user(
        &self,
    ) -> impl Filter<Extract = (User,), Error = Rejection> + Clone + Send + Sync + 'static {
        self.visit().and_then(|visit: Visit| async move {
            visit.require_user().await.map_err(reply::reject)
        })
    }

    /// The request's [`User`] if there is one; rejects only with the 503 of a failed store.
    pub fn optional_user(
        &self,
    ) -> impl Filter<Extract = (Option<User>,), Error = Rejection> + Clone + Send + Sync + 'static
    {
        self.visit()
            .and_then(|visit: Visit| async move { visit.user().await.map_err(reply::reject) })
    }

    /// The request's parameters as a `T`: query string, then an url-encoded, multipart or
    /// JSON body (at most [`PARAMS_BODY_LIMIT`] bytes, else 413). Rejects with the 400 naming
    /// the missing or malformed parameter.
    ///
    /// A JSON body must be one flat object, whose members are parameters as a form's fields
    /// are ([`canister_core::params`]); for structured bodies use `warp::body::json()` instead.
    /// Reads the body of those types (any other is left unread): use no other body filter
    /// with it.
    pub fn params<T>(
        &self,
    ) -> impl Filter<Extract = (T,), Error = Rejection> + Clone + Send + Sync + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let content_type = warp::header::value(CONTENT_TYPE.as_str())
            .map(Some)
            .or(warp::any().map(|| None))
            .unify();
        self.visit()
            .and(raw_query())
            .and(content_type)
            .and(warp::body::stream())
            .and_then(
                |visit: Visit, query: Option<String>, content_type: Option<HeaderValue>, body| async move {
                    // Only forms, multipart and JSON bodies are decoded: leave any other unread.
                    let body = if canister_core::params::decodes_body(content_type.as_ref()) {
                        read_body(body, PARAMS_BODY_LIMIT).await?
                    } else {
                        Bytes::new()
                    };
                    visit
                        .params::<T>(query.as_deref(), content_type.as_ref(), body)
                        .await
                        .map_err(reply::reject)
                },
            )
    }

    /// A logger carrying the request's context (client address and session tag).
    ///
    /// The tag is read as each line is written, so filter order does not matter: a `log()`
    /// before `session()` still logs the session's tag once it is loaded (`...` until then).
    pub fn log(
        &self,
    ) -> impl Filter<Extract = (slog::Logger,), Error = Rejection> + Clone + Send + Sync + 'static
    {
        self.visit().map(|visit: Visit| visit.logger())
    }
}

/// The request as `http` parts (method, path and query, headers) and the peer address.
fn request_parts(
) -> impl Filter<Extract = (request::Parts, Option<SocketAddr>), Error = Infallible> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(raw_query())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .map(
            |method, path: FullPath, query: Option<String>, headers, peer| {
                let (mut parts, ()) = http::Request::new(()).into_parts();
                parts.method = method;
                parts.headers = headers;
                let target = match query {
                    Some(query) => format!("{}?{query}", path.as_str()),
                    None => path.as_str().to_owned(),
                };
                parts.uri = target.parse().unwrap_or_default();
                (parts, peer)
            },
        )
        .untuple_one()
}

/// The raw query string, if the request has one.
fn raw_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// Reads the body, refusing one longer than `limit` bytes (413) or cut short (400).
async fn read_body<B: Buf>(
    body: impl Stream<Item = Result<B, warp::Error>>,
    limit: usize,
) -> Result<Bytes, Rejection> {
    let mut body = pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| reply::reject(canister_core::response::unreadable_body()))?;
        if out.len() + chunk.remaining() > limit {
            return Err(reply::reject(canister_core::response::payload_too_large(
                limit,
            )));
        }
        out.put(chunk);
    }
    Ok(out.freeze())
}

/// The 500 of a filter that finds no visit (the core reports it once per process).
fn not_installed(fix: &str) -> Rejection {
    reply::reject(canister_core::response::not_installed(fix))
}
