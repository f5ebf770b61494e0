//! The demo's routes served over 127.0.0.1, in this process and as the real `demo` binary,
//! driven by an HTTP client that keeps cookies.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{app, canister, BASIC};
use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The demo contract as seen over the network, from `base` (`http://127.0.0.1:PORT`) with
/// Basic credentials alice / my-secret configured.
async fn drive_demo(base: &str) {
    let browser = client();
    let first: serde_json::Value = browser
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"]["counter"], 0);
    let second: serde_json::Value = browser
        .get(format!("{base}/?foo=bar"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"]["counter"], 1);
    assert_eq!(second["foo"], "bar");
    assert_eq!(second["sid"], first["sid"]);

    let hi = browser
        .get(format!("{base}/hi?foo=John&bar=Smith"))
        .send()
        .await
        .unwrap();
    assert_eq!(hi.text().await.unwrap(), "Hi John and Smith!");
    let form = reqwest::multipart::Form::new()
        .text("foo", "Jane")
        .text("bar", "Doe");
    let hi = browser
        .post(format!("{base}/hi"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(hi.text().await.unwrap(), "Hi Jane and Doe!");
    let missing = browser.get(format!("{base}/hi")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing.text().await.unwrap().contains("foo"));

    let secret = browser.get(format!("{base}/secret")).send().await.unwrap();
    assert_eq!(secret.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        secret.headers()["www-authenticate"],
        r#"Basic realm="private", charset="UTF-8""#
    );
    let secret = client()
        .get(format!("{base}/secret"))
        .basic_auth("alice", Some("my-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        secret.text().await.unwrap(),
        "You are authenticated as alice"
    );

    let refused = browser
        .post(format!("{base}/login"))
        .form(&[("username", "alice"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let login = browser
        .post(format!("{base}/login"))
        .form(&[("username", "alice"), ("password", "my-secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.text().await.unwrap(), "Logged in as alice");
    let secret = browser.get(format!("{base}/secret")).send().await.unwrap();
    assert_eq!(
        secret.text().await.unwrap(),
        "You are authenticated as alice"
    );
    let after: serde_json::Value = browser
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["user"], "alice");
    assert_ne!(after["sid"], first["sid"]);

    let logout = browser.post(format!("{base}/logout")).send().await.unwrap();
    assert_eq!(logout.text().await.unwrap(), "Logged out");
    let secret = browser.get(format!("{base}/secret")).send().await.unwrap();
    assert_eq!(secret.status(), StatusCode::UNAUTHORIZED);
    let fresh: serde_json::Value = browser
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fresh["data"]["counter"], 0);
}

#[tokio::test]
async fn in_process_server() {
    let router = app::router(canister(BASIC));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    drive_demo(&format!("http://{addr}")).await;
    server.abort();
}

/// The `demo` example, built by cargo once per test run (a no-op when it is up to date).
fn demo_binary() -> String {
    static BINARY: OnceLock<String> = OnceLock::new();
    BINARY.get_or_init(build_demo).clone()
}

fn build_demo() -> String {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--example",
            "demo",
            "-p",
            "canister-axum",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo build --example demo failed");
    let uplifted = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "demo")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the demo executable");
    // `examples/demo` is shared with the other adapters' demos (same example name, same
    // target directory), so another build may replace it at any time: run the hashed file
    // whose dep-info names this crate's demo instead.
    // Dep-info names sources relative to the workspace: `canister-axum/examples/demo/main.rs`.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).file_name().unwrap();
    let ours = format!("{}/examples/demo/main.rs", crate_dir.to_string_lossy());
    let dir = uplifted.parent().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("demo-") && name.ends_with(".d")
        })
        .filter(|deps| std::fs::read_to_string(deps).is_ok_and(|d| d.contains(&ours)))
        .map(|deps| deps.with_extension(std::env::consts::EXE_EXTENSION))
        .filter_map(|exe| Some((std::fs::metadata(&exe).ok()?.modified().ok()?, exe)))
        .max()
        .map(|(_, exe)| exe.to_string_lossy().into_owned())
        .expect("the axum demo's executable beside its dep-info")
}

/// Kills the demo if the test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_binary_serves_the_contract() {
    let binary = tokio::task::spawn_blocking(demo_binary).await.unwrap();
    let config = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("axum-demo-test.ini");
    std::fs::write(
        &config,
        format!("[canister]\nlog_level = DISABLED\n{BASIC}"),
    )
    .unwrap();
    let mut child = Command::new(&binary)
        .args(["--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut running = Running(child);
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("the demo prints its address within a minute")
    .unwrap()
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "the actual port: {base}");

    drive_demo(&base).await;

    // SIGTERM: a graceful stop with status 0.
    #[cfg(unix)]
    {
        let pid = running.0.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = tokio::task::spawn_blocking(move || running.0.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

#[tokio::test]
async fn demo_binary_refuses_bad_flags_and_unreachable_redis() {
    let binary = tokio::task::spawn_blocking(demo_binary).await.unwrap();
    for (args, expected) in [
        (&["--bind"][..], "--bind needs a value"),
        (&["--frobnicate", "x"][..], "unknown argument --frobnicate"),
        (
            &["--redis", "redis://127.0.0.1:1/0", "--bind", "127.0.0.1:0"][..],
            "session_store redis://127.0.0.1:1/0",
        ),
        // Every URL form is accepted on --redis; unreachable, each stops start-up naming it
        // (password masked).
        (
            &[
                "--redis",
                "rediss://u:pw-1234@127.0.0.1:1",
                "--bind",
                "127.0.0.1:0",
            ][..],
            "session_store rediss://u:********@127.0.0.1:1",
        ),
        (
            &[
                "--redis",
                "redis://127.0.0.1:1,redis://127.0.0.1:2",
                "--bind",
                "127.0.0.1:0",
            ][..],
            "session_store redis://127.0.0.1:1,redis://127.0.0.1:2",
        ),
        (
            &[
                "--redis",
                "redis+sentinel://127.0.0.1:1,127.0.0.1:2/svc",
                "--bind",
                "127.0.0.1:0",
            ][..],
            "session_store redis+sentinel://127.0.0.1:1,127.0.0.1:2/svc",
        ),
    ] {
        let output = Command::new(&binary).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("pw-1234"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
