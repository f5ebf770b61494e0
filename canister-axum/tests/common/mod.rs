//! What the test files share: configurations, the demo's router, and a one-cookie browser that
//! drives a router in-process with `oneshot`.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "a module shared by test files; each uses a part"
)]

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use canister_core::{config::Config, Canister};
use tower::ServiceExt;

#[path = "../../examples/demo/app.rs"]
pub mod app;

/// Basic credentials alice / my-secret.
pub const ALICE: &str = "Basic YWxpY2U6bXktc2VjcmV0";
/// Basic credentials alice / wrong.
pub const ALICE_WRONG: &str = "Basic YWxpY2U6d3Jvbmc=";
pub const BASIC: &str = "auth_basic_username = alice\nauth_basic_password = my-secret\n";
pub const JWT: &str = "auth_jwt_client_id = demo\nauth_jwt_secret = jwt-secret-for-tests\n";

/// An engine for `ini` (lines of the `[canister]` section), logging nothing.
pub fn canister(ini: &str) -> Canister {
    let config = Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{ini}"))
        .expect("test configuration");
    Canister::from_config(config).expect("test engine")
}

/// The demo's router for `ini`.
pub fn demo(ini: &str) -> Router {
    app::router(canister(ini))
}

/// One answer, body read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookie(&self) -> Option<&str> {
        self.header("set-cookie")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// Sends one request to `app` in-process.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
    }
}

/// A client with one cookie (the session's), as a browser keeps it.
pub struct Browser {
    pub app: Router,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(app: Router) -> Self {
        Self { app, cookie: None }
    }

    /// Sends `request` with the cookie, then keeps or forgets the cookie as `Set-Cookie` says.
    pub async fn send(&mut self, mut request: Request<Body>) -> Answer {
        if let Some(cookie) = &self.cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().expect("cookie header"));
        }
        let answer = send(&self.app, request).await;
        if let Some(set) = answer.set_cookie() {
            let pair = set.split(';').next().unwrap_or_default().trim();
            if set.contains("Max-Age=0") || pair.ends_with('=') {
                self.cookie = None;
            } else {
                self.cookie = Some(pair.to_owned());
            }
        }
        answer
    }

    pub async fn get(&mut self, uri: &str) -> Answer {
        self.send(get(uri)).await
    }

    pub async fn post_form(&mut self, uri: &str, form: &str) -> Answer {
        self.send(post_form(uri, form)).await
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request")
}

pub fn post_form(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request")
}

pub fn with_header(mut request: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    request
        .headers_mut()
        .insert(name, value.parse().expect("header value"));
    request
}
