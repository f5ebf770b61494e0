#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use super::*;
use crate::auth::User;
use crate::clock::TestClock;
use crate::session::Change;

type Lines = Arc<Mutex<Vec<String>>>;
type Sink = Box<dyn Fn(&LogContext, &Event<'_>) + Send + Sync>;
type CsrfCase<'a> = (&'a str, &'a [(&'a str, &'a str)], bool, &'a str);

struct Harness<A: Authenticator = ()> {
    canister: Canister<MemoryStore, A, Sink>,
    clock: TestClock,
    store: MemoryStore,
    lines: Lines,
}

fn harness(ini: &str) -> Harness {
    harness_with(ini, ())
}

fn harness_with<A: Authenticator>(ini: &str, auth: A) -> Harness<A> {
    let config = Config::from_ini_str(&format!("[canister]\n{ini}")).expect("config");
    let clock = TestClock::new();
    let store = MemoryStore::new().with_clock(clock.clone());
    let lines: Lines = Arc::default();
    let sink_lines = Arc::clone(&lines);
    let sink: Sink = Box::new(move |ctx: &LogContext, ev: &Event<'_>| {
        // Every request line carries its id; these tests look at the rest of the context
        // (`request_ids_*` below check the id).
        assert!(
            ctx.request_id().is_some() || ctx.client().is_none(),
            "{ctx}"
        );
        let ctx = ctx.clone().with_request_id(None);
        sink_lines
            .lock()
            .unwrap()
            .push(format!("{} [{ctx}] {ev}", ev.level()));
    });
    let canister = Canister::builder()
        .config(config)
        .store(store.clone())
        .authenticator(auth)
        .log_sink(sink)
        .clock(clock.clone())
        .build()
        .expect("engine");
    Harness {
        canister,
        clock,
        store,
        lines,
    }
}

fn peer() -> Option<SocketAddr> {
    Some("149.172.44.162:5000".parse().unwrap())
}

fn cookie_of(response: &Response<Bytes>) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session_id="))
        .map(str::to_owned)
}

fn id_of(set_cookie: &str) -> String {
    set_cookie
        .trim_start_matches("session_id=")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

impl<A: Authenticator> Harness<A> {
    /// Runs one request through enter, `handler`, finish.
    async fn run<F, Fut>(&self, request: Request<()>, handler: F) -> Response<Bytes>
    where
        F: FnOnce(Visit) -> Fut,
        Fut: std::future::Future<Output = Response<Bytes>>,
    {
        let (parts, ()) = request.into_parts();
        match self.canister.enter(&parts, peer()).await {
            Entry::Respond(response) => response,
            Entry::Proceed(visit) => {
                let (mut res_parts, body) = handler(visit.clone()).await.into_parts();
                match self.canister.finish(visit, &mut res_parts).await {
                    Finish::Keep => Response::from_parts(res_parts, body),
                    Finish::ReplaceBody(body) => Response::from_parts(res_parts, body),
                }
            }
        }
    }

    /// The demo's counter route: increments `counter` (first visit stores 0).
    async fn count(&self, cookie: Option<&str>) -> (Response<Bytes>, i64) {
        let mut request = Request::get("http://localhost:8080/");
        if let Some(id) = cookie {
            request = request.header(header::COOKIE, format!("session_id={id}"));
        }
        let seen = Arc::new(Mutex::new(-1));
        let seen2 = Arc::clone(&seen);
        let response = self
            .run(request.body(()).unwrap(), |visit| async move {
                match visit.session().await {
                    Ok(session) => {
                        let n = session.get::<i64>("counter").map_or(0, |n| n + 1);
                        session.insert("counter", n).unwrap();
                        *seen2.lock().unwrap() = n;
                        Response::new(Bytes::from(n.to_string()))
                    }
                    Err(rejection) => rejection.into_response(),
                }
            })
            .await;
        let n = *seen.lock().unwrap();
        (response, n)
    }

    fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

fn ok() -> Response<Bytes> {
    Response::new(Bytes::from_static(b"ok"))
}

#[tokio::test]
async fn counter_persists_across_requests_through_the_cookie() {
    let h = harness("");
    let (first, n) = h.count(None).await;
    assert_eq!(n, 0);
    let cookie = cookie_of(&first).expect("a cookie on first write");
    let id = id_of(&cookie);
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 1);
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 2);
    assert_eq!(h.store.len(), 1);
}

#[tokio::test]
async fn cookie_attributes_default_and_secure_over_forwarded_https() {
    let h = harness("");
    let (plain, _) = h.count(None).await;
    let cookie = cookie_of(&plain).unwrap();
    assert!(cookie.contains("; Path=/"), "{cookie}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Lax"), "{cookie}");
    // A browser-session cookie by default (issue #22).
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");

    let request = Request::get("http://example.com/")
        .header("x-forwarded-proto", "https")
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            visit.session().await.unwrap().insert("a", 1).unwrap();
            ok()
        })
        .await;
    assert!(cookie_of(&response).unwrap().ends_with("; Secure"));

    let request = Request::get("http://example.com/")
        .header("forwarded", "for=1.2.3.4;proto=https")
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            visit.session().await.unwrap().insert("a", 1).unwrap();
            ok()
        })
        .await;
    assert!(cookie_of(&response).unwrap().ends_with("; Secure"));
}

#[tokio::test]
async fn browser_session_cookie_has_no_max_age() {
    let h = harness(
        "session_cookie_persistent = false\nsession_cookie_samesite = Strict\nsession_cookie = sid",
    );
    let request = Request::get("/").body(()).unwrap();
    let response = h
        .run(request, |visit| async move {
            visit.session().await.unwrap().insert("a", 1).unwrap();
            ok()
        })
        .await;
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.starts_with("sid="), "{cookie}");
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
}

#[tokio::test]
async fn lazy_nothing_stored_means_no_session_and_no_cookie() {
    let h = harness("");
    for _ in 0..10 {
        let response = h
            .run(Request::get("/").body(()).unwrap(), |visit| async move {
                // reading the session creates nothing
                let session = visit.session().await.unwrap();
                assert_eq!(session.get::<i64>("counter"), None);
                let _ = session.id();
                ok()
            })
            .await;
        assert!(response.headers().get(header::SET_COOKIE).is_none());
    }
    let untouched = h
        .run(Request::get("/").body(()).unwrap(), |_| async { ok() })
        .await;
    assert!(untouched.headers().get(header::SET_COOKIE).is_none());
    assert!(h.store.is_empty());
}

#[tokio::test]
async fn unknown_and_forged_ids_are_never_adopted() {
    let h = harness("");
    let forged = crate::session::SessionId::generate().unwrap();
    let (response, n) = h.count(Some(forged.as_str())).await;
    assert_eq!(n, 0, "an unknown id starts a fresh session");
    let issued = id_of(&cookie_of(&response).unwrap());
    assert_ne!(
        issued,
        forged.as_str(),
        "the attacker's id must not be adopted"
    );
    assert!(h.log_text().contains("Session unknown"));

    let (response, n) = h.count(Some("not-an-id")).await;
    assert_eq!(n, 0);
    assert_ne!(id_of(&cookie_of(&response).unwrap()), "not-an-id");
}

#[tokio::test]
async fn stale_cookie_is_cleared_when_nothing_is_stored() {
    let h = harness("");
    let forged = crate::session::SessionId::generate().unwrap();
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={}", forged.as_str()))
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            let _ = visit.session().await.unwrap();
            ok()
        })
        .await;
    let cookie = cookie_of(&response).unwrap();
    assert!(
        cookie.starts_with("session_id=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
}

async fn login(h: &Harness, id: Option<&str>, name: &str) -> String {
    let mut request = Request::post("/login");
    if let Some(id) = id {
        request = request.header(header::COOKIE, format!("session_id={id}"));
    }
    let name = name.to_owned();
    let response = h
        .run(request.body(()).unwrap(), |visit| async move {
            visit.session().await.unwrap().login(User::new(name));
            ok()
        })
        .await;
    id_of(&cookie_of(&response).expect("login sets a cookie"))
}

#[tokio::test]
async fn login_and_logout_cycle_the_id_and_keep_data() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let before = id_of(&cookie_of(&first).unwrap());
    let after_login = login(&h, Some(&before), "alice").await;
    assert_ne!(before, after_login);
    // the old id is dead, the new one carries data and user
    let (_, n) = h.count(Some(&after_login)).await;
    assert_eq!(n, 1, "data survives the login");
    assert_eq!(h.store.len(), 1, "the old record was removed");
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={before}"))
        .body(())
        .unwrap();
    h.run(request, |visit| async move {
        assert_eq!(visit.user().await.unwrap(), None, "old id grants nothing");
        ok()
    })
    .await;
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={after_login}"))
        .body(())
        .unwrap();
    h.run(request, |visit| async move {
        assert_eq!(visit.user().await.unwrap(), Some(User::new("alice")));
        ok()
    })
    .await;
    assert!(h.log_text().contains("Logged in as: alice"));

    let request = Request::post("/logout")
        .header(header::COOKIE, format!("session_id={after_login}"))
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            visit.session().await.unwrap().logout();
            ok()
        })
        .await;
    let after_logout = id_of(&cookie_of(&response).unwrap());
    assert_ne!(after_logout, after_login);
    let (_, n) = h.count(Some(&after_logout)).await;
    assert_eq!(n, 2, "logout keeps data; destroy removes it");
}

#[tokio::test]
async fn destroy_removes_the_session_and_clears_the_cookie() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let request = Request::post("/logout")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            let session = visit.session().await.unwrap();
            session.logout();
            session.destroy();
            ok()
        })
        .await;
    assert!(cookie_of(&response).unwrap().contains("Max-Age=0"));
    assert!(h.store.is_empty());
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 0, "a destroyed session is gone");
}

#[tokio::test]
async fn expiry_and_sliding_refresh_without_sleeping() {
    let h = harness("session_timeout = 60\nsession_cookie_persistent = true");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    // Each visit within 60 s slides the expiry: 3 × 50 s > 60 s in total.
    for expected in 1..=3 {
        h.clock.advance(Duration::from_secs(50));
        let (_, n) = h.count(Some(&id)).await;
        assert_eq!(n, expected);
    }
    // A read-only visit also slides it.
    h.clock.advance(Duration::from_secs(50));
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            let _ = visit.session().await.unwrap().get::<i64>("counter");
            ok()
        })
        .await;
    assert!(
        cookie_of(&response).unwrap().contains("Max-Age=60"),
        "cookie refreshed too"
    );
    h.clock.advance(Duration::from_secs(50));
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 4);
    // Then 61 s of silence: gone.
    h.clock.advance(Duration::from_secs(61));
    let (response, n) = h.count(Some(&id)).await;
    assert_eq!(n, 0);
    assert_ne!(id_of(&cookie_of(&response).unwrap()), id);
}

#[tokio::test]
async fn zero_timeout_never_expires() {
    let h = harness("session_timout = 0");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    h.clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn concurrent_visits_writing_different_keys_keep_both() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let request = |id: &str| {
        Request::get("/")
            .header(header::COOKIE, format!("session_id={id}"))
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    // Both visits load the session before either finishes.
    let (a, b) = (request(&id), request(&id));
    let Entry::Proceed(va) = h.canister.enter(&a, peer()).await else {
        panic!()
    };
    let Entry::Proceed(vb) = h.canister.enter(&b, peer()).await else {
        panic!()
    };
    va.session().await.unwrap().insert("a", "from a").unwrap();
    vb.session().await.unwrap().insert("b", "from b").unwrap();
    let (mut pa, _) = ok().into_parts();
    let (mut pb, _) = ok().into_parts();
    assert!(matches!(h.canister.finish(va, &mut pa).await, Finish::Keep));
    assert!(matches!(h.canister.finish(vb, &mut pb).await, Finish::Keep));
    let check = request(&id);
    let Entry::Proceed(v) = h.canister.enter(&check, peer()).await else {
        panic!()
    };
    let session = v.session().await.unwrap();
    assert_eq!(session.get::<String>("a").as_deref(), Some("from a"));
    assert_eq!(session.get::<String>("b").as_deref(), Some("from b"));
    assert_eq!(session.get::<i64>("counter"), Some(0));
}

#[tokio::test]
async fn a_save_racing_a_destroy_does_not_resurrect_the_session() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let parts = |id: &str| {
        Request::get("/")
            .header(header::COOKIE, format!("session_id={id}"))
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let (a, b) = (parts(&id), parts(&id));
    let Entry::Proceed(writer) = h.canister.enter(&a, peer()).await else {
        panic!()
    };
    let Entry::Proceed(destroyer) = h.canister.enter(&b, peer()).await else {
        panic!()
    };
    writer
        .session()
        .await
        .unwrap()
        .insert("late", true)
        .unwrap();
    destroyer.session().await.unwrap().destroy();
    let (mut pd, _) = ok().into_parts();
    let _ = h.canister.finish(destroyer, &mut pd).await;
    let (mut pw, _) = ok().into_parts();
    let _ = h.canister.finish(writer, &mut pw).await;
    assert!(
        h.store.is_empty(),
        "the late save must not bring the session back"
    );
    // Only the request that ended the session touches the cookie.
    assert!(pw.headers.get(header::SET_COOKIE).is_none(), "{pw:?}");
    assert!(h.log_text().contains("Session ended during the request"));
}

/// Security review #11: a request that loaded the session before a concurrent login and
/// writes after it must not clear (or overwrite) the cookie the login just set.
#[tokio::test]
async fn a_write_straddling_a_login_leaves_the_logins_cookie_alone() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let old = id_of(&cookie_of(&first).unwrap());
    let parts = Request::get("/")
        .header(header::COOKIE, format!("session_id={old}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let Entry::Proceed(slow) = h.canister.enter(&parts, peer()).await else {
        panic!()
    };
    let session = slow.session().await.unwrap();
    let new = login(&h, Some(&old), "alice").await;
    assert_ne!(new, old);
    session.insert("late", true).unwrap();
    let (mut res, _) = ok().into_parts();
    let _ = h.canister.finish(slow, &mut res).await;
    assert!(res.headers.get(header::SET_COOKIE).is_none(), "{res:?}");
    // The login's session is intact and logged in.
    let response = h
        .run(
            Request::get("/")
                .header(header::COOKIE, format!("session_id={new}"))
                .body(())
                .unwrap(),
            |visit| async move {
                let user = visit.user().await.unwrap().unwrap();
                Response::new(Bytes::from(user.name().to_owned()))
            },
        )
        .await;
    assert_eq!(response.body(), "alice");
}

/// Security review #10 (cookie tossing): with several session cookies, the first live one is
/// the session, and none is cleared because an unknown one came first.
#[tokio::test]
async fn several_session_cookies_use_the_live_one_and_clear_none() {
    let h = harness("");
    let live = login(&h, None, "alice").await;
    let tossed = crate::session::SessionId::generate().unwrap();
    let tossed = tossed.as_str();
    let request = |cookies: String| {
        Request::get("/secret")
            .header(header::COOKIE, cookies)
            .body(())
            .unwrap()
    };
    let whoami = |visit: Visit| async move {
        match visit.user().await.unwrap() {
            Some(user) => Response::new(Bytes::from(user.name().to_owned())),
            None => visit.unauthorized().into_response(),
        }
    };
    // The tossed cookie first (a longer Path is sent first), then the real one; also
    // split over two Cookie headers, and with a malformed one in between.
    for cookies in [
        format!("session_id={tossed}; session_id={live}"),
        format!("session_id=garbage; session_id={tossed}; session_id={live}"),
    ] {
        let response = h.run(request(cookies.clone()), whoami).await;
        assert_eq!(response.body(), "alice", "{cookies}");
        // Only the sliding refresh of the live cookie, never a clearing one.
        let set = cookie_of(&response).unwrap_or_default();
        assert!(!set.contains("Max-Age=0"), "{cookies}: {set}");
        assert!(set.is_empty() || id_of(&set) == live, "{cookies}: {set}");
    }
    let two_headers = Request::get("/secret")
        .header(header::COOKIE, format!("session_id={tossed}"))
        .header(header::COOKIE, format!("session_id={live}"))
        .body(())
        .unwrap();
    assert_eq!(h.run(two_headers, whoami).await.body(), "alice");
    // Several cookies and none live: not cleared either (ours may be among them).
    let other = crate::session::SessionId::generate().unwrap();
    let response = h
        .run(
            request(format!(
                "session_id={tossed}; session_id={}",
                other.as_str()
            )),
            whoami,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_of(&response).is_none(), "{response:?}");
}

/// Security review #23: when the random source fails at a login, the old id is never kept
/// (fixation): the answer is 503 and the session is unchanged.
#[tokio::test]
async fn a_failing_random_source_at_login_is_a_503_not_the_old_id() {
    let h = harness("session_on_store_error = anonymous");
    let (first, _) = h.count(None).await;
    let old = id_of(&cookie_of(&first).unwrap());
    crate::session::fail_random_for_test(true);
    let response = h
        .run(
            Request::post("/login")
                .header(header::COOKIE, format!("session_id={old}"))
                .body(())
                .unwrap(),
            |visit| async move {
                visit.session().await.unwrap().login(User::new("alice"));
                ok()
            },
        )
        .await;
    crate::session::fail_random_for_test(false);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(cookie_of(&response).is_none(), "{response:?}");
    // The old session was not logged in.
    let response = h
        .run(
            Request::get("/")
                .header(header::COOKIE, format!("session_id={old}"))
                .body(())
                .unwrap(),
            |visit| async move {
                assert!(visit.user().await.unwrap().is_none());
                ok()
            },
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        h.log_text().contains("random source failed"),
        "{}",
        h.log_text()
    );
}

/// Security review #5: with `session_on_store_error = anonymous`, a logout (or login) while
/// the store is down is a 503, never a reported success; a destroy still clears the cookie.
#[tokio::test]
async fn anonymous_mode_never_reports_a_failed_logout_as_done() {
    let canister = Canister::builder()
        .config(
            Config::from_ini_str(
                "[canister]\nsession_on_store_error = anonymous\nlog_level = DISABLED",
            )
            .unwrap(),
        )
        .store(crate::session::FaultyStore::down())
        .authenticator(())
        .log_sink(())
        .build()
        .unwrap();
    let id = crate::session::SessionId::generate().unwrap();
    for action in ["logout", "destroy", "login"] {
        let parts = Request::post("/logout")
            .header(header::COOKIE, format!("session_id={}", id.as_str()))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
            panic!()
        };
        let session = visit.session().await.expect("anonymous session");
        match action {
            "logout" => session.logout(),
            "destroy" => session.destroy(),
            _ => session.login(User::new("alice")),
        }
        let (mut res, _) = ok().into_parts();
        assert!(
            matches!(
                canister.finish(visit, &mut res).await,
                Finish::ReplaceBody(_)
            ),
            "{action}"
        );
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{action}");
        let cleared = res
            .headers
            .get(header::SET_COOKIE)
            .is_some_and(|c| c.to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(cleared, action == "destroy", "{action}: {res:?}");
    }
}

#[tokio::test]
async fn store_change_is_only_the_delta() {
    let mut record = Record::default();
    record.data.insert("keep".into(), 1.into());
    record.data.insert("drop".into(), 2.into());
    let change = Change {
        cleared: false,
        set: vec![("new".into(), 3.into())],
        removed: vec!["drop".into()],
        user: Some(Some(User::new("bob"))),
    };
    change.apply_to(&mut record);
    assert_eq!(record.data.get("keep"), Some(&1.into()));
    assert_eq!(record.data.get("drop"), None);
    assert_eq!(record.data.get("new"), Some(&3.into()));
    assert_eq!(record.user, Some(User::new("bob")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_gives_an_exact_counter_for_5_tasks_times_30() {
    let h = Arc::new(harness("session_locking = true"));
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let h = Arc::clone(&h);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..30 {
                let (response, _) = h.count(Some(&id)).await;
                assert_eq!(response.status(), StatusCode::OK);
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 151, "150 increments after the initial 0, then this one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_locking_read_modify_write_can_lose_increments_but_never_hangs() {
    // The opposite of the test above, to show the lock is what makes it exact: with
    // interleaved loads and saves, the last writer wins on one key.
    let h = harness("");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let parts = Request::get("/")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let Entry::Proceed(a) = h.canister.enter(&parts, peer()).await else {
        panic!()
    };
    let Entry::Proceed(b) = h.canister.enter(&parts, peer()).await else {
        panic!()
    };
    for v in [&a, &b] {
        let s = v.session().await.unwrap();
        let n = s.get::<i64>("counter").unwrap() + 1;
        s.insert("counter", n).unwrap();
    }
    for v in [a, b] {
        let (mut p, _) = ok().into_parts();
        let _ = h.canister.finish(v, &mut p).await;
    }
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 2, "two unlocked increments of 0 both wrote 1");
}

#[tokio::test]
async fn a_held_lock_times_out_with_503_instead_of_hanging() {
    let h = harness("session_locking = true\nsession_lock_timeout = 0.05");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let parts = Request::get("/")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let Entry::Proceed(holder) = h.canister.enter(&parts, peer()).await else {
        panic!()
    };
    let _held = holder.session().await.unwrap();
    let (response, _) = h.count(Some(&id)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.log_text().contains("waiting for the session lock"));
    // A route that never touches the session does not wait for the lock.
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap();
    let response = h.run(request, |_| async { ok() }).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A memory store whose loads are pending once before they answer, as a networked store's
/// are: two loads of one request then overlap.
#[cfg(feature = "default-sink")]
#[derive(Debug, Default, Clone)]
struct SlowLoads(MemoryStore);

#[cfg(feature = "default-sink")]
impl SessionStore for SlowLoads {
    type Lock = <MemoryStore as SessionStore>::Lock;
    async fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> Result<Option<Record>, StoreError> {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if std::mem::replace(&mut yielded, true) {
                std::task::Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await;
        self.0.load(key, ttl).await
    }
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.0.create(key, record, ttl).await
    }
    async fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.0.cycle(old, new, record, ttl).await
    }
    async fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.0.save(key, change, ttl).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.0.delete(key).await
    }
    async fn lock(&self, key: &StoreKey, wait: Duration) -> Result<Self::Lock, StoreError> {
        self.0.lock(key, wait).await
    }
    async fn unlock(&self, lock: Self::Lock) {
        self.0.unlock(lock).await;
    }
}

/// actix-web runs a handler's extractors concurrently: two loads of one request's session
/// (`Session` and `Option<User>`) must not wait for each other's session lock.
// Builds the default sink (canister's lines).
#[cfg(feature = "default-sink")]
#[tokio::test]
async fn concurrent_loads_of_one_request_share_its_lock() {
    let config =
        Config::from_ini_str("[canister]\nsession_locking = true\nsession_lock_timeout = 0.05")
            .unwrap();
    let canister = Canister::builder()
        .config(config)
        .store(SlowLoads::default())
        .build()
        .unwrap();
    let request = || Request::get("/").body(()).unwrap().into_parts().0;
    let Entry::Proceed(visit) = canister.enter(&request(), peer()).await else {
        panic!()
    };
    visit.session().await.unwrap().insert("n", 1).unwrap();
    let mut parts = Response::new(()).into_parts().0;
    assert!(matches!(
        canister.finish(visit, &mut parts).await,
        Finish::Keep
    ));
    let cookie = parts.headers[header::SET_COOKIE].to_str().unwrap();
    let mut parts = request();
    parts.headers.insert(
        header::COOKIE,
        HeaderValue::from_str(cookie.split(';').next().unwrap()).unwrap(),
    );
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!()
    };
    let (session, user) = futures_util::future::join(visit.session(), visit.user()).await;
    assert_eq!(
        session.map_err(|r| r.status()).unwrap().get::<i64>("n"),
        Some(1)
    );
    assert!(user.is_ok(), "{:?}", user.err().map(|r| r.status()));
}

#[tokio::test]
async fn store_down_gives_503_on_load_and_on_save() {
    let lines: Lines = Arc::default();
    let l = Arc::clone(&lines);
    let sink: Sink = Box::new(move |ctx: &LogContext, ev: &Event<'_>| {
        l.lock().unwrap().push(format!("[{ctx}] {ev}"))
    });
    let canister = Canister::builder()
        .config(Config::from_ini_str("[canister]\nCORS = *").unwrap())
        .store(crate::session::FaultyStore::down())
        .authenticator(())
        .log_sink(sink)
        .build()
        .unwrap();
    let id = crate::session::SessionId::generate().unwrap();
    let parts = Request::get("/")
        .header(header::COOKIE, format!("session_id={}", id.as_str()))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!()
    };
    let refused = visit.session().await.unwrap_err();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("connection refused")));

    // A new session whose creation fails: the handler's 200 becomes a 503.
    let parts = Request::get("/").body(()).unwrap().into_parts().0;
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!()
    };
    visit.session().await.unwrap().insert("k", 1).unwrap();
    let (mut res, _) = ok().into_parts();
    let finish = canister.finish(visit, &mut res).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers.get(header::SET_COOKIE).is_none());
    assert_eq!(
        res.headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .unwrap(),
        "*"
    );
    let Finish::ReplaceBody(body) = finish else {
        panic!("the body must be replaced")
    };
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("session store unavailable"));
}

#[tokio::test]
async fn store_down_with_anonymous_mode_serves_an_unsaved_session() {
    let canister = Canister::builder()
        .config(
            Config::from_ini_str(
                "[canister]\nsession_on_store_error = anonymous\nlog_level = DISABLED",
            )
            .unwrap(),
        )
        .store(crate::session::FaultyStore::down())
        .authenticator(())
        .log_sink(())
        .build()
        .unwrap();
    let id = crate::session::SessionId::generate().unwrap();
    let parts = Request::get("/")
        .header(header::COOKIE, format!("session_id={}", id.as_str()))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!()
    };
    let session = visit.session().await.expect("anonymous session");
    session.insert("k", 1).unwrap();
    let (mut res, _) = ok().into_parts();
    assert!(matches!(
        canister.finish(visit, &mut res).await,
        Finish::Keep
    ));
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.headers.get(header::SET_COOKIE).is_none());
}

fn cors_request(method: &str, origin: Option<&str>, extra: &[(&str, &str)]) -> Request<()> {
    let mut r = Request::builder()
        .method(method)
        .uri("http://api.example.com/items");
    if let Some(o) = origin {
        r = r.header(header::ORIGIN, o);
    }
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.body(()).unwrap()
}

#[tokio::test]
async fn cors_star_adds_the_header_to_every_response_as_canister() {
    let h = harness("CORS = *");
    let response = h
        .run(cors_request("GET", None, &[]), |_| async { ok() })
        .await;
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let response = h
        .run(
            cors_request("GET", Some("https://a.example"), &[]),
            |_| async {
                let mut r = ok();
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            },
        )
        .await;
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        .is_none());
}

#[tokio::test]
async fn cors_preflight_is_answered_without_the_handler() {
    let h = harness("CORS = *\ncors_max_age = 600");
    let ran = Arc::new(Mutex::new(false));
    let ran2 = Arc::clone(&ran);
    let response = h
        .run(
            cors_request(
                "OPTIONS",
                Some("https://a.example"),
                &[
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "x-token"),
                ],
            ),
            |_| async move {
                *ran2.lock().unwrap() = true;
                ok()
            },
        )
        .await;
    assert!(
        !*ran.lock().unwrap(),
        "the handler must not run for a preflight"
    );
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let headers = response.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap()
        .contains("PUT"));
    // `x-token` is not in the default list, which goes out whole (the browser then refuses).
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "accept, accept-language, content-language, content-type, authorization"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
    assert!(headers[header::VARY].to_str().unwrap().contains("Origin"));
}

#[tokio::test]
async fn an_options_request_that_is_not_a_preflight_reaches_the_app() {
    let h = harness("CORS = *");
    let ran = Arc::new(Mutex::new(false));
    let ran2 = Arc::clone(&ran);
    h.run(
        cors_request("OPTIONS", Some("https://a.example"), &[]),
        |_| async move {
            *ran2.lock().unwrap() = true;
            ok()
        },
    )
    .await;
    assert!(*ran.lock().unwrap());
    // CORS off: even a real preflight reaches the app.
    let h = harness("");
    let response = h
        .run(
            cors_request(
                "OPTIONS",
                Some("https://a.example"),
                &[("access-control-request-method", "PUT")],
            ),
            |_| async { ok() },
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
}

#[tokio::test]
async fn cors_list_echoes_allowed_origins_with_credentials_and_vary() {
    let h = harness("CORS = https://app.example, http://localhost:3000\ncors_credentials = true\ncors_expose_headers = x-total");
    let response = h
        .run(
            cors_request("GET", Some("https://app.example"), &[]),
            |_| async { ok() },
        )
        .await;
    let headers = response.headers();
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], "x-total");
    assert_eq!(headers[header::VARY], "Origin");

    let response = h
        .run(
            cors_request("GET", Some("https://evil.example"), &[]),
            |_| async { ok() },
        )
        .await;
    assert!(response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
    assert_eq!(response.headers()[header::VARY], "Origin");
}

/// Issue #17 (F13): a preflight from an origin that is not allowed used to fall through to
/// the router (a 405 in axum). Canister answers it: 204, no CORS header but `Vary`, the
/// handler not run, a WARNING naming the origin.
#[tokio::test]
async fn preflight_from_a_disallowed_origin_is_answered_without_cors_headers() {
    let h = harness("CORS = https://app.example\ncors_credentials = true");
    let ran = Arc::new(Mutex::new(false));
    let ran2 = Arc::clone(&ran);
    let response = h
        .run(
            cors_request(
                "OPTIONS",
                Some("https://evil.example"),
                &[("access-control-request-method", "DELETE")],
            ),
            |_| async move {
                *ran2.lock().unwrap() = true;
                Response::builder()
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .body(Bytes::new())
                    .unwrap()
            },
        )
        .await;
    assert!(!*ran.lock().unwrap(), "the handler ran for a preflight");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.body().is_empty());
    let cors: Vec<_> = response
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "CORS headers on a refusal: {cors:?}");
    assert!(response.headers()[header::VARY]
        .to_str()
        .unwrap()
        .contains("Origin"));
    let lines = h.lines.lock().unwrap().join("\n");
    assert!(
        lines.contains(
            "WARNING [149.172.44.162-...] CORS preflight refused: origin https://evil.example is not allowed"
        ),
        "{lines}"
    );
    assert!(lines.contains("Response: 204"), "{lines}");
}

/// Finding 18: with `cors_headers` unset, a preflight used to be granted every header it asked
/// for, `cookie` and made-up ones included, with credentials.
#[tokio::test]
async fn preflight_grants_the_default_header_list_unless_configured() {
    let preflight = |asked: &'static str| {
        cors_request(
            "OPTIONS",
            Some("https://app.example"),
            &[
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", asked),
            ],
        )
    };
    let granted = |response: &Response<Bytes>| {
        response.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let h = harness("CORS = https://app.example\ncors_credentials = true");
    let response = h
        .run(preflight("x-evil, authorization, cookie"), |_| async {
            ok()
        })
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let list = granted(&response);
    assert!(list.iter().any(|h| h == "authorization"), "{list:?}");
    assert!(list.iter().any(|h| h == "content-type"), "{list:?}");
    assert!(
        !list.iter().any(|h| h == "x-evil" || h == "cookie"),
        "{list:?}"
    );

    // `cors_headers` replaces the default list; `*` echoes what is asked.
    let h = harness("CORS = https://app.example\ncors_headers = x-token");
    let response = h
        .run(preflight("x-token, authorization"), |_| async { ok() })
        .await;
    assert_eq!(granted(&response), ["x-token"]);
    let h = harness("CORS = https://app.example\ncors_headers = *");
    let response = h.run(preflight("x-evil, cookie"), |_| async { ok() }).await;
    assert_eq!(granted(&response), ["x-evil", "cookie"]);
}

#[tokio::test]
async fn csrf_matrix() {
    let h = harness("CORS = https://app.example\ncsrf_trusted_origins = https://partner.example");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let cookie = format!("session_id={id}");
    let cases: &[CsrfCase<'_>] = &[
        (
            "POST",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            false,
            "cross-site by fetch metadata",
        ),
        (
            "POST",
            &[("sec-fetch-site", "cross-site")],
            false,
            "cross-site without origin",
        ),
        (
            "DELETE",
            &[("origin", "https://evil.example")],
            false,
            "foreign origin, no fetch metadata",
        ),
        ("PUT", &[("origin", "null")], false, "opaque origin"),
        (
            "POST",
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://api.example.com"),
            ],
            true,
            "same origin",
        ),
        (
            "POST",
            &[("origin", "http://api.example.com")],
            true,
            "same origin without fetch metadata",
        ),
        (
            "POST",
            &[("sec-fetch-site", "same-site")],
            false,
            "same site without origin",
        ),
        (
            "POST",
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://evil.example.com"),
            ],
            false,
            "sibling subdomain",
        ),
        (
            "POST",
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://partner.example"),
            ],
            true,
            "same site from a trusted origin",
        ),
        (
            "POST",
            &[("sec-fetch-site", "none")],
            true,
            "user-initiated navigation",
        ),
        (
            "POST",
            &[
                ("sec-fetch-site", "bogus"),
                ("origin", "http://api.example.com"),
            ],
            false,
            "unknown fetch metadata",
        ),
        (
            "POST",
            &[("origin", "https://api.example.com:443")],
            true,
            "same host and port, default port spelled out",
        ),
        (
            "POST",
            &[("origin", "http://api.example.com:8081")],
            false,
            "same host, other port",
        ),
        (
            "POST",
            &[("origin", "http://sub.api.example.com")],
            false,
            "subdomain without fetch metadata",
        ),
        (
            "TRACE",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            false,
            "TRACE is not a safe method here",
        ),
        ("POST", &[], true, "curl: no headers"),
        (
            "POST",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://partner.example"),
            ],
            true,
            "trusted origin",
        ),
        (
            "PATCH",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example"),
            ],
            true,
            "CORS-listed origin",
        ),
        (
            "GET",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            true,
            "safe method",
        ),
    ];
    // Every case with and without the session cookie: a cross-site login, a session swap and
    // cached Basic credentials carry no cookie, and are checked all the same.
    for with_cookie in [true, false] {
        for (method, headers, allowed, what) in cases {
            let mut extra: Vec<(&str, &str)> = headers.to_vec();
            if with_cookie {
                extra.push(("cookie", &cookie));
            }
            let mut r = Request::builder()
                .method(*method)
                .uri("/items")
                .header("host", "api.example.com");
            for (k, v) in &extra {
                r = r.header(*k, *v);
            }
            let response = h.run(r.body(()).unwrap(), |_| async { ok() }).await;
            let got = response.status() != StatusCode::FORBIDDEN;
            assert_eq!(
                got,
                *allowed,
                "{what} (cookie: {with_cookie}): {}",
                response.status()
            );
        }
    }
    assert!(h
        .log_text()
        .contains("Cross-site request refused (CSRF): origin https://evil.example"));
    // And the key turns it off.
    let h = harness("csrf = false");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let r = Request::post("/")
        .header("cookie", format!("session_id={id}"))
        .header("sec-fetch-site", "cross-site")
        .body(())
        .unwrap();
    assert_eq!(h.run(r, |_| async { ok() }).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logs_never_carry_the_session_id_and_use_the_tag() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let id = id_of(&cookie_of(&first).unwrap());
    let (_, _) = h.count(Some(&id)).await;
    let text = h.log_text();
    assert!(!text.contains(&id), "{text}");
    assert!(!text.contains(&id[..12]), "{text}");
    assert!(
        text.contains("INFO [149.172.44.162-...] GET http://localhost:8080/"),
        "{text}"
    );
    let tag = crate::session::tag_of(&crate::session::SessionId::parse(&id).unwrap().key());
    let tag = std::str::from_utf8(&tag).unwrap();
    assert!(
        text.contains(&format!("[149.172.44.162-{tag}] Session found")),
        "{text}"
    );
    assert!(
        text.contains(&format!("[149.172.44.162-{tag}] Response: 200 (0ms)")),
        "{text}"
    );
    assert!(text.contains("Session created"), "{text}");
}

#[tokio::test]
async fn the_response_line_of_a_login_names_the_new_session() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let before = id_of(&cookie_of(&first).unwrap());
    let after = login(&h, Some(&before), "alice").await;
    let tag = |id: &str| {
        let key = crate::session::SessionId::parse(id).unwrap().key();
        String::from_utf8(crate::session::tag_of(&key).to_vec()).unwrap()
    };
    let text = h.log_text();
    let login_lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("POST /login"))
        .collect();
    let response = login_lines
        .iter()
        .find(|l| l.contains("Response: 200"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(response.contains(&format!("-{}]", tag(&after))), "{text}");
    assert!(
        login_lines
            .iter()
            .any(|l| l.contains(&format!("-{}] Session found", tag(&before)))),
        "{text}"
    );
}

#[tokio::test]
async fn slow_responses_are_warnings() {
    let h = harness("log_slow_ms = 1000");
    let clock = h.clock.clone();
    h.run(Request::get("/").body(()).unwrap(), |_| async move {
        clock.advance(Duration::from_millis(1234));
        ok()
    })
    .await;
    assert!(
        h.log_text()
            .contains("WARNING [149.172.44.162-...] Response: 200 (1234ms !!!)"),
        "{}",
        h.log_text()
    );
}

/// Finding F14: Basic credentials sent to an app without a Basic user were logged as
/// "unsupported authorization scheme"; Basic is supported, it is not configured.
#[tokio::test]
async fn credentials_of_an_unconfigured_scheme_say_it_is_not_configured() {
    async fn reason_logged<A: Authenticator>(h: &Harness<A>, authorization: &str) -> String {
        let r = Request::get("/")
            .header("authorization", authorization)
            .body(())
            .unwrap();
        let seen = Arc::new(Mutex::new(None));
        let in_handler = Arc::clone(&seen);
        h.run(r, |visit| async move {
            assert_eq!(visit.user().await.unwrap(), None);
            *in_handler.lock().unwrap() = visit.refusal().map(|r| r.reason().to_owned());
            ok()
        })
        .await;
        let reason = seen.lock().unwrap().clone().unwrap_or_default();
        let text = h.log_text();
        assert!(
            text.contains(&format!(
                "WARNING [149.172.44.162-...] Authorization refused (-): {reason}"
            )),
            "{text}"
        );
        reason
    }
    // alice:my-secret
    let basic = "Basic YWxpY2U6bXktc2VjcmV0";
    let h = harness("");
    assert_eq!(
        reason_logged(&h, basic).await,
        "Basic authentication is not configured (no Basic user)"
    );
    assert_eq!(
        reason_logged(&h, "Bearer abc.def.ghi").await,
        "Bearer authentication is not configured (no JWT client id)"
    );
    assert_eq!(
        reason_logged(&h, "bearer abc.def.ghi").await,
        "Bearer authentication is not configured (no JWT client id)"
    );
    assert_eq!(
        reason_logged(&h, "Digest x").await,
        "unsupported authorization scheme"
    );
    assert!(!h.log_text().contains("YWxpY2U6bXktc2VjcmV0"));

    // The configured chain with JWT only: Basic is the one not configured.
    let ini = "auth_jwt_client_id = a\nauth_jwt_secret = s";
    let config = Config::from_ini_str(&format!("[canister]\n{ini}")).unwrap();
    let auth = crate::auth::DefaultAuthenticator::from_config(&config).unwrap();
    let h = harness_with(ini, auth);
    assert_eq!(
        reason_logged(&h, basic).await,
        "Basic authentication is not configured (no Basic user)"
    );
}

#[tokio::test]
async fn user_is_the_header_user_first_then_the_session_user() {
    let auth = crate::auth::FnAuthenticator::new(|c: &crate::auth::Credentials<'_>| {
        if c.is_scheme("bearer") && c.token() == "good" {
            AuthOutcome::Authenticated(User::new("tok"))
        } else if c.is_scheme("bearer") {
            AuthOutcome::Refused(Refusal::new("Bearer", "bad token"))
        } else {
            AuthOutcome::NotMine
        }
    });
    let h = harness_with("", auth);
    let r = Request::get("/")
        .header("authorization", "Bearer good")
        .body(())
        .unwrap();
    let response = h
        .run(r, |visit| async move {
            assert_eq!(visit.user().await.unwrap(), Some(User::new("tok")));
            // not remembered: nothing stored, no cookie
            ok()
        })
        .await;
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert!(h.store.is_empty());

    let r = Request::get("/")
        .header("authorization", "Bearer nope")
        .body(())
        .unwrap();
    h.run(r, |visit| async move {
        assert_eq!(visit.user().await.unwrap(), None);
        assert_eq!(visit.refusal().unwrap().reason(), "bad token");
        ok()
    })
    .await;
    let text = h.log_text();
    assert!(
        text.contains("Authorization refused (Bearer): bad token"),
        "{text}"
    );
    assert!(!text.contains("nope"), "the credential is never logged");

    let r = Request::get("/")
        .header("authorization", "Bearer a b")
        .body(())
        .unwrap();
    h.run(r, |visit| async move {
        assert!(
            visit.refusal().is_some(),
            "three words are refused, not ignored"
        );
        ok()
    })
    .await;
}

#[tokio::test]
async fn auth_remember_keeps_the_header_user_in_a_cycled_session() {
    let auth = crate::auth::FnAuthenticator::new(|c: &crate::auth::Credentials<'_>| {
        if c.token() == "good" {
            AuthOutcome::Authenticated(User::new("tok"))
        } else {
            AuthOutcome::NotMine
        }
    });
    let h = harness_with("auth_remember = true", auth);
    let (first, _) = {
        let r = Request::get("/").body(()).unwrap();
        let resp = h
            .run(r, |v| async move {
                v.session().await.unwrap().insert("x", 1).unwrap();
                ok()
            })
            .await;
        (resp, ())
    };
    let before = id_of(&cookie_of(&first).unwrap());
    let r = Request::get("/")
        .header("authorization", "Bearer good")
        .header("cookie", format!("session_id={before}"))
        .body(())
        .unwrap();
    let response = h.run(r, |_| async { ok() }).await;
    let after = id_of(&cookie_of(&response).expect("remembered: new cookie"));
    assert_ne!(before, after, "id cycled as at any login");
    let r = Request::get("/")
        .header("cookie", format!("session_id={after}"))
        .body(())
        .unwrap();
    h.run(r, |v| async move {
        assert_eq!(v.user().await.unwrap(), Some(User::new("tok")));
        ok()
    })
    .await;
}

#[tokio::test]
async fn unauthorized_carries_the_authenticators_challenges() {
    let auth =
        crate::auth::FnAuthenticator::new(|_: &crate::auth::Credentials<'_>| AuthOutcome::NotMine)
            .with_challenge(HeaderValue::from_static(
                "Basic realm=\"private\", charset=\"UTF-8\"",
            ));
    let h = harness_with("", auth);
    let response = h
        .run(Request::get("/secret").body(()).unwrap(), |v| async move {
            match v.require_user().await {
                Ok(_) => ok(),
                Err(r) => r.into_response(),
            }
        })
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"private\", charset=\"UTF-8\""
    );
}

#[tokio::test]
async fn params_errors_are_400_naming_the_field_and_logged() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Hi {
        foo: String,
        bar: Option<String>,
    }
    let h = harness("");
    let response = h
        .run(
            Request::get("/hi?bar=Smith").body(()).unwrap(),
            |v| async move {
                match v.params::<Hi>(Some("bar=Smith"), None, Bytes::new()).await {
                    Ok(_) => ok(),
                    Err(r) => r.into_response(),
                }
            },
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.body(), "missing parameter 'foo'\n");
    assert!(h
        .log_text()
        .contains("WARNING [149.172.44.162-...] Bad parameters: missing parameter 'foo'"));
}

#[tokio::test]
async fn memory_store_cap_keeps_the_most_recent_and_cookieless_floods_store_nothing() {
    let clock = TestClock::new();
    let store = MemoryStore::new()
        .with_clock(clock.clone())
        .max_sessions(16);
    for i in 0..64u8 {
        let key = StoreKey::from_bytes([i; 32]);
        assert!(store
            .create(
                &key,
                &Record::default(),
                Some(Duration::from_secs(60 + u64::from(i)))
            )
            .await
            .unwrap());
    }
    assert!(store.len() <= 16, "{} sessions held", store.len());
    // The newest (most recently used) survive.
    assert!(store
        .load(&StoreKey::from_bytes([63; 32]), None)
        .await
        .unwrap()
        .is_some());

    let h = harness("");
    for _ in 0..1000 {
        h.run(Request::get("/").body(()).unwrap(), |_| async { ok() })
            .await;
    }
    assert!(h.store.is_empty());
}

#[tokio::test]
async fn memory_store_sweeps_expired_entries_lazily() {
    let clock = TestClock::new();
    let store = MemoryStore::new()
        .with_clock(clock.clone())
        .sweep_every(Duration::from_secs(1));
    for i in 0..100u8 {
        let key = StoreKey::from_bytes([i; 32]);
        store
            .create(&key, &Record::default(), Some(Duration::from_secs(10)))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 100);
    clock.advance(Duration::from_secs(11));
    // Writes to a shard sweep it; one write per shard empties the store.
    for i in 0..=255u8 {
        let key = StoreKey::from_bytes([i; 32]);
        let _ = store.save(&key, &Change::default(), None).await.unwrap();
    }
    assert_eq!(store.len(), 0);
    assert!(store
        .load(&StoreKey::from_bytes([1; 32]), None)
        .await
        .unwrap()
        .is_none());
}

/// An engine on a memory store capped at `cap`, logging into the returned lines.
fn capped(ini: &str, cap: usize) -> (Canister<MemoryStore, (), Sink>, TestClock, Lines) {
    let config = Config::from_ini_str(&format!("[canister]\n{ini}")).expect("config");
    let clock = TestClock::new();
    let lines: Lines = Arc::default();
    let sink_lines = Arc::clone(&lines);
    let sink: Sink = Box::new(move |ctx: &LogContext, ev: &Event<'_>| {
        sink_lines
            .lock()
            .unwrap()
            .push(format!("{} [{ctx}] {ev}", ev.level()));
    });
    let canister = Canister::builder()
        .config(config)
        .store(
            MemoryStore::new()
                .with_clock(clock.clone())
                .max_sessions(cap),
        )
        .authenticator(())
        .log_sink(sink)
        .clock(clock.clone())
        .build()
        .expect("engine");
    (canister, clock, lines)
}

/// One cookieless request whose handler stores something: a new session.
async fn create_session(canister: &Canister<MemoryStore, (), Sink>) {
    let (parts, ()) = Request::get("/").body(()).unwrap().into_parts();
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!("refused");
    };
    visit.session().await.unwrap().insert("k", 1).unwrap();
    let (mut res, _) = ok().into_parts();
    assert!(matches!(
        canister.finish(visit, &mut res).await,
        Finish::Keep
    ));
}

#[test]
fn the_default_engine_store_is_bounded_and_session_max_zero_lifts_the_cap() {
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED").unwrap();
    assert_eq!(config.session.max, None);
    assert_eq!(
        config.session_cap(),
        Some(crate::session::DEFAULT_MAX_SESSIONS)
    );
    let canister = Canister::from_config(config).unwrap();
    assert_eq!(canister.store().cap(), Some(100_000));
    assert_eq!(MemoryStore::new().cap(), Some(100_000));

    let set = |v: &str| {
        Canister::from_config(
            Config::from_ini_str(&format!(
                "[canister]\nlog_level = DISABLED\nsession_max = {v}"
            ))
            .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(set("500").store().cap(), Some(500));
    assert_eq!(set("0").store().cap(), None);
}

#[test]
fn session_max_with_a_store_given_in_code_is_refused_naming_the_key() {
    for value in ["500", "0", "100000"] {
        let config = Config::from_ini_str(&format!(
            "[canister]\nlog_level = DISABLED\nsession_max = {value}"
        ))
        .unwrap();
        let error = Canister::builder()
            .config(config)
            .store(MemoryStore::new())
            .build()
            .unwrap_err();
        let ConfigError::Conflict { key, message, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(key, "session_max");
        assert!(message.contains("MemoryStore"), "{message}");
    }
    // Not set: the default does not count.
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED").unwrap();
    assert!(Canister::builder()
        .config(config)
        .store(MemoryStore::new())
        .build()
        .is_ok());
}

#[tokio::test]
async fn a_full_memory_store_warns_at_most_once_a_minute() {
    let (canister, clock, lines) = capped("", 16);
    let warnings = || {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("WARNING") && l.contains("memory session store full"))
            .cloned()
            .collect::<Vec<_>>()
    };
    // 16 shards of one session each: 64 creations evict at least 48.
    for _ in 0..64 {
        create_session(&canister).await;
    }
    let first = warnings();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("session_max = 16"), "{}", first[0]);
    clock.advance(Duration::from_secs(59));
    for _ in 0..64 {
        create_session(&canister).await;
    }
    assert_eq!(warnings().len(), 1, "a second warning within the minute");
    clock.advance(Duration::from_secs(1));
    for _ in 0..64 {
        create_session(&canister).await;
    }
    assert_eq!(
        warnings().len(),
        2,
        "no warning a minute later while evicting"
    );
    // The evictions since that warning are reported once a minute later, then no more
    // while nothing is evicted.
    let quiet_request = || async {
        let (parts, ()) = Request::get("/").body(()).unwrap().into_parts();
        let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
            panic!("refused");
        };
        let (mut res, _) = ok().into_parts();
        let _ = canister.finish(visit, &mut res).await;
    };
    clock.advance(Duration::from_secs(60));
    quiet_request().await;
    assert_eq!(warnings().len(), 3);
    clock.advance(Duration::from_secs(600));
    quiet_request().await;
    assert_eq!(warnings().len(), 3);
}

#[tokio::test]
async fn a_logged_in_user_survives_a_flood_of_anonymous_sessions() {
    let (canister, _clock, _lines) = capped("", 16);
    // Log alice in (a form login stores her in a new session).
    let (parts, ()) = Request::post("/login").body(()).unwrap().into_parts();
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!("refused");
    };
    visit.session().await.unwrap().login(User::new("alice"));
    let (mut res, _) = ok().into_parts();
    let _ = canister.finish(visit, &mut res).await;
    let cookie = res.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    let id = id_of(&cookie);
    // 4 000 anonymous sessions, 250 times the cap.
    for _ in 0..4000 {
        create_session(&canister).await;
    }
    assert!(canister.store().len() <= 16);
    let (parts, ()) = Request::get("/secret")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap()
        .into_parts();
    let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
        panic!("refused");
    };
    assert_eq!(visit.user().await.unwrap(), Some(User::new("alice")));
    let (mut res, _) = ok().into_parts();
    let _ = canister.finish(visit, &mut res).await;
}

#[tokio::test]
async fn an_insert_past_session_max_bytes_is_refused_and_saves_nothing() {
    // {"a": "xx…"}: key 1 byte + 42 bytes of JSON string = 43 bytes.
    let h = harness("session_max_bytes = 64");
    let insert = |key: &'static str, value: String| {
        move |visit: Visit| async move {
            let session = visit.session().await.unwrap();
            match session.insert(key, value) {
                Ok(()) => ok(),
                Err(error) => {
                    let mut response = Response::new(Bytes::from(error.to_string()));
                    *response.status_mut() = error.status();
                    response
                }
            }
        }
    };
    let first = h
        .run(
            Request::post("/set").body(()).unwrap(),
            insert("a", "x".repeat(40)),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let id = id_of(&cookie_of(&first).unwrap());
    let key = crate::session::SessionId::parse(&id).unwrap().key();
    let saved = h.store.load(&key, None).await.unwrap().unwrap();

    // 43 + 1 + 22 = 66 bytes: refused, nothing saved, logged.
    let second = h
        .run(
            Request::post("/set")
                .header(header::COOKIE, format!("session_id={id}"))
                .body(())
                .unwrap(),
            insert("b", "y".repeat(20)),
        )
        .await;
    assert_eq!(second.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        second.body(),
        "session data would take 66 bytes, over session_max_bytes = 64: nothing was stored"
    );
    assert_eq!(h.store.load(&key, None).await.unwrap().unwrap(), saved);
    assert!(
        h.log_text().contains("WARNING [149.172.44.162-")
            && h.log_text()
                .contains("session write refused: its data would take 66 bytes"),
        "{}",
        h.log_text()
    );

    // Replacing a key counts the new value instead of the old one: 1 + 62 = 63 bytes fit.
    let third = h
        .run(
            Request::post("/set")
                .header(header::COOKIE, format!("session_id={id}"))
                .body(())
                .unwrap(),
            insert("a", "z".repeat(60)),
        )
        .await;
    assert_eq!(third.status(), StatusCode::OK);
    let data = h.store.load(&key, None).await.unwrap().unwrap().data;
    assert_eq!(data.get("a"), Some(&serde_json::json!("z".repeat(60))));
    assert_eq!(data.get("b"), None);
}

#[test]
fn the_banner_names_a_store_given_in_code() {
    let h = harness("");
    let lines = h.lines.lock().unwrap();
    let line = lines
        .iter()
        .find(|l| l.contains("session_store "))
        .expect("a session_store line in the banner");
    // `std::any::type_name`'s exact text is not guaranteed: check the type and the marker.
    assert!(line.contains("MemoryStore"), "{line}");
    assert!(line.ends_with(" (given in code)"), "{line}");
    assert!(!line.ends_with("= memory"), "{line}");
    // The configured cap is not the given store's: the banner does not pretend it is.
    let cap = lines
        .iter()
        .find(|l| l.contains("session_max "))
        .expect("a session_max line in the banner");
    assert!(
        cap.ends_with("(not used: the store given in code)"),
        "{cap}"
    );
}

// Builds the default sink (canister's lines).
#[cfg(feature = "default-sink")]
#[test]
fn a_configured_store_server_without_a_store_is_refused() {
    let config =
        Config::from_ini_str("[canister]\nsession_store = redis://:pw@127.0.0.1:6379/0").unwrap();
    let error = Canister::builder().config(config).build().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("session_store"), "{text}");
    assert!(text.contains("RedisStore::from_config"), "{text}");
    assert!(!text.contains(":pw@"), "{text}");
    // `memory` (the Python canister's only store) builds.
    let config = Config::from_ini_str("[canister]\nsession_store = memory").unwrap();
    assert!(Canister::builder().config(config).build().is_ok());
}

/// Collects the message and `ctx` value of each slog record.
#[derive(Clone, Default)]
struct CollectContexts(Arc<Mutex<Vec<(String, String)>>>);

impl slog::Drain for CollectContexts {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        struct Ctx(Option<String>);
        impl slog::Serializer for Ctx {
            fn emit_arguments(
                &mut self,
                key: slog::Key,
                val: &std::fmt::Arguments<'_>,
            ) -> slog::Result {
                if key == crate::log::CONTEXT_KEY && self.0.is_none() {
                    // `ip-tag req=ID`: the id is checked elsewhere.
                    let text = val.to_string();
                    let context = text.split_once(" req=").map_or(&*text, |(c, _)| c);
                    self.0 = Some(context.to_owned());
                }
                Ok(())
            }
        }
        let mut ctx = Ctx(None);
        let _ = slog::KV::serialize(&record.kv(), record, &mut ctx);
        let _ = slog::KV::serialize(values, record, &mut ctx);
        self.0
            .lock()
            .unwrap()
            .push((record.msg().to_string(), ctx.0.unwrap_or_default()));
        Ok(())
    }
}

/// Issue #17 (F4): a logger taken before the session was loaded (axum's `Log` before
/// `Session`) wrote `[ip-...]` on every line; the tag is now read when each line is written.
#[tokio::test]
async fn a_logger_taken_before_the_session_writes_its_tag() {
    let collect = CollectContexts::default();
    let canister = Canister::builder()
        .config(Config::from_ini_str("[canister]\nlog_level = DISABLED").unwrap())
        .log_sink(crate::log::SlogSink::from_logger(slog::Logger::root(
            collect.clone(),
            slog::o!(),
        )))
        .build()
        .unwrap();
    let run = |cookie: Option<String>| {
        let canister = canister.clone();
        async move {
            let mut request = Request::get("http://localhost/");
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            let (parts, ()) = request.body(()).unwrap().into_parts();
            let Entry::Proceed(visit) = canister.enter(&parts, peer()).await else {
                panic!("proceed");
            };
            let log = visit.logger();
            slog::info!(log, "before the session");
            let session = visit.session().await.unwrap();
            session.insert("n", 1).unwrap();
            slog::info!(log, "after the session");
            let (mut res, ()) = Response::new(()).into_parts();
            let _ = canister.finish(visit, &mut res).await;
            slog::info!(log, "after finish");
            res.headers
                .get(header::SET_COOKIE)
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        }
    };
    let cookie = run(None).await.expect("a new session sets its cookie");
    collect.0.lock().unwrap().clear();
    run(Some(cookie.clone())).await;
    let tag = String::from_utf8(
        crate::session::tag_of(
            &crate::session::SessionId::parse(cookie.trim_start_matches("session_id="))
                .unwrap()
                .key(),
        )
        .to_vec(),
    )
    .unwrap();
    let seen: Vec<_> = collect
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(message, _)| message.contains(" the session") || message == "after finish")
        .cloned()
        .collect();
    let with_tag = format!("149.172.44.162-{tag}");
    assert_eq!(
        seen,
        [
            (
                "before the session".to_owned(),
                "149.172.44.162-...".to_owned()
            ),
            ("after the session".to_owned(), with_tag.clone()),
            ("after finish".to_owned(), with_tag),
        ]
    );
}

/// A harness whose sink keeps the request id of every line (`None` outside requests).
fn harness_ids(ini: &str) -> (Harness, Arc<Mutex<Vec<Option<String>>>>) {
    let config = Config::from_ini_str(&format!("[canister]\n{ini}")).expect("config");
    let clock = TestClock::new();
    let store = MemoryStore::new().with_clock(clock.clone());
    let ids: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let sink_ids = Arc::clone(&ids);
    let sink: Sink = Box::new(move |ctx: &LogContext, _: &Event<'_>| {
        let id = ctx.request_id().map(ToString::to_string);
        assert!(
            ctx.to_string()
                .ends_with(&format!(" req={}", id.as_deref().unwrap_or("")))
                || id.is_none()
        );
        sink_ids.lock().unwrap().push(id);
    });
    let canister = Canister::builder()
        .config(config)
        .store(store.clone())
        .authenticator(())
        .log_sink(sink)
        .clock(clock.clone())
        .build()
        .expect("engine");
    ids.lock().unwrap().clear(); // the banner
    let h = Harness {
        canister,
        clock,
        store,
        lines: Arc::default(),
    };
    (h, ids)
}

fn request_id_of(response: &Response<Bytes>, header: &str) -> String {
    response
        .headers()
        .get(header)
        .unwrap_or_else(|| panic!("no {header} on {:?}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn request_ids_on_every_response_and_every_line() {
    let (h, ids) = harness_ids("CORS = https://app.example");
    let mut seen = std::collections::HashSet::new();
    // A handled request.
    let (response, _) = h.count(None).await;
    let id = request_id_of(&response, "x-request-id");
    assert!(seen.insert(id.clone()));
    {
        let lines = ids.lock().unwrap();
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(
            lines.iter().all(|l| l.as_deref() == Some(&id)),
            "{lines:?} {id}"
        );
    }
    // A preflight and a CSRF refusal, answered by the engine.
    for request in [
        cors_request(
            "OPTIONS",
            Some("https://app.example"),
            &[("access-control-request-method", "DELETE")],
        ),
        cors_request(
            "OPTIONS",
            Some("https://evil.example"),
            &[("access-control-request-method", "DELETE")],
        ),
        Request::post("http://localhost:8080/set")
            .header(header::ORIGIN, "https://evil.example")
            .body(())
            .unwrap(),
    ] {
        ids.lock().unwrap().clear();
        let response = h.run(request, |_| async { ok() }).await;
        let id = request_id_of(&response, "x-request-id");
        assert!(seen.insert(id.clone()), "{id} repeated");
        let lines = ids.lock().unwrap();
        assert!(!lines.is_empty());
        assert!(
            lines.iter().all(|l| l.as_deref() == Some(&id)),
            "{lines:?} {id}"
        );
    }
    // The handler's 404 and the store's 503 (a handler's response) carry it too.
    let response = h
        .run(
            Request::get("http://localhost/x").body(()).unwrap(),
            |v| async move {
                assert!(!v.request_id().to_string().is_empty());
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .header("x-request-id", "from-the-handler")
                    .body(Bytes::new())
                    .unwrap()
            },
        )
        .await;
    assert_ne!(request_id_of(&response, "x-request-id"), "from-the-handler");
}

#[tokio::test]
async fn incoming_request_ids_are_kept_only_when_trusted_and_valid() {
    let incoming = |id: &'static str| {
        Request::get("http://localhost/")
            .header("x-corr", id)
            .body(())
            .unwrap()
    };
    let (untrusting, _) = harness_ids("request_id_header = X-Corr");
    let response = untrusting
        .run(incoming("abc-123"), |_| async { ok() })
        .await;
    assert_ne!(request_id_of(&response, "x-corr"), "abc-123");
    assert!(response.headers().get("x-request-id").is_none());

    let (trusting, ids) = harness_ids("request_id_header = X-Corr\nrequest_id_trust = true");
    let response = trusting.run(incoming("abc-123"), |_| async { ok() }).await;
    assert_eq!(request_id_of(&response, "x-corr"), "abc-123");
    assert!(ids
        .lock()
        .unwrap()
        .iter()
        .all(|l| l.as_deref() == Some("abc-123")));
    let long = Box::leak("x".repeat(129).into_boxed_str());
    for bad in ["has space", "é", long] {
        let request = Request::get("http://localhost/")
            .header(
                "x-corr",
                http::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            )
            .body(())
            .unwrap();
        let response = trusting.run(request, |_| async { ok() }).await;
        let id = request_id_of(&response, "x-corr");
        assert_ne!(id, bad);
        assert!(
            id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()),
            "{id}"
        );
    }
}

// Issue #22: session lifecycle.

/// `session_max_lifetime` ends a session that long after its login, however busy it is.
#[tokio::test]
async fn max_lifetime_ends_a_busy_session_counted_from_its_login() {
    let h = harness("session_timeout = 60\nsession_max_lifetime = 300");
    let (first, _) = h.count(None).await;
    let anonymous = id_of(&cookie_of(&first).unwrap());
    // Busy for 250 s, then a login: the lifetime counts afresh from the login.
    for _ in 0..5 {
        h.clock.advance(Duration::from_secs(50));
        let (_, n) = h.count(Some(&anonymous)).await;
        assert!(n > 0);
    }
    let id = login(&h, Some(&anonymous), "alice").await;
    // A visit every 50 s keeps it well inside the idle timeout...
    let mut n_last = 0;
    for _ in 0..5 {
        h.clock.advance(Duration::from_secs(50));
        let (_, n) = h.count(Some(&id)).await;
        assert!(n > n_last, "alive at 250 s after login");
        n_last = n;
    }
    // ... but at 300 s after the login it is over: nothing found, a new session.
    h.clock.advance(Duration::from_secs(50));
    let (response, n) = h.count(Some(&id)).await;
    assert_eq!(n, 0, "the session outlived session_max_lifetime");
    assert_ne!(id_of(&cookie_of(&response).unwrap()), id);
    assert!(
        h.log_text().contains("session_max_lifetime"),
        "{}",
        h.log_text()
    );
    // It was removed from the store too: only the new session is left.
    assert_eq!(h.store.len(), 1);
}

/// A remembered login gets a persistent cookie (`session_remember_timeout`) and lives that
/// long in the store; a plain login a browser-session cookie and `session_timeout`.
#[tokio::test]
async fn remembered_logins_are_persistent_and_outlive_the_idle_timeout() {
    let h = harness("session_timeout = 60\nsession_remember_timeout = 86400");
    let request = Request::post("/login").body(()).unwrap();
    let response = h
        .run(request, |visit| async move {
            let session = visit.session().await.unwrap();
            session.login_remembered(User::new("alice"));
            assert!(session.is_remembered());
            ok()
        })
        .await;
    let cookie = cookie_of(&response).unwrap();
    assert!(cookie.contains("; Max-Age=86400"), "{cookie}");
    let id = id_of(&cookie);
    // Silent for an hour: alive (a plain login would have expired after 60 s).
    h.clock.advance(Duration::from_secs(3600));
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={id}"))
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            assert_eq!(visit.user().await.unwrap(), Some(User::new("alice")));
            ok()
        })
        .await;
    // Its persistent cookie is re-sent, so its Max-Age slides.
    assert!(cookie_of(&response)
        .unwrap()
        .contains(&format!("session_id={id}; ")));
    // A day of silence: gone.
    h.clock.advance(Duration::from_secs(86_401));
    let (_, n) = h.count(Some(&id)).await;
    assert_eq!(n, 0);

    let plain = login(&h, None, "bob").await;
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={plain}"))
        .body(())
        .unwrap();
    let response = h
        .run(request, |visit| async move {
            assert_eq!(visit.user().await.unwrap(), Some(User::new("bob")));
            ok()
        })
        .await;
    assert!(cookie_of(&response).is_none(), "not re-sent");
    h.clock.advance(Duration::from_secs(61));
    let request = Request::get("/")
        .header(header::COOKIE, format!("session_id={plain}"))
        .body(())
        .unwrap();
    h.run(request, |visit| async move {
        assert_eq!(visit.user().await.unwrap(), None, "plain login expired");
        ok()
    })
    .await;
}

/// The default cookie is a browser-session cookie, not re-sent while its id stays the same;
/// `session_cookie_persistent = true` brings back the sliding `Max-Age`.
#[tokio::test]
async fn a_browser_session_cookie_is_not_re_sent_when_its_id_did_not_change() {
    let h = harness("");
    let (first, _) = h.count(None).await;
    let cookie = cookie_of(&first).unwrap();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    let (again, n) = h.count(Some(&id_of(&cookie))).await;
    assert_eq!(n, 1);
    assert!(cookie_of(&again).is_none(), "re-sent on a write");

    let h = harness("session_cookie_persistent = true");
    let (first, _) = h.count(None).await;
    let cookie = cookie_of(&first).unwrap();
    assert!(cookie.contains("Max-Age=3600"), "{cookie}");
    let (again, _) = h.count(Some(&id_of(&cookie))).await;
    assert!(cookie_of(&again).unwrap().contains("Max-Age=3600"));
}

/// The memory store refreshes a session's time to live only under 80 % of it.
#[tokio::test]
async fn the_memory_store_slides_only_under_80_percent() {
    let clock = TestClock::new();
    let store = MemoryStore::new().with_clock(clock.clone());
    let key = SessionId::generate().unwrap().key();
    let ttl = Some(Duration::from_secs(100));
    store.create(&key, &Record::default(), ttl).await.unwrap();
    // At 15 s (85 % left): no refresh, so the deadline stays at 100 s.
    clock.advance(Duration::from_secs(15));
    assert!(store.load(&key, ttl).await.unwrap().is_some());
    clock.advance(Duration::from_secs(85));
    assert!(
        store.load(&key, ttl).await.unwrap().is_none(),
        "slid at 85 %"
    );

    store.create(&key, &Record::default(), ttl).await.unwrap();
    // At 25 s (75 % left): refreshed to 125 s.
    clock.advance(Duration::from_secs(25));
    assert!(store.load(&key, ttl).await.unwrap().is_some());
    clock.advance(Duration::from_secs(99));
    assert!(
        store.load(&key, ttl).await.unwrap().is_some(),
        "not slid at 75 %"
    );
}

#[tokio::test]
async fn partitioned_cookie_and_host_prefix_checks() {
    let h = harness("session_cookie_partitioned = true");
    let (first, _) = h.count(None).await;
    assert!(cookie_of(&first).unwrap().contains("; Partitioned"));

    let refused = |ini: &str| {
        Config::from_ini_str(&format!("[canister]\n{ini}"))
            .and_then(|c| c.validate().map(|()| c))
            .expect_err(ini)
            .to_string()
    };
    let e = refused("session_cookie = __Host-sid");
    assert!(e.contains("session_cookie") && e.contains("__Host-"), "{e}");
    let e = refused(
        "session_cookie = __Host-sid\nsession_cookie_secure = true\nsession_cookie_path = /app",
    );
    assert!(e.contains("Path") || e.contains("path"), "{e}");
    let e = refused(
        "session_cookie = __Host-sid\nsession_cookie_secure = true\nsession_cookie_domain = example.com",
    );
    assert!(e.contains("domain"), "{e}");
    let e = refused("session_cookie_partitioned = true\nsession_cookie_secure = false");
    assert!(e.contains("session_cookie_partitioned"), "{e}");
    let ok = Config::from_ini_str(
        "[canister]\nsession_cookie = __Host-sid\nsession_cookie_secure = true",
    )
    .unwrap();
    ok.validate().unwrap();
}

/// The visit's one allocation stays within what glibc's thread cache serves (blocks up to
/// 1 032 bytes): above it every request's visit took malloc's slower path (issue #24).
#[test]
fn the_visit_fits_the_allocators_thread_cache() {
    // The `Arc`'s two counters come on top of the visit itself.
    let block = std::mem::size_of::<VisitInner>() + 16;
    assert!(block <= 1024, "{block} bytes");
}

/// The memory store lends a loaded session's data instead of copying it; the handler's
/// writes sit over it. Reads, removals, `data()`, a login (the whole record moves) and a
/// concurrent request holding the same data all see what a copy would show.
#[tokio::test]
async fn lent_session_data_reads_like_a_copy() {
    let h = harness("");
    let with = |id: &str| {
        Request::post("/")
            .header(header::COOKIE, format!("session_id={id}"))
            .body(())
            .unwrap()
    };
    let first = h
        .run(Request::post("/").body(()).unwrap(), |visit| async move {
            let session = visit.session().await.unwrap();
            session.insert("a", 1).unwrap();
            session.insert("b", 2).unwrap();
            session.insert("c", 3).unwrap();
            ok()
        })
        .await;
    let id = id_of(&cookie_of(&first).unwrap());

    h.run(with(&id), |visit| async move {
        let session = visit.session().await.unwrap();
        assert_eq!(session.get::<i64>("a"), Some(1));
        session.insert("a", 5).unwrap();
        session.insert("a", 6).unwrap();
        assert_eq!(session.get::<i64>("a"), Some(6));
        assert_eq!(session.value("b"), Some(2.into()));
        assert_eq!(session.remove("b"), Some(2.into()));
        assert_eq!(session.get::<i64>("b"), None);
        session.insert("d", 4).unwrap();
        let data = session.data();
        assert_eq!(
            data.iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect::<Vec<_>>(),
            [("a", 6.into()), ("c", 3.into()), ("d", 4.into())]
        );
        ok()
    })
    .await;

    // Two requests of one session at once: the first holds the lent data while the second
    // writes; each keeps the other's key, and the first still reads what it loaded.
    let (parts_a, ()) = with(&id).into_parts();
    let (parts_b, ()) = with(&id).into_parts();
    let Entry::Proceed(a) = h.canister.enter(&parts_a, peer()).await else {
        panic!("refused");
    };
    let session_a = a.session().await.unwrap();
    assert_eq!(session_a.get::<i64>("c"), Some(3));
    let Entry::Proceed(b) = h.canister.enter(&parts_b, peer()).await else {
        panic!("refused");
    };
    b.session().await.unwrap().insert("c", 30).unwrap();
    let (mut res, _) = ok().into_parts();
    let _ = h.canister.finish(b, &mut res).await;
    assert_eq!(session_a.get::<i64>("c"), Some(3), "a snapshot, as a copy");
    session_a.insert("e", 7).unwrap();
    drop(session_a);
    let (mut res, _) = ok().into_parts();
    let _ = h.canister.finish(a, &mut res).await;

    // A login moves the whole record, lent data and change together.
    let login = h
        .run(with(&id), |visit| async move {
            let session = visit.session().await.unwrap();
            session.insert("f", 8).unwrap();
            session.login(User::new("alice"));
            ok()
        })
        .await;
    let moved = id_of(&cookie_of(&login).unwrap());
    assert_ne!(moved, id);
    h.run(with(&moved), |visit| async move {
        let data = visit.session().await.unwrap().data();
        assert_eq!(
            data.iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect::<Vec<_>>(),
            [
                ("a", 6.into()),
                ("c", 30.into()),
                ("d", 4.into()),
                ("e", 7.into()),
                ("f", 8.into())
            ]
        );
        ok()
    })
    .await;
}
