//! Request guards reading the visit the fairing left in the local cache.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use canister_core::Visit;
use http::header::HeaderValue;
use http::StatusCode;
use rocket::data::{self, FromData, Limits};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::{self, FromRequest};
use rocket::response::{self, Responder};
use rocket::{Data, Request, Response};
use serde::de::DeserializeOwned;

use crate::convert::CoreResponse;
use crate::fairing::Slot;

/// Why a canister guard failed: the response canister sends for it.
///
/// The fairing sends this response in place of Rocket's catcher page (same status), so the
/// client gets the core's body and headers (`WWW-Authenticate` challenges, `Retry-After`).
/// It is also a [`Responder`], for handlers that take `Result<User, Rejection>` and decide.
#[derive(Clone)]
pub struct Rejection(Box<CoreResponse>);

impl Rejection {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The headers (e.g. `WWW-Authenticate`).
    pub fn headers(&self) -> &http::HeaderMap {
        &self.0.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.0.body
    }
}

/// A core response ([`Visit::user_sessions`]'s 401 or 503, ...) as a rejection to answer with.
impl From<http::Response<Bytes>> for Rejection {
    fn from(response: http::Response<Bytes>) -> Self {
        Self(Box::new(CoreResponse::from(response)))
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.0.status,
            String::from_utf8_lossy(&self.0.body).trim_end()
        )
    }
}

impl<'r> Responder<'r, 'static> for Rejection {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::new();
        self.0.write_into(&mut response);
        Ok(response)
    }
}

/// Stashes `response` for the fairing and builds the guard's error.
fn fail(request: &Request<'_>, response: impl Into<CoreResponse>) -> (Status, Rejection) {
    let response = response.into();
    Slot::of(request).fail(response.clone());
    (
        Status::new(response.status.as_u16()),
        Rejection(Box::new(response)),
    )
}

/// The request's visit, or the "not installed" failure (logged once per process).
fn visit<'r>(request: &'r Request<'_>) -> Result<&'r Visit, (Status, Rejection)> {
    let slot = Slot::of(request);
    if let Some(visit) = &slot.visit {
        return Ok(visit);
    }
    let fix = if slot.skipped {
        "this path is excluded from `CanisterFairing` (`exclude`)"
    } else {
        "attach `CanisterFairing::new(canister)` to the Rocket instance"
    };
    Err(fail(request, canister_core::response::not_installed(fix)))
}

macro_rules! guard {
    ($request:ident => $body:expr) => {
        match visit($request) {
            Ok(visit) => match $body(visit).await {
                Ok(value) => Outcome::Success(value),
                Err(response) => Outcome::Error(fail($request, response)),
            },
            Err(error) => Outcome::Error(error),
        }
    };
}

/// The request's session: `session: Session` (derefs to [`canister_core::Session`]).
///
/// Loaded from the store the first time a guard asks for it; fails with the core's 503 when
/// the store is down. What the handler changes is saved by the fairing after it.
#[derive(Debug, Clone)]
pub struct Session(pub canister_core::Session);

impl Deref for Session {
    type Target = canister_core::Session;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Session {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Rejection> {
        guard!(request => |v: &'r Visit| async move { v.session().await.map(Session) })
    }
}

/// The authenticated user: `user: User` (derefs to [`canister_core::User`]).
///
/// The user the `Authorization` header proved, else the session's. Absent: the core's 401
/// with a `WWW-Authenticate` challenge per configured scheme (or 503 when the store is down).
/// `Option<User>` is `None` instead of the 401 (redirect to a login form then: see the crate
/// docs, "Login and logout"); a 503 still replaces the handler's response. With
/// `auth_basic_challenge = false` the 401 carries no Basic challenge, so browsers show no
/// password dialog.
#[derive(Debug, Clone)]
pub struct User(pub canister_core::User);

impl Deref for User {
    type Target = canister_core::User;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl User {
    /// `Ok` when the user's token grants `scope` (its `scope` or `scp` claim lists it);
    /// else the 403 with `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750
    /// section 3.1), a [`Responder`] ready for `?` in a handler returning
    /// `Result<_, Rejection>`.
    ///
    /// ```
    /// use canister_rocket::{Rejection, User};
    ///
    /// #[rocket::get("/orders")]
    /// fn orders(user: User) -> Result<String, Rejection> {
    ///     user.require_scope("orders:read")?;
    ///     Ok(format!("orders of {}", user.name()))
    /// }
    /// # let _ = rocket::routes![orders];
    /// ```
    ///
    /// # Errors
    ///
    /// The 403 as a [`Rejection`].
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        self.0
            .require_scope(scope)
            .map_err(|response| Rejection(Box::new(response.into())))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for User {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Rejection> {
        guard!(request => |v: &'r Visit| async move { v.require_user().await.map(User) })
    }
}

/// The request's logger: `log: Log` (derefs to [`slog::Logger`]), carrying the client's
/// address and the session tag.
///
/// The tag is read as each line is written, so guard order does not matter: a `Log` before
/// the `Session` still logs the session's tag once it is loaded (`...` until then).
#[derive(Debug, Clone)]
pub struct Log(pub slog::Logger);

impl Deref for Log {
    type Target = slog::Logger;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Log {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Rejection> {
        match visit(request) {
            Ok(visit) => Outcome::Success(Log(visit.logger())),
            Err(error) => Outcome::Error(error),
        }
    }
}

/// Typed request parameters, decoded by the core: `Params<T>` with `T: Deserialize`.
///
/// - As a request guard (`hi: Params<Hi>`, e.g. on `GET`): the query string only.
/// - As a data guard (`data = "<hi>"`, on `POST`): the query string plus the body,
///   `application/x-www-form-urlencoded`, `multipart/form-data` (text fields) or JSON (one
///   flat object, whose members are parameters as a form's fields are), read up to Rocket's
///   `form` / `data-form` / `json` limits (413 beyond). A body of any other type is not read.
///   For structured JSON bodies use Rocket's `Json` instead ([`canister_core::params`] has
///   the rules).
///
/// A missing or malformed parameter fails with the core's 400 naming it
/// (`missing parameter 'foo'`).
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<T> Params<T> {
    /// The decoded parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Params<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn query<'a>(request: &'a Request<'_>) -> Option<&'a str> {
    request.uri().query().map(|q| q.as_str())
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send + 'static> FromRequest<'r> for Params<T> {
    type Error = Rejection;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Rejection> {
        let query = query(request);
        guard!(request => |v: &'r Visit| async move {
            v.params::<T>(query, None, Bytes::new()).await.map(Params)
        })
    }
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send + 'static> FromData<'r> for Params<T> {
    type Error = Rejection;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let visit = match visit(request) {
            Ok(visit) => visit,
            Err(error) => return Outcome::Error(error),
        };
        let content_type = request
            .headers()
            .get_one("Content-Type")
            .and_then(|v| HeaderValue::from_str(v).ok());
        let limits = request.limits();
        let limit = match request.content_type() {
            Some(ct) if ct.is_form_data() => limits.get("data-form").unwrap_or(Limits::DATA_FORM),
            Some(ct) if ct.is_json() || ct.sub().as_str().ends_with("+json") => {
                limits.get("json").unwrap_or(Limits::JSON)
            }
            _ => limits.get("form").unwrap_or(Limits::FORM),
        };
        // Only forms, multipart and JSON bodies are decoded: leave any other unread.
        let body = if canister_core::params::decodes_body(content_type.as_ref()) {
            match data.open(limit).into_bytes().await {
                Ok(body) if body.is_complete() => Bytes::from(body.into_inner()),
                Ok(_) => {
                    let limit = usize::try_from(limit.as_u64()).unwrap_or(usize::MAX);
                    let response = canister_core::response::payload_too_large(limit);
                    return Outcome::Error(fail(request, response));
                }
                Err(_) => {
                    let response = canister_core::response::unreadable_body();
                    return Outcome::Error(fail(request, response));
                }
            }
        } else {
            Bytes::new()
        };
        match visit
            .params::<T>(query(request), content_type.as_ref(), body)
            .await
        {
            Ok(value) => Outcome::Success(Params(value)),
            Err(response) => Outcome::Error(fail(request, response)),
        }
    }
}
