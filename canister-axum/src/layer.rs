//! The tower [`Layer`] and [`Service`] that run every request through the engine.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::Bytes;
use canister_core::{
    Authenticator, Canister, DefaultAuthenticator, DefaultLogSink, Entry, Finish, LogSink,
    MemoryStore, SessionStore,
};
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

/// Installs canister on an axum [`Router`](axum::Router): `.layer(CanisterLayer::new(canister))`.
///
/// Every request goes through [`Canister::enter`] before the route and [`Canister::finish`]
/// after it; see the [crate documentation](crate) for what that does and for the extractors.
/// Use [`Router::layer`](axum::Router::layer) for the whole app, or
/// [`Router::route_layer`](axum::Router::route_layer) / a nested router to leave some routes
/// without canister.
///
/// # Examples
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use canister_axum::CanisterLayer;
/// use canister_core::Canister;
///
/// # fn app() -> Result<Router, canister_core::ConfigError> {
/// let canister = Canister::from_config_file("canister.ini")?;
/// let app = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(CanisterLayer::new(canister));
/// # Ok(app) }
/// ```
pub struct CanisterLayer<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    canister: Canister<S, A, L>,
}

impl<S, A, L> CanisterLayer<S, A, L> {
    /// A layer running requests through `canister` (clones share its sessions and logs).
    pub fn new(canister: Canister<S, A, L>) -> Self {
        Self { canister }
    }
}

impl<S, A, L> Clone for CanisterLayer<S, A, L> {
    fn clone(&self) -> Self {
        Self {
            canister: self.canister.clone(),
        }
    }
}

impl<S, A, L> fmt::Debug for CanisterLayer<S, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanisterLayer")
            .field("canister", &self.canister)
            .finish()
    }
}

impl<I, S, A, L> Layer<I> for CanisterLayer<S, A, L> {
    type Service = CanisterService<I, S, A, L>;

    fn layer(&self, inner: I) -> Self::Service {
        CanisterService {
            inner,
            canister: self.canister.clone(),
        }
    }
}

/// The [`Service`] built by [`CanisterLayer`]: see the [crate documentation](crate).
pub struct CanisterService<I, S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    inner: I,
    canister: Canister<S, A, L>,
}

impl<I: Clone, S, A, L> Clone for CanisterService<I, S, A, L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            canister: self.canister.clone(),
        }
    }
}

impl<I: fmt::Debug, S, A, L> fmt::Debug for CanisterService<I, S, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanisterService")
            .field("inner", &self.inner)
            .field("canister", &self.canister)
            .finish()
    }
}

/// The future of [`CanisterService`]: the route's response, with the session saved and the
/// cookie, CORS headers and log line added.
pub type ResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send + 'static>>;

impl<I, B, RB, S, A, L> Service<Request<B>> for CanisterService<I, S, A, L>
where
    I: Service<Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    B: Send + 'static,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<axum::BoxError>,
    S: SessionStore,
    A: Authenticator,
    L: LogSink,
{
    type Response = Response;
    type Error = I::Error;
    type Future = ResponseFuture<I::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready: keep it here and call the one `poll_ready` was called on.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let canister = self.canister.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0);
            let visit = match canister.enter(&parts, peer).await {
                Entry::Respond(response) => return Ok(response.map(Body::from)),
                Entry::Proceed(visit) => visit,
            };
            parts.extensions.insert(visit.clone());
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let (mut parts, body) = response.into_parts();
            let body = match canister.finish(visit, &mut parts).await {
                Finish::Keep => Body::new(body),
                Finish::ReplaceBody(bytes) => Body::from(bytes),
            };
            Ok(Response::from_parts(parts, body))
        })
    }
}
