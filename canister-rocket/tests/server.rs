//! The demo over real sockets: in-process on a free port, and the `demo` example binary.
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../examples/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use canister_core::{config::Config, Canister};
use reqwest::header::{SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use rocket::fairing::AdHoc;
use serde_json::Value;

async fn exercise(base: &str) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let first = get("/").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first.headers()["server"],
        "Rocket",
        "this is the Rocket demo"
    );
    assert!(first.headers().contains_key(SET_COOKIE));
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["data"]["counter"], 0);
    let second: Value = get("/?foo=x").await.unwrap().json().await.unwrap();
    assert_eq!(second["data"]["counter"], 1);
    assert_eq!(second["foo"], "x");
    assert_eq!(second["sid"], first["sid"]);

    let hi = get("/hi?foo=John&bar=Smith").await.unwrap();
    assert_eq!(hi.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(hi.text().await.unwrap(), "Hi John and Smith!");
    let form = client
        .post(format!("{base}/hi"))
        .form(&[("foo", "Ann")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.text().await.unwrap(), "Hi Ann!");
    let multipart = reqwest::multipart::Form::new()
        .text("foo", "Mia")
        .text("bar", "Ray");
    let multipart = client
        .post(format!("{base}/hi"))
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.text().await.unwrap(), "Hi Mia and Ray!");
    let missing = get("/hi").await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(missing.text().await.unwrap(), "missing parameter 'foo'\n");

    let secret = get("/secret").await.unwrap();
    assert_eq!(secret.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        secret.headers()[WWW_AUTHENTICATE],
        r#"Basic realm="private", charset="UTF-8""#
    );
    let basic = client
        .get(format!("{base}/secret"))
        .basic_auth("alice", Some("my-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        basic.text().await.unwrap(),
        "You are authenticated as alice"
    );

    let login = client
        .post(format!("{base}/login"))
        .form(&[("username", "alice"), ("password", "my-secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.text().await.unwrap(), "Logged in as alice");
    let after: Value = get("/").await.unwrap().json().await.unwrap();
    assert_eq!(after["user"], "alice");
    assert_ne!(after["sid"], first["sid"]);
    let logout = client.post(format!("{base}/logout")).send().await.unwrap();
    assert_eq!(logout.text().await.unwrap(), "Logged out");
    assert_eq!(
        get("/secret").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/hi"))
        .header("origin", "https://a.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let missing = get("/nope").await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["access-control-allow-origin"], "*");
}

const INI: &str = "[canister]\nlog_level = DISABLED\nCORS = *\nauth_basic_username = alice\nauth_basic_password = my-secret";

#[rocket::async_test]
async fn in_process_server_on_a_free_port() {
    let canister = Canister::from_config(Config::from_ini_str(INI).unwrap()).unwrap();
    let (tx, rx) = rocket::tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let listening = AdHoc::on_liftoff("port", move |rocket| {
        let config = rocket.config();
        let addr = SocketAddr::new(config.address, config.port);
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(addr);
        }
        Box::pin(async {})
    });
    let config = demo::quiet_config(SocketAddr::from(([127, 0, 0, 1], 0)));
    let rocket = demo::app(canister, config)
        .attach(listening)
        .ignite()
        .await
        .unwrap();
    let shutdown = rocket.shutdown();
    let server = rocket::tokio::spawn(rocket.launch());
    let addr = rocket::tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(addr.port(), 0);
    exercise(&format!("http://{addr}")).await;
    shutdown.notify();
    server.await.unwrap().unwrap();
}

/// Builds this crate's `demo` example and answers its path. Examples of every adapter share
/// `target/debug/examples/demo`, so build right before spawning.
fn build_demo() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["build", "-p", "canister-rocket", "--example", "demo"])
        .args(["--message-format=json-render-diagnostics"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo build --example demo failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["target"]["name"] == "demo" && m["executable"].is_string())
        .filter(|m| {
            m["package_id"]
                .as_str()
                .unwrap_or("")
                .contains("canister-rocket")
        })
        .find_map(|m| m["executable"].as_str().map(str::to_owned))
        .expect("cargo reported no demo executable")
}

#[rocket::async_test]
async fn demo_binary_serves_the_contract() {
    let exe = build_demo();
    let mut child = Command::new(exe)
        .args(["--bind", "127.0.0.1:0"])
        .env("CANISTER_LOG_LEVEL", "DISABLED")
        .env("CANISTER_CORS", "*")
        .env("CANISTER_AUTH_BASIC_USERNAME", "alice")
        .env("CANISTER_AUTH_BASIC_PASSWORD", "my-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = rocket::tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = rocket::tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(!base.ends_with(":0"), "{base}");
    exercise(&base).await;
    // Graceful shutdown on SIGINT, like Ctrl-C.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = rocket::tokio::task::spawn_blocking(move || child.wait());
    let exit = rocket::tokio::time::timeout(Duration::from_secs(15), exited)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit}");
}
