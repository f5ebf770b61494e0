//! [`CanisterMiddleware`], and conversions between actix-web's `http` 0.2 and the core's 1.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::{header as ax, StatusCode as AxStatus};
use actix_web::{Error, HttpMessage as _, HttpRequest, HttpResponse};
use bytes::Bytes;
use canister_core::adapter::ResponseHead;
use canister_core::{
    auth::Authenticator, auth::DefaultAuthenticator, log::DefaultLogSink, log::LogSink,
    session::MemoryStore, session::SessionStore, Canister, Entry, Finish, Visit,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::extract::Failed;

/// Runs each request through a [`Canister`]: `App::new().wrap(CanisterMiddleware::new(c))`.
///
/// [`Canister::enter`] runs before the app (a CORS preflight or a CSRF refusal is answered
/// there), [`Canister::finish`] after it on every response, actix-web's 404s and errors
/// included. Clones share the engine: give each worker one (the crate docs show how).
#[derive(Debug, Clone)]
pub struct CanisterMiddleware<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    canister: Canister<S, A, L>,
}

impl<S, A, L> CanisterMiddleware<S, A, L> {
    /// The middleware running requests through `canister`.
    pub fn new(canister: Canister<S, A, L>) -> Self {
        Self { canister }
    }
}

/// The response body: the app's (`Left`) or one canister wrote (`Right`).
pub type Body<B> = EitherBody<B, BoxBody>;

impl<I, B, S, A, L> Transform<I, ServiceRequest> for CanisterMiddleware<S, A, L>
where
    I: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    S: SessionStore,
    A: Authenticator,
    L: LogSink,
{
    type Response = ServiceResponse<Body<B>>;
    type Error = Error;
    type Transform = CanisterService<I, S, A, L>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, inner: I) -> Self::Future {
        let (inner, canister) = (Rc::new(inner), self.canister.clone());
        ready(Ok(CanisterService { inner, canister }))
    }
}

/// The service [`CanisterMiddleware`] wraps around the app.
#[derive(Debug)]
pub struct CanisterService<I, S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    inner: Rc<I>,
    canister: Canister<S, A, L>,
}

type Answer<B> = Pin<Box<dyn Future<Output = Result<ServiceResponse<Body<B>>, Error>>>>;

impl<I, B, S, A, L> Service<ServiceRequest> for CanisterService<I, S, A, L>
where
    I: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    S: SessionStore,
    A: Authenticator,
    L: LogSink,
{
    type Response = ServiceResponse<Body<B>>;
    type Error = Error;
    type Future = Answer<B>;

    actix_web::dev::forward_ready!(inner);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let (inner, canister) = (Rc::clone(&self.inner), self.canister.clone());
        Box::pin(async move {
            let Some(parts) = request_head(request.request()) else {
                let bad = HttpResponse::BadRequest().body("bad request head\n");
                return Ok(request.into_response(bad).map_into_right_body());
            };
            let visit = match canister.enter(&parts, request.peer_addr()).await {
                Entry::Respond(core) => {
                    let (head, body) = core.into_parts();
                    let response = to_actix(head.status, &head.headers, body);
                    return Ok(request.into_response(response).map_into_right_body());
                }
                Entry::Proceed(visit) => visit,
            };
            request.extensions_mut().insert(visit.clone());
            #[cfg(feature = "tracing")]
            let span = visit.span().clone();
            let handled = async move {
                let response = match inner.call(request).await {
                    Ok(response) => response.map_into_left_body(),
                    // An inner middleware's error: finish the response actix-web will write.
                    Err(error) => {
                        let mut response = error.error_response();
                        if let Finish::ReplaceBody(body) =
                            finish(&canister, visit, &mut response).await
                        {
                            response = response.set_body(BoxBody::new(body));
                        }
                        return Err(InternalError::from_response(error, response).into());
                    }
                };
                let (request, mut response) = response.into_parts();
                let failed = {
                    let mut extensions = request.extensions_mut();
                    extensions.remove::<Visit>();
                    extensions.remove::<Failed>()
                };
                // A 503 an `Option<_>` extractor swallowed replaces the response.
                if let Some(Failed(rejection)) = failed {
                    response = rejection.to_actix().map_into_right_body();
                }
                if let Finish::ReplaceBody(body) = finish(&canister, visit, &mut response).await {
                    response = response.set_body(EitherBody::right(BoxBody::new(body)));
                }
                Ok(ServiceResponse::new(request, response))
            };
            // With `log_sink = tracing`, every poll of the app runs inside the request's span.
            #[cfg(feature = "tracing")]
            let handled = tracing::Instrument::instrument(handled, span);
            handled.await
        })
    }
}

/// The second pass on a response's head: the core saves the session and writes its headers
/// (or a whole 503, whose body the caller then sends).
async fn finish<RB, S: SessionStore, A: Authenticator, L: LogSink>(
    canister: &Canister<S, A, L>,
    visit: Visit,
    response: &mut HttpResponse<RB>,
) -> Finish {
    canister.finish(visit, &mut Head(response)).await
}

/// actix-web's response as the head the core writes: only canister's headers are converted.
struct Head<'a, B>(&'a mut HttpResponse<B>);

impl<B> ResponseHead for Head<'_, B> {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().as_u16()).unwrap_or(StatusCode::OK)
    }
    fn set_status(&mut self, status: StatusCode) {
        *self.0.status_mut() = to_actix_status(status);
    }
    fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        if let Some((name, value)) = to_actix_header(&name, &value) {
            self.0.headers_mut().insert(name, value);
        }
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        if let Some((name, value)) = to_actix_header(&name, &value) {
            self.0.headers_mut().append(name, value);
        }
    }
    fn clear(&mut self) {
        self.0.headers_mut().clear();
    }
}

/// The request head in the core's types (parsed by actix-web already: `None` is not expected).
fn request_head(request: &HttpRequest) -> Option<http::request::Parts> {
    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = request.method().as_str().parse().ok()?;
    parts.uri = request.uri().to_string().parse().ok()?;
    parts.version = match request.version() {
        actix_web::http::Version::HTTP_10 => http::Version::HTTP_10,
        actix_web::http::Version::HTTP_2 => http::Version::HTTP_2,
        _ => http::Version::HTTP_11,
    };
    parts.headers = to_core_headers(request.headers());
    Some(parts)
}

fn to_core_headers(headers: &ax::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_str().as_bytes());
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_bytes(value.as_bytes())) {
            out.append(name, value);
        }
    }
    out
}

fn to_actix_header(
    name: &HeaderName,
    value: &HeaderValue,
) -> Option<(ax::HeaderName, ax::HeaderValue)> {
    let name = ax::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
    Some((name, ax::HeaderValue::from_bytes(value.as_bytes()).ok()?))
}

pub(crate) fn to_actix_status(status: StatusCode) -> AxStatus {
    AxStatus::from_u16(status.as_u16()).unwrap_or(AxStatus::INTERNAL_SERVER_ERROR)
}

/// A response of the core's (status, headers, body) as actix-web's.
pub(crate) fn to_actix(status: StatusCode, headers: &HeaderMap, body: Bytes) -> HttpResponse {
    let mut response = HttpResponse::with_body(to_actix_status(status), body);
    for (name, value) in headers.iter().filter_map(|(n, v)| to_actix_header(n, v)) {
        response.headers_mut().append(name, value);
    }
    response.map_into_boxed_body()
}
