//! Request guards reading the visit the fairing left in the local cache.

use bytes::Bytes;
use canister_core::{Rejection as Core, Visit};
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
#[doc = include_str!("../docs/items/rejection.md")]
#[derive(Debug, Clone)]
pub struct Rejection(pub Core);

impl Rejection {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

impl From<Core> for Rejection {
    fn from(rejection: Core) -> Self {
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

type Failure = (Status, Rejection);

/// Stashes `rejection` for the fairing and builds the guard's error.
fn fail(request: &Request<'_>, rejection: Core) -> Failure {
    Slot::of(request).fail(rejection.clone());
    let status = Status::new(rejection.status().as_u16());
    (status, Rejection(rejection))
}

/// The request's visit, or the "not installed" failure.
fn visit<'r>(request: &'r Request<'_>) -> Result<&'r Visit, Failure> {
    let slot = Slot::of(request);
    let fix = match (&slot.visit, slot.skipped) {
        (Some(visit), _) => return Ok(visit),
        (None, true) => "this path is excluded from `CanisterFairing` (`exclude`)",
        (None, false) => "attach `CanisterFairing::new(canister)` to the Rocket instance",
    };
    Err(fail(request, Core::NotInstalled { fix }))
}

/// The guard's outcome: `value`, or its failure stashed for the fairing.
fn outcome<T, F>(request: &Request<'_>, value: Result<T, Core>) -> Outcome<T, Failure, F> {
    match value {
        Ok(value) => Outcome::Success(value),
        Err(rejection) => Outcome::Error(fail(request, rejection)),
    }
}

/// Implements `FromRequest` for a guard from an async expression of the visit `$v` (and the
/// request `$r`).
macro_rules! guard {
    ($guard:ty $(, $t:ident)?, |$v:ident, $r:ident| $body:expr) => {
        #[rocket::async_trait]
        impl<'r $(, $t: DeserializeOwned + Send + 'static)?> FromRequest<'r> for $guard {
            type Error = Rejection;

            async fn from_request($r: &'r Request<'_>) -> request::Outcome<Self, Rejection> {
                match visit($r) {
                    Ok($v) => outcome($r, $body),
                    Err(failure) => Outcome::Error(failure),
                }
            }
        }
    };
}

/// The request's session: `session: Session` (derefs to [`canister_core::Session`]).
///
/// Loaded from the store the first time a guard asks for it; fails with the core's 503 when
/// the store is down. What the handler changes is saved by the fairing after it.
#[derive(Debug, Clone)]
pub struct Session(pub canister_core::Session);

guard!(Session, |v, _r| v.session().await.map(Session));

/// The authenticated user: `user: User` (derefs to [`canister_core::auth::User`]).
#[doc = include_str!("../docs/items/user.md")]
#[derive(Debug, Clone)]
pub struct User(pub canister_core::auth::User);

impl User {
    /// `Ok` when the user's token grants `scope` (its `scope` or `scp` claim lists it);
    /// else the 403 with `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750
    /// section 3.1), ready for `?` in a handler returning `Result<_, Rejection>`.
    #[doc = include_str!("../docs/items/require_scope.md")]
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        self.0.require_scope(scope).map_err(Rejection)
    }
}

guard!(User, |v, _r| v.require_user().await.map(User));

/// The request's logger: `log: Log` (derefs to [`slog::Logger`]), carrying the client's
/// address and the session tag (read as each line is written, so guard order does not
/// matter).
#[derive(Debug, Clone)]
pub struct Log(pub slog::Logger);

guard!(Log, |v, _r| Ok(Log(v.logger())));

/// Typed request parameters, decoded by the core: `Params<T>` with `T: Deserialize`.
#[doc = include_str!("../docs/items/params.md")]
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

canister_core::newtypes!(
    Session => canister_core::Session,
    User => canister_core::auth::User,
    Log => slog::Logger,
    Params<T> => T,
);

fn query<'a>(request: &'a Request<'_>) -> Option<&'a str> {
    request.uri().query().map(|q| q.as_str())
}

guard!(Params<T>, T, |v, r| v
    .params(query(r), None, Bytes::new())
    .await
    .map(Params));

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send + 'static> FromData<'r> for Params<T> {
    type Error = Rejection;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let visit = match visit(request) {
            Ok(visit) => visit,
            Err(failure) => return Outcome::Error(failure),
        };
        let content_type = request
            .headers()
            .get_one("Content-Type")
            .and_then(|v| HeaderValue::from_str(v).ok());
        // Only forms, multipart and JSON bodies are read, up to canister's
        // `params_body_limit` (the same on every adapter, not Rocket's limits).
        let limit = visit.params_body_limit();
        let body = if canister_core::adapter::decodes_body(content_type.as_ref()) {
            let open = u64::try_from(limit).unwrap_or(u64::MAX);
            match data.open(open.into()).into_bytes().await {
                Ok(body) if body.is_complete() => Ok(Bytes::from(body.into_inner())),
                Ok(_) => Err(Core::PayloadTooLarge { limit }),
                Err(_) => Err(Core::UnreadableBody),
            }
        } else {
            Ok(Bytes::new())
        };
        let (query, content_type) = (query(request), content_type.as_ref());
        let value = match body {
            Ok(body) => visit.params(query, content_type, body).await,
            Err(rejection) => Err(rejection),
        };
        outcome(request, value.map(Params))
    }
}
