//! `authorization`: the `Authorization` header parser and the Basic, Bearer and chained
//! authenticators, directly and through `enter`.
//!
//! Input: the header value's bytes (skipped when `http` refuses them).
//!
//! Checked: [`Credentials::parse`] yields exactly the two words of the value or refuses; Basic
//! authenticates only credentials that decode (independent base64 model) to a configured
//! `user:password`, and always authenticates their canonical encodings; Basic and Bearer answer
//! "not mine" exactly for other schemes; an accepted bearer token carries the HMAC of its
//! first two parts; the configured chain answers as the member owning the scheme; `enter`
//! reports the same user or refusal; the 401 carries exactly the two configured challenges,
//! the Bearer one with `invalid_token` and the reason for a refused bearer token; no refusal
//! reason contains a long credential.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use canister_core::auth::{
    AuthOutcome, Authenticator, Basic, Credentials, DefaultAuthenticator, Jwt, Refusal,
};
use canister_core::{session::MemoryStore, Canister, Entry, Finish, TestClock};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use super::common::{block_on, config, set_cookie, SetCookie};

/// The users Basic knows.
const USERS: [(&str, &str); 2] = [("alice", "my-secret"), ("bob", "hunter2")];

/// Credentials at least this long must never show up in a reason or a challenge (shorter ones
/// can be words of the fixed texts).
const LONG: usize = 24;

type Engine = Canister<MemoryStore, DefaultAuthenticator, ()>;

struct Fixture {
    basic_users: Basic,
    basic_one: Basic,
    jwt: Jwt,
    chain: DefaultAuthenticator,
    engine: Engine,
}

/// The time of the fixtures' clocks: between the `nbf` and `exp` of canister-core's test
/// tokens.
pub(crate) fn now() -> TestClock {
    TestClock::at(UNIX_EPOCH + Duration::from_secs(4_090_000_000))
}

fn jwt() -> Jwt {
    match Jwt::builder("alice")
        .secret("secret")
        .clock(Arc::new(now()))
        .build()
    {
        Ok(jwt) => jwt,
        Err(error) => panic!("jwt: {error}"),
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let engine = Canister::builder()
            .config(config(
                "auth_basic_username = alice\nauth_basic_password = my-secret\n\
                 auth_jwt_client_id = alice\nauth_jwt_secret = secret\n",
            ))
            .log_sink(())
            .clock(now())
            .build();
        let engine = match engine {
            Ok(engine) => engine,
            Err(error) => panic!("engine: {error}"),
        };
        Fixture {
            basic_users: Basic::from_users(USERS),
            basic_one: Basic::new("alice", "my-secret").with_realm("staff \"a\\b\""),
            jwt: jwt(),
            chain: DefaultAuthenticator::new(Some(Basic::new("alice", "my-secret")), Some(jwt())),
            engine,
        }
    })
}

/// An outcome in a comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Summary {
    User(String),
    Refused(Refusal),
    NotMine,
}

fn summary(outcome: AuthOutcome) -> Summary {
    match outcome {
        AuthOutcome::Authenticated(user) => Summary::User(user.name().to_owned()),
        AuthOutcome::Refused(refusal) => Summary::Refused(refusal),
        AuthOutcome::NotMine => Summary::NotMine,
    }
}

fn check_refusal(refusal: &Refusal, token: &str) {
    assert!(
        matches!(refusal.scheme(), "-" | "Basic" | "Bearer"),
        "refusal scheme {:?}",
        refusal.scheme()
    );
    if token.len() >= LONG {
        assert!(
            !refusal.reason().contains(token),
            "refusal reason contains the credentials"
        );
    }
}

/// Checks a Basic outcome against the model; `users` are the pairs it knows.
fn check_basic(credentials: &Credentials<'_>, outcome: &Summary, users: &[(&str, &str)]) {
    let token = credentials.token();
    if !credentials.scheme().eq_ignore_ascii_case("basic") {
        assert_eq!(*outcome, Summary::NotMine, "Basic took another scheme");
        return;
    }
    let decoded = STANDARD_NO_PAD.decode(token.trim_end_matches('=')).ok();
    for (user, password) in users {
        let plain = format!("{user}:{password}");
        if token == STANDARD.encode(&plain) || token == STANDARD_NO_PAD.encode(&plain) {
            assert_eq!(
                *outcome,
                Summary::User((*user).to_owned()),
                "valid credentials refused"
            );
        }
    }
    match outcome {
        Summary::User(name) => {
            let Some((_, password)) = users.iter().find(|(user, _)| user == name) else {
                panic!("Basic authenticated unknown user {name:?}");
            };
            assert_eq!(
                decoded.as_deref(),
                Some(format!("{name}:{password}").as_bytes()),
                "Basic authenticated credentials that do not decode to the user's"
            );
        }
        Summary::Refused(refusal) => {
            assert_eq!(refusal.scheme(), "Basic");
            check_refusal(refusal, token);
        }
        Summary::NotMine => panic!("Basic said not mine to Basic credentials"),
    }
}

fn check_bearer(credentials: &Credentials<'_>, outcome: &Summary) {
    if !credentials.scheme().eq_ignore_ascii_case("bearer") {
        assert_eq!(*outcome, Summary::NotMine, "Jwt took another scheme");
        return;
    }
    match outcome {
        Summary::User(_) => assert!(
            super::jwt::hmac_signed(credentials.token(), b"secret"),
            "a bearer token without a valid HMAC was accepted"
        ),
        Summary::Refused(refusal) => {
            assert_eq!(refusal.scheme(), "Bearer");
            check_refusal(refusal, credentials.token());
        }
        Summary::NotMine => panic!("Jwt said not mine to Bearer credentials"),
    }
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let f = fixture();

    let parsed = Credentials::parse(&value);
    let words: Option<Vec<&str>> = value
        .to_str()
        .ok()
        .map(|text| text.split_ascii_whitespace().collect());
    let expected = match &parsed {
        Err(refusal) => {
            assert!(
                words.as_ref().is_none_or(|w| w.len() != 2),
                "two words refused"
            );
            // The value itself may be a fixed text's words: only the scheme is checked.
            check_refusal(refusal, "");
            Summary::Refused(refusal.clone())
        }
        Ok(credentials) => {
            assert_eq!(
                words.as_deref(),
                Some(&[credentials.scheme(), credentials.token()][..]),
                "credentials are not the two words of the header"
            );
            let users = summary(block_on(f.basic_users.authenticate(credentials)));
            check_basic(credentials, &users, &USERS);
            let one = summary(block_on(f.basic_one.authenticate(credentials)));
            check_basic(credentials, &one, &USERS[..1]);
            let bearer = summary(block_on(f.jwt.authenticate(credentials)));
            check_bearer(credentials, &bearer);
            let chain = summary(block_on(f.chain.authenticate(credentials)));
            let owner = if credentials.is_scheme("basic") {
                one
            } else if credentials.is_scheme("bearer") {
                bearer
            } else {
                Summary::NotMine
            };
            assert_eq!(chain, owner, "the chain disagrees with the scheme's owner");
            match chain {
                Summary::NotMine => {
                    Summary::Refused(Refusal::new("-", "unsupported authorization scheme"))
                }
                other => other,
            }
        }
    };

    // The same header through the engine.
    let request = Request::get("http://localhost:8080/")
        .header(header::AUTHORIZATION, value.clone())
        .body(());
    let Ok(request) = request else {
        panic!("request with a valid header value refused");
    };
    let (parts, ()) = request.into_parts();
    let visit = match block_on(f.engine.enter(&parts, None)) {
        Entry::Proceed(visit) => visit,
        Entry::Respond(response) => panic!("a plain GET answered {}", response.status()),
    };
    let seen = match (visit.header_user(), visit.refusal()) {
        (Some(user), None) => Summary::User(user.name().to_owned()),
        (None, Some(refusal)) => Summary::Refused(refusal.clone()),
        (user, refusal) => panic!("enter reported user {user:?} and refusal {refusal:?}"),
    };
    assert_eq!(seen, expected, "enter disagrees with the authenticators");
    let unauthorized = visit.unauthorized().into_response();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<&HeaderValue> = unauthorized
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .collect();
    assert_eq!(challenges.len(), 2, "one challenge per configured scheme");
    // Exactly the configured challenges: the only variable text is a refusal's reason,
    // checked above never to contain the credentials.
    assert_eq!(
        challenges[0].as_bytes(),
        br#"Basic realm="private", charset="UTF-8""#,
        "Basic challenge"
    );
    let bearer_refusal = match &seen {
        Summary::Refused(r) if r.scheme() == "Bearer" => Some(r.reason()),
        _ => None,
    };
    assert_eq!(
        challenges[1].as_bytes(),
        super::jwt::bearer_challenge(bearer_refusal).as_bytes(),
        "Bearer challenge"
    );
    let (mut response, ()) = Response::new(()).into_parts();
    match block_on(f.engine.finish(visit, &mut response)) {
        Finish::Keep => {}
        Finish::ReplaceBody(body) => panic!("memory store failed: {body:?}"),
    }
    assert_eq!(
        set_cookie(&response.headers, "session_id"),
        SetCookie::None,
        "a header login created a session without auth_remember"
    );
}
