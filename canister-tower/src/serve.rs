//! [`serve`]: the accept loop of warp's and axum's servers, for any tower service.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture, Pending};
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::PeerAddr;

/// Serves `service` on every connection `listener` accepts: HTTP/1.1 (with upgrades, so
/// websockets work) and HTTP/2, each connection on its own tokio task, each request carrying
/// the client's [`PeerAddr`] in its extensions.
///
/// Await it to run the server; [`Serve::with_graceful_shutdown`] stops it. It is what
/// `warp::serve(..).run()` and `axum::serve` do, for any tower service; warp users call it
/// with canister-warp's `service(routes)`, because `warp::serve` takes only a filter and so
/// cannot run a tower layer.
///
/// It takes a bound listener rather than an address: a bind error is reported where you
/// bind, and with port 0 you know the address before serving. Errors of one connection
/// (a client that resets, a malformed request) end that connection only. Accept errors are
/// retried: those of a connection that died before it was accepted at once, others (out of
/// file descriptors) after a second, reported on standard error.
///
/// # Examples
///
/// ```no_run
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use canister_core::Canister;
/// use canister_tower::CanisterLayer;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use tower::{service_fn, Layer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let canister = Canister::from_config_file("canister.ini")?;
/// let app = service_fn(|_: Request<hyper::body::Incoming>| async {
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
/// });
/// let app = CanisterLayer::new(canister.clone()).layer(app);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// canister_tower::serve(listener, app)
///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
///     .await?;
/// canister.flush();
/// # Ok(()) }
/// ```
///
/// # TLS
///
/// Terminate TLS in front (a proxy), or run the same loop on a `tokio_rustls::TlsAcceptor`:
/// accept, `acceptor.accept(stream).await`, then
/// `auto::Builder::new(TokioExecutor::new()).serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(service))`
/// with the peer inserted as a [`PeerAddr`] (ARCHITECTURE.md and canister-warp's README show it).
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub fn serve<Svc>(listener: TcpListener, service: Svc) -> Serve<Svc> {
    Serve {
        listener,
        service,
        signal: std::future::pending(),
    }
}

/// The server [`serve`] returns: await it (it is [`IntoFuture`]).
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
#[must_use = "a server does nothing until awaited"]
pub struct Serve<Svc, G = Pending<()>> {
    listener: TcpListener,
    service: Svc,
    signal: G,
}

impl<Svc> Serve<Svc> {
    /// Stops when `signal` completes: the listener closes at once, requests in flight are
    /// answered, then idle connections close and the server's future completes.
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<Svc, G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            service: self.service,
            signal,
        }
    }
}

impl<Svc, G> fmt::Debug for Serve<Svc, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl<Svc, G, RB> IntoFuture for Serve<Svc, G>
where
    Svc: Service<Request<Incoming>, Response = Response<RB>> + Clone + Send + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn StdError + Send + Sync>>,
    RB: http_body::Body + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<Box<dyn StdError + Send + Sync>>,
    G: Future<Output = ()> + Send + 'static,
{
    /// `Ok` once a graceful shutdown is complete; no error is returned today (see [`serve`]).
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let Serve {
            listener,
            service,
            signal,
        } = self;
        Box::pin(async move {
            let graceful = GracefulShutdown::new();
            let mut signal = pin!(signal);
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            accept_failed(&error).await;
                            continue;
                        }
                    },
                    () = &mut signal => break,
                };
                let service = TowerToHyperService::new(WithPeer {
                    inner: service.clone(),
                    peer: PeerAddr(peer),
                });
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    // A connection's error (reset, malformed request) is that client's business.
                    let _ = watcher.watch(connection).await;
                });
            }
            drop(listener);
            graceful.shutdown().await;
            Ok(())
        })
    }
}

/// Waits before accepting again, unless the error was one connection's.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    eprintln!("canister: accepting a connection failed: {error}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Puts the connection's peer address into each request, as [`PeerAddr`].
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: PeerAddr,
}

impl<S, B> Service<Request<B>> for WithPeer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        self.inner.call(request)
    }
}
