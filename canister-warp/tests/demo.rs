//! The demo's routes served in-process on 127.0.0.1 (the example's own `serve`), driven by
//! reqwest.
#![allow(clippy::unwrap_used, reason = "tests")]

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the demo's main and flags are not used here"
)]
#[path = "../examples/demo.rs"]
mod demo;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canister_core::{Canister, Config};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BASIC: &str = "auth_basic_username = alice\nauth_basic_password = my-secret\n";
const JWT: &str = "auth_jwt_client_id = demo-client\nauth_jwt_secret = jwt-secret\n";

struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(extra: &str) -> Self {
        let config = Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{extra}"));
        let canister = Canister::from_config(config.unwrap()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(demo::serve(canister, listener, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("graceful shutdown")
            .unwrap();
    }
}

fn jar() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

fn bare() -> Client {
    Client::new()
}

fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn json(client: &Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    response.json().await.unwrap()
}

async fn text(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn counter_counts_per_session_cookie() {
    let server = Server::start("").await;
    let client = jar();
    let first = json(&client, &server.url("/")).await;
    assert_eq!(first["data"]["counter"], 0);
    assert_eq!(first["user"], Value::Null);
    assert_eq!(first["claims"], Value::Null);
    assert_eq!(first["foo"], Value::Null);
    let second = json(&client, &server.url("/?foo=bar")).await;
    assert_eq!(second["data"]["counter"], 1);
    assert_eq!(second["foo"], "bar");
    assert_eq!(second["sid"], first["sid"]);
    assert!(first["sid"].as_str().unwrap().len() >= 32);

    // Without the cookie, every visit is a first visit.
    let other = bare();
    assert_eq!(json(&other, &server.url("/")).await["data"]["counter"], 0);
    assert_eq!(json(&other, &server.url("/")).await["data"]["counter"], 0);
    server.stop().await;
}

#[tokio::test]
async fn cookie_attributes() {
    let server = Server::start("").await;
    let response = bare().get(server.url("/")).send().await.unwrap();
    let cookie = set_cookie(response.headers()).unwrap();
    assert!(cookie.starts_with("session_id="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");

    // Behind a TLS proxy the cookie is Secure (session_cookie_secure = auto).
    let response = bare()
        .get(server.url("/"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(set_cookie(response.headers()).unwrap().contains("Secure"));
    server.stop().await;

    let server = Server::start("session_cookie = sid\nsession_cookie_samesite = Strict\n").await;
    let response = bare().get(server.url("/")).send().await.unwrap();
    let cookie = set_cookie(response.headers()).unwrap();
    assert!(
        cookie.starts_with("sid=") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    server.stop().await;
}

#[tokio::test]
async fn sessions_are_lazy() {
    let server = Server::start(BASIC).await;
    let client = bare();
    for path in ["/hi?foo=a", "/secret", "/nope"] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(set_cookie(response.headers()), None, "{path}");
    }
    let response = client
        .post(server.url("/login"))
        .form(&[("username", "alice"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(set_cookie(response.headers()), None);
    server.stop().await;
}

#[tokio::test]
async fn hi_reads_query_form_and_multipart() {
    let server = Server::start("").await;
    let client = bare();
    let get = |path: &str| client.get(server.url(path)).send();
    assert_eq!(
        text(get("/hi?foo=John&bar=Smith").await.unwrap()).await,
        (StatusCode::OK, "Hi John and Smith!".to_owned())
    );
    assert_eq!(
        text(get("/hi?foo=John").await.unwrap()).await,
        (StatusCode::OK, "Hi John!".to_owned())
    );
    assert_eq!(
        text(get("/hi?foo=John&bar=").await.unwrap()).await,
        (StatusCode::OK, "Hi John!".to_owned())
    );
    let form = client
        .post(server.url("/hi"))
        .form(&[("foo", "Jane"), ("bar", "Doe")])
        .send();
    assert_eq!(
        text(form.await.unwrap()).await,
        (StatusCode::OK, "Hi Jane and Doe!".to_owned())
    );
    let multipart = reqwest::multipart::Form::new()
        .text("foo", "Ann")
        .text("bar", "Lee");
    let response = client
        .post(server.url("/hi"))
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "Hi Ann and Lee!".to_owned())
    );

    let (status, body) = text(get("/hi?bar=Smith").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("'foo'"), "{body}");
    let response = client
        .post(server.url("/hi"))
        .form(&[("bar", "x")])
        .send()
        .await
        .unwrap();
    let (status, body) = text(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("'foo'"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn secret_challenges_and_accepts_basic() {
    let server = Server::start(&format!("{BASIC}{JWT}")).await;
    let client = bare();
    let response = client.get(server.url("/secret")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic realm=")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer realm=")),
        "{challenges:?}"
    );

    let response = client
        .get(server.url("/secret"))
        .basic_auth("alice", Some("my-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );

    let response = client
        .get(server.url("/secret"))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = client
        .get(server.url("/secret"))
        .header(AUTHORIZATION, "Bearer not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let refused = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .any(|v| {
            let v = v.to_str().unwrap();
            v.starts_with("Bearer") && v.contains("error=\"invalid_token\"")
        });
    assert!(refused, "{:?}", response.headers());
    server.stop().await;
}

#[tokio::test]
async fn bearer_user_and_claims_show_on_the_index() {
    let server = Server::start(JWT).await;
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({"sub": "bob", "aud": "demo-client", "exp": exp, "role": "ops"});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"jwt-secret"),
    )
    .unwrap();
    let response = bare()
        .get(server.url("/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"], "bob");
    assert_eq!(body["claims"]["role"], "ops");
    assert_eq!(body["claims"]["sub"], "bob");
    let response = bare()
        .get(server.url("/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "You are authenticated as bob".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn login_cycles_the_id_and_logout_destroys() {
    let server = Server::start(BASIC).await;
    let client = jar();
    let before = json(&client, &server.url("/")).await;

    let refused = client
        .post(server.url("/login"))
        .form(&[("username", "alice"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(refused).await,
        (
            StatusCode::UNAUTHORIZED,
            "invalid username or password".to_owned()
        )
    );
    assert_eq!(json(&client, &server.url("/")).await["user"], Value::Null);

    let response = client
        .post(server.url("/login"))
        .form(&[("username", "alice"), ("password", "my-secret")])
        .send()
        .await
        .unwrap();
    assert!(set_cookie(response.headers()).is_some());
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "Logged in as alice".to_owned())
    );
    let after = json(&client, &server.url("/")).await;
    assert_eq!(after["user"], "alice");
    assert_eq!(after["claims"], Value::Null);
    assert_ne!(
        after["sid"], before["sid"],
        "login must change the session id"
    );
    assert_eq!(after["data"]["counter"], 2, "the data survives the login");

    let response = client.post(server.url("/logout")).send().await.unwrap();
    let cleared = set_cookie(response.headers()).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "Logged out".to_owned())
    );
    let fresh = json(&client, &server.url("/")).await;
    assert_eq!(fresh["user"], Value::Null);
    assert_eq!(fresh["data"]["counter"], 0);
    assert_ne!(fresh["sid"], after["sid"]);
    server.stop().await;
}

#[tokio::test]
async fn login_without_basic_users_accepts_any_password() {
    let server = Server::start("").await;
    let client = jar();
    let response = client
        .post(server.url("/login"))
        .form(&[("username", "carol"), ("password", "anything")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "Logged in as carol".to_owned())
    );
    assert_eq!(json(&client, &server.url("/")).await["user"], "carol");
    let (status, body) = text(client.get(server.url("/secret")).send().await.unwrap()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "You are authenticated as carol")
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_on_a_404_and_csrf_refusal_over_http() {
    let server = Server::start("cors = *\n").await;
    let client = jar();
    let response = client
        .get(server.url("/no/such/route"))
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .headers()
            .contains_key("access-control-allow-origin"),
        "{:?}",
        response.headers()
    );

    // A session cookie plus a cross-site unsafe request: refused before the route runs, so
    // the logout does not happen.
    let _ = json(&client, &server.url("/")).await;
    let response = client
        .post(server.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(&client, &server.url("/")).await["data"]["counter"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_keep_their_own_sessions() {
    let server = Server::start("").await;
    let url = server.url("/");
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = jar();
                let mut sid = None;
                for expected in 0..5 {
                    let body = json(&client, &url).await;
                    assert_eq!(body["data"]["counter"], expected);
                    let current = body["sid"].as_str().unwrap().to_owned();
                    assert_eq!(sid.get_or_insert_with(|| current.clone()), &current);
                }
                sid.unwrap()
            })
        })
        .collect();
    let mut sids = Vec::new();
    for client in clients {
        sids.push(client.await.unwrap());
    }
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 8, "every client has its own session");
    server.stop().await;
}
