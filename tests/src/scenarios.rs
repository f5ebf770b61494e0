//! The scenarios: what every adapter on every store must answer, over HTTP.
//!
//! Each takes a running [`Server`] started with [`crate::config`] (CORS `*`, Basic
//! alice / my-secret) and panics on the first difference from the contract.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

use crate::Server;

/// A browser: keeps cookies.
pub fn jar() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(TIMEOUT)
        .build()
        .expect("a reqwest client")
}

/// A client without cookies: each request says exactly what the test put in it.
pub fn bare() -> Client {
    Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("a reqwest client")
}

/// No request of the suite takes this long unless something hangs.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `request`, panicking on a transport error (reqwest's error names the URL).
async fn send(request: reqwest::RequestBuilder) -> Response {
    request.send().await.expect("the server answers")
}

/// The `Set-Cookie` header of `response`, if any (one at most is expected).
pub fn set_cookie(response: &Response) -> Option<String> {
    let mut all = response.headers().get_all(SET_COOKIE).iter();
    let first = all.next().map(|v| v.to_str().expect("ASCII").to_owned());
    assert!(all.next().is_none(), "more than one Set-Cookie");
    first
}

/// `name=value` of a `Set-Cookie` header: what a browser sends back.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The JSON of `GET /` sent with `client`, checking status and content type.
pub async fn index(client: &Client, server: &Server) -> Value {
    index_response(send(client.get(server.url("/"))).await).await
}

async fn index_response(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "GET /");
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    response.json().await.expect("JSON from GET /")
}

/// The status and body of `response`; a 200 must be `text/plain; charset=utf-8`.
async fn text(response: Response) -> (StatusCode, String) {
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
    (status, response.text().await.expect("a text body"))
}

/// `GET /` counts per session: 0, then 1, same id.
pub async fn counter(server: &Server) {
    let client = jar();
    let first = index(&client, server).await;
    assert_eq!(first["data"]["counter"], 0);
    assert_eq!(first["user"], Value::Null);
    assert_eq!(first["foo"], Value::Null);
    let second = index_response(send(client.get(server.url("/?foo=x"))).await).await;
    assert_eq!(second["data"]["counter"], 1);
    assert_eq!(second["sid"], first["sid"]);
    assert_eq!(second["foo"], "x");
    let third = index(&client, server).await;
    assert_eq!(third["data"]["counter"], 2);
    // Another browser has its own session.
    let other = index(&jar(), server).await;
    assert_eq!(other["data"]["counter"], 0);
    assert_ne!(other["sid"], first["sid"]);
}

/// Nothing stored, no cookie: `/hi`, `/secret` and a 404 set none.
pub async fn lazy_session(server: &Server) {
    let client = bare();
    for path in ["/hi?foo=x", "/secret", "/nope"] {
        let response = send(client.get(server.url(path))).await;
        assert_eq!(set_cookie(&response), None, "GET {path} sets a cookie");
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, Path=/, Max-Age; Secure only over HTTPS as
/// told by `X-Forwarded-Proto`.
pub async fn cookie_attributes(server: &Server) {
    let response = send(bare().get(server.url("/"))).await;
    let cookie = set_cookie(&response).expect("GET / sets the session cookie");
    let attributes: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            attributes.iter().any(|a| a.eq_ignore_ascii_case(wanted)),
            "{wanted} missing in {cookie}"
        );
    }
    assert!(
        attributes
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("max-age=")),
        "Max-Age missing in {cookie}"
    );
    assert!(
        !attributes.iter().any(|a| a.eq_ignore_ascii_case("Secure")),
        "Secure over plain HTTP: {cookie}"
    );

    let response = send(
        bare()
            .get(server.url("/"))
            .header("x-forwarded-proto", "https"),
    )
    .await;
    let cookie = set_cookie(&response).expect("GET / sets the session cookie");
    assert!(
        cookie
            .split(';')
            .any(|a| a.trim().eq_ignore_ascii_case("Secure")),
        "no Secure over X-Forwarded-Proto: https: {cookie}"
    );
}

/// An id the server never issued is not adopted: a new one replaces it.
pub async fn forged_id_not_adopted(server: &Server) {
    let response = send(bare().get(server.url("/"))).await;
    let issued = set_cookie(&response).expect("GET / sets the session cookie");
    let (name, _) = cookie_pair(&issued)
        .split_once('=')
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .expect("name=value");
    let forged = "A".repeat(43);
    let response = send(
        bare()
            .get(server.url("/"))
            .header(COOKIE, format!("{name}={forged}")),
    )
    .await;
    let replaced = set_cookie(&response).expect("a new cookie replaces the forged one");
    assert!(!replaced.contains(&forged), "forged id adopted: {replaced}");
    let body = index_response(response).await;
    assert_ne!(body["sid"], forged.as_str());
    assert_eq!(body["data"]["counter"], 0);
}

/// Login gives a new id and the user; logout forgets the user and destroys the session, so
/// its old cookie is worth nothing.
pub async fn login_and_logout(server: &Server) {
    let client = jar();
    let before = index(&client, server).await;

    let (status, body) = text(
        send(
            client
                .post(server.url("/login"))
                .form(&[("username", "alice"), ("password", "wrong")]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "invalid username or password");

    let response = send(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    let cycled = set_cookie(&response).expect("login sets a new cookie");
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "Logged in as alice".to_owned())
    );
    let after = index(&client, server).await;
    assert_eq!(after["user"], "alice");
    assert_ne!(after["sid"], before["sid"], "login keeps the session id");
    assert_eq!(
        text(send(client.get(server.url("/secret"))).await).await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );

    assert_eq!(
        text(send(client.post(server.url("/logout"))).await).await,
        (StatusCode::OK, "Logged out".to_owned())
    );
    assert_eq!(
        send(client.get(server.url("/secret"))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = index(&client, server).await;
    assert_eq!(fresh["user"], Value::Null);
    assert_eq!(fresh["data"]["counter"], 0);
    assert_ne!(fresh["sid"], after["sid"]);

    // The logged-in session's cookie, replayed: destroyed, not found.
    let replay = send(
        bare()
            .get(server.url("/"))
            .header(COOKIE, cookie_pair(&cycled)),
    )
    .await;
    let replay = index_response(replay).await;
    assert_eq!(replay["user"], Value::Null);
    assert_eq!(replay["data"]["counter"], 0);
    assert_ne!(replay["sid"], after["sid"]);
}

/// `Params`: query, form, multipart; `foo` missing is a 400 naming it.
pub async fn params(server: &Server) {
    let client = bare();
    assert_eq!(
        text(send(client.get(server.url("/hi?foo=John&bar=Smith"))).await).await,
        (StatusCode::OK, "Hi John and Smith!".to_owned())
    );
    assert_eq!(
        text(send(client.get(server.url("/hi?foo=John&bar="))).await).await,
        (StatusCode::OK, "Hi John!".to_owned())
    );
    assert_eq!(
        text(send(client.post(server.url("/hi")).form(&[("foo", "Ann")])).await).await,
        (StatusCode::OK, "Hi Ann!".to_owned())
    );
    let multipart = reqwest::multipart::Form::new()
        .text("foo", "Mia")
        .text("bar", "Ray");
    assert_eq!(
        text(send(client.post(server.url("/hi")).multipart(multipart)).await).await,
        (StatusCode::OK, "Hi Mia and Ray!".to_owned())
    );
    let (status, body) = text(send(client.get(server.url("/hi"))).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.trim_end(), "missing parameter 'foo'");
    let (status, body) =
        text(send(client.post(server.url("/hi")).form(&[("bar", "x")])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.trim_end(), "missing parameter 'foo'");
}

/// `/secret`: 401 with the Basic challenge; 200 with alice's credentials; 401 with wrong ones.
pub async fn basic_auth(server: &Server) {
    let client = bare();
    let response = send(client.get(server.url("/secret"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        r#"Basic realm="private", charset="UTF-8""#
    );
    assert_eq!(
        text(
            send(
                client
                    .get(server.url("/secret"))
                    .basic_auth("alice", Some("my-secret"))
            )
            .await
        )
        .await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
    let wrong = send(
        client
            .get(server.url("/secret"))
            .basic_auth("alice", Some("wrong")),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

/// A CORS preflight is answered 204 with `Access-Control-Allow-Origin: *`.
pub async fn cors_preflight(server: &Server) {
    let response = send(
        bare()
            .request(Method::OPTIONS, server.url("/hi"))
            .header("origin", "https://a.example")
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

/// CORS headers also on a 404 and on a simple request.
pub async fn cors_headers(server: &Server) {
    for (path, status) in [
        ("/nope", StatusCode::NOT_FOUND),
        ("/hi?foo=x", StatusCode::OK),
    ] {
        let response = send(
            bare()
                .get(server.url(path))
                .header("origin", "https://a.example"),
        )
        .await;
        assert_eq!(response.status(), status, "GET {path}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "*",
            "GET {path}"
        );
    }
}

/// A cross-site POST carrying the session cookie is refused (403); same-origin and
/// header-less ones go through.
pub async fn csrf(server: &Server) {
    let client = jar();
    index(&client, server).await;
    let refused = send(
        client
            .post(server.url("/logout"))
            .header("sec-fetch-site", "cross-site"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Refused before the route: the session is intact.
    assert_eq!(index(&client, server).await["data"]["counter"], 1);
    let allowed = send(
        client
            .post(server.url("/hi"))
            .header("sec-fetch-site", "same-origin")
            .form(&[("foo", "x")]),
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let allowed = send(client.post(server.url("/logout"))).await;
    assert_eq!(allowed.status(), StatusCode::OK);
}

/// One session through several servers sharing a store: each reads what the previous wrote
/// and adds one.
pub async fn shared_session(servers: &[&Server]) {
    let (first, rest) = servers.split_first().expect("at least one server");
    let response = send(bare().get(first.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let created = index_response(response).await;
    assert_eq!(created["data"]["counter"], 0);
    for (n, server) in rest.iter().chain([first]).enumerate() {
        let body =
            index_response(send(bare().get(server.url("/")).header(COOKIE, &cookie)).await).await;
        assert_eq!(body["sid"], created["sid"], "on {}", server.base());
        assert_eq!(body["data"]["counter"], n + 1, "on {}", server.base());
    }
}
