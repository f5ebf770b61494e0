//! The extractors: [`Session`], [`User`], `Option<User>`, [`Params`] and [`Log`].

use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use canister_core::Visit;
use http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use crate::middleware::{to_actix, to_actix_status};

const FIX: &str = "wrap the app: `App::new().wrap(CanisterMiddleware::new(canister))`";

/// Why a canister extractor failed: the core's [`canister_core::Rejection`], sent as the
/// core's response (status, `WWW-Authenticate` challenges, `Retry-After`, body). An
/// actix-web [`ResponseError`], so a handler taking `Result<User, Rejection>` can look at it
/// and decide.
#[derive(Debug, Clone)]
pub struct Rejection(pub canister_core::Rejection);

impl Rejection {
    /// The status code (401, 400, 503, ...).
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }

    pub(crate) fn to_actix(&self) -> HttpResponse {
        let (parts, body) = self.0.clone().into_response().into_parts();
        to_actix(parts.status, &parts.headers, body)
    }
}

/// The core's rejection (`verify_password`'s 429, a 503, ...), for `?` in a handler.
impl From<canister_core::Rejection> for Rejection {
    fn from(rejection: canister_core::Rejection) -> Self {
        Self(rejection)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.0)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        to_actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        self.to_actix()
    }
}

/// A store failure (503) an extractor met: the middleware sends it even if `Option` hid it.
pub(crate) struct Failed(pub(crate) Rejection);

/// The request's visit, or the "canister is not installed" 500 (reported once).
fn visit(request: &HttpRequest) -> Result<Visit, Rejection> {
    let visit = request.extensions().get::<Visit>().cloned();
    visit.ok_or(Rejection(canister_core::Rejection::NotInstalled {
        fix: FIX,
    }))
}

/// The core's refusal as the extractor's error; a 503 is also kept for the middleware.
fn refuse(request: &HttpRequest, rejection: canister_core::Rejection) -> Rejection {
    let rejection = Rejection(rejection);
    if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
        request.extensions_mut().insert(Failed(rejection.clone()));
    }
    rejection
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>>>>;

canister_core::newtypes!(Session => canister_core::Session, User => canister_core::auth::User, Log => slog::Logger, Params<T> => T);

/// `FromRequest` for an extractor the visit answers with `$call` (a store failure: 503).
macro_rules! from_visit {
    ($($ty:ident => $call:ident),*) => {$(
        impl FromRequest for $ty {
            type Error = Rejection;
            type Future = Extracted<Self>;
            fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
                let request = request.clone();
                Box::pin(async move {
                    let answer = visit(&request)?.$call().await;
                    answer.map($ty).map_err(|r| refuse(&request, r))
                })
            }
        }
    )*};
}
from_visit!(Session => session, User => require_user);

/// The request's session (derefs to [`canister_core::Session`]), loaded when first asked
/// for and saved after the handler if it changed. Fails with 503 when the store is down.
#[derive(Debug, Clone)]
pub struct Session(pub canister_core::Session);

/// The user the `Authorization` header proved, else the session's (derefs to
/// [`canister_core::auth::User`]). Absent: the core's 401 with its challenges; `Option<User>` is
/// `None` then, yet a store failure still answers 503 (the middleware sends it).
#[derive(Debug, Clone, PartialEq)]
pub struct User(pub canister_core::auth::User);

impl User {
    /// `Ok` when the user's token grants `scope` (its `scope` or `scp` claim); else the 403
    /// with `WWW-Authenticate: Bearer error="insufficient_scope"`, for `?` in a handler.
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        self.0.require_scope(scope).map_err(Rejection)
    }
}

/// The query and an url-encoded, multipart or flat JSON body, decoded into `T` by the core.
/// The body is limited by canister's `params_body_limit` (2 MiB unless the configuration
/// changes it, the same on every adapter; larger: 413), not by actix-web's `PayloadConfig`.
/// Fails with 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Params<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let content_type = request
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|value| HeaderValue::from_bytes(value.as_bytes()).ok());
        // Only forms, multipart and JSON bodies are decoded: leave any other body unread.
        let body =
            canister_core::adapter::decodes_body(content_type.as_ref()).then(|| payload.take());
        Box::pin(async move {
            let visit = visit(&request)?;
            let body = match body {
                Some(body) => canister_core::adapter::read_body(body, visit.params_body_limit())
                    .await
                    .map_err(|r| refuse(&request, r))?,
                None => Bytes::new(),
            };
            let params = visit.params(request.uri().query(), content_type.as_ref(), body);
            Ok(params.await.map(Params).map_err(|r| refuse(&request, r))?)
        })
    }
}

/// The request's [`slog::Logger`]: its lines carry the client and the session tag (read as
/// each line is written, so extractor order does not matter).
#[derive(Debug, Clone)]
pub struct Log(pub slog::Logger);

impl FromRequest for Log {
    type Error = Rejection;
    type Future = Ready<Result<Self, Rejection>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(visit(request).map(|visit| Log(visit.logger())))
    }
}
