//! The extractors: [`Session`], [`User`], `Option<User>`, [`Params`] and [`Log`].

use std::ops::DerefMut;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::response::Response;
use canister_core::Visit;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use serde::de::DeserializeOwned;

const FIX: &str = "add `CanisterLayer` to the router: `.layer(CanisterLayer::new(canister))`";

/// Turns the engine's rejection into axum's response.
fn respond(rejection: canister_core::Rejection) -> Response {
    rejection.into_response().map(Body::from)
}

/// The engine's [`Rejection`](canister_core::Rejection) as an axum response, for handlers
/// that call a [`canister_core::Session`] or [`Visit`] method themselves and answer its
/// error with `?`, such as a login form's `verify_password` (429 when throttled).
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use canister_axum::{Rejection, Session};
/// use canister_core::auth::AuthOutcome;
///
/// async fn login(session: Session) -> Result<Response, Rejection> {
///     Ok(match session.verify_password("alice", "secret").await? {
///         AuthOutcome::Authenticated(user) => {
///             session.login(user);
///             "welcome".into_response()
///         }
///         _ => (http::StatusCode::UNAUTHORIZED, "no").into_response(),
///     })
/// }
/// # let _ = axum::Router::<()>::new().route("/login", axum::routing::post(login));
/// ```
#[derive(Debug, Clone)]
pub struct Rejection(pub canister_core::Rejection);

impl From<canister_core::Rejection> for Rejection {
    fn from(rejection: canister_core::Rejection) -> Self {
        Self(rejection)
    }
}

impl axum::response::IntoResponse for Rejection {
    fn into_response(self) -> Response {
        respond(self.0)
    }
}

/// The request's [`Visit`], put there by [`CanisterLayer`](crate::CanisterLayer).
fn visit(extensions: &http::Extensions) -> Option<Visit> {
    extensions.get::<Visit>().cloned()
}

/// The 500 saying that [`CanisterLayer`](crate::CanisterLayer) is missing (reported once on
/// standard error).
#[cold]
fn not_installed() -> Response {
    respond(canister_core::Rejection::NotInstalled { fix: FIX })
}

/// The session of the request, loaded from the store the first time a handler asks for it.
///
/// Derefs to [`canister_core::Session`]: `get`, `insert`, `remove`, `login`, `logout`,
/// `destroy`, … What the handler changes is saved after it returns. Nothing is stored, and
/// no cookie is sent, unless the handler writes something.
///
/// Rejection: the engine's 503 when the session store fails (with the default
/// `session_on_store_error = fail`); a 500 when [`CanisterLayer`](crate::CanisterLayer) is
/// missing.
#[derive(Debug, Clone)]
pub struct Session(pub canister_core::Session);

impl<St: Send + Sync> FromRequestParts<St> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let visit = visit(&parts.extensions).ok_or_else(not_installed)?;
        visit.session().await.map(Session).map_err(respond)
    }
}

/// The authenticated user: from the `Authorization` header (Basic, Bearer JWT), else the
/// session's (a form login).
///
/// Derefs to [`canister_core::auth::User`] (`name()`, `claims()`). Rejection: the engine's 401 with
/// a `WWW-Authenticate` challenge per configured scheme when there is no user; a 503 when the
/// store fails. Take `Option<User>` to serve anonymous visitors too, or to redirect them to a
/// login form (see the crate docs, "Login and logout"); with `auth_basic_challenge = false`
/// the 401 carries no Basic challenge, so browsers show no password dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct User(pub canister_core::auth::User);

impl User {
    /// `Ok` when the user's token grants `scope` (its `scope` or `scp` claim lists it);
    /// else the 403 with `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750
    /// section 3.1), ready for `?` in a handler returning `Result<_, Response>`.
    ///
    /// ```
    /// use axum::response::Response;
    /// use canister_axum::User;
    ///
    /// async fn orders(user: User) -> Result<String, Response> {
    ///     user.require_scope("orders:read")?;
    ///     Ok(format!("orders of {}", user.name()))
    /// }
    /// # let _ = axum::Router::<()>::new().route("/orders", axum::routing::get(orders));
    /// ```
    ///
    /// # Errors
    ///
    /// The 403 response.
    #[allow(
        clippy::result_large_err,
        reason = "axum's Response, as every rejection of this crate; built only on refusal"
    )]
    pub fn require_scope(&self, scope: &str) -> Result<(), Response> {
        self.0.require_scope(scope).map_err(respond)
    }
}

impl<St: Send + Sync> FromRequestParts<St> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let visit = visit(&parts.extensions).ok_or_else(not_installed)?;
        visit.require_user().await.map(User).map_err(respond)
    }
}

impl<St: Send + Sync> OptionalFromRequestParts<St> for User {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &St,
    ) -> Result<Option<Self>, Self::Rejection> {
        let visit = visit(&parts.extensions).ok_or_else(not_installed)?;
        let user = visit.user().await.map_err(respond)?;
        Ok(user.map(User))
    }
}

/// Typed request parameters: the query string and a url-encoded, multipart (text fields) or
/// JSON body, decoded into `T` by the engine.
///
/// A JSON body must be one flat object: `{"foo": "x", "n": 3}` fills `foo` and `n` as the
/// form `foo=x&n=3` does, merged with the query the same way (the body wins). A nested object
/// is a 400 saying so: take [`axum::Json`] for structured bodies
/// ([`canister_core::params`] has the rules).
///
/// Reads the body (url-encoded, multipart and JSON types only; any other is left unread), so
/// it must be the handler's last argument. The body is limited by canister's
/// `params_body_limit` (2 MiB unless the configuration changes it), the same on every adapter,
/// not by axum's [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit); a larger body is a
/// 413. Rejection: the engine's 400 naming the missing or malformed parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params<T>(pub T);

impl<T> DerefMut for Params<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T, St> FromRequest<St> for Params<T>
where
    T: DeserializeOwned,
    St: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, _state: &St) -> Result<Self, Self::Rejection> {
        let visit = visit(request.extensions()).ok_or_else(not_installed)?;
        let query = request.uri().query().map(str::to_owned);
        let content_type = request.headers().get(CONTENT_TYPE).cloned();
        // Only forms, multipart and JSON bodies are decoded: leave any other body unread.
        let body = if canister_core::adapter::decodes_body(content_type.as_ref()) {
            let stream = request.into_body().into_data_stream();
            canister_core::adapter::read_body(stream, visit.params_body_limit())
                .await
                .map_err(respond)?
        } else {
            Bytes::new()
        };
        visit
            .params(query.as_deref(), content_type.as_ref(), body)
            .await
            .map(Params)
            .map_err(respond)
    }
}

/// The request's logger: a [`slog::Logger`] whose lines carry the client address and session
/// tag, written where canister's own log goes.
///
/// The tag is read as each line is written, so the order of the handler's arguments does not
/// matter: `(log: Log, session: Session)` logs the session's tag once it is loaded, as
/// `(session: Session, log: Log)` does. Before the session is known (or when the request has
/// none) the tag is `...`.
#[derive(Debug, Clone)]
pub struct Log(pub slog::Logger);

canister_core::newtypes!(
    Session => canister_core::Session,
    User => canister_core::auth::User,
    Params<T> => T,
    Log => slog::Logger,
);

impl<St: Send + Sync> FromRequestParts<St> for Log {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        Ok(Log(visit(&parts.extensions)
            .ok_or_else(not_installed)?
            .logger()))
    }
}
