//! The demo and the adapter's seams, driven in-process with Rocket's tracked local client.
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../examples/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use canister_core::session::FaultyStore;
use canister_core::{Canister, Config};
use canister_rocket::{CanisterFairing, Log, Session, User};
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{get, options, post, routes, Build, Rocket, State};
use serde_json::Value;

const BASIC: &str = "auth_basic_username = alice\nauth_basic_password = my-secret\n";
const JWT: &str = "auth_jwt_client_id = demo\nauth_jwt_secret = s3cret\n";
const ALICE: &str = "Basic YWxpY2U6bXktc2VjcmV0"; // alice:my-secret

/// How many times the probe handlers ran.
struct Hits(AtomicUsize);

#[post("/probe")]
fn probe(hits: &State<Hits>) -> &'static str {
    hits.0.fetch_add(1, Ordering::SeqCst);
    "probed"
}

#[options("/probe")]
fn probe_options(hits: &State<Hits>) -> &'static str {
    hits.0.fetch_add(1, Ordering::SeqCst);
    "probed"
}

#[get("/boom")]
fn boom() -> &'static str {
    panic!("the handler failed")
}

#[get("/log")]
fn log(log: Log) -> &'static str {
    slog::info!(log, "from the handler");
    "logged"
}

fn canister(ini: &str) -> Canister {
    let config = Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{ini}")).unwrap();
    Canister::from_config(config).unwrap()
}

fn quiet() -> rocket::Config {
    demo::quiet_config(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn app(ini: &str) -> Rocket<Build> {
    demo::app(canister(ini), quiet())
        .mount("/", routes![probe, probe_options, boom, log])
        .manage(Hits(AtomicUsize::new(0)))
}

async fn client(ini: &str) -> Client {
    Client::tracked(app(ini)).await.unwrap()
}

fn hits(client: &Client) -> usize {
    client
        .rocket()
        .state::<Hits>()
        .unwrap()
        .0
        .load(Ordering::SeqCst)
}

fn set_cookie(response: &LocalResponse<'_>) -> Option<String> {
    response.headers().get_one("Set-Cookie").map(str::to_owned)
}

async fn json(response: LocalResponse<'_>) -> Value {
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    serde_json::from_str(&response.into_string().await.unwrap()).unwrap()
}

async fn text(response: LocalResponse<'_>) -> (Status, String) {
    (response.status(), response.into_string().await.unwrap())
}

#[rocket::async_test]
async fn counter_counts_in_the_session_cookie() {
    let client = client("").await;
    let first = client.get("/").dispatch().await;
    assert!(set_cookie(&first).is_some());
    let first = json(first).await;
    assert_eq!(first["data"]["counter"], 0);
    assert_eq!(first["user"], Value::Null);
    assert_eq!(first["claims"], Value::Null);
    assert_eq!(first["foo"], Value::Null);
    let second = json(client.get("/?foo=bar%20baz").dispatch().await).await;
    assert_eq!(second["data"]["counter"], 1);
    assert_eq!(second["sid"], first["sid"]);
    assert_eq!(second["foo"], "bar baz");
}

#[rocket::async_test]
async fn cookie_has_the_configured_attributes() {
    let client = client("").await;
    let response = client.get("/").dispatch().await;
    let cookie = set_cookie(&response).unwrap();
    let sid = json(response).await["sid"].as_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("session_id={sid};")),
        "{cookie}"
    );
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    // A browser-session cookie by default (issue #22).
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[rocket::async_test]
async fn sessions_are_lazy() {
    let client = client(BASIC).await;
    let response = client.get("/hi?foo=John").dispatch().await;
    assert!(set_cookie(&response).is_none());
    let response = client.get("/secret").dispatch().await;
    assert!(set_cookie(&response).is_none());
    let response = client
        .get("/secret")
        .header(Header::new("Authorization", ALICE))
        .dispatch()
        .await;
    assert!(set_cookie(&response).is_none());
    assert_eq!(response.status(), Status::Ok);
}

#[rocket::async_test]
async fn hi_reads_query_form_and_multipart() {
    let client = client("").await;
    let get = |uri: &'static str| client.get(uri).dispatch();
    assert_eq!(
        text(get("/hi?foo=John&bar=Smith").await).await,
        (Status::Ok, "Hi John and Smith!".to_owned())
    );
    assert_eq!(
        text(get("/hi?foo=John").await).await,
        (Status::Ok, "Hi John!".to_owned())
    );
    assert_eq!(
        text(get("/hi?foo=John&bar=").await).await,
        (Status::Ok, "Hi John!".to_owned())
    );
    let form = client
        .post("/hi")
        .header(ContentType::Form)
        .body("foo=Ann&bar=Lee")
        .dispatch()
        .await;
    assert_eq!(form.content_type(), Some(ContentType::Plain));
    assert_eq!(text(form).await, (Status::Ok, "Hi Ann and Lee!".to_owned()));
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nMia\r\n--XyZ--\r\n";
    let multipart = client
        .post("/hi")
        .header(Header::new(
            "Content-Type",
            "multipart/form-data; boundary=XyZ",
        ))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(text(multipart).await, (Status::Ok, "Hi Mia!".to_owned()));
}

#[rocket::async_test]
async fn missing_parameter_is_the_cores_400() {
    let client = client("").await;
    for response in [
        client.get("/hi?bar=Smith").dispatch().await,
        client
            .post("/hi")
            .header(ContentType::Form)
            .body("bar=Smith")
            .dispatch()
            .await,
    ] {
        assert_eq!(response.content_type(), Some(ContentType::Plain));
        assert_eq!(
            text(response).await,
            (Status::BadRequest, "missing parameter 'foo'\n".to_owned())
        );
    }
}

#[rocket::async_test]
async fn secret_challenges_every_configured_scheme() {
    let client = client(&format!("{BASIC}{JWT}")).await;
    let response = client.get("/secret").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenges: Vec<&str> = response.headers().get("WWW-Authenticate").collect();
    assert_eq!(
        challenges,
        [
            r#"Basic realm="private", charset="UTF-8""#,
            r#"Bearer realm="private""#
        ]
    );
    assert_eq!(
        response.into_string().await.unwrap(),
        "authentication required\n"
    );
    let response = client
        .get("/secret")
        .header(Header::new("Authorization", "Bearer not.a.token"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenges: Vec<&str> = response.headers().get("WWW-Authenticate").collect();
    assert_eq!(challenges.len(), 2);
    assert!(challenges[1].starts_with(r#"Bearer realm="private", error="invalid_token""#));
}

#[rocket::async_test]
async fn secret_with_basic_credentials() {
    let client = client(BASIC).await;
    let response = client
        .get("/secret")
        .header(Header::new("Authorization", ALICE))
        .dispatch()
        .await;
    assert_eq!(
        text(response).await,
        (Status::Ok, "You are authenticated as alice".to_owned())
    );
    let wrong = client
        .get("/secret")
        .header(Header::new("Authorization", "Basic YWxpY2U6bm8="))
        .dispatch()
        .await;
    assert_eq!(wrong.status(), Status::Unauthorized);
    let shown = json(
        client
            .get("/")
            .header(Header::new("Authorization", ALICE))
            .dispatch()
            .await,
    )
    .await;
    assert_eq!(shown["user"], "alice");
    assert_eq!(shown["claims"], Value::Null);
}

#[rocket::async_test]
async fn login_cycles_the_id_and_logout_destroys() {
    let client = client(BASIC).await;
    let before = json(client.get("/").dispatch().await).await;
    let wrong = client
        .post("/login")
        .header(ContentType::Form)
        .body("username=alice&password=nope")
        .dispatch()
        .await;
    assert_eq!(
        text(wrong).await,
        (
            Status::Unauthorized,
            "invalid username or password".to_owned()
        )
    );
    let right = client
        .post("/login")
        .header(ContentType::Form)
        .body("username=alice&password=my-secret")
        .dispatch()
        .await;
    assert!(set_cookie(&right).is_some());
    assert_eq!(
        text(right).await,
        (Status::Ok, "Logged in as alice".to_owned())
    );
    let after = json(client.get("/").dispatch().await).await;
    assert_ne!(after["sid"], before["sid"], "the id changes at login");
    assert_eq!(after["user"], "alice");
    assert_eq!(after["data"]["counter"], 1, "data survives the login");
    let secret = client.get("/secret").dispatch().await;
    assert_eq!(
        text(secret).await,
        (Status::Ok, "You are authenticated as alice".to_owned())
    );

    let out = client.post("/logout").dispatch().await;
    let cleared = set_cookie(&out).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(text(out).await, (Status::Ok, "Logged out".to_owned()));
    let fresh = json(client.get("/").dispatch().await).await;
    assert_eq!(fresh["data"]["counter"], 0);
    assert_eq!(fresh["user"], Value::Null);
    assert_ne!(fresh["sid"], after["sid"]);
    assert_eq!(
        client.get("/secret").dispatch().await.status(),
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn login_without_a_basic_user_accepts_any_password() {
    let client = client("").await;
    let response = client
        .post("/login")
        .header(ContentType::Form)
        .body("username=bob&password=whatever")
        .dispatch()
        .await;
    assert_eq!(
        text(response).await,
        (Status::Ok, "Logged in as bob".to_owned())
    );
    assert_eq!(json(client.get("/").dispatch().await).await["user"], "bob");
}

#[rocket::async_test]
async fn preflight_is_answered_without_the_handler() {
    let client = client("CORS = *\ncors_max_age = 600").await;
    let response = client
        .options("/probe")
        .header(Header::new("Origin", "https://a.example"))
        .header(Header::new("Access-Control-Request-Method", "POST"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::NoContent);
    let headers = response.headers();
    assert_eq!(headers.get_one("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(headers.get_one("Access-Control-Max-Age"), Some("600"));
    assert!(headers.get_one("Access-Control-Allow-Methods").is_some());
    assert!(
        headers.get_one("Server").is_none(),
        "exactly the core's response"
    );
    assert_eq!(hits(&client), 0, "the handler must not run");
    // A plain OPTIONS is no preflight: it reaches the route.
    let plain = client.options("/probe").dispatch().await;
    assert_eq!(plain.status(), Status::Ok);
    assert_eq!(hits(&client), 1);
}

#[rocket::async_test]
async fn catchers_get_cors_headers() {
    let client = client("CORS = *").await;
    let missing = client
        .get("/nope")
        .header(Header::new("Origin", "https://a.example"))
        .dispatch()
        .await;
    assert_eq!(missing.status(), Status::NotFound);
    assert_eq!(
        missing.headers().get_one("Access-Control-Allow-Origin"),
        Some("*")
    );
    let failed = client.get("/boom").dispatch().await;
    assert_eq!(failed.status(), Status::InternalServerError);
    assert_eq!(
        failed.headers().get_one("Access-Control-Allow-Origin"),
        Some("*")
    );
    let refused = client.get("/secret").dispatch().await;
    assert_eq!(refused.status(), Status::Unauthorized);
    assert_eq!(
        refused.headers().get_one("Access-Control-Allow-Origin"),
        Some("*")
    );
}

#[rocket::async_test]
async fn cross_site_post_with_the_cookie_is_refused_before_the_handler() {
    let client = client("").await;
    json(client.get("/").dispatch().await).await; // the session cookie
    let refused = client
        .post("/probe")
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .header(Header::new("Origin", "https://evil.example"))
        .dispatch()
        .await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert!(refused
        .into_string()
        .await
        .unwrap()
        .starts_with("cross-site request refused"));
    assert_eq!(hits(&client), 0, "the handler must not run");
    let same_site = client
        .post("/probe")
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(same_site.status(), Status::Ok);
    assert_eq!(hits(&client), 1);
}

#[rocket::async_test]
async fn the_internal_route_is_not_reachable_directly() {
    let client = client("").await;
    let response = client.get("/__canister/respond").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
}

#[rocket::async_test]
async fn excluded_paths_are_left_to_rocket() {
    let fairing = CanisterFairing::new(canister("CORS = *")).exclude("/probe/");
    let rocket = rocket::custom(quiet())
        .attach(fairing)
        .mount("/", routes![probe, log])
        .manage(Hits(AtomicUsize::new(0)));
    let client = Client::tracked(rocket).await.unwrap();
    let response = client
        .post("/probe")
        .header(Header::new(
            "Cookie",
            "session_id=4KAL3xKmr-JARYgEIzd_kp_SLA8mgrx--XRJAUOiEjI",
        ))
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok, "no CSRF check");
    assert!(response
        .headers()
        .get_one("Access-Control-Allow-Origin")
        .is_none());
    let logged = client.get("/log").dispatch().await;
    assert_eq!(
        logged.headers().get_one("Access-Control-Allow-Origin"),
        Some("*")
    );
    assert_eq!(text(logged).await, (Status::Ok, "logged".to_owned()));
}

#[get("/whoami")]
fn whoami(user: User) -> String {
    user.name().to_owned()
}

#[get("/count")]
fn count(session: Session) -> String {
    session.id()
}

#[rocket::async_test]
async fn guards_without_the_fairing_answer_500() {
    let rocket = rocket::custom(quiet()).mount("/", routes![whoami, count]);
    let client = Client::tracked(rocket).await.unwrap();
    assert_eq!(
        client.get("/whoami").dispatch().await.status(),
        Status::InternalServerError
    );
    assert_eq!(
        client.get("/count").dispatch().await.status(),
        Status::InternalServerError
    );
}

#[rocket::async_test]
async fn store_errors_answer_503() {
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED").unwrap();
    let canister = Canister::builder()
        .config(config)
        .store(FaultyStore::down())
        .build()
        .unwrap();
    let client = Client::tracked(demo::app(canister, quiet())).await.unwrap();
    // Saving the new session fails after the handler: its body is replaced.
    let response = client.get("/").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(response.headers().get_one("Retry-After"), Some("5"));
    assert!(set_cookie(&response).is_none());
    assert_eq!(
        response.into_string().await.unwrap(),
        "session store unavailable: please retry shortly\n"
    );
    // Loading an existing session fails in the guard.
    let response = client
        .get("/")
        .header(Header::new(
            "Cookie",
            "session_id=4KAL3xKmr-JARYgEIzd_kp_SLA8mgrx--XRJAUOiEjI",
        ))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(response.headers().get_one("Retry-After"), Some("5"));
    assert_eq!(
        response.into_string().await.unwrap(),
        "session store unavailable: please retry shortly\n"
    );
}
