//! The [`Layer`] and [`Service`] that run every request through the engine.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use canister_core::{
    auth::Authenticator, auth::DefaultAuthenticator, log::DefaultLogSink, log::LogSink,
    session::MemoryStore, session::SessionStore, Canister, Entry, Finish,
};
use http::{Extensions, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// The client's socket address, put into a request's extensions by the server so that
/// [`CanisterLayer`] can log it (and derive the client address from it).
///
/// [`serve`](crate::serve) inserts it; any other server may too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// How [`CanisterLayer`] finds the peer address in a request's extensions: see
/// [`default_peer`] and [`CanisterLayer::peer_from`].
pub type PeerLookup = fn(&Extensions) -> Option<SocketAddr>;

/// The default [`PeerLookup`]: [`PeerAddr`], then axum's `ConnectInfo<SocketAddr>` (with the
/// `axum` feature), then a plain [`SocketAddr`].
pub fn default_peer(extensions: &Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(peer)) = extensions.get::<PeerAddr>() {
        return Some(*peer);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    extensions.get::<SocketAddr>().copied()
}

/// Runs each request through a [`Canister`]: `CanisterLayer::new(canister).layer(service)`.
///
/// Every request goes through [`Canister::enter`] before the inner service and
/// [`Canister::finish`] after it:
///
/// - A CORS preflight or a cross-site unsafe request carrying the session cookie (403) is
///   answered at once; the inner service is not called.
/// - Otherwise the request's [`Visit`](canister_core::Visit) is put into its extensions, the
///   inner service runs, and its response gets the session saved, the cookie set or cleared,
///   the CORS headers and a log line. A session that cannot be saved turns the response into
///   the engine's 503 (the inner body is dropped unread).
///
/// Every response, canister's own answers included, carries the request's id in
/// `request_id_header` (default `x-request-id`). With `log_sink = tracing` (feature
/// `tracing`, on by default) the inner service's future runs instrumented with the request's
/// span (`tracing::Instrument`): every poll of the handler is inside it.
///
/// Response bodies otherwise pass through untouched, streaming included. Clones share the
/// engine (sessions, logs).
///
/// # Examples
///
/// ```no_run
/// use canister_core::Canister;
/// use canister_tower::CanisterLayer;
///
/// # fn layer() -> Result<CanisterLayer, canister_core::config::ConfigError> {
/// let canister = Canister::from_config_file("canister.ini")?;
/// let layer = CanisterLayer::new(canister);
/// // axum: `Router::new().route(..).layer(layer)`
/// // warp: `layer.layer(warp::service(routes))`, or canister-warp's `service(routes)`
/// // tower: `ServiceBuilder::new().layer(layer).service(inner)`
/// # Ok(layer) }
/// ```
pub struct CanisterLayer<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    canister: Canister<S, A, L>,
    peer: PeerLookup,
}

impl<S, A, L> CanisterLayer<S, A, L> {
    /// A layer running requests through `canister`, finding the peer with [`default_peer`].
    pub fn new(canister: Canister<S, A, L>) -> Self {
        Self {
            canister,
            peer: default_peer,
        }
    }

    /// Finds the peer address with `lookup` instead of [`default_peer`], for servers that
    /// put it into the extensions as another type.
    #[must_use]
    pub fn peer_from(mut self, lookup: PeerLookup) -> Self {
        self.peer = lookup;
        self
    }

    /// The engine (`flush`, `logger`, `config`).
    pub fn canister(&self) -> &Canister<S, A, L> {
        &self.canister
    }
}

impl<S, A, L> Clone for CanisterLayer<S, A, L> {
    fn clone(&self) -> Self {
        Self {
            canister: self.canister.clone(),
            peer: self.peer,
        }
    }
}

impl<S, A, L> fmt::Debug for CanisterLayer<S, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanisterLayer")
            .field("canister", &self.canister)
            .finish_non_exhaustive()
    }
}

impl<I, S, A, L> Layer<I> for CanisterLayer<S, A, L> {
    type Service = CanisterService<I, S, A, L>;

    fn layer(&self, inner: I) -> Self::Service {
        CanisterService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The [`Service`] built by [`CanisterLayer`] around an inner service `I`.
pub struct CanisterService<I, S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    inner: I,
    layer: CanisterLayer<S, A, L>,
}

impl<I: Clone, S, A, L> Clone for CanisterService<I, S, A, L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<I: fmt::Debug, S, A, L> fmt::Debug for CanisterService<I, S, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanisterService")
            .field("inner", &self.inner)
            .field("canister", &self.layer.canister)
            .finish()
    }
}

/// The future of [`CanisterService`]: the inner service's response with the session saved
/// and the cookie, CORS headers and log line added (or canister's own answer).
///
/// Dropping it drops the request's `Visit`, releasing a session lock it holds.
pub struct ResponseFuture<RB, E> {
    inner: Pin<Box<dyn Future<Output = Result<Response<RB>, E>> + Send + 'static>>,
}

impl<RB, E> Future for ResponseFuture<RB, E> {
    type Output = Result<Response<RB>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<RB, E> fmt::Debug for ResponseFuture<RB, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<I, B, RB, S, A, L> Service<Request<B>> for CanisterService<I, S, A, L>
where
    I: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    B: Send + 'static,
    RB: From<Bytes> + Send + 'static,
    S: SessionStore,
    A: Authenticator,
    L: LogSink,
{
    type Response = Response<RB>;
    type Error = I::Error;
    type Future = ResponseFuture<RB, I::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready: keep it here and call the one `poll_ready` was called on.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let canister = self.layer.canister.clone();
        let peer = self.layer.peer;
        let inner = Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let visit = match canister.enter(&parts, peer(&parts.extensions)).await {
                Entry::Respond(response) => return Ok(response.map(RB::from)),
                Entry::Proceed(visit) => visit,
            };
            parts.extensions.insert(visit.clone());
            #[cfg(feature = "tracing")]
            let span = visit.span().clone();
            let handled = async move {
                let response = inner.call(Request::from_parts(parts, body)).await?;
                let (mut parts, body) = response.into_parts();
                let body = match canister.finish(visit, &mut parts).await {
                    Finish::Keep => body,
                    Finish::ReplaceBody(bytes) => RB::from(bytes),
                };
                Ok(Response::from_parts(parts, body))
            };
            // The inner service (the handler) and `finish` run inside the request's span on
            // every poll, so the handler's own `tracing` events carry its fields.
            #[cfg(feature = "tracing")]
            let handled = tracing::Instrument::instrument(handled, span);
            handled.await
        });
        ResponseFuture { inner }
    }
}
