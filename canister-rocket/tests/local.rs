//! The adapter's own seams, driven in-process with Rocket's tracked local client: catchers,
//! the internal route, excluded paths, guards without the fairing, a preflight that never
//! reaches a route, store failures through the local client. The behaviour every adapter
//! shares is the conformance suite's (`tests/`), run on this adapter there.
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../examples/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use canister_core::session::FaultyStore;
use canister_core::{config::Config, Canister};
use canister_rocket::{CanisterFairing, Log, Session, User};
use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{get, options, post, routes, Build, Rocket, State};

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

async fn text(response: LocalResponse<'_>) -> (Status, String) {
    (response.status(), response.into_string().await.unwrap())
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
