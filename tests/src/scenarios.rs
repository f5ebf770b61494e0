//! The scenarios: what every adapter on every store must answer, over HTTP.
//!
//! Most take a running [`Server`], started with [`crate::config`] (CORS `*`, Basic
//! alice / my-secret) or with the configuration the scenario list gives them
//! (`tests/conformance.rs`); those that start and stop servers or the store themselves take
//! the [`Cell`]. Each panics on the first difference from the contract.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use canister_core::config::BasicEncryption;
use canister_core::config::Config;
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE,
    WWW_AUTHENTICATE,
};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

use crate::{Cell, Server, TempDir};

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

/// The session cookie: HttpOnly, SameSite=Lax, Path=/, no Max-Age; Secure only over HTTPS as
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
    // A browser-session cookie by default (issue #22): no Max-Age, no Expires.
    assert!(
        !attributes.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a.starts_with("max-age=") || a.starts_with("expires=")
        }),
        "a persistent cookie by default: {cookie}"
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

/// `Params`: query, form, multipart, JSON object; `foo` missing is a 400 naming it; a JSON
/// body that is not a flat object is a 400 saying so.
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

    // Issue #17 (F11): a JSON object's members are parameters too (the body wins over the
    // query), where `{"foo":"x"}` used to get 400 `missing parameter 'foo'`.
    let json = |body: Value| client.post(server.url("/hi?bar=Q")).json(&body);
    assert_eq!(
        text(send(json(serde_json::json!({"foo": "x"}))).await).await,
        (StatusCode::OK, "Hi x and Q!".to_owned())
    );
    assert_eq!(
        text(send(json(serde_json::json!({"foo": "x", "bar": "y"}))).await).await,
        (StatusCode::OK, "Hi x and y!".to_owned())
    );
    assert_eq!(
        text(send(json(serde_json::json!({"foo": 7, "bar": null}))).await).await,
        (StatusCode::OK, "Hi 7 and Q!".to_owned())
    );
    let (status, body) = text(send(json(serde_json::json!({"bar": "y"}))).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.trim_end(), "missing parameter 'foo'");
    // Structured JSON is a 400 that says what Params reads.
    let (status, body) = text(send(json(serde_json::json!({"foo": {"a": 1}}))).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.starts_with("malformed parameters: JSON body: ")
            && body.contains("parameter 'foo'")
            && body.contains("flat JSON objects"),
        "{body}"
    );
    let (status, body) = text(send(json(serde_json::json!(["foo"]))).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("a JSON object of parameters"), "{body}");
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

// --- expiry -----------------------------------------------------------------------------------

/// The server's `session_timeout`, which must be short (the expiry scenarios sleep past it).
fn short_timeout(server: &Server) -> Duration {
    let timeout = server
        .config()
        .session
        .timeout
        .expect("the expiry scenarios need a session_timeout");
    assert!(
        timeout <= Duration::from_secs(3),
        "the expiry scenarios want a short session_timeout (1 s), not {timeout:?}"
    );
    timeout
}

/// `GET /` sent with exactly `cookie` (no jar: a browser would drop an expired cookie itself,
/// and the point is what the server does with it).
async fn index_with_cookie(server: &Server, cookie: &str) -> (Option<String>, Value) {
    let response = send(bare().get(server.url("/")).header(COOKIE, cookie)).await;
    let set = set_cookie(&response);
    (set, index_response(response).await)
}

/// Once `session_timeout` has passed without a request, the old cookie finds nothing: a new
/// id replaces it and the counter starts again. The cookie's `Max-Age` is the timeout.
pub async fn expiry(cell: &mut Cell) {
    let clock = memory_test_clock(cell);
    let server = cell.start().await;
    let server = &server;
    let timeout = short_timeout(server);
    let response = send(bare().get(server.url("/"))).await;
    let issued = set_cookie(&response).expect("GET / sets the session cookie");
    if timeout.subsec_nanos() == 0 {
        let max_age = format!("max-age={}", timeout.as_secs());
        assert!(
            issued
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case(&max_age)),
            "{max_age} missing in {issued}"
        );
    }
    let cookie = cookie_pair(&issued);
    let first = index_response(response).await;
    assert_eq!(first["data"]["counter"], 0);
    // Within the timeout the session is found.
    let (_, again) = index_with_cookie(server, &cookie).await;
    assert_eq!(again["sid"], first["sid"]);
    assert_eq!(again["data"]["counter"], 1);

    pass(clock.as_ref(), timeout + Duration::from_millis(400)).await;
    let (replaced, expired) = index_with_cookie(server, &cookie).await;
    let replaced = replaced.expect("a new cookie replaces the expired one");
    assert_ne!(cookie_pair(&replaced), cookie, "the expired id was kept");
    assert_ne!(
        expired["sid"], first["sid"],
        "the expired session was found"
    );
    assert_eq!(expired["data"]["counter"], 0, "the expired session's data");
}

/// The test clock for a memory cell (its store reads the engine's clock, so time can be
/// moved by hand); `None` for Redis, whose keys expire on Redis's own clock.
fn memory_test_clock(cell: &mut Cell) -> Option<canister_core::TestClock> {
    let redis = matches!(cell.fixture().store(), crate::Store::Redis { .. });
    (!redis).then(|| cell.use_test_clock())
}

/// Lets `duration` pass: on the test clock when there is one, else by sleeping.
async fn pass(clock: Option<&canister_core::TestClock>, duration: Duration) {
    match clock {
        Some(clock) => clock.advance(duration),
        None => tokio::time::sleep(duration).await,
    }
}

/// Requests closer together than `session_timeout` keep the session alive past the first
/// deadline: same id, counter going on, the cookie re-sent each time (its `Max-Age` slides
/// too). On the test clock for memory cells, sleeping on Redis.
pub async fn sliding_expiry(cell: &mut Cell) {
    let clock = memory_test_clock(cell);
    let server = cell.start().await;
    let server = &server;
    let timeout = short_timeout(server);
    let step = timeout / 3;
    let response = send(bare().get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let first = index_response(response).await;
    let started = Instant::now();
    let mut moved = Duration::ZERO;
    // The time the engine has seen pass: the test clock's, else the real one.
    let elapsed = |moved: Duration| match clock {
        Some(_) => moved,
        None => started.elapsed(),
    };
    let mut visits = 0;
    // Until the first deadline is two steps behind: without sliding, the visits after it
    // would find nothing.
    while elapsed(moved) < timeout + step * 2 {
        pass(clock.as_ref(), step).await;
        moved += step;
        visits += 1;
        let (resent, body) = index_with_cookie(server, &cookie).await;
        assert_eq!(body["sid"], first["sid"], "visit {visits}: session lost");
        assert_eq!(body["data"]["counter"], visits, "visit {visits}");
        let resent = resent.unwrap_or_else(|| panic!("visit {visits}: cookie not re-sent"));
        assert_eq!(cookie_pair(&resent), cookie, "visit {visits}: id changed");
    }
    let last_visit = elapsed(moved);
    assert!(
        last_visit > timeout,
        "the last visit ({last_visit:?}) came before the first deadline"
    );
}

// --- Basic --------------------------------------------------------------------------------------

/// The Basic challenge of [`crate::config`].
pub const BASIC_CHALLENGE: &str = r#"Basic realm="private", charset="UTF-8""#;

/// The hex SHA-256 of `my-secret`, for `auth_basic_encryption = sha256`.
pub const MY_SECRET_SHA256: &str =
    "186ef76e9d6a723ecb570d4d9c287487d001e5d35f7ed4a313350a407950318e";

/// Every `WWW-Authenticate` value of `response`, in order.
fn challenges(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("ASCII challenge").to_owned())
        .collect()
}

/// `GET /secret` with `authorization` (raw header value, if any): the core's 401, carrying
/// exactly `expected` challenges.
async fn refused(server: &Server, authorization: Option<HeaderValue>, expected: &[&str]) {
    let mut request = bare().get(server.url("/secret"));
    if let Some(value) = &authorization {
        request = request.header(AUTHORIZATION, value.clone());
    }
    let response = send(request).await;
    let what = format!("GET /secret with Authorization {authorization:?}");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(challenges(&response), expected, "{what}");
    assert_eq!(
        response.text().await.expect("a body"),
        "authentication required\n",
        "{what}"
    );
}

/// `GET /secret` with alice's Basic credentials and `password`.
async fn secret_as_alice(server: &Server, password: &str) -> (StatusCode, String) {
    text(
        send(
            bare()
                .get(server.url("/secret"))
                .basic_auth("alice", Some(password)),
        )
        .await,
    )
    .await
}

/// `auth_basic_encryption = sha256`: the password whose digest is configured logs in (header
/// and form); the digest itself, or a wrong password, gets the 401 with the challenge.
pub async fn basic_sha256(server: &Server) {
    assert_eq!(
        server.config().auth.basic.encryption,
        BasicEncryption::Sha256,
        "basic_sha256 runs with auth_basic_encryption = sha256"
    );
    assert_eq!(
        secret_as_alice(server, "my-secret").await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
    for wrong in [MY_SECRET_SHA256, "wrong", ""] {
        let value = basic_value(&format!("alice:{wrong}"));
        refused(server, Some(value), &[BASIC_CHALLENGE]).await;
    }
    let login = |password: &'static str| {
        bare()
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", password)])
    };
    assert_eq!(
        text(send(login("my-secret")).await).await,
        (StatusCode::OK, "Logged in as alice".to_owned())
    );
    assert_eq!(
        send(login(MY_SECRET_SHA256)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// `Basic <base64 of credentials>`.
fn basic_value(credentials: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Basic {}", base64(credentials.as_bytes())))
        .expect("a header value")
}

/// Standard base64 with padding (the suite needs it for a few headers only).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Malformed `Authorization` headers (bad base64, no colon, not UTF-8, unknown scheme, empty,
/// scheme alone, too many parts, bytes outside ASCII): a 401 with the Basic challenge on
/// `/secret`, never a 400 or 500; routes that do not require a user go on anonymous.
pub async fn basic_malformed(server: &Server) {
    let garbage: Vec<HeaderValue> = [
        &b"Basic %%%"[..],
        b"Basic YWxpY2U",
        b"Basic /w==",
        b"Digest username=\"alice\", realm=\"private\"",
        b"",
        b"Basic",
        b"Basic YWxpY2U6bXktc2VjcmV0 extra",
        b"Basic \xff\xfe",
    ]
    .iter()
    .map(|raw| HeaderValue::from_bytes(raw).expect("a header value"))
    .collect();
    for value in garbage {
        refused(server, Some(value.clone()), &[BASIC_CHALLENGE]).await;
        let response = send(
            bare()
                .get(server.url("/"))
                .header(AUTHORIZATION, value.clone()),
        )
        .await;
        let body = index_response(response).await;
        assert_eq!(body["user"], Value::Null, "GET / with {value:?}");
    }
    // Still fine afterwards.
    assert_eq!(
        secret_as_alice(server, "my-secret").await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
}

// --- JWT ----------------------------------------------------------------------------------------

/// Tokens made by PyJWT for canister-core's own tests (audience `alice`, secret `secret`,
/// expiry in 2100 unless the name says otherwise).
const TOKENS: &str = include_str!("../../canister-core/tests/data/jwt/tokens.json");

fn tokens() -> Value {
    serde_json::from_str(TOKENS).expect("tokens.json")
}

/// The token `name` of `canister-core/tests/data/jwt/tokens.json`.
pub fn token(name: &str) -> String {
    tokens()["tokens"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no token {name} in tokens.json"))
        .to_owned()
}

/// [`crate::config`] plus JWT as the tokens expect it: audience (`auth_jwt_client_id`) and
/// HS256 secret from `tokens.json`, algorithms left at the default (HS256 only).
pub fn jwt_config() -> Config {
    let data = tokens();
    let audience = data["audience"].as_str().expect("an audience");
    let secret = data["secret"].as_str().expect("a secret");
    crate::config_with(&[
        ("auth_jwt_client_id", audience),
        ("auth_jwt_secret", secret),
    ])
}

/// The challenges of [`jwt_config`] for a refused Bearer token.
fn bearer_refused(description: &str) -> [String; 2] {
    [
        BASIC_CHALLENGE.to_owned(),
        format!(
            r#"Bearer realm="private", error="invalid_token", error_description="{description}""#
        ),
    ]
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value")
}

/// A valid HS256 token: `/secret` answers its `sub`, `/` shows its claims; the header's user
/// belongs to that request only (the same session without the header is anonymous).
pub async fn jwt_valid(server: &Server) {
    for (name, scheme) in [
        ("hs256", "Bearer"),
        ("hs256", "bearer"),
        ("hs256_aud_list", "Bearer"),
    ] {
        let response = send(
            bare()
                .get(server.url("/secret"))
                .header(AUTHORIZATION, format!("{scheme} {}", token(name))),
        )
        .await;
        assert_eq!(
            text(response).await,
            (StatusCode::OK, "You are authenticated as carol".to_owned()),
            "token {name}, scheme {scheme}"
        );
    }
    let client = jar();
    let response = send(
        client
            .get(server.url("/"))
            .header(AUTHORIZATION, bearer(&token("hs256"))),
    )
    .await;
    let body = index_response(response).await;
    assert_eq!(body["user"], "carol");
    assert_eq!(body["claims"]["sub"], "carol");
    assert_eq!(body["claims"]["aud"], "alice");
    assert_eq!(body["claims"]["name"], "Carol Ünicode");
    assert_eq!(body["claims"]["scope"], "read write");
    let without = index(&client, server).await;
    assert_eq!(without["sid"], body["sid"]);
    assert_eq!(without["user"], Value::Null, "a Bearer user was kept");
    assert_eq!(without["claims"], Value::Null);
    assert_eq!(
        send(client.get(server.url("/secret"))).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Refused tokens (expired, wrong audience, `alg: none`, HS512 or RS256 when HS256 is
/// configured, HS256 keyed with the RSA public key, wrong secret, garbage): 401 with the Basic
/// challenge and `Bearer … error="invalid_token"` saying why; `/` goes on anonymous.
pub async fn jwt_refused(server: &Server) {
    // Without a header: one challenge per configured scheme.
    refused(
        server,
        None,
        &[BASIC_CHALLENGE, r#"Bearer realm="private""#],
    )
    .await;
    let cases = [
        ("hs256_expired", "token expired"),
        ("hs256_wrong_audience", "wrong audience (aud)"),
        ("alg_none", "algorithm 'none' is not accepted"),
        ("hs512", "algorithm HS512 is not accepted"),
        ("rs256", "algorithm RS256 is not accepted"),
        ("hs256_keyed_with_rsa_public_pem", "bad signature"),
        ("hs256_wrong_secret", "bad signature"),
    ];
    let mut tokens: Vec<(String, &str)> = cases
        .iter()
        .map(|(name, description)| (token(name), *description))
        .collect();
    tokens.push(("garbage".to_owned(), "malformed token"));
    for (token, description) in &tokens {
        let expected = bearer_refused(description);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        refused(server, Some(bearer(token)), &expected).await;
        let response = send(
            bare()
                .get(server.url("/"))
                .header(AUTHORIZATION, bearer(token)),
        )
        .await;
        let body = index_response(response).await;
        assert_eq!(
            body["user"],
            Value::Null,
            "GET / with a refused token ({description})"
        );
    }
}

// --- auth_remember ------------------------------------------------------------------------------

/// `auth_remember = true`: a Basic login through the header is kept in the session, with a
/// new id (data kept); later requests without the header are still alice. Wrong credentials
/// keep nobody.
pub async fn auth_remember(server: &Server) {
    assert!(
        server.config().auth.remember,
        "runs with auth_remember = true"
    );
    let client = jar();
    let before = index(&client, server).await;
    assert_eq!(before["user"], Value::Null);

    let wrong = send(
        client
            .get(server.url("/secret"))
            .basic_auth("alice", Some("wrong")),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let still = index(&client, server).await;
    assert_eq!(still["user"], Value::Null);
    assert_eq!(still["sid"], before["sid"]);

    let response = send(
        client
            .get(server.url("/secret"))
            .basic_auth("alice", Some("my-secret")),
    )
    .await;
    let cycled = set_cookie(&response).expect("remembering the user sets a new cookie");
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
    let after = index(&client, server).await;
    assert_eq!(after["user"], "alice", "the header user was not remembered");
    assert_ne!(
        after["sid"], before["sid"],
        "remembering kept the session id"
    );
    assert_eq!(
        after["data"]["counter"], 2,
        "the session's data survived the new id"
    );
    assert!(
        cycled.contains(after["sid"].as_str().expect("sid")),
        "the new cookie names the new id"
    );
    assert_eq!(
        text(send(client.get(server.url("/secret"))).await).await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );

    // No session before: the header login creates one.
    let response = send(
        bare()
            .get(server.url("/secret"))
            .basic_auth("alice", Some("my-secret")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = cookie_pair(&set_cookie(&response).expect("a remembered user sets a cookie"));
    let (_, body) = index_with_cookie(server, &cookie).await;
    assert_eq!(body["user"], "alice");
}

// --- parameters -----------------------------------------------------------------------------

/// The 400 for undecodable parameters: `malformed parameters: …`, no session touched.
async fn malformed(response: Response, what: &str) {
    let cookie = set_cookie(&response);
    let status = response.status();
    let body = response.text().await.expect("a body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: body {body:?}");
    assert!(
        body.starts_with("malformed parameters"),
        "{what}: body {body:?}"
    );
    assert_eq!(cookie, None, "{what} sets a cookie");
}

/// Garbage parameters: bad `%` escapes and invalid UTF-8 in the query or a form, malformed
/// multipart bodies, each a 400 (never a 500 or a silently replaced value); the routes are
/// fine afterwards.
pub async fn params_garbage(server: &Server) {
    let client = bare();
    for query in [
        "foo=%ZZ",
        "foo=%",
        "foo=%4",
        "foo=%FF",
        "foo=%E2%82",
        "f%ZZo=x&foo=y",
    ] {
        let response = send(client.get(server.url(&format!("/hi?{query}")))).await;
        malformed(response, &format!("GET /hi?{query}")).await;
    }
    let form = "application/x-www-form-urlencoded";
    for body in [&b"foo=%ZZ"[..], b"foo=%", b"foo=\xff\xfe", b"foo=%C3%28"] {
        let response = send(
            client
                .post(server.url("/hi"))
                .header(CONTENT_TYPE, form)
                .body(body.to_vec()),
        )
        .await;
        malformed(
            response,
            &format!("POST /hi {}", String::from_utf8_lossy(body)),
        )
        .await;
    }
    let response = send(
        client
            .post(server.url("/login"))
            .header(CONTENT_TYPE, form)
            .body(&b"username=alice&password=%ZZ"[..]),
    )
    .await;
    malformed(response, "POST /login with a bad escape").await;

    let multipart: [(&str, &[u8]); 4] = [
        // No boundary at all.
        ("multipart/form-data", b"--x\r\n\r\nfoo\r\n--x--\r\n"),
        // Garbage where the parts should be.
        (
            "multipart/form-data; boundary=xyz",
            b"this is not multipart",
        ),
        // Cut off before the closing boundary.
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nMia",
        ),
        // A part without headers' end.
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data; name=\"foo\"",
        ),
    ];
    for (content_type, body) in multipart {
        let response = send(
            client
                .post(server.url("/hi"))
                .header(CONTENT_TYPE, content_type)
                .body(body.to_vec()),
        )
        .await;
        malformed(
            response,
            &format!("POST /hi {content_type} {}", String::from_utf8_lossy(body)),
        )
        .await;
    }

    // Everything still works.
    assert_eq!(
        text(send(client.get(server.url("/hi?foo=John%20D&bar=%C3%89"))).await).await,
        (StatusCode::OK, "Hi John D and É!".to_owned())
    );
    assert_eq!(index(&jar(), server).await["data"]["counter"], 0);
}

/// `GET /` reads its optional `foo` as `/hi` reads its parameters: a garbage query is the same
/// 400 there, not a 200 with the bytes passed through or replaced.
pub async fn index_garbage_query(server: &Server) {
    for query in ["foo=%ZZ", "foo=%FF"] {
        let response = send(bare().get(server.url(&format!("/?{query}")))).await;
        malformed(response, &format!("GET /?{query}")).await;
    }
    let body = index_response(send(bare().get(server.url("/?foo=%C3%89"))).await).await;
    assert_eq!(body["foo"], "É");
}

// --- CORS with a list of origins ---------------------------------------------------------------

/// The origin [`cors_config`] allows.
pub const ALLOWED_ORIGIN: &str = "https://app.example";
/// An origin [`cors_config`] does not allow.
pub const OTHER_ORIGIN: &str = "https://evil.example";

/// [`crate::config`] with `CORS` = [`ALLOWED_ORIGIN`] and credentials allowed.
pub fn cors_config() -> Config {
    crate::config_with(&[("CORS", ALLOWED_ORIGIN), ("cors_credentials", "true")])
}

/// Whether a `Vary` header of `headers` names `Origin`.
fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers.get_all("vary").iter().any(|v| {
        v.to_str()
            .unwrap_or_default()
            .split(',')
            .any(|name| name.trim().eq_ignore_ascii_case("origin"))
    })
}

/// The CORS headers of a response to a request from [`ALLOWED_ORIGIN`]: the origin echoed,
/// credentials allowed, `Vary: Origin`.
fn assert_allowed(headers: &HeaderMap, what: &str) {
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .map(HeaderValue::as_bytes),
        Some(ALLOWED_ORIGIN.as_bytes()),
        "{what}"
    );
    assert_eq!(
        headers
            .get("access-control-allow-credentials")
            .map(HeaderValue::as_bytes),
        Some(&b"true"[..]),
        "{what}"
    );
    assert!(varies_on_origin(headers), "{what}: no Vary: Origin");
}

/// No CORS grant, but `Vary: Origin` (the answer depends on the origin).
fn assert_not_allowed(headers: &HeaderMap, what: &str) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
    ] {
        assert!(
            headers.get(name).is_none(),
            "{what}: {name}: {:?}",
            headers.get(name)
        );
    }
    assert!(varies_on_origin(headers), "{what}: no Vary: Origin");
}

/// `CORS` = one origin with credentials: that origin gets its own name back, credentials
/// and `Vary: Origin`, on 200s, preflights, 404s, 401s and 400s; another origin (or none)
/// gets no grant, only `Vary: Origin`, and its preflight gets a 204 without any CORS header
/// (answered by canister, not the router). A cross-site POST
/// with the cookie is refused from the other origin (403, no grant), trusted from the listed
/// one.
pub async fn cors_origin_list(server: &Server) {
    let client = bare();
    let get = |path: &str, origin: Option<&str>| {
        let request = client.get(server.url(path));
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
    };
    for (path, status) in [
        ("/hi?foo=x", StatusCode::OK),
        ("/nope", StatusCode::NOT_FOUND),
        ("/secret", StatusCode::UNAUTHORIZED),
        ("/hi", StatusCode::BAD_REQUEST),
        ("/hi?foo=%ZZ", StatusCode::BAD_REQUEST),
    ] {
        let response = send(get(path, Some(ALLOWED_ORIGIN))).await;
        assert_eq!(
            response.status(),
            status,
            "GET {path} from {ALLOWED_ORIGIN}"
        );
        assert_allowed(
            response.headers(),
            &format!("GET {path} from {ALLOWED_ORIGIN}"),
        );
        let response = send(get(path, Some(OTHER_ORIGIN))).await;
        assert_eq!(response.status(), status, "GET {path} from {OTHER_ORIGIN}");
        assert_not_allowed(
            response.headers(),
            &format!("GET {path} from {OTHER_ORIGIN}"),
        );
        let response = send(get(path, None)).await;
        assert_not_allowed(response.headers(), &format!("GET {path} without Origin"));
    }

    let preflight = |origin: &str| {
        client
            .request(Method::OPTIONS, server.url("/hi"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };
    let response = send(preflight(ALLOWED_ORIGIN)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_allowed(response.headers(), "preflight from the allowed origin");
    let methods = response.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ASCII");
    assert!(methods.contains("POST"), "allowed methods: {methods}");
    // Issue #17 (F13): answered by canister, not by the router (405): 204 without any
    // `Access-Control-*` header, so the browser blocks the request.
    let response = send(preflight(OTHER_ORIGIN)).await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "preflight from another origin"
    );
    let granted: Vec<_> = response
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect();
    assert!(
        granted.is_empty(),
        "preflight from another origin granted: {granted:?}"
    );
    assert_not_allowed(response.headers(), "preflight from another origin");

    // CSRF: the listed origin is trusted, another one is refused, without a grant.
    let browser = jar();
    index(&browser, server).await;
    let response = send(
        browser
            .post(server.url("/hi"))
            .header("origin", ALLOWED_ORIGIN)
            .form(&[("foo", "x")]),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "POST from the listed origin"
    );
    assert_allowed(response.headers(), "POST from the listed origin");
    let response = send(
        browser
            .post(server.url("/logout"))
            .header("origin", OTHER_ORIGIN),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "POST from another origin"
    );
    assert_not_allowed(response.headers(), "403 to another origin");
    assert_eq!(index(&browser, server).await["data"]["counter"], 1);
}

// --- store down -------------------------------------------------------------------------------

/// The core's 503 for a failing store, with the CORS header `CORS = *` puts on every
/// response.
async fn assert_unavailable(response: Response, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: not a 503"
    );
    assert_eq!(set_cookie(&response), None, "{what}: a cookie with the 503");
    let headers = response.headers();
    assert_eq!(
        headers.get("retry-after").map(HeaderValue::as_bytes),
        Some(&b"5"[..]),
        "{what}"
    );
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .map(HeaderValue::as_bytes),
        Some(&b"*"[..]),
        "{what}: CORS on the 503"
    );
    assert_eq!(
        response.text().await.expect("a body"),
        "session store unavailable: please retry shortly\n",
        "{what}"
    );
}

/// The store goes down: requests that need the session get the core's 503 (not a 500, not a
/// 200 that lost its write), routes that do not still answer. It comes back: within 5 s the
/// same session answers again, with exactly the writes made before the outage.
///
/// Memory cells take the store down with `canister_core::session::FaultyStore` (a
/// `MemoryStore` that fails while switched off); Redis cells kill their private `redis-server` and start it
/// again on the same port with the same data (`Redis::start_restartable`).
pub async fn store_down_and_recovery(cell: &mut Cell) {
    cell.fixture().make_breakable().await;
    let server = cell.start().await;
    let client = jar();
    let origin = "https://a.example";
    assert_eq!(index(&client, &server).await["data"]["counter"], 0);
    let before = index(&client, &server).await;
    assert_eq!(before["data"]["counter"], 1);

    cell.fixture().take_down();
    let response = send(client.get(server.url("/")).header("origin", origin)).await;
    assert_unavailable(response, "GET / with a session").await;
    let response = send(bare().get(server.url("/")).header("origin", origin)).await;
    assert_unavailable(response, "GET / creating a session").await;
    // (No `Origin` here: a cross-site POST with the cookie would be refused before the store.)
    let response = send(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    assert_unavailable(response, "POST /login").await;
    assert_eq!(
        text(send(client.get(server.url("/hi?foo=x"))).await).await,
        (StatusCode::OK, "Hi x!".to_owned()),
        "a route without session during the outage"
    );

    cell.fixture().bring_back().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let response = send(client.get(server.url("/"))).await;
        if response.status() == StatusCode::OK {
            break index_response(response).await;
        }
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "while the store comes back"
        );
        assert!(
            Instant::now() < deadline,
            "still 503 five seconds after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(after["sid"], before["sid"], "the session was lost");
    assert_eq!(
        after["data"]["counter"], 2,
        "the 503s wrote something, or the writes before the outage were lost"
    );
    assert_eq!(after["user"], Value::Null, "the refused login stuck");
    server.stop().await;
}

// --- locking ------------------------------------------------------------------------------------

/// `session_locking = true`: 5 clients × 30 concurrent `GET /` on one session each see a
/// different counter, 1 to 150, and the next visit sees 151.
pub async fn locking(server: &Server) {
    assert!(
        server.config().session.locking,
        "runs with session_locking = true"
    );
    const CLIENTS: usize = 5;
    const REQUESTS: usize = 30;
    let response = send(bare().get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let first = index_response(response).await;
    let url = server.url("/");
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, cookie, sid) = (url.clone(), cookie.clone(), first["sid"].clone());
            tokio::spawn(async move {
                let client = bare();
                let mut seen = Vec::with_capacity(REQUESTS);
                for _ in 0..REQUESTS {
                    let body =
                        index_response(send(client.get(&url).header(COOKIE, &cookie)).await).await;
                    assert_eq!(body["sid"], sid);
                    seen.push(body["data"]["counter"].as_u64().expect("a counter"));
                }
                seen
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        for counter in task.await.expect("a client task") {
            assert!(seen.insert(counter), "counter {counter} seen twice");
        }
    }
    let total = (CLIENTS * REQUESTS) as u64;
    assert_eq!(seen, (1..=total).collect::<BTreeSet<u64>>());
    let (_, last) = index_with_cookie(server, &cookie).await;
    assert_eq!(last["data"]["counter"], total + 1);
}

/// 200 clients write 200 different keys of one session at once (`POST /set`, no locking):
/// every key is kept (saves are per key, never whole-record last-write-wins).
pub async fn concurrent_writers(server: &Server) {
    const CLIENTS: usize = 200;
    let response = send(bare().get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let url = server.url("/set");
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, cookie) = (url.clone(), cookie.clone());
            tokio::spawn(async move {
                let key = format!("k{i}");
                let value = format!("v{i}");
                let response = send(
                    bare()
                        .post(&url)
                        .header(COOKIE, &cookie)
                        .form(&[("key", key.as_str()), ("value", value.as_str())]),
                )
                .await;
                assert_eq!(response.status(), StatusCode::OK, "POST /set {key}");
                let data: Value = response.json().await.expect("JSON from POST /set");
                // Each answer shows at least its own write.
                assert_eq!(data[&key], value.as_str(), "{data}");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client task");
    }
    let (_, last) = index_with_cookie(server, &cookie).await;
    for i in 0..CLIENTS {
        assert_eq!(
            last["data"][format!("k{i}")],
            format!("v{i}"),
            "key k{i} lost"
        );
    }
    assert_eq!(last["data"]["counter"], 1);
}

/// `params_body_limit` (issue #18): every adapter reads a parameter body up to the same
/// limit. A 100 KB form (over Rocket's own 32 KiB form limit) is decoded everywhere; a body
/// past the limit, form, multipart or JSON, is a 413 naming it. Run with
/// `params_body_limit = 200000`.
pub async fn params_body_limit(server: &Server) {
    assert_eq!(
        server.config().params.body_limit,
        200_000,
        "run with params_body_limit = 200000"
    );
    let client = bare();
    let name = "a".repeat(100_000);
    let (status, body) = text(
        send(
            client
                .post(server.url("/hi"))
                .form(&[("foo", name.as_str())]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a 100 KB form");
    assert_eq!(body, format!("Hi {name}!"));

    let long = "b".repeat(250_000);
    let refused = "request body larger than 200000 bytes";
    let (status, body) = text(
        send(
            client
                .post(server.url("/hi"))
                .form(&[("foo", long.as_str())]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "a 250 KB form");
    assert_eq!(body.trim_end(), refused);
    let multipart = reqwest::multipart::Form::new().text("foo", long.clone());
    let (status, body) =
        text(send(client.post(server.url("/hi")).multipart(multipart)).await).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a 250 KB multipart body"
    );
    assert_eq!(body.trim_end(), refused);
    let json = serde_json::json!({ "foo": long });
    let (status, body) = text(send(client.post(server.url("/hi")).json(&json)).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "a 250 KB JSON body");
    assert_eq!(body.trim_end(), refused);
}

/// `session_max_bytes`: a `POST /set` that would take the session past it answers 413 and
/// leaves the session as it was (the value is neither in the answer nor stored, the id
/// unchanged); a write that fits is stored. Run with `session_max_bytes = 1024`.
pub async fn session_too_large(server: &Server) {
    assert_eq!(
        server.config().session.max_bytes,
        1024,
        "run with session_max_bytes = 1024"
    );
    let response = send(bare().get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let set = |key: &'static str, value: String| {
        let cookie = cookie.clone();
        async move {
            send(
                bare()
                    .post(server.url("/set"))
                    .header(COOKIE, cookie)
                    .form(&[("key", key), ("value", value.as_str())]),
            )
            .await
        }
    };
    let small = "s".repeat(100);
    let response = set("small", small.clone()).await;
    assert_eq!(response.status(), StatusCode::OK, "POST /set small");

    let response = set("big", "b".repeat(1000)).await;
    assert_eq!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "POST /set big"
    );
    if let Some(again) = set_cookie(&response) {
        assert_eq!(
            cookie_pair(&again),
            cookie,
            "a refused write changed the session id"
        );
    }
    let (status, body) = text(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body.contains("session_max_bytes = 1024") && !body.contains("bbbb"),
        "{body}"
    );

    // The session is as it was: `small` kept, `big` absent, the counter went on.
    let (_, after) = index_with_cookie(server, &cookie).await;
    assert_eq!(after["data"]["small"], small.as_str(), "{after}");
    assert_eq!(after["data"]["big"], Value::Null, "{after}");
    assert_eq!(after["data"]["counter"], 1, "{after}");
    // Replacing a value by a smaller one still fits.
    let response = set("small", "t".repeat(10)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

// --- log lines ----------------------------------------------------------------------------------

/// One line of canister's log layout, taken apart.
#[derive(Debug)]
pub struct LogLine<'a> {
    /// `INFO`, `WARNING`, …
    pub level: &'a str,
    /// What is in the brackets before the request id: `MainThread`, or
    /// `<client ip>-<tag or ...>`.
    pub context: &'a str,
    /// The request id after ` req=` (every line of a request has one).
    pub request_id: Option<&'a str>,
    /// The session tag of a request context (`None` for `...` and `MainThread`).
    pub tag: Option<&'a str>,
    /// The message after the three spaces.
    pub message: &'a str,
}

/// Parses a line of canister's layout, which is this regex (written out by hand, the suite
/// has no regex dependency):
///
/// ```text
/// ^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\[(MainThread|[^\]]+-([A-Za-z0-9_-]{6}|\.\.\.)( req=[!-~]+)?)\]   (.*)$
/// ```
///
/// with the level padded to 8 characters plus one space, as Python's `%(levelname)-8s`.
pub fn parse_log_line(line: &str) -> Result<LogLine<'_>, String> {
    let err = |why: &str| format!("{why}: {line:?}");
    let stamp = line.get(..24).ok_or_else(|| err("too short"))?;
    for (i, c) in stamp.bytes().enumerate() {
        let ok = match i {
            4 | 7 => c == b'-',
            10 | 23 => c == b' ',
            13 | 16 => c == b':',
            19 => c == b',',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return Err(err("timestamp"));
        }
    }
    let rest = &line[24..];
    let level = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
        .into_iter()
        .find(|level| rest.starts_with(level))
        .ok_or_else(|| err("level"))?;
    let padded = format!("{level:<8} [");
    let rest = rest
        .strip_prefix(padded.as_str())
        .ok_or_else(|| err("level padding"))?;
    let (context, message) = rest.split_once("]   ").ok_or_else(|| err("context"))?;
    if context.contains(']') {
        return Err(err("context"));
    }
    let (context, request_id) = match context.split_once(" req=") {
        Some((context, id)) => {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err("request id"));
            }
            (context, Some(id))
        }
        None => (context, None),
    };
    let tag = if context == "MainThread" {
        None
    } else {
        split_context(context).ok_or_else(|| err("context tag"))?.1
    };
    Ok(LogLine {
        level,
        context,
        request_id,
        tag,
        message,
    })
}

/// `client-tag` as `(client, Some(tag))`, `client-...` as `(client, None)`: the tag is the
/// last 6 characters (base64url, so it may itself contain `-`).
fn split_context(context: &str) -> Option<(&str, Option<&str>)> {
    if let Some(client) = context.strip_suffix("-...") {
        return (!client.is_empty()).then_some((client, None));
    }
    let split = context.len().checked_sub(7)?;
    let (client, tag) = (context.get(..split)?, context.get(split + 1..)?);
    let is_tag = context.as_bytes()[split] == b'-'
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (is_tag && !client.is_empty()).then_some((client, Some(tag)))
}

/// The text of every `log.YYYY-MM-DD` file in `dir`, oldest first.
fn read_logs(dir: &std::path::Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("log."))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect()
}

/// The lines of one request: from its `METHOD url` line to its `Response:` line.
fn request_lines<'l, 'a>(lines: &'l [LogLine<'a>], request: &str) -> Vec<&'l LogLine<'a>> {
    let start = lines
        .iter()
        .position(|l| l.message == request)
        .unwrap_or_else(|| panic!("no line {request:?} in the log"));
    let id = lines[start].request_id;
    assert!(id.is_some(), "no request id on {:?}", lines[start]);
    let mut out = Vec::new();
    for line in &lines[start..] {
        if line.request_id != id {
            continue;
        }
        out.push(line);
        if line.message.starts_with("Response: ") {
            return out;
        }
    }
    panic!("no Response line after {request:?}");
}

/// Requests logged at `INFO` to a `log_path`: once the server has stopped, every line has
/// canister's layout, requests are logged with their URL (secret query values masked) and
/// response, lines of a request with a session carry its 6-character tag (the same tag for
/// the same session, another after login; also the demo's own `counter = N` line, written
/// through a `Log` taken before the `Session`), and neither session ids, nor the Basic password,
/// nor the `Authorization` header, nor a Bearer token appear.
pub async fn log_lines(cell: &mut Cell) {
    let dir = TempDir::new("log");
    let mut config = cell.config().clone();
    config.set("log_level", "INFO").expect("log_level");
    config
        .set("log_path", dir.path().to_str().expect("a UTF-8 temp path"))
        .expect("log_path");
    let server = cell.start_with(config).await;
    let base = server.base().to_owned();
    let client = jar();
    let bearer_token = "tok.zq9Xw3RtY7uI1oP5aS8dF2gH6jK0lL4";

    let first = index(&client, &server).await;
    let second = index_response(send(client.get(server.url("/?foo=x"))).await).await;
    assert_eq!(second["sid"], first["sid"]);
    let basic = send(
        client
            .get(server.url("/secret"))
            .basic_auth("alice", Some("my-secret")),
    )
    .await;
    assert_eq!(basic.status(), StatusCode::OK);
    let refused = send(
        client
            .get(server.url("/secret"))
            .header(AUTHORIZATION, format!("Bearer {bearer_token}")),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let hi = send(client.get(server.url("/hi?foo=x&password=hunter2"))).await;
    assert_eq!(hi.status(), StatusCode::OK);
    let hi_id = hi
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an x-request-id on the response")
        .to_owned();
    let login = send(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let third = index_response(send(client.get(server.url("/?foo=y"))).await).await;
    assert_ne!(third["sid"], first["sid"]);
    const REQUESTS: usize = 7;

    server.stop().await;
    // Stopping flushed the log; give the file system a moment all the same.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = read_logs(dir.path());
        let responses = log.lines().filter(|l| l.contains("]   Response: ")).count();
        if responses >= REQUESTS || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let lines: Vec<LogLine<'_>> = log
        .lines()
        .map(|line| parse_log_line(line).unwrap_or_else(|e| panic!("layout: {e}")))
        .collect();
    let responses = lines
        .iter()
        .filter(|l| l.message.starts_with("Response: "))
        .count();
    assert_eq!(responses, REQUESTS, "Response lines in:\n{log}");

    // No secrets.
    let header = format!("Basic {}", base64(b"alice:my-secret"));
    for (what, secret) in [
        ("a session id", first["sid"].as_str().expect("sid")),
        (
            "the logged-in session id",
            third["sid"].as_str().expect("sid"),
        ),
        ("the Basic password", "my-secret"),
        ("the Authorization header", header.as_str()),
        ("its credentials", &header["Basic ".len()..]),
        ("a Bearer token", bearer_token),
        ("a password in the query", "hunter2"),
    ] {
        assert!(
            !log.contains(secret),
            "{what} ({secret}) in the log:\n{log}"
        );
    }

    // Requests with their URL and response.
    let masked = format!("GET {base}/hi?foo=x&password=********");
    assert!(
        lines.iter().any(|l| l.message == masked),
        "no line {masked:?} in:\n{log}"
    );
    assert!(
        lines.iter().any(|l| l.message == "Logged in as: alice"),
        "no login line in:\n{log}"
    );
    // Request ids: every line of a request carries it, as its response header does.
    let hi_lines = request_lines(&lines, &masked);
    assert!(hi_lines.len() >= 2, "{hi_lines:?}");
    for line in &hi_lines {
        assert_eq!(line.request_id, Some(hi_id.as_str()), "{line:?}");
    }
    assert!(
        lines
            .iter()
            .all(|l| (l.context == "MainThread") == l.request_id.is_none()),
        "a request line without its id, or a MainThread line with one:\n{log}"
    );

    // Context tags: the first two requests share a session, hence a tag; after login another.
    let tag_of = |request: &str| {
        let request_lines = request_lines(&lines, request);
        let last = request_lines.last().expect("a response line");
        last.tag
            .unwrap_or_else(|| panic!("no session tag on {request:?}: {last:?}"))
            .to_owned()
    };
    let tag = tag_of(&format!("GET {base}/"));
    assert_eq!(tag_of(&format!("GET {base}/?foo=x")), tag);
    let after_login = tag_of(&format!("GET {base}/?foo=y"));
    assert_ne!(after_login, tag, "the tag did not change with the id");
    // Issue #17 (F4): the demos' `/` takes its `Log` before its `Session`; the line it writes
    // once the session is loaded carries the session's tag all the same.
    for (request, counter, expected) in [
        (format!("GET {base}/?foo=x"), "counter = 1", &tag),
        (format!("GET {base}/?foo=y"), "counter = 2", &after_login),
    ] {
        let line = request_lines(&lines, &request)
            .into_iter()
            .find(|l| l.message == counter)
            .unwrap_or_else(|| panic!("no {counter:?} line for {request:?} in:\n{log}"));
        assert_eq!(
            line.tag,
            Some(expected.as_str()),
            "a Log taken before the Session: {line:?}"
        );
    }
    for sid in [&first["sid"], &third["sid"]] {
        let sid = sid.as_str().expect("sid");
        assert!(
            !sid.contains(&tag) && !sid.contains(&after_login),
            "tag from the id"
        );
    }
    assert!(lines
        .iter()
        .all(|l| l.context == "MainThread" || l.context.starts_with("127.0.0.1-")));
    assert!(lines.iter().any(|l| l.level == "INFO"));
}

// --- security review (#16) -----------------------------------------------------------------------

/// The headers a browser sends for a form posted from `https://evil.example`.
const CROSS_SITE: [(&str, &str); 2] = [
    ("sec-fetch-site", "cross-site"),
    ("origin", "https://evil.example"),
];

/// Adds `headers` to `request`.
fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// CSRF covers every unsafe request, cookie or not (security review #1, #2, #15): a
/// cross-site login (login CSRF), a cross-site write without a session (session swap), cached
/// Basic credentials, a sibling subdomain (`same-site`), a `null` origin and Rocket's
/// `_method=get` rewrite are refused with 403 and set no cookie; the request's own origin and
/// header-less clients go through.
pub async fn csrf_every_unsafe_request(server: &Server) {
    let client = bare();
    let login_form = [("username", "alice"), ("password", "my-secret")];
    let refused = |response: Response, what: &str| {
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        assert!(set_cookie(&response).is_none(), "{what}: a cookie was set");
    };
    let login = with_headers(client.post(server.url("/login")), &CROSS_SITE).form(&login_form);
    refused(send(login).await, "cross-site login without a cookie");
    let swap = with_headers(client.post(server.url("/set")), &CROSS_SITE)
        .form(&[("key", "planted"), ("value", "by-evil")]);
    refused(send(swap).await, "cross-site write without a cookie");
    let basic = with_headers(client.post(server.url("/set")), &CROSS_SITE)
        .basic_auth("alice", Some("my-secret"))
        .form(&[("key", "k"), ("value", "v")]);
    refused(send(basic).await, "cached Basic credentials");
    // Rocket turns this POST into a GET before its fairing runs; every adapter refuses it.
    let rewritten = with_headers(client.post(server.url("/")), &CROSS_SITE)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("_method=get&foo=x");
    refused(send(rewritten).await, "POST with _method=get");

    // A sibling subdomain is same-site, and refused unless trusted; with the cookie too.
    let response = send(client.get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let sibling = [
        ("sec-fetch-site", "same-site"),
        ("origin", "http://evil.sub.example"),
    ];
    let write = with_headers(client.post(server.url("/set")), &sibling)
        .header(COOKIE, &cookie)
        .form(&[("key", "k"), ("value", "v")]);
    refused(send(write).await, "same-site sibling with the cookie");
    let write = client
        .post(server.url("/set"))
        .header("sec-fetch-site", "same-site")
        .header(COOKIE, &cookie)
        .form(&[("key", "k"), ("value", "v")]);
    refused(send(write).await, "same-site without an origin");
    let write = client
        .post(server.url("/set"))
        .header("origin", "null")
        .form(&[("key", "k"), ("value", "v")]);
    refused(send(write).await, "null origin");
    let (_, body) = index_with_cookie(server, &cookie).await;
    assert!(
        body["data"].get("k").is_none(),
        "a refused write was applied"
    );

    // The request's own origin, without fetch metadata (older browsers), and same-origin.
    let own = server.base().to_owned();
    let write = client
        .post(server.url("/set"))
        .header("origin", &own)
        .header(COOKIE, &cookie)
        .form(&[("key", "own"), ("value", "1")]);
    assert_eq!(send(write).await.status(), StatusCode::OK, "own origin");
    let login = client
        .post(server.url("/login"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", &own)
        .form(&login_form);
    assert_eq!(
        send(login).await.status(),
        StatusCode::OK,
        "same-origin login"
    );
    // curl and servers send neither header.
    let login = client.post(server.url("/login")).form(&login_form);
    let response = send(login).await;
    assert_eq!(response.status(), StatusCode::OK, "header-less login");
    assert!(set_cookie(&response).is_some());
}

/// Cookie tossing (security review #10): a well-formed cookie for an unknown session sent
/// before the real one does not hide the real session, and nothing clears the real cookie.
pub async fn cookie_tossing(server: &Server) {
    let client = bare();
    // A well-formed id of a session that no longer exists: log in, then log out.
    let response = send(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    let dead = cookie_pair(&set_cookie(&response).expect("login sets the cookie"));
    let logout = send(client.post(server.url("/logout")).header(COOKIE, &dead)).await;
    assert_eq!(logout.status(), StatusCode::OK);

    let response = send(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    let live = cookie_pair(&set_cookie(&response).expect("login sets the cookie"));
    let both = format!("{dead}; {live}");
    let response = send(client.get(server.url("/secret")).header(COOKIE, &both)).await;
    assert_eq!(response.status(), StatusCode::OK, "the live cookie is used");
    if let Some(cookie) = set_cookie(&response) {
        assert!(
            !cookie.contains("Max-Age=0"),
            "the real cookie was cleared: {cookie}"
        );
    }
    let response = send(client.get(server.url("/")).header(COOKIE, &both)).await;
    assert_eq!(response.status(), StatusCode::OK);
    if let Some(cookie) = set_cookie(&response) {
        assert_eq!(
            cookie_pair(&cookie),
            live,
            "the real session keeps its cookie"
        );
    }
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"], "alice");
}

/// Sends `head` (a request without its body) on a raw connection, waits until the server has
/// read it, and returns the connection.
async fn held_request(server: &Server, head: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let addr = server
        .base()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("a raw connection to the server");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("the request head is sent");
    // Give the server time to run the request up to the body (ordering, not a timed check).
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
}

/// The head of `GET /` with `cookie` and a 5-byte form body still to come: axum and warp load
/// the session (and take its lock) and then wait for the body.
fn held_index_head(server: &Server, cookie: &str) -> String {
    let host = server.base().trim_start_matches("http://");
    format!(
        "GET /?foo=x HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\
         Connection: close\r\n\r\n"
    )
}

/// A request that loaded the session before a concurrent login and answers after it does
/// not clear the cookie the login set (security review #11).
pub async fn write_straddling_a_login(server: &Server) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let response = send(bare().get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let mut held = held_request(server, &held_index_head(server, &cookie)).await;
    let login = send(
        bare()
            .post(server.url("/login"))
            .header(COOKIE, &cookie)
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let new = cookie_pair(&set_cookie(&login).expect("login sets the cookie"));
    assert_ne!(new, cookie);
    held.write_all(b"bar=y").await.expect("the body is sent");
    let mut answer = Vec::new();
    held.read_to_end(&mut answer)
        .await
        .expect("the held request is answered");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    // (Rocket answers `GET /` without waiting for the body, so there the answer came before
    // the login; axum and warp answer after it.)
    for line in answer.lines().filter(|l| l.starts_with("set-cookie:")) {
        assert!(
            !line.contains("max-age=0"),
            "the login's cookie is cleared: {line}"
        );
    }
    let (_, body) = index_with_cookie(server, &new).await;
    assert_eq!(body["user"], "alice");
}

/// How long `GET /wait` holds the session in [`lock_released_when_the_client_goes_away`]:
/// well past that scenario's `session_lock_timeout` (2 s), well short of a lock's 30 s lease.
pub const WAIT_MS: u64 = 10_000;

/// `session_locking = true`: a request whose client goes away while its handler holds the
/// session's lock (`GET /wait`, which waits [`WAIT_MS`] after loading the session) releases
/// the lock when the request is dropped, so the next request on the session is served rather
/// than left waiting for the handler and answered 503 (security review #21, #23).
///
/// Rocket runs each request in a task of its own that is not cancelled when the client goes
/// away, and actix-web only notices a client has gone when it writes the response: there the
/// lock is released when the handler ends (docs/ADAPTERS.md), and the scenario checks that,
/// rather than a release at once.
pub async fn lock_released_when_the_client_goes_away(cell: &mut Cell) {
    let server = cell.start().await;
    assert!(
        server.config().session.locking,
        "runs with session_locking = true"
    );
    let response = send(bare().get(server.url("/"))).await;
    let cookie = cookie_pair(&set_cookie(&response).expect("GET / sets the session cookie"));
    let host = server.base().trim_start_matches("http://").to_owned();
    let head =
        format!("GET /wait?ms={WAIT_MS} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n");
    let sent = Instant::now();
    let held = held_request(&server, &head).await;
    // The wait holds the lock once a request on the session is refused for want of it (a
    // probe that came first is served, and the wait then starts after it).
    let mut refused = false;
    for _ in 0..5 {
        let probe = send(bare().get(server.url("/")).header(COOKIE, &cookie)).await;
        match probe.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = true;
                break;
            }
            StatusCode::OK => continue,
            status => panic!("a probe on the session answered {status}"),
        }
    }
    assert!(refused, "GET /wait never held the session's lock");
    drop(held);
    if matches!(cell.adapter(), "rocket" | "actix") {
        // The handler runs on: the lock is free once its wait is over.
        tokio::time::sleep_until((sent + Duration::from_millis(WAIT_MS + 1_000)).into()).await;
    }
    let response = send(bare().get(server.url("/")).header(COOKIE, &cookie)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the request whose client went away still holds the session's lock"
    );
    let body = index_response(response).await;
    assert!(body["data"]["counter"].as_u64().is_some(), "{body}");
    server.stop().await;
}

// --- login forms for real apps (#17) -------------------------------------------------------------

/// `alice:my-secret` as `htpasswd -nbB -C 4 alice my-secret` writes it.
pub const ALICE_HTPASSWD: &str =
    "alice:$2y$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey\n";

/// Issue #17 (F6): the app's users in an htpasswd file (bcrypt), and no Basic challenge so
/// browsers show the app's login form rather than their own dialog. `/secret` answers a plain
/// 401 (no `WWW-Authenticate`); the Basic header and the `/login` form both check the file; an
/// unknown user is refused (no longer "anyone", as with no Basic user configured).
pub async fn login_form_with_htpasswd_and_no_challenge(cell: &mut Cell) {
    let dir = TempDir::new("htpasswd");
    let path = dir.path().join("users");
    std::fs::write(&path, format!("# the app's users\n{ALICE_HTPASSWD}"))
        .expect("write the htpasswd file");
    let mut config = cell.config().clone();
    for (key, value) in [
        ("auth_basic_username", ""),
        ("auth_basic_password", ""),
        (
            "auth_basic_htpasswd",
            path.to_str().expect("a UTF-8 temp path"),
        ),
        ("auth_basic_challenge", "false"),
    ] {
        config.set(key, value).expect(key);
    }
    let server = cell.start_with(config).await;

    let response = send(bare().get(server.url("/secret"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response),
        Vec::<String>::new(),
        "a 401 with a challenge pops the browser's dialog"
    );
    assert_eq!(
        text(
            send(
                bare()
                    .get(server.url("/secret"))
                    .basic_auth("alice", Some("my-secret"))
            )
            .await
        )
        .await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
    let wrong = send(
        bare()
            .get(server.url("/secret"))
            .basic_auth("alice", Some("wrong")),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&wrong), Vec::<String>::new());

    let client = jar();
    for (username, password) in [("alice", "wrong"), ("mallory", "my-secret")] {
        let (status, body) = text(
            send(
                client
                    .post(server.url("/login"))
                    .form(&[("username", username), ("password", password)]),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid username or password"),
            "login as {username}"
        );
    }
    let (status, body) = text(
        send(
            client
                .post(server.url("/login"))
                .form(&[("username", "alice"), ("password", "my-secret")]),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "Logged in as alice")
    );
    assert_eq!(
        text(send(client.get(server.url("/secret"))).await).await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
    server.stop().await;
}

// --- request ids and the tracing sink (#19) ------------------------------------------------------

/// The request id a response carries in `x-request-id` (panics naming `what` without one).
fn request_id(response: &Response, what: &str) -> String {
    let id = response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("{what}: no x-request-id on the {}", response.status()))
        .to_str()
        .unwrap_or_else(|_| panic!("{what}: x-request-id not visible ASCII"))
        .to_owned();
    assert!(
        (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()),
        "{what}: request id {id:?}"
    );
    id
}

/// Every kind of response carries a request id in `x-request-id`, each its own: a 200, the
/// router's 404, a CORS preflight (answered by the engine), a CSRF refusal (engine), a 401
/// (a guard), a 400 (parameters) and the 503 of a store that is down.
pub async fn request_id_on_every_response(cell: &mut Cell) {
    cell.fixture().make_breakable().await;
    let server = cell.start().await;
    let client = jar();
    let mut seen = BTreeSet::new();
    let mut check = |response: &Response, status: StatusCode, what: &str| {
        assert_eq!(response.status(), status, "{what}");
        let id = request_id(response, what);
        assert!(seen.insert(id.clone()), "{what}: request id {id} repeated");
    };
    let ok = send(client.get(server.url("/"))).await;
    check(&ok, StatusCode::OK, "GET /");
    let not_found = send(client.get(server.url("/nope"))).await;
    check(&not_found, StatusCode::NOT_FOUND, "GET /nope");
    let preflight = send(
        bare()
            .request(Method::OPTIONS, server.url("/set"))
            .header("origin", "https://a.example")
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    check(&preflight, preflight.status(), "a preflight");
    let refused = send(with_headers(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
        &CROSS_SITE,
    ))
    .await;
    check(&refused, StatusCode::FORBIDDEN, "a cross-site POST");
    let unauthorized = send(bare().get(server.url("/secret"))).await;
    check(&unauthorized, StatusCode::UNAUTHORIZED, "GET /secret");
    let bad = send(bare().get(server.url("/hi"))).await;
    check(&bad, StatusCode::BAD_REQUEST, "GET /hi without foo");
    cell.fixture().take_down();
    let down = send(client.get(server.url("/"))).await;
    check(
        &down,
        StatusCode::SERVICE_UNAVAILABLE,
        "GET / with the store down",
    );
    cell.fixture().bring_back().await;
}

/// `request_id_trust = false` (the default): an incoming `x-request-id` is never kept.
pub async fn request_id_untrusted(server: &Server) {
    for path in ["/", "/nope"] {
        let response = send(
            bare()
                .get(server.url(path))
                .header("x-request-id", "mine-123"),
        )
        .await;
        let id = request_id(&response, path);
        assert_ne!(id, "mine-123", "{path}: an untrusted incoming id was kept");
    }
}

/// `request_id_trust = true`: an incoming id of 1 to 128 visible ASCII characters is kept
/// (on a handled request, a 404 and a preflight); any other is replaced by a new one.
pub async fn request_id_trusted(server: &Server) {
    for path in ["/", "/nope"] {
        let response = send(
            bare()
                .get(server.url(path))
                .header("x-request-id", "mine-123"),
        )
        .await;
        assert_eq!(request_id(&response, path), "mine-123", "{path}");
    }
    let preflight = send(
        bare()
            .request(Method::OPTIONS, server.url("/set"))
            .header("origin", "https://a.example")
            .header("access-control-request-method", "POST")
            .header("x-request-id", "pre-1"),
    )
    .await;
    assert_eq!(request_id(&preflight, "a preflight"), "pre-1");
    let long = "x".repeat(129);
    let longest = "y".repeat(128);
    assert_eq!(
        request_id(
            &send(bare().get(server.url("/")).header("x-request-id", &longest)).await,
            "128 characters"
        ),
        longest
    );
    for bad in ["two words", "tab\there", long.as_str(), "caf\u{e9}"] {
        let value = reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).expect("a value");
        let response = send(bare().get(server.url("/")).header("x-request-id", value)).await;
        let id = request_id(&response, bad);
        assert_ne!(id, bad, "an invalid incoming id was kept");
    }
}

/// `log_sink = tracing`: the demo's requests reach a tracing-subscriber JSON formatter as
/// events with target `canister` inside a span per request whose `request_id` is the
/// response's `x-request-id`, with `client`, `session` (the 6-character tag), `user`,
/// `method`, `uri` and, from a valid `traceparent`, `trace_id`; the engine's events carry
/// their fields (`event`, `status`, `latency_ms`, `user`, `kind`), the handler's `Log` and
/// its own `tracing::info!` write into the span, and no session id or secret is in any of it.
pub async fn tracing_events(server: &Server) {
    let capture = crate::tracing_json();
    let client = jar();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let first = send(
        client
            .get(server.url("/?foo=x&password=hunter2"))
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01")),
    )
    .await;
    let first_id = request_id(&first, "GET /");
    let first_body = index_response(first).await;
    let sid = first_body["sid"].as_str().expect("sid").to_owned();
    let second = send(
        client
            .get(server.url("/"))
            .header("traceparent", "00-garbage"),
    )
    .await;
    let second_id = request_id(&second, "GET / again");
    let basic = send(
        bare()
            .get(server.url("/secret"))
            .basic_auth("alice", Some("my-secret")),
    )
    .await;
    assert_eq!(basic.status(), StatusCode::OK);
    let basic_id = request_id(&basic, "GET /secret");
    let bearer_token = "tok.zq9Xw3RtY7uI1oP5aS8dF2gH6jK0lL4";
    let refused = send(
        bare()
            .get(server.url("/secret"))
            .header(AUTHORIZATION, format!("Bearer {bearer_token}")),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused_id = request_id(&refused, "a refused Bearer token");
    let login = send(
        client
            .post(server.url("/login"))
            .form(&[("username", "alice"), ("password", "my-secret")]),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let login_id = request_id(&login, "POST /login");
    let after = index_response(send(client.get(server.url("/"))).await).await;
    let after_sid = after["sid"].as_str().expect("sid").to_owned();

    let events = |id: &str| {
        let events = capture.of_request(id);
        assert!(!events.is_empty(), "no JSON event of request {id}");
        events
    };
    let find = |events: &[Value], event: &str| -> Value {
        events
            .iter()
            .find(|e| e["fields"]["event"] == event)
            .cloned()
            .unwrap_or_else(|| panic!("no {event:?} event in {events:#?}"))
    };

    // The first request: its span and the engine's events.
    let first = events(&first_id);
    for event in &first {
        let span = &event["span"];
        assert_eq!(span["name"], "request", "{event}");
        assert_eq!(span["client"], "127.0.0.1", "{event}");
        assert_eq!(span["method"], "GET", "{event}");
        let uri = span["uri"].as_str().expect("a uri");
        assert!(
            uri.ends_with("/?foo=x&password=********"),
            "the span's uri is not masked: {uri}"
        );
        assert_eq!(span["trace_id"], trace, "{event}");
    }
    let request = find(&first, "request");
    assert_eq!(request["target"], "canister");
    assert_eq!(request["level"], "INFO");
    // The span holds the method and the URL; the event does not repeat them.
    assert!(request["fields"].get("method").is_none(), "{request}");
    assert!(request["fields"].get("uri").is_none(), "{request}");
    let created = find(&first, "session_created");
    let tag = created["span"]["session"]
        .as_str()
        .expect("the session tag on the span once the session exists")
        .to_owned();
    assert_eq!(tag.len(), 6, "{created}");
    assert!(!sid.contains(&tag), "the tag is a piece of the id");
    let response = find(&first, "response");
    assert_eq!(response["fields"]["status"], 200, "{response}");
    assert!(
        response["fields"]["latency_ms"].is_u64(),
        "latency_ms: {response}"
    );
    assert_eq!(response["span"]["session"], tag.as_str());
    // The handler's `Log` (slog) writes into the span ...
    let counter = first
        .iter()
        .find(|e| e["target"] == "canister::app")
        .unwrap_or_else(|| panic!("no event of the handler's Log in {first:#?}"));
    assert_eq!(counter["fields"]["message"], "counter = 0", "{counter}");
    // ... and so does its own `tracing::info!`: the handler runs inside the span.
    let counted = first
        .iter()
        .find(|e| e["target"] == "demo")
        .unwrap_or_else(|| panic!("the handler's tracing event is not in its span: {first:#?}"));
    assert_eq!(counted["fields"]["counter"], 0, "{counted}");

    // No trace id from an invalid traceparent; the same session's tag.
    let second = events(&second_id);
    assert!(
        second.iter().all(|e| e["span"].get("trace_id").is_none()),
        "{second:#?}"
    );
    // A session found makes no event of this sink: the span's `session` names it.
    assert_eq!(find(&second, "response")["span"]["session"], tag.as_str());
    assert!(
        second
            .iter()
            .all(|e| e["fields"]["event"] != "session_found"),
        "{second:#?}"
    );

    // A Basic user: a login event and the span's user.
    let basic = events(&basic_id);
    assert_eq!(find(&basic, "login")["fields"]["user"], "alice");
    assert_eq!(find(&basic, "response")["span"]["user"], "alice");
    // A refused token: a refusal at WARN.
    let refusal = find(&events(&refused_id), "refusal");
    assert_eq!(refusal["level"], "WARN");
    assert_eq!(refusal["fields"]["kind"], "auth");
    assert_eq!(
        find(&events(&refused_id), "response")["fields"]["status"],
        401
    );
    // A form login.
    let login = events(&login_id);
    assert_eq!(find(&login, "login")["fields"]["user"], "alice");

    // No session id, no secret, in any field of any of these requests.
    let header = format!("Basic {}", base64(b"alice:my-secret"));
    let all: String = [&first_id, &second_id, &basic_id, &refused_id, &login_id]
        .iter()
        .flat_map(|id| capture.of_request(id))
        .map(|e| e.to_string())
        .collect();
    for (what, secret) in [
        ("a session id", sid.as_str()),
        ("the session id after login", after_sid.as_str()),
        ("the Basic password", "my-secret"),
        ("the Basic credentials", &header["Basic ".len()..]),
        ("a Bearer token", bearer_token),
        ("a password in the query", "hunter2"),
    ] {
        assert!(!all.contains(secret), "{what} in the JSON events:\n{all}");
    }
}

// --- Tokens from an identity provider (issue #20) -------------------------------------------
//
// Each scenario starts the local provider (`crate::provider`, 127.0.0.1) serving key sets
// made by PyJWT (`canister-core/tests/data/oidc/make_oidc.py`), and the demo with the
// provider's keys fetched by canister-oidc.

use crate::provider::{self, LocalProvider, Mode};

/// `config()` + the provider's key set URL and the fixed tokens' audience and issuer.
fn oidc_config(local: &LocalProvider, extra: &[(&str, &str)]) -> Config {
    let url = local.jwks_url();
    let mut settings = vec![
        ("auth_jwt_client_id", "alice"),
        ("auth_jwt_jwks_url", url.as_str()),
        ("auth_jwt_issuer", "https://issuer.example"),
    ];
    settings.extend_from_slice(extra);
    crate::config_with(&settings)
}

/// `GET path` with `Authorization: Bearer <token>`: status and body.
async fn get_bearer(server: &Server, path: &str, token: &str) -> Response {
    send(
        bare()
            .get(server.url(path))
            .header(AUTHORIZATION, bearer(token)),
    )
    .await
}

async fn secret_as(server: &Server, token: &str) -> (StatusCode, String) {
    text(get_bearer(server, "/secret", token).await).await
}

fn carol() -> (StatusCode, String) {
    (StatusCode::OK, "You are authenticated as carol".to_owned())
}

/// Waits (30 s at most) until `/secret` accepts `token`: the refresher works on its own.
async fn until_accepted(server: &Server, token: &str) {
    for _ in 0..300 {
        if secret_as(server, token).await == carol() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the token was not accepted within 30 s");
}

/// RS256/384/512, PS256/384/512, ES256/384 and EdDSA tokens made by PyJWT verify with the
/// provider's keys, chosen by `kid`; a key's `alg` must be the token's; `oct` keys and keys
/// whose `use` is `enc` verify nothing.
pub async fn oidc_algorithms_and_key_selection(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    let server = cell.start_with(oidc_config(&local, &[])).await;
    until_accepted(&server, &provider::token("rs256")).await;
    for name in [
        "rs256", "rs384", "rs512", "ps256", "ps384", "ps512", "es256", "es384", "eddsa",
    ] {
        assert_eq!(
            secret_as(&server, &provider::token(name)).await,
            carol(),
            "{name}"
        );
    }
    for (name, reason) in [
        (
            "rs384_on_rs256_key",
            "algorithm does not match the key (kid)",
        ),
        ("rs256_enc_key", "unknown key id (kid)"),
        ("hs256_oct_key", "algorithm HS256 is not accepted"),
        ("rs256_forged_kid", "bad signature"),
        ("rs256_wrong_issuer", "wrong issuer (iss)"),
    ] {
        let response = get_bearer(&server, "/secret", &provider::token(name)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        let challenges = challenges(&response);
        assert!(
            challenges.iter().any(|c| c.contains(reason)),
            "{name}: {challenges:?}"
        );
    }
    server.stop().await;
}

/// `auth_oidc_issuer`: discovery gives the key set, and every token's `iss` must be the
/// issuer (tokens minted here for the provider's run-time URL, with the PyJWT-made key).
pub async fn oidc_discovery_and_issuer(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    let config = crate::config_with(&[
        ("auth_jwt_client_id", "alice"),
        ("auth_oidc_issuer", local.issuer()),
    ]);
    let server = cell.start_with(config).await;
    let token = minted(local.issuer(), "rsa-a");
    until_accepted(&server, &token).await;
    let response = get_bearer(&server, "/secret", &provider::token("rs256")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenges(&response)
            .iter()
            .any(|c| c.contains("wrong issuer (iss)")),
        "{:?}",
        challenges(&response)
    );
    server.stop().await;
}

/// A rotation at the provider: the first token with the new `kid` causes one fetch and
/// passes; many tokens with unknown kids within 10 s cause no further fetch; the old key is
/// gone.
pub async fn oidc_rotation(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    let server = cell.start_with(oidc_config(&local, &[])).await;
    until_accepted(&server, &provider::token("rs256")).await;
    let before = local.jwks_fetches();
    local.set_jwks(provider::JWKS_B);
    assert_eq!(
        secret_as(&server, &provider::token("rs256_rotated")).await,
        carol()
    );
    assert_eq!(local.jwks_fetches(), before + 1);
    let unknown = provider::token("rs256_unknown_kid");
    for _ in 0..20 {
        let response = get_bearer(&server, "/secret", &unknown).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        local.jwks_fetches(),
        before + 1,
        "one fetch per 10 s at most"
    );
    let response = get_bearer(&server, "/secret", &provider::token("rs256")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Waits (30 s at most) until the provider's key set was fetched more than `before` times,
/// sending no request to the server meanwhile: the fetch is the refresher's own.
async fn until_fetched_again(local: &LocalProvider, before: usize, why: &str) {
    for _ in 0..300 {
        if local.jwks_fetches() > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the key set was not fetched again within 30 s: {why}");
}

/// Periodic refresh (`auth_jwt_jwks_refresh`, here its minimum, 10 s; or a shorter
/// `Cache-Control: max-age` from the provider): the provider drops the key a token names, and
/// the refresher fetches the set again on its own, with no request asking (a known `kid`
/// never does), after which that token is refused.
async fn periodic_refresh(
    cell: &mut Cell,
    local: &LocalProvider,
    extra: &[(&str, &str)],
    why: &str,
) {
    let server = cell.start_with(oidc_config(local, extra)).await;
    let old = provider::token("rs256");
    until_accepted(&server, &old).await;
    let before = local.jwks_fetches();
    // Key set B: rsa-a, the key of `old`, is gone.
    local.set_jwks(provider::JWKS_B);
    until_fetched_again(local, before, why).await;
    let response = get_bearer(&server, "/secret", &old).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenges = challenges(&response);
    assert!(
        challenges
            .iter()
            .any(|c| c.contains("unknown key id (kid)")),
        "{why}: {challenges:?}"
    );
    assert_eq!(
        secret_as(&server, &provider::token("rs256_rotated")).await,
        carol(),
        "{why}"
    );
    server.stop().await;
}

/// The key set is fetched again every `auth_jwt_jwks_refresh` seconds.
pub async fn oidc_periodic_refresh(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    periodic_refresh(
        cell,
        &local,
        &[("auth_jwt_jwks_refresh", "10")],
        "auth_jwt_jwks_refresh = 10",
    )
    .await;
}

/// A `Cache-Control: max-age` shorter than `auth_jwt_jwks_refresh` (default 600 s) wins.
pub async fn oidc_cache_control_max_age(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    local.set_cache_control("public, max-age=10");
    periodic_refresh(cell, &local, &[], "Cache-Control: max-age=10").await;
}

/// The provider goes down (503, then garbage): the last good keys keep serving.
pub async fn oidc_provider_down_keeps_the_last_good_keys(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    let server = cell.start_with(oidc_config(&local, &[])).await;
    until_accepted(&server, &provider::token("es256")).await;
    let before = local.jwks_fetches();
    for mode in [Mode::Down, Mode::Garbage] {
        local.set_mode(mode);
        // Forces a fetch (the first time; then rate-limited), which fails.
        let response = get_bearer(&server, "/secret", &provider::token("rs256_unknown_kid")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{mode:?}");
        assert_eq!(
            secret_as(&server, &provider::token("es256")).await,
            carol(),
            "{mode:?}"
        );
    }
    // No key set was served while down.
    assert_eq!(local.jwks_fetches(), before);
    local.set_mode(Mode::Up);
    server.stop().await;
}

/// No key ever fetched (the provider is down at start-up): a Bearer request gets 503 with
/// `Retry-After`, a request without a token is not affected, and service returns by itself.
pub async fn oidc_no_key_is_503_then_recovers(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    local.set_mode(Mode::Down);
    let server = cell.start_with(oidc_config(&local, &[])).await;
    let response = get_bearer(&server, "/secret", &provider::token("rs256")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "10");
    let response = send(bare().get(server.url("/secret"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    local.set_mode(Mode::Up);
    until_accepted(&server, &provider::token("rs256")).await;
    server.stop().await;
}

/// `auth_jwt_cookie`: the token in that cookie when there is no `Authorization` header.
pub async fn oidc_token_from_a_cookie(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    let server = cell
        .start_with(oidc_config(&local, &[("auth_jwt_cookie", "access_token")]))
        .await;
    until_accepted(&server, &provider::token("es256")).await;
    let with_cookie = |name: &str| {
        bare().get(server.url("/secret")).header(
            COOKIE,
            format!("theme=dark; access_token={}", provider::token(name)),
        )
    };
    assert_eq!(text(send(with_cookie("eddsa")).await).await, carol());
    let response = send(with_cookie("rs256_expired")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// A route requiring a scope: 200 with it (`scope` or `scp`), 403 with
/// `WWW-Authenticate: Bearer error="insufficient_scope"` without it, 401 without a token.
pub async fn oidc_scope_required(cell: &mut Cell) {
    let local = LocalProvider::start(provider::JWKS_A).await;
    let server = cell.start_with(oidc_config(&local, &[])).await;
    until_accepted(&server, &provider::token("rs256")).await;
    for name in ["rs256_orders_read", "es256_scp_orders_read"] {
        let response = get_bearer(&server, "/orders", &provider::token(name)).await;
        assert_eq!(
            text(response).await,
            (StatusCode::OK, "Orders of carol".to_owned()),
            "{name}"
        );
    }
    let response = get_bearer(&server, "/orders", &provider::token("rs256")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenges(&response),
        [r#"Bearer error="insufficient_scope", scope="orders:read""#]
    );
    let response = send(bare().get(server.url("/orders"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// `auth_jwt_secret_previous`: a token signed with the previous HS secret still verifies
/// (the PyJWT HS256 token, signed with `secret`).
pub async fn jwt_previous_secret(server: &Server) {
    assert_eq!(
        server
            .config()
            .auth
            .jwt
            .secret_previous
            .as_ref()
            .map(|s| s.expose()),
        Some("secret")
    );
    assert_eq!(secret_as(server, &token("hs256")).await, carol());
}

/// [`jwt_config`] with a new secret and canister's `secret` as the previous one.
pub fn jwt_rotated_config() -> Config {
    crate::config_with(&[
        ("auth_jwt_client_id", "alice"),
        ("auth_jwt_secret", "a-new-secret-after-rotation"),
        ("auth_jwt_secret_previous", "secret"),
    ])
}

/// An RS256 token for `issuer`, signed with the PyJWT-made key `rsa-a`.
fn minted(issuer: &str, kid: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
        "../../canister-core/tests/data/oidc/rsa_a_private.pem"
    ))
    .expect("the test key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let claims = serde_json::json!({"sub": "carol", "aud": "alice", "iss": issuer, "exp": exp});
    jsonwebtoken::encode(&header, &claims, &key).expect("a token")
}

// --- Session lifecycle (issue #22) --------------------------------------------------------------

/// Logs `client` in as alice (`remember`: with the demo's `remember` field); the `Set-Cookie`.
async fn login_alice(client: &Client, server: &Server, remember: bool) -> String {
    let mut form = vec![("username", "alice"), ("password", "my-secret")];
    if remember {
        form.push(("remember", "1"));
    }
    let response = send(client.post(server.url("/login")).form(&form)).await;
    let cookie = set_cookie(&response).expect("login sets a cookie");
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "Logged in as alice".to_owned())
    );
    cookie
}

/// The `Max-Age` of a `Set-Cookie`, if any.
fn max_age(set_cookie: &str) -> Option<u64> {
    set_cookie.split(';').find_map(|a| {
        let (name, value) = a.trim().split_once('=')?;
        name.eq_ignore_ascii_case("max-age")
            .then(|| value.parse().expect("a numeric Max-Age"))
    })
}

/// `session_max_lifetime`: a session busy every minute still ends that long after its login
/// (on the test clock), and its cookie then finds nothing.
pub async fn max_lifetime(cell: &mut Cell) {
    assert_eq!(
        cell.config().session.max_lifetime,
        Some(Duration::from_secs(300)),
        "the list gives this scenario session_max_lifetime = 300"
    );
    let clock = cell.use_test_clock();
    let server = cell.start().await;
    let client = bare();
    let cookie = cookie_pair(&login_alice(&client, &server, false).await);
    let (_, first) = index_with_cookie(&server, &cookie).await;
    assert_eq!(first["user"], "alice");
    for minute in 1..=4 {
        clock.advance(Duration::from_secs(60));
        let (_, body) = index_with_cookie(&server, &cookie).await;
        assert_eq!(
            body["user"], "alice",
            "minute {minute}: the session ended early"
        );
        assert_eq!(body["sid"], first["sid"]);
    }
    clock.advance(Duration::from_secs(60));
    let (replaced, body) = index_with_cookie(&server, &cookie).await;
    assert_eq!(body["user"], Value::Null, "alive past session_max_lifetime");
    assert_ne!(body["sid"], first["sid"]);
    assert!(replaced.is_some(), "a new session gets a new cookie");
    server.stop().await;
}

/// Remember-me: a login with `remember=1` gets a persistent cookie whose `Max-Age` is
/// `session_remember_timeout` (re-sent as it slides); a plain login, and an anonymous session,
/// a browser-session cookie (no `Max-Age`, no `Expires`).
pub async fn remember_me(server: &Server) {
    assert_eq!(
        server.config().session.remember_timeout,
        Duration::from_secs(30 * 86_400),
        "runs with the default session_remember_timeout"
    );
    let anonymous = set_cookie(&send(bare().get(server.url("/"))).await).expect("a cookie");
    assert_eq!(max_age(&anonymous), None, "{anonymous}");
    assert!(
        !anonymous.to_ascii_lowercase().contains("expires"),
        "{anonymous}"
    );

    let plain = login_alice(&bare(), server, false).await;
    assert_eq!(
        max_age(&plain),
        None,
        "a plain login is persistent: {plain}"
    );

    let client = bare();
    let remembered = login_alice(&client, server, true).await;
    assert_eq!(max_age(&remembered), Some(30 * 86_400), "{remembered}");
    let (resent, body) = index_with_cookie(server, &cookie_pair(&remembered)).await;
    assert_eq!(body["user"], "alice");
    let resent = resent.expect("a remembered cookie is re-sent so its Max-Age slides");
    assert_eq!(cookie_pair(&resent), cookie_pair(&remembered));
    assert_eq!(max_age(&resent), Some(30 * 86_400));
    // Logging out forgets it: the next session's cookie is a browser-session one again.
    let response = send(
        client
            .post(server.url("/logout"))
            .header(COOKIE, cookie_pair(&remembered)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Cheaper sliding expiry: a browser-session cookie is sent when its id is new, and not again
/// on later responses (reads or writes) while the id stays the same.
pub async fn no_resent_cookie(server: &Server) {
    let client = bare();
    let issued = set_cookie(&send(client.get(server.url("/"))).await).expect("a new session");
    let cookie = cookie_pair(&issued);
    for visit in 1..=3 {
        let (resent, body) = index_with_cookie(server, &cookie).await;
        assert_eq!(body["data"]["counter"], visit);
        assert_eq!(resent, None, "visit {visit} re-sent the unchanged cookie");
    }
    // Read-only with the session loaded: /secret after a login.
    let login = cookie_pair(&login_alice(&client, server, false).await);
    let response = send(client.get(server.url("/secret")).header(COOKIE, &login)).await;
    assert_eq!(set_cookie(&response), None);
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "You are authenticated as alice".to_owned())
    );
}

/// `session_cookie_partitioned = true`: the cookie carries `Partitioned`.
pub async fn partitioned_cookie(server: &Server) {
    assert!(server.config().cookie.partitioned);
    let cookie = set_cookie(&send(bare().get(server.url("/"))).await).expect("a cookie");
    assert!(
        cookie.split(';').any(|a| a.trim() == "Partitioned"),
        "{cookie}"
    );
}

/// A `__Host-` cookie name: start-up fails naming the key and what is missing unless the
/// cookie is `Secure` always, with `Path=/` and no `Domain`; then it is served.
pub async fn host_prefix(cell: &mut Cell) {
    let with = |pairs: &[(&str, &str)]| {
        let mut config = crate::config();
        for (key, value) in pairs {
            config.set(key, value).expect("each value is valid alone");
        }
        config
    };
    for (pairs, needed) in [
        (
            &[("session_cookie", "__Host-sid")][..],
            "session_cookie_secure = true",
        ),
        (
            &[
                ("session_cookie", "__Host-sid"),
                ("session_cookie_secure", "true"),
                ("session_cookie_path", "/app"),
            ][..],
            "session_cookie_path = /",
        ),
        (
            &[
                ("session_cookie", "__Host-sid"),
                ("session_cookie_secure", "true"),
                ("session_cookie_domain", "example.com"),
            ][..],
            "no session_cookie_domain",
        ),
    ] {
        let refusal = cell.start_refused(with(pairs)).await;
        assert!(
            refusal.contains("session_cookie") && refusal.contains(needed),
            "{pairs:?}: {refusal}"
        );
    }
    let server = cell
        .start_with(with(&[
            ("session_cookie", "__Host-sid"),
            ("session_cookie_secure", "true"),
        ]))
        .await;
    let cookie = set_cookie(&send(bare().get(server.url("/"))).await).expect("a cookie");
    assert!(cookie.starts_with("__Host-sid="), "{cookie}");
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    assert!(cookie.split(';').any(|a| a.trim() == "Path=/"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
    server.stop().await;
}

/// `GET /sessions` of `cookie`: status and JSON.
async fn list_sessions(server: &Server, cookie: &str) -> (StatusCode, Value) {
    let response = send(bare().get(server.url("/sessions")).header(COOKIE, cookie)).await;
    let status = response.status();
    if status != StatusCode::OK {
        return (status, Value::Null);
    }
    (
        status,
        response.json().await.expect("JSON from GET /sessions"),
    )
}

/// The user of the session `cookie` names, as `GET /` shows it.
async fn user_of(server: &Server, cookie: &str) -> Value {
    index_with_cookie(server, cookie).await.1["user"].clone()
}

/// `GET /sessions` lists the user's live sessions (tag, created, last seen, current);
/// `POST /sessions/revoke-others` ends the others; both 401 without a session user.
pub async fn user_sessions(cell: &mut Cell) {
    // Logins a second apart on the test clock: "oldest first" is unambiguous.
    let clock = cell.use_test_clock();
    let owned = cell.start().await;
    let server = &owned;
    for (method, path) in [
        (Method::GET, "/sessions"),
        (Method::POST, "/sessions/revoke-others"),
    ] {
        let response = send(bare().request(method.clone(), server.url(path))).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(challenges(&response), [BASIC_CHALLENGE], "{method} {path}");
    }
    // An anonymous session is not a user's either.
    let anonymous = cookie_pair(
        &set_cookie(&send(bare().get(server.url("/"))).await).expect("GET / sets a cookie"),
    );
    assert_eq!(
        list_sessions(server, &anonymous).await.0,
        StatusCode::UNAUTHORIZED
    );

    let first = cookie_pair(&login_alice(&bare(), server, false).await);
    clock.advance(Duration::from_secs(1));
    let second = cookie_pair(&login_alice(&bare(), server, false).await);
    let (status, body) = list_sessions(server, &second).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = body["sessions"].as_array().expect("a list");
    assert_eq!(sessions.len(), 2, "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    for session in sessions {
        let tag = session["tag"].as_str().expect("a tag");
        assert_eq!(tag.len(), 6, "{session}");
        assert!(
            !first.contains(tag) && !second.contains(tag),
            "the tag is not the id"
        );
        for field in ["created", "last_seen"] {
            let t = session[field].as_u64().expect("Unix seconds");
            assert!(t + 3600 > now && t <= now + 5, "{field}: {session}");
        }
    }
    let current: Vec<bool> = sessions.iter().map(|s| s["current"] == true).collect();
    assert_eq!(
        current,
        [false, true],
        "oldest first, this one current: {body}"
    );

    let response = send(
        bare()
            .post(server.url("/sessions/revoke-others"))
            .header(COOKIE, &second),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let revoked: Value = response.json().await.expect("JSON");
    assert_eq!(revoked, serde_json::json!({ "revoked": 1 }));
    assert_eq!(
        user_of(server, &first).await,
        Value::Null,
        "the other one ended"
    );
    assert_eq!(user_of(server, &second).await, "alice", "this one stays");
    let (_, body) = list_sessions(server, &second).await;
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(1), "{body}");
    owned.stop().await;
}

/// Two servers of `cell` on one store when it is Redis (instances share sessions only
/// through it); on a memory cell, one server and `None`, so the "other instance" is the same.
async fn two_instances(cell: &mut Cell) -> (Server, Option<Server>) {
    let shared = matches!(cell.fixture().store(), crate::Store::Redis { .. });
    let one = cell.start().await;
    let two = if shared {
        Some(cell.start().await)
    } else {
        None
    };
    (one, two)
}

/// Revoke-others across two instances on one store: sessions made on one instance are ended
/// from the other. (Two instances share sessions only through Redis: a memory cell runs both
/// "instances" on one server.)
pub async fn revoke_others_across_instances(cell: &mut Cell) {
    let (one, two) = two_instances(cell).await;
    let other = two.as_ref().unwrap_or(&one);
    let on_one = cookie_pair(&login_alice(&bare(), &one, false).await);
    let on_two = cookie_pair(&login_alice(&bare(), other, false).await);
    let (_, body) = list_sessions(&one, &on_one).await;
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(2), "{body}");
    let response = send(
        bare()
            .post(other.url("/sessions/revoke-others"))
            .header(COOKIE, &on_two),
    )
    .await;
    let revoked: Value = response.json().await.expect("JSON");
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(user_of(&one, &on_one).await, Value::Null);
    assert_eq!(user_of(&one, &on_two).await, "alice");
    if let Some(two) = two {
        two.stop().await;
    }
    one.stop().await;
}

/// `session_max_per_user = 2`: a third login ends the oldest session of the user.
pub async fn max_per_user(cell: &mut Cell) {
    assert_eq!(
        cell.config().session.max_per_user,
        2,
        "the list sets the cap"
    );
    let clock = cell.use_test_clock();
    let server = cell.start().await;
    let mut cookies = Vec::new();
    for _ in 0..3 {
        cookies.push(cookie_pair(&login_alice(&bare(), &server, false).await));
        // Logins a second apart: "oldest" is unambiguous.
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(
        user_of(&server, &cookies[0]).await,
        Value::Null,
        "the oldest ended"
    );
    assert_eq!(user_of(&server, &cookies[1]).await, "alice");
    assert_eq!(user_of(&server, &cookies[2]).await, "alice");
    let (_, body) = list_sessions(&server, &cookies[2]).await;
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(2), "{body}");
    server.stop().await;
}

/// A login attempt as `name` with a wrong password: by Basic header on `/secret`, or by
/// the login form.
async fn wrong_login(server: &Server, name: &str, by_header: bool, from: &str) -> Response {
    attempt(server, name, "not-the-password", by_header, from).await
}

/// A login attempt as `name` with `password`, from the client address `from` (sent as
/// `X-Forwarded-For`; it counts only with `log_trust_proxy`).
async fn attempt(
    server: &Server,
    name: &str,
    password: &str,
    by_header: bool,
    from: &str,
) -> Response {
    let request = if by_header {
        bare()
            .get(server.url("/secret"))
            .basic_auth(name, Some(password))
    } else {
        bare()
            .post(server.url("/login"))
            .form(&[("username", name), ("password", password)])
    };
    send(request.header("x-forwarded-for", from)).await
}

/// Asserts a 429 with a `Retry-After` of 1 to `window` seconds; returns it.
fn assert_throttled(response: &Response, window: u64, what: &str) -> u64 {
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: not throttled"
    );
    let wait: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After in seconds"));
    assert!((1..=window).contains(&wait), "{what}: Retry-After {wait}");
    wait
}

/// `auth_throttle = 3/60`: three wrong passwords for alice (Basic and form alike) are
/// checked and refused; the next attempt is a 429 with `Retry-After`, even with the right
/// password, by header and by form; another user name is not affected. When the window
/// has passed (test clock), alice logs in again, and a success does not count: only
/// failures use up the limit.
pub async fn throttle_per_user(cell: &mut Cell) {
    let limit = cell
        .config()
        .auth
        .throttle
        .expect("the list sets auth_throttle");
    assert_eq!(
        limit.to_string(),
        "3/60",
        "the list sets auth_throttle = 3/60"
    );
    let clock = cell.use_test_clock();
    let server = cell.start().await;
    let ip = "192.0.2.1";
    for (n, by_header) in [true, false, true].into_iter().enumerate() {
        let response = wrong_login(&server, "alice", by_header, ip).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "failure {n}");
    }
    let right = attempt(&server, "alice", "my-secret", true, ip).await;
    assert_throttled(&right, 60, "the right password by header");
    let right = attempt(&server, "alice", "my-secret", false, ip).await;
    assert_throttled(&right, 60, "the right password by form");
    let bob = wrong_login(&server, "bob", true, ip).await;
    assert_eq!(bob.status(), StatusCode::UNAUTHORIZED, "bob is not alice");

    clock.advance(Duration::from_secs(61));
    for n in 0..2 {
        let response = wrong_login(&server, "alice", false, ip).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "new window {n}"
        );
    }
    for n in 0..4 {
        let response = attempt(&server, "alice", "my-secret", true, ip).await;
        assert_eq!(response.status(), StatusCode::OK, "success {n}");
    }
    // Two failures so far in this window, whatever the successes: a third is checked.
    let third = wrong_login(&server, "alice", true, ip).await;
    assert_eq!(
        third.status(),
        StatusCode::UNAUTHORIZED,
        "successes counted"
    );
    let fourth = attempt(&server, "alice", "my-secret", false, ip).await;
    assert_throttled(&fourth, 60, "after the third failure of the new window");
    server.stop().await;
}

/// `auth_throttle_ip = 2/60` (with `log_trust_proxy = 1`): two failures from one address,
/// under any names, and that address's next attempt is a 429, whatever the name and
/// password; another address logs in.
pub async fn throttle_per_ip(server: &Server) {
    let limit = server
        .config()
        .auth
        .throttle_ip
        .expect("the list sets auth_throttle_ip");
    assert_eq!(limit.to_string(), "2/60");
    let (one, two) = ("192.0.2.1", "198.51.100.2");
    let first = wrong_login(server, "mallory", true, one).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let second = wrong_login(server, "eve", false, one).await;
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    let third = attempt(server, "alice", "my-secret", false, one).await;
    assert_throttled(&third, 60, "a third name from the same address");
    let elsewhere = attempt(server, "alice", "my-secret", false, two).await;
    assert_eq!(
        text(elsewhere).await,
        (StatusCode::OK, "Logged in as alice".to_owned())
    );
}

/// `auth_throttle = 2/60`: the counters live in the store. On Redis, failures on one
/// instance throttle the next attempt on another; parallel attempts get no more checks than
/// the limit allows (each attempt is counted before its password is checked).
pub async fn throttle_across_instances(cell: &mut Cell) {
    let (one, two) = two_instances(cell).await;
    let other = two.as_ref().unwrap_or(&one);
    let ip = "192.0.2.1";
    // Eight wrong passwords at once for carol: two are checked (401), six throttled.
    let attempts = (0..8).map(|n| {
        let server = if n % 2 == 0 { &one } else { other };
        wrong_login(server, "carol", n % 3 == 0, ip)
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(Response::status)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, throttled), (2, 6), "{statuses:?}");
    // Sequentially, across instances: two failures on one, then the other refuses alice.
    for n in 0..2 {
        let response = wrong_login(&one, "alice", true, ip).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "failure {n}");
    }
    let right = attempt(other, "alice", "my-secret", true, ip).await;
    assert_throttled(&right, 60, "the other instance");
    if let Some(two) = two {
        two.stop().await;
    }
    one.stop().await;
}

/// With login throttling on and the store down, a login gets 503 (the attempt cannot be
/// counted, so it is not checked), never a 401 or a success; service returns with the store.
pub async fn throttle_store_down(cell: &mut Cell) {
    cell.fixture().make_breakable().await;
    let server = cell.start().await;
    cell.fixture().take_down();
    for by_header in [true, false] {
        let response = attempt(&server, "alice", "my-secret", by_header, "192.0.2.1").await;
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "by header: {by_header}"
        );
    }
    cell.fixture().bring_back().await;
    // Redis restarting takes a moment to answer scripts again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = attempt(&server, "alice", "my-secret", true, "192.0.2.1").await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}
