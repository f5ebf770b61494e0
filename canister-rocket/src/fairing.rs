//! [`CanisterFairing`]: both passes of the engine around every request.

use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use canister_core::{
    auth::Authenticator, auth::DefaultAuthenticator, log::DefaultLogSink, log::LogSink,
    session::MemoryStore, session::SessionStore, Canister, Entry, Finish, Visit,
};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Method, Status};
use rocket::route::{self, Route};
use rocket::{Build, Data, Request, Response, Rocket};

use crate::convert::{self, Head};

/// The path of the internal route that answers the core's [`Entry::Respond`] responses: the
/// fairing rewrites such a request to `GET` this path and mounts the route at ignite.
const RESPOND_PATH: &str = "/__canister/respond";

/// Rank of the internal route: ahead of every route an application is likely to mount.
const RESPOND_RANK: isize = -1000;

/// What the fairing left in the request's local cache for the guards and the response pass.
#[derive(Default)]
pub(crate) struct Slot {
    /// The visit of a request the core let through (`None`: canister does not handle it).
    pub(crate) visit: Option<Visit>,
    /// Why canister does not handle it, for the guards' "not installed" answer.
    pub(crate) skipped: bool,
    /// The core's answer to a request the handler must not see, for the internal route.
    respond: Mutex<Option<http::Response<Bytes>>>,
    /// A guard's failure, to send instead of Rocket's catcher page.
    failure: Mutex<Option<canister_core::Rejection>>,
}

impl Slot {
    fn new(visit: Option<Visit>, respond: Option<http::Response<Bytes>>, skipped: bool) -> Self {
        let (respond, failure) = (Mutex::new(respond), Mutex::default());
        Self {
            visit,
            skipped,
            respond,
            failure,
        }
    }

    pub(crate) fn of<'r>(request: &'r Request<'_>) -> &'r Slot {
        request.local_cache(Slot::default)
    }

    fn lock<T>(cell: &Mutex<Option<T>>) -> MutexGuard<'_, Option<T>> {
        cell.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a guard's failure: it replaces the response when the final status is its
    /// status (Rocket's catcher for it), or always for a 503 (the store is down, even when
    /// `Option<Guard>` turned the failure into `None`).
    pub(crate) fn fail(&self, rejection: canister_core::Rejection) {
        *Self::lock(&self.failure) = Some(rejection);
    }
}

/// The Rocket fairing that runs canister around every request.
#[doc = include_str!("../docs/items/fairing.md")]
#[derive(Debug)]
pub struct CanisterFairing<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    canister: Canister<S, A, L>,
    excluded: Vec<String>,
}

impl<S, A, L> CanisterFairing<S, A, L> {
    /// A fairing running `canister` on every request.
    pub fn new(canister: Canister<S, A, L>) -> Self {
        Self {
            canister,
            excluded: Vec::new(),
        }
    }

    /// Leaves requests whose path is `prefix` or lies under it (`/static` covers
    /// `/static/app.js`, not `/statistics`) entirely to Rocket: no log line, no session, no
    /// CORS headers. Canister guards on such a route answer 500 (not installed).
    pub fn exclude(mut self, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        self.excluded.push(prefix.trim_end_matches('/').to_owned());
        self
    }

    /// The engine.
    pub fn canister(&self) -> &Canister<S, A, L> {
        &self.canister
    }

    fn is_excluded(&self, path: &str) -> bool {
        self.excluded.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

#[rocket::async_trait]
impl<S: SessionStore, A: Authenticator, L: LogSink> Fairing for CanisterFairing<S, A, L> {
    fn info(&self) -> Info {
        Info {
            name: "canister",
            kind: Kind::Ignite | Kind::Request | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let route = Route::ranked(RESPOND_RANK, Method::Get, RESPOND_PATH, respond);
        Ok(rocket.mount("/", vec![route]))
    }

    async fn on_request(&self, request: &mut Request<'_>, data: &mut Data<'_>) {
        let slot = if self.is_excluded(request.uri().path().as_str()) {
            Slot::new(None, None, true)
        } else {
            let mut parts = convert::request_parts(request);
            if was_post(request, data).await {
                // Rocket turned a form POST with `_method=…` into that method before
                // fairings run: check it as the POST the browser sent (CSRF), not as a GET.
                parts.method = http::Method::POST;
            }
            match self.canister.enter(&parts, request.remote()).await {
                Entry::Proceed(visit) => Slot::new(Some(visit), None, false),
                Entry::Respond(response) => {
                    // A fairing cannot answer: route the request to our own handler instead.
                    request.set_method(Method::Get);
                    if let Ok(uri) = Origin::parse(RESPOND_PATH) {
                        request.set_uri(uri);
                    }
                    Slot::new(None, Some(response), false)
                }
            }
        };
        request.local_cache(move || slot);
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let slot = Slot::of(request);
        if let Some(core) = Slot::lock(&slot.respond).take() {
            convert::write(response, core);
            return;
        }
        let Some(visit) = slot.visit.clone() else {
            return;
        };
        if let Some(failure) = Slot::lock(&slot.failure).take() {
            let status = failure.status().as_u16();
            if status == 503 || status == response.status().code {
                convert::write(response, failure.into_response());
            }
        }
        if let Finish::ReplaceBody(body) = self.canister.finish(visit, &mut Head(response)).await {
            // The store failed: the head is the whole 503 already.
            convert::set_body(response, body);
        }
    }
}

/// Whether Rocket rewrote this request's method from a `POST` form with a leading `_method`
/// field (Rocket's `preprocess_request`: a form body starting `_method=<method>`).
async fn was_post(request: &Request<'_>, data: &mut Data<'_>) -> bool {
    if request.method() == Method::Post || !request.content_type().is_some_and(|c| c.is_form()) {
        return false;
    }
    // Rocket peeked the same bytes already, so this reads nothing from the socket.
    let peek = data.peek("_method=delete".len()).await;
    peek.starts_with(b"_method=")
}

/// The internal route: an empty 200 the response pass replaces with the stashed answer
/// (replacing, not answering here, keeps Rocket's own `Server` header and other fairings'
/// headers off it: exactly the core's response, as on every adapter). Forwards when nothing
/// is stashed (someone requested the path directly).
fn respond<'r>(request: &'r Request<'_>, data: Data<'r>) -> route::BoxFuture<'r> {
    let pending = Slot::lock(&Slot::of(request).respond).is_some();
    Box::pin(async move {
        if pending {
            route::Outcome::from(request, ())
        } else {
            route::Outcome::forward(data, Status::NotFound)
        }
    })
}
