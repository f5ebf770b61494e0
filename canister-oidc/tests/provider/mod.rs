//! A local identity provider for tests: an HTTP/1.1 server on 127.0.0.1 serving an OpenID
//! discovery document (`/.well-known/openid-configuration`) and a key set (`/jwks`) that the
//! test can rotate, break and restore. Also used by the conformance suite (`tests/`).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of it"
)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The key set the provider publishes first (made by PyJWT, see canister-core's
/// `tests/data/oidc/make_oidc.py`).
pub const JWKS_A: &str = include_str!("../../../canister-core/tests/data/oidc/jwks_a.json");
/// The key set after a rotation.
pub const JWKS_B: &str = include_str!("../../../canister-core/tests/data/oidc/jwks_b.json");
/// The tokens signed with those keys.
pub const TOKENS: &str = include_str!("../../../canister-core/tests/data/oidc/tokens.json");

/// A token of `tokens.json` by name.
pub fn token(name: &str) -> String {
    let data: serde_json::Value = serde_json::from_str(TOKENS).expect("tokens.json");
    data["tokens"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no token {name} in tokens.json"))
        .to_owned()
}

/// How the provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serves its documents.
    Up,
    /// Answers 503 to everything.
    Down,
    /// Answers 200 with a body that is not JSON.
    Garbage,
}

#[derive(Debug)]
struct State {
    jwks: String,
    mode: Mode,
    cache_control: Option<String>,
    issuer: Option<String>,
    jwks_fetches: usize,
}

/// The running provider; stops when dropped.
#[derive(Debug)]
pub struct LocalProvider {
    base: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalProvider {
    /// Starts serving `jwks` on a free loopback port.
    pub async fn start(jwks: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let state = Arc::new(Mutex::new(State {
            jwks: jwks.to_owned(),
            mode: Mode::Up,
            cache_control: None,
            issuer: None,
            jwks_fetches: 0,
        }));
        let shared = Arc::clone(&state);
        let issuer = base.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let issuer = issuer.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                        if request.len() > 16 * 1024 {
                            return;
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                    let (status, body, cache) = {
                        let mut state = state.lock().expect("provider state");
                        match state.mode {
                            Mode::Down => ("503 Service Unavailable", "down".to_owned(), None),
                            Mode::Garbage => ("200 OK", "<html>oops</html>".to_owned(), None),
                            Mode::Up => match path.as_str() {
                                "/.well-known/openid-configuration" => {
                                    let iss = state.issuer.clone().unwrap_or(issuer.clone());
                                    (
                                        "200 OK",
                                        format!(
                                            r#"{{"issuer":"{iss}","jwks_uri":"{issuer}/jwks","id_token_signing_alg_values_supported":["RS256"]}}"#
                                        ),
                                        None,
                                    )
                                }
                                "/jwks" => {
                                    state.jwks_fetches += 1;
                                    ("200 OK", state.jwks.clone(), state.cache_control.clone())
                                }
                                _ => ("404 Not Found", "not found".to_owned(), None),
                            },
                        }
                    };
                    let cache = cache
                        .map(|c| format!("cache-control: {c}\r\n"))
                        .unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{cache}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { base, state, task }
    }

    /// `http://127.0.0.1:PORT`: the issuer, as its discovery document says.
    pub fn issuer(&self) -> &str {
        &self.base
    }

    /// The key set's URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    /// Publishes another key set (a rotation).
    pub fn set_jwks(&self, jwks: &str) {
        self.lock().jwks = jwks.to_owned();
    }

    /// Answers 503 (`Mode::Down`), garbage, or serves again (`Mode::Up`).
    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// Sends `Cache-Control: value` with the key set.
    pub fn set_cache_control(&self, value: &str) {
        self.lock().cache_control = Some(value.to_owned());
    }

    /// Makes the discovery document name another issuer.
    pub fn set_discovery_issuer(&self, issuer: &str) {
        self.lock().issuer = Some(issuer.to_owned());
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.lock().jwks_fetches
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("provider state")
    }
}

impl Drop for LocalProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}
