//! Serving `service(routes)`: `canister_warp::serve`, and the hand-written hyper-util loop the
//! README shows for TLS.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;

use canister_core::{config::Config, Canister};
use canister_warp::{CanisterFilters, PeerAddr, Visit};
use tokio::net::TcpListener;
use warp::{Filter, Rejection, Reply};

fn filters() -> CanisterFilters {
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED\n").unwrap();
    CanisterFilters::new(Canister::from_config(config).unwrap())
}

/// Answers the peer as the server inserted it and the client as the visit saw it.
fn peer_route(
    canister: &CanisterFilters,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::path!("peer")
        .and(warp::ext::get::<PeerAddr>())
        .and(canister.visit())
        .map(|peer: PeerAddr, visit: Visit| format!("{} {:?}", peer.0.ip(), visit.client()))
}

async fn get(base: SocketAddr) -> String {
    let response = reqwest::get(format!("http://{base}/peer")).await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn serve_gives_the_routes_the_peer_address() {
    let canister = filters();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = canister_warp::serve(listener, canister.service(peer_route(&canister)))
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    let server = tokio::spawn(std::future::IntoFuture::into_future(server));
    assert_eq!(get(base).await, "127.0.0.1 Some(127.0.0.1)");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// The loop of the README's TLS section, without the TLS handshake: whatever the stream, the
/// service runs on hyper-util once `PeerAddr` is in each request.
#[tokio::test]
async fn a_hand_written_hyper_util_loop_serves_it_too() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;

    let canister = filters();
    let service = canister.service(peer_route(&canister));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            // With TLS: `let stream = acceptor.accept(stream).await?;` (tokio-rustls).
            let service = ServiceBuilder::new()
                .map_request(move |mut request: http::Request<_>| {
                    request.extensions_mut().insert(PeerAddr(peer));
                    request
                })
                .service(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(
                        TokioIo::new(stream),
                        TowerToHyperService::new(service),
                    )
                    .await;
            });
        }
    });
    assert_eq!(get(base).await, "127.0.0.1 Some(127.0.0.1)");
}
