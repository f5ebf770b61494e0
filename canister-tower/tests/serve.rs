//! `serve`: the accept loop, the peer address, graceful shutdown (feature `serve`).
#![cfg(feature = "serve")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::convert::Infallible;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use canister_core::{config::Config, Canister, Visit};
use canister_tower::{CanisterLayer, PeerAddr};
use http::{Request, Response};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tower::{service_fn, Layer};

/// Sends one `GET path` and reads the whole answer (the connection closes after it).
async fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn serve_inserts_the_peer_and_finishes_requests_in_flight_on_shutdown() {
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED\n").unwrap();
    let canister = Canister::from_config(config).unwrap();
    // `/wait` says it arrived, then answers once the test releases it.
    let (arrive, arrived) = oneshot::channel::<()>();
    let (release, released) = oneshot::channel::<()>();
    let wait = Arc::new(Mutex::new(Some((arrive, released))));
    let app = service_fn(move |request: Request<hyper::body::Incoming>| {
        let wait = Arc::clone(&wait);
        async move {
            if request.uri().path() == "/wait" {
                let (arrive, released) = wait.lock().unwrap().take().unwrap();
                arrive.send(()).unwrap();
                released.await.unwrap();
            }
            let peer = request.extensions().get::<PeerAddr>().map(|p| p.0.ip());
            let client = request.extensions().get::<Visit>().unwrap().client();
            let body = format!("peer={peer:?} client={client:?}");
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        canister_tower::serve(listener, CanisterLayer::new(canister).layer(app))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let answer = get(address, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with("peer=Some(127.0.0.1) client=Some(127.0.0.1)"),
        "{answer}"
    );

    // A request in flight when the shutdown starts still gets its whole answer.
    let waiting = tokio::spawn(get(address, "/wait"));
    arrived.await.unwrap();
    stop.send(()).unwrap();
    release.send(()).unwrap();
    let answer = waiting.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.await.unwrap().unwrap();
    // The listener is closed.
    assert!(TcpStream::connect(address).await.is_err());
}
