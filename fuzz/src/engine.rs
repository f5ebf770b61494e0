//! `engine`: [`Canister::enter`] and [`Canister::finish`] on arbitrary request parts, with a
//! handler driven by the input, over several requests of one client.
//!
//! Input: `<METHOD> <URI>` and `name: value` header lines, a blank line, then bytes: the
//! configuration (one of five, `0` to `4` in text seeds: Basic and JWT always on; CORS off,
//! listed or `*`; locking; `auth_remember`; no timeout, a 60 s timeout; another cookie name,
//! `Secure`, `SameSite=None`, a domain and a path), the peer address (likewise), and handler
//! operations (session reads and writes, login, logout, regenerate, destroy, id, user checks,
//! the 401, parameters, passwords, then "next request", "advance the clock", "replay a dead
//! id"). In `Cookie` values, `{id}` is
//! the id the client's cookie jar holds (a session made before the first request, then
//! whatever `Set-Cookie` said), `{old}` an id that has ended.
//!
//! Checked: `enter` answers only 204 (preflight) or 403 (CSRF); `finish` never fails on the
//! memory store; at most one well-formed `Set-Cookie` per response, never an id after a
//! destroy, never the id the client sent after a login, logout or regenerate; a session whose
//! id ended (destroy, id change) or expired (by the test clock and the sliding timeout) is
//! never returned again; a password check answers as configured; the 401 carries both
//! challenges; no log line contains a session id, nor a long `Authorization` credential that
//! the request did not also show elsewhere.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use canister_core::auth::AuthOutcome;
use canister_core::log::{Event, Level, LogContext, LogSink};
use canister_core::{
    auth::User, config::Config, session::MemoryStore, Canister, Clock, Entry, Finish, Session,
    TestClock, Visit,
};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};

use super::common::{block_on, lock, request_cookie, set_cookie, RequestCookie, SetCookie};

/// At most this many requests after the set-up one, and operations per request.
const MAX_REQUESTS: usize = 8;
const MAX_OPS: usize = 64;

/// Collects every event as the line it would be logged as.
#[derive(Debug, Default)]
struct Logs {
    active: AtomicBool,
    lines: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
struct Sink(Arc<Logs>);

impl LogSink for Sink {
    fn enabled(&self, _level: Level) -> bool {
        self.0.active.load(Ordering::Relaxed)
    }

    fn log(&self, context: &LogContext, event: &Event<'_>) {
        let line = format!("[{context}] {} {event}", event.level());
        lock(&self.0.lines).push(line);
    }
}

type Engine = Canister<MemoryStore, canister_core::auth::DefaultAuthenticator, Sink>;

/// A configuration and what the checks need to know of it.
struct Case {
    config: Config,
    remember: bool,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let auth = "auth_basic_username = alice\nauth_basic_password = my-secret\n\
                    auth_jwt_client_id = alice\nauth_jwt_secret = secret\n";
        let case = |ini: &str, remember: bool| {
            let config = super::common::config(&format!("{auth}{ini}"));
            Case { config, remember }
        };
        vec![
            case("", false),
            case(
                "cors = https://app.example, http://localhost:8080\ncors_credentials = true\n\
                 csrf_trusted_origins = https://trusted.example\n",
                false,
            ),
            case(
                "cors = *\nsession_locking = true\nauth_remember = true\n",
                true,
            ),
            case(
                "session_timeout = 0\nsession_cookie_persistent = false\ncsrf = false\n\
                 session_on_store_error = anonymous\nlog_trust_proxy = true\n",
                false,
            ),
            case(
                "session_cookie = sid\nsession_cookie_secure = true\n\
                 session_cookie_samesite = None\nsession_cookie_domain = example.com\n\
                 session_cookie_path = /app\nsession_timeout = 60\n",
                false,
            ),
        ]
    })
}

/// The request of an input, before the cookie placeholders are filled in.
struct Template {
    method: Method,
    uri: http::Uri,
    headers: Vec<(HeaderName, Vec<u8>)>,
}

impl Template {
    fn parse(head: &[u8]) -> Option<Self> {
        let mut lines = super::common::lines(head);
        let (method, uri) = super::common::split_once(lines.next()?, b" ");
        let method = Method::from_bytes(method).ok()?;
        let uri = http::Uri::try_from(uri.unwrap_or(b"/")).ok()?;
        let mut headers = Vec::new();
        for line in lines.take(32) {
            let (name, value) = super::common::split_once(line, b":");
            let name = HeaderName::from_bytes(name).ok()?;
            let value = value.unwrap_or_default();
            let value = value.strip_prefix(b" ").unwrap_or(value).to_vec();
            // Refused values make the input unusable whatever the placeholders become.
            HeaderValue::from_bytes(&value).ok()?;
            headers.push((name, value));
        }
        Some(Self {
            method,
            uri,
            headers,
        })
    }

    /// The request with `{id}` and `{old}` in `Cookie` values replaced.
    fn build(&self, id: &str, old: &str) -> Option<Parts> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.uri.clone());
        for (name, value) in &self.headers {
            let value = if name == header::COOKIE {
                let value = super::common::replace(value, b"{id}", id.as_bytes());
                super::common::replace(&value, b"{old}", old.as_bytes())
            } else {
                value.clone()
            };
            request = request.header(name, HeaderValue::from_bytes(&value).ok()?);
        }
        Some(request.body(()).ok()?.into_parts().0)
    }

    /// The text of the request a log may legitimately echo: method, URI, header names, and
    /// the values of headers other than `Authorization` and `Cookie`.
    fn public_text(&self) -> Vec<u8> {
        let mut text = format!("{} {}", self.method, self.uri).into_bytes();
        for (name, value) in &self.headers {
            text.push(b'\n');
            text.extend_from_slice(name.as_str().as_bytes());
            if name != header::AUTHORIZATION && name != header::COOKIE {
                text.push(b':');
                text.extend_from_slice(value);
            }
        }
        text
    }
}

/// The client, its cookie jar and the model of the store.
struct World {
    engine: Engine,
    clock: TestClock,
    sink: Sink,
    cookie: String,
    ttl: Option<Duration>,
    remember: bool,
    jar: Option<String>,
    dead: Vec<String>,
    /// Every id seen: none may be logged.
    ids: Vec<String>,
    /// Live ids and when they expire (`None`: never).
    live: HashMap<String, Option<SystemTime>>,
}

/// What happened during one request's handler.
#[derive(Default)]
struct Handled {
    session: Option<Session>,
    loaded: bool,
    cycled: bool,
    destroyed: bool,
}

impl World {
    fn deadline(&self) -> Option<SystemTime> {
        self.ttl.and_then(|ttl| self.clock.now().checked_add(ttl))
    }

    fn is_live(&self, id: &str) -> bool {
        let now = self.clock.now();
        self.live
            .get(id)
            .is_some_and(|deadline| deadline.is_none_or(|at| at > now))
    }

    /// The session, checked on first load: an ended or expired id must give an empty one.
    fn session(&self, visit: &Visit, sent: &RequestCookie, handled: &mut Handled) -> Session {
        if let Some(session) = &handled.session {
            return session.clone();
        }
        let Ok(session) = block_on(visit.session()) else {
            panic!("memory store failed");
        };
        let found_possible = matches!(sent, RequestCookie::Id(id) if self.is_live(id));
        if !found_possible {
            assert!(
                session.data().is_empty(),
                "an ended, expired or absent session returned data"
            );
            if !(self.remember && visit.header_user().is_some()) {
                assert!(
                    session.user().is_none(),
                    "an ended, expired or absent session returned a user"
                );
            }
        }
        handled.session = Some(session.clone());
        handled.loaded = true;
        session
    }

    /// Runs one request; `ops` drive the handler until a request-ending operation, whose
    /// remaining bytes are returned with what comes next.
    fn request<'a>(
        &mut self,
        template: &Template,
        peer: Option<SocketAddr>,
        old: &str,
        mut ops: &'a [u8],
    ) -> (&'a [u8], Next) {
        let id = self.jar.clone().unwrap_or_default();
        let Some(parts) = template.build(&id, old) else {
            // Only a placeholder can make a value invalid; the ids are base64url: never.
            panic!("a request with filled-in ids refused");
        };
        let sent = request_cookie(&parts.headers, &self.cookie, |id| self.is_live(id));
        let visit = match block_on(self.engine.enter(&parts, peer)) {
            Entry::Proceed(visit) => visit,
            Entry::Respond(response) => {
                let status = response.status();
                assert!(
                    status == StatusCode::NO_CONTENT || status == StatusCode::FORBIDDEN,
                    "enter answered {status}"
                );
                return self.skip(ops);
            }
        };
        let mut handled = Handled::default();
        let mut next = Next::End;
        let mut count = 0;
        while let Some((&op, rest)) = ops.split_first() {
            ops = rest;
            count += 1;
            if count > MAX_OPS {
                break;
            }
            match op % 20 {
                0 => {
                    let key = format!("k{}", take(&mut ops) % 4);
                    let _ = self
                        .session(&visit, &sent, &mut handled)
                        .get::<serde_json::Value>(&key);
                }
                1 => {
                    let (key, value) = (format!("k{}", take(&mut ops) % 4), take(&mut ops));
                    if let Err(error) = self
                        .session(&visit, &sent, &mut handled)
                        .insert(&key, value)
                    {
                        panic!("insert: {error}");
                    }
                }
                2 => {
                    let key = format!("k{}", take(&mut ops) % 4);
                    self.session(&visit, &sent, &mut handled).remove(&key);
                }
                3 => self.session(&visit, &sent, &mut handled).clear(),
                4 => {
                    let name = format!("u{}", take(&mut ops) % 3);
                    self.session(&visit, &sent, &mut handled)
                        .login(User::new(name));
                    handled.cycled = true;
                }
                5 => {
                    self.session(&visit, &sent, &mut handled).logout();
                    handled.cycled = true;
                }
                6 => {
                    self.session(&visit, &sent, &mut handled).regenerate();
                    handled.cycled = true;
                }
                7 => {
                    self.session(&visit, &sent, &mut handled).destroy();
                    handled.destroyed = true;
                }
                8 => {
                    let id = self.session(&visit, &sent, &mut handled).id();
                    assert!(super::common::is_session_id(&id), "Session::id malformed");
                    self.ids.push(id);
                }
                9 => {
                    handled.loaded = true;
                    let _ = block_on(visit.user());
                }
                10 => {
                    handled.loaded = true;
                    if let Err(response) = block_on(visit.require_user()) {
                        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                    }
                }
                11 => {
                    let response = visit.unauthorized().into_response();
                    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                    let challenges = response.headers().get_all(header::WWW_AUTHENTICATE);
                    assert_eq!(challenges.iter().count(), 2, "challenges");
                }
                12 => {
                    let len = usize::from(take(&mut ops));
                    let body = Bytes::copy_from_slice(&ops[..len.min(ops.len())]);
                    ops = &ops[len.min(ops.len())..];
                    let content_type = parts.headers.get(header::CONTENT_TYPE);
                    let decoded = block_on(visit.params::<HashMap<String, String>>(
                        parts.uri.query(),
                        content_type,
                        body,
                    ));
                    if let Err(response) = decoded {
                        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
                    }
                }
                13 => {
                    let session = self.session(&visit, &sent, &mut handled);
                    let good = block_on(session.verify_password("alice", "my-secret"));
                    assert!(
                        matches!(good, Ok(AuthOutcome::Authenticated(ref u)) if u.name() == "alice"),
                        "the configured password refused"
                    );
                    let bad = block_on(session.verify_password("alice", "my-secreT"));
                    assert!(
                        matches!(bad, Ok(AuthOutcome::Refused(_))),
                        "a wrong password accepted"
                    );
                }
                14 => {
                    next = Next::Again;
                    break;
                }
                15 => {
                    next = Next::Later(Duration::from_secs(u64::from(take(&mut ops)) * 30));
                    break;
                }
                16 => {
                    next = Next::Dead;
                    break;
                }
                17 => {
                    let _ = (visit.header_user(), visit.refusal(), visit.is_secure());
                    let _ = (visit.client(), visit.context().to_string(), visit.logger());
                }
                18 => {
                    let _ = self.session(&visit, &sent, &mut handled).data();
                }
                _ => {
                    let key = format!("k{}", take(&mut ops) % 4);
                    let _ = self
                        .session(&visit, &sent, &mut handled)
                        .try_get::<String>(&key);
                }
            }
        }
        if self.remember && visit.header_user().is_some() {
            // `finish` loads the session to remember the header's user.
            handled.loaded = true;
        }
        drop(handled.session.take());
        self.finish(visit, &sent, &handled);
        (ops, next)
    }

    /// Records that `id` (if any) ended.
    fn end(&mut self, id: Option<&str>) {
        if let Some(id) = id {
            self.live.remove(id);
            self.dead.push(id.to_owned());
        }
    }

    /// Skips the operations of a request that was answered by `enter`.
    fn skip<'a>(&self, mut ops: &'a [u8]) -> (&'a [u8], Next) {
        while let Some((&op, rest)) = ops.split_first() {
            ops = rest;
            match op % 20 {
                14 => return (ops, Next::Again),
                15 => {
                    let (&a, rest) = ops.split_first().unwrap_or((&0, &[]));
                    return (rest, Next::Later(Duration::from_secs(u64::from(a) * 30)));
                }
                16 => return (ops, Next::Dead),
                _ => {}
            }
        }
        (ops, Next::End)
    }

    fn finish(&mut self, visit: Visit, sent: &RequestCookie, handled: &Handled) {
        let sent_live = match sent {
            RequestCookie::Id(id) if self.is_live(id) => Some(id.clone()),
            _ => None,
        };
        let (mut response, ()) = Response::new(()).into_parts();
        match block_on(self.engine.finish(visit, &mut response)) {
            Finish::Keep => {}
            Finish::ReplaceBody(body) => panic!("memory store failed: {body:?}"),
        }
        let cookie = set_cookie(&response.headers, &self.cookie);
        let sent_id = match sent {
            RequestCookie::Id(id) => Some(id.as_str()),
            _ => None,
        };
        if handled.destroyed {
            assert!(
                !matches!(cookie, SetCookie::Set(_)),
                "a destroyed session set a cookie"
            );
        }
        if let (true, SetCookie::Set(new)) = (handled.cycled && !handled.destroyed, &cookie) {
            assert_ne!(
                Some(new.as_str()),
                sent_id,
                "the id did not change with the user"
            );
        }
        // The model of the store.
        if let (Some(id), true) = (&sent_live, handled.loaded) {
            self.live.insert(id.clone(), self.deadline());
        }
        match &cookie {
            SetCookie::Set(new) => {
                if sent_id != Some(new.as_str()) {
                    self.end(sent_id);
                }
                self.live.insert(new.clone(), self.deadline());
                self.ids.push(new.clone());
                self.jar = Some(new.clone());
            }
            SetCookie::Clear => {
                self.end(sent_id);
                self.jar = None;
            }
            SetCookie::None => {
                if handled.destroyed {
                    self.end(sent_id);
                }
            }
        }
    }
}

/// The next byte of `ops` (0 when none is left), consumed.
fn take(ops: &mut &[u8]) -> u8 {
    match ops.split_first() {
        Some((&byte, rest)) => {
            *ops = rest;
            byte
        }
        None => 0,
    }
}

/// What follows a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    End,
    Again,
    Later(Duration),
    Dead,
}

fn peer(choice: u8) -> Option<SocketAddr> {
    match choice % 4 {
        0 => None,
        1 => Some(SocketAddr::from(([127, 0, 0, 1], 40_000))),
        2 => Some(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 8080))),
        _ => Some(SocketAddr::from(([203, 0, 113, choice], 443))),
    }
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let (head, tail) = super::common::split_once(data, b"\n\n");
    let Some(template) = Template::parse(head) else {
        return;
    };
    let tail = tail.unwrap_or_default();
    let digit = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b };
    let choice = digit(tail.first().copied().unwrap_or(0));
    let peer = peer(digit(tail.get(1).copied().unwrap_or(0)));
    let mut ops = tail.get(2..).unwrap_or_default();
    let case = &cases()[usize::from(choice) % cases().len()];

    let clock = TestClock::new();
    let sink = Sink::default();
    let engine = Canister::builder()
        .config(case.config.clone())
        .store(MemoryStore::new().with_clock(clock.clone()))
        .log_sink(sink.clone())
        .clock(clock.clone())
        .build();
    let engine = match engine {
        Ok(engine) => engine,
        Err(error) => panic!("engine: {error}"),
    };
    sink.0.active.store(true, Ordering::Relaxed);
    let mut world = World {
        engine,
        clock,
        sink,
        cookie: case.config.cookie.name.clone(),
        ttl: case.config.session.timeout,
        remember: case.remember,
        jar: None,
        dead: Vec::new(),
        ids: Vec::new(),
        live: HashMap::new(),
    };

    // Set-up: a session with data and a user, whose id is the jar's.
    let Some(setup) = Template::parse(b"GET http://localhost:8080/setup") else {
        panic!("set-up request");
    };
    world.request(&setup, None, "", &[1, 0, 1, 4, 0]);
    assert!(world.jar.is_some(), "the set-up session set no cookie");

    let mut old = String::new();
    for _ in 0..MAX_REQUESTS {
        let (rest, next) = world.request(&template, peer, &old, ops);
        ops = rest;
        match next {
            Next::End => break,
            Next::Again => {}
            Next::Later(by) => world.clock.advance(by),
            Next::Dead => old = world.dead.last().cloned().unwrap_or_default(),
        }
    }

    let lines = lock(&world.sink.0.lines);
    let public = template.public_text();
    let token = template
        .headers
        .iter()
        .find(|(name, _)| name == header::AUTHORIZATION)
        .and_then(|(_, value)| value.split(|b| *b == b' ').nth(1))
        // Long base64 or JWT credentials: no fixed text, context or IP of a log line holds
        // such a run of characters, so finding one there means the credential leaked.
        .filter(|token| token.len() >= 24)
        .filter(|token| {
            token
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=._-".contains(b))
        })
        .filter(|token| !public.windows(token.len()).any(|w| w == *token));
    for line in lines.iter() {
        for id in &world.ids {
            assert!(
                !line.contains(id.as_str()),
                "a session id was logged: {line}"
            );
        }
        if let Some(token) = token {
            assert!(
                !line.as_bytes().windows(token.len()).any(|w| w == token),
                "a credential was logged: {line}"
            );
        }
    }
}
