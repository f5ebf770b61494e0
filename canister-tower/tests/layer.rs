//! The layer around plain `tower::service_fn` services: no framework.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use canister_core::{config::Config, Canister, Visit};
use canister_tower::{CanisterLayer, PeerAddr};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, Service, ServiceExt};

fn canister(extra: &str) -> Canister {
    let config = Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{extra}"));
    Canister::from_config(config.unwrap()).unwrap()
}

type Reply = Response<Full<Bytes>>;

fn text(body: String) -> Reply {
    Response::new(Full::new(Bytes::from(body)))
}

async fn body(response: Reply) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Answers the client address the visit saw, counting its runs.
fn client_echo(
    runs: Arc<AtomicUsize>,
) -> impl Service<Request<()>, Response = Reply, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(move |request: Request<()>| {
        runs.fetch_add(1, Ordering::SeqCst);
        let visit = request.extensions().get::<Visit>().cloned();
        async move { Ok(text(format!("{:?}", visit.map(|v| v.client())))) }
    })
}

fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 4711))
}

#[tokio::test]
async fn the_peer_comes_from_peer_addr_or_socket_addr_or_the_given_lookup() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = CanisterLayer::new(canister("")).layer(client_echo(runs.clone()));

    let mut request = Request::new(());
    request.extensions_mut().insert(PeerAddr(peer()));
    let seen = body(app.clone().oneshot(request).await.unwrap()).await;
    assert_eq!(seen, "Some(Some(192.0.2.7))");

    let mut request = Request::new(());
    request.extensions_mut().insert(peer());
    let seen = body(app.clone().oneshot(request).await.unwrap()).await;
    assert_eq!(seen, "Some(Some(192.0.2.7))");

    let seen = body(app.oneshot(Request::new(())).await.unwrap()).await;
    assert_eq!(
        seen, "Some(None)",
        "no address: the visit is there, the client unknown"
    );

    /// The address as some other server stores it.
    #[derive(Clone)]
    struct Theirs(SocketAddr);
    let app = CanisterLayer::new(canister(""))
        .peer_from(|extensions| extensions.get::<Theirs>().map(|theirs| theirs.0))
        .layer(client_echo(runs));
    let mut request = Request::new(());
    request.extensions_mut().insert(Theirs(peer()));
    let seen = body(app.oneshot(request).await.unwrap()).await;
    assert_eq!(seen, "Some(Some(192.0.2.7))");
}

#[tokio::test]
async fn a_preflight_is_answered_without_calling_the_inner_service() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = CanisterLayer::new(canister("cors = *\n")).layer(client_echo(runs.clone()));
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/")
        .header("origin", "http://elsewhere.example")
        .header("access-control-request-method", "POST")
        .body(())
        .unwrap();
    let response = app.clone().oneshot(preflight).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let plain = Request::builder()
        .uri("/")
        .header("origin", "http://elsewhere.example")
        .body(())
        .unwrap();
    let response = app.oneshot(plain).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// `/w` writes the session; `/hang` takes the session and never answers.
fn locking() -> impl Service<Request<()>, Response = Reply, Error = Infallible, Future: Send> + Clone
{
    service_fn(|request: Request<()>| async move {
        let visit = request.extensions().get::<Visit>().cloned().unwrap();
        let session = visit.session().await.unwrap();
        if request.uri().path() == "/hang" {
            std::future::pending::<()>().await;
        }
        session.insert("k", 1).unwrap();
        Ok(text("written".to_owned()))
    })
}

/// Dropping the response future (a client gone, a timeout) drops the visit with it: the lock
/// it held is free at once, so the next request on the session is served, not refused
/// after `session_lock_timeout`.
#[tokio::test]
async fn a_dropped_response_future_releases_the_session_lock() {
    let app = CanisterLayer::new(canister("session_locking = true\nsession_lock_timeout = 2"))
        .layer(locking());
    let request = |path: &str, cookie: Option<&str>| {
        let mut builder = Request::builder().uri(path);
        if let Some(cookie) = cookie {
            builder = builder.header("cookie", cookie);
        }
        builder.body(()).unwrap()
    };
    let first = app.clone().oneshot(request("/w", None)).await.unwrap();
    let set = first.headers()["set-cookie"].to_str().unwrap();
    let cookie = set.split(';').next().unwrap().to_owned();

    let hang = app.clone().oneshot(request("/hang", Some(&cookie)));
    assert!(tokio::time::timeout(Duration::from_millis(200), hang)
        .await
        .is_err());
    let again = app.oneshot(request("/w", Some(&cookie))).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body(again).await, "written");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn with_the_axum_feature_the_peer_comes_from_connect_info() {
    let app = CanisterLayer::new(canister("")).layer(client_echo(Arc::default()));
    let mut request = Request::new(());
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer()));
    let seen = body(app.oneshot(request).await.unwrap()).await;
    assert_eq!(seen, "Some(Some(192.0.2.7))");
}
