//! Request guards reading the visit the fairing left in the local cache.

use bytes::Bytes;
use canister_core::Visit;
use http::header::HeaderValue;
use http::StatusCode;
use rocket::data::{self, FromData};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::{self, FromRequest};
use rocket::response::{self, Responder};
use rocket::{Data, Request, Response};
use serde::de::DeserializeOwned;

use crate::convert;
use crate::fairing::Slot;

/// Why a canister guard failed: the core's [`canister_core::Rejection`], sent as the core's
/// response.
///
/// The fairing sends this response in place of Rocket's catcher page (same status), so the
/// client gets the core's body and headers (`WWW-Authenticate` challenges, `Retry-After`).
/// It is also a [`Responder`], for handlers that take `Result<User, Rejection>` and decide.
#[derive(Debug, Clone)]
pub struct Rejection(pub canister_core::Rejection);

impl Rejection {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

/// The core's rejection ([`Visit::user_sessions`]'s 401 or 503, ...), for `?` in a handler.
impl From<canister_core::Rejection> for Rejection {
    fn from(rejection: canister_core::Rejection) -> Self {
        Self(rejection)
    }
}

impl<'r> Responder<'r, 'static> for Rejection {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::new();
        convert::write(&mut response, self.0.into_response());
        Ok(response)
    }
}

/// Stashes `rejection` for the fairing and builds the guard's error.
fn fail(request: &Request<'_>, rejection: canister_core::Rejection) -> (Status, Rejection) {
    Slot::of(request).fail(rejection.clone());
    (
        Status::new(rejection.status().as_u16()),
        Rejection(rejection),
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
    Err(fail(
        request,
        canister_core::Rejection::NotInstalled { fix },
    ))
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
        self.0.require_scope(scope).map_err(Rejection)
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
///   flat object, whose members are parameters as a form's fields are), read up to
///   canister's `params_body_limit` (2 MiB by default, as on every adapter; 413 beyond),
///   not Rocket's `form` / `data-form` / `json` limits. A body of any other type is not read.
///   For structured JSON bodies use Rocket's `Json` instead ([`canister_core::params`] has
///   the rules).
///
/// A missing or malformed parameter fails with the core's 400 naming it
/// (`missing parameter 'foo'`).
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

canister_core::newtypes!(
    Session => canister_core::Session,
    User => canister_core::User,
    Log => slog::Logger,
    Params<T> => T,
);

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
        // canister's `params_body_limit`, the same on every adapter (not Rocket's limits).
        let limit = visit.params_body_limit();
        // Only forms, multipart and JSON bodies are decoded: leave any other unread.
        let body = if canister_core::params::decodes_body(content_type.as_ref()) {
            let open = u64::try_from(limit).unwrap_or(u64::MAX);
            match data.open(open.into()).into_bytes().await {
                Ok(body) if body.is_complete() => Bytes::from(body.into_inner()),
                Ok(_) => {
                    let rejection = canister_core::Rejection::PayloadTooLarge { limit };
                    return Outcome::Error(fail(request, rejection));
                }
                Err(_) => {
                    return Outcome::Error(fail(request, canister_core::Rejection::UnreadableBody));
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
