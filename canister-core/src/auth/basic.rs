//! HTTP Basic authentication (RFC 7617).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{
    quoted_string_content, AuthError, AuthOutcome, Authenticator, Credentials, Refusal, User,
};

/// The longest Basic token read, in bytes of base64 (about 3 KB of `user:password`).
const MAX_TOKEN_LEN: usize = 4096;

/// Standard base64 that accepts the padding or its absence (some clients drop it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type CheckFn = dyn Fn(&str, &str, &str) -> bool + Send + Sync;

/// HTTP Basic authentication (RFC 7617): `Authorization: Basic base64(user:password)`.
///
/// Credentials are UTF-8 (the challenge says `charset="UTF-8"`), and the password may contain
/// `:` (the username cannot). Passwords are kept only as SHA-256 digests, and comparisons run in
/// constant time on digests, so neither the password nor its length leaks through timing.
/// Malformed credentials (bad base64, no colon, not UTF-8, empty, longer than 4096 bytes) are
/// [refused](AuthOutcome::Refused) with a reason that never contains the credentials.
///
/// Four ways to say who may log in:
///
/// - one user with a clear password: [`Basic::new`] (canister's `auth_basic_encryption = clear`);
/// - one user with the hex SHA-256 of the password: [`Basic::from_sha256`] (`= sha256`);
/// - a map of users to clear passwords, like CherryPy's `checkpassword_dict`:
///   [`Basic::from_users`];
/// - your own check, like CherryPy's `checkpassword(realm, username, password)`:
///   [`Basic::with_check`].
///
/// The realm defaults to `private`; the 401 challenge is
/// `Basic realm="private", charset="UTF-8"`.
///
/// # Examples
///
/// ```
/// use canister_core::auth::{AuthOutcome, Authenticator, Basic, Credentials};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let basic = Basic::new("alice", "my-secret").with_realm("staff");
///
/// // "alice:my-secret" in base64
/// let credentials = Credentials::new("Basic", "YWxpY2U6bXktc2VjcmV0");
/// match basic.authenticate(&credentials).await {
///     AuthOutcome::Authenticated(user) => assert_eq!(user.name(), "alice"),
///     other => panic!("expected alice, got {other:?}"),
/// }
///
/// let mut challenges = Vec::new();
/// basic.challenges(None, &mut challenges);
/// assert_eq!(challenges[0], r#"Basic realm="staff", charset="UTF-8""#);
/// # }
/// ```
///
/// Your own check:
///
/// ```
/// use canister_core::auth::Basic;
///
/// let basic = Basic::with_check("private", |_realm, username, password| {
///     username == "bob" && password == "hunter2"
/// });
/// assert!(basic.verify("bob", "hunter2"));
/// assert!(!basic.verify("bob", "hunter3"));
/// ```
#[derive(Clone)]
pub struct Basic {
    users: Users,
    realm: String,
    challenge: HeaderValue,
}

#[derive(Clone)]
enum Users {
    One {
        name: String,
        name_digest: [u8; 32],
        password_digest: [u8; 32],
    },
    Map(HashMap<String, [u8; 32]>),
    Check(Arc<CheckFn>),
}

impl Basic {
    /// One user, `username`, whose password is `password` (in clear).
    ///
    /// Only the password's SHA-256 is kept. A username containing `:` can never log in (Basic
    /// credentials split at the first colon).
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::auth::Basic;
    ///
    /// let basic = Basic::new("alice", "my-secret");
    /// assert!(basic.verify("alice", "my-secret"));
    /// ```
    pub fn new(username: impl Into<String>, password: impl AsRef<str>) -> Self {
        let name = username.into();
        let users = Users::One {
            name_digest: sha256(name.as_bytes()),
            password_digest: sha256(password.as_ref().as_bytes()),
            name,
        };
        Self::from_parts(users, "private")
    }

    /// One user, `username`, whose password's SHA-256 is `hex_digest` (64 hex digits, either case).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidPasswordDigest`] when `hex_digest` is not 64 hex digits.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::auth::Basic;
    ///
    /// // The SHA-256 of "my-secret", as in canister's README.
    /// let basic = Basic::from_sha256(
    ///     "alice",
    ///     "186ef76e9d6a723ecb570d4d9c287487d001e5d35f7ed4a313350a407950318e",
    /// )?;
    /// assert!(basic.verify("alice", "my-secret"));
    /// # Ok::<(), canister_core::auth::AuthError>(())
    /// ```
    pub fn from_sha256(username: impl Into<String>, hex_digest: &str) -> Result<Self, AuthError> {
        let name = username.into();
        let Some(password_digest) = parse_hex_digest(hex_digest) else {
            return Err(AuthError::InvalidPasswordDigest { username: name });
        };
        let users = Users::One {
            name_digest: sha256(name.as_bytes()),
            password_digest,
            name,
        };
        Ok(Self::from_parts(users, "private"))
    }

    /// Several users, each with a clear password, like CherryPy's `checkpassword_dict`.
    ///
    /// Only the passwords' SHA-256 digests are kept. An unknown username costs the same
    /// comparison as a known one.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::auth::Basic;
    ///
    /// let basic = Basic::from_users([("alice", "my-secret"), ("bob", "hunter2")]);
    /// assert!(basic.verify("bob", "hunter2"));
    /// assert!(!basic.verify("bob", "my-secret"));
    /// ```
    pub fn from_users<I, U, P>(users: I) -> Self
    where
        I: IntoIterator<Item = (U, P)>,
        U: Into<String>,
        P: AsRef<str>,
    {
        let map = users
            .into_iter()
            .map(|(u, p)| (u.into(), sha256(p.as_ref().as_bytes())))
            .collect();
        Self::from_parts(Users::Map(map), "private")
    }

    /// Users checked by `check(realm, username, password)`, like CherryPy's `checkpassword`.
    ///
    /// `check` runs synchronously on the request's task, so keep it quick; it should compare
    /// secrets in constant time itself. For a check that does I/O, implement
    /// [`Authenticator`] on your own type.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::auth::Basic;
    ///
    /// let basic = Basic::with_check("intranet", |realm, username, password| {
    ///     realm == "intranet" && username == "bob" && password == "hunter2"
    /// });
    /// assert!(basic.verify("bob", "hunter2"));
    /// ```
    pub fn with_check<F>(realm: impl Into<String>, check: F) -> Self
    where
        F: Fn(&str, &str, &str) -> bool + Send + Sync + 'static,
    {
        Self::from_parts(Users::Check(Arc::new(check)), realm)
    }

    /// Sets the realm named in the challenge (and passed to a [`with_check`](Self::with_check)
    /// function). Default `private`.
    ///
    /// A `"` or `\` in the realm is escaped in the challenge; control characters become spaces.
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        Self::from_parts(self.users, realm)
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Whether `username` and `password` are valid, compared in constant time.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        match &self.users {
            Users::One {
                name_digest,
                password_digest,
                ..
            } => {
                let name_ok = ct_eq(&sha256(username.as_bytes()), name_digest);
                let password_ok = ct_eq(&sha256(password.as_bytes()), password_digest);
                bool::from(name_ok & password_ok)
            }
            Users::Map(map) => {
                // Compare even for an unknown user, so the work done does not tell.
                let (known, expected) = match map.get(username) {
                    Some(digest) => (Choice::from(1), *digest),
                    None => (Choice::from(0), [0; 32]),
                };
                bool::from(known & ct_eq(&sha256(password.as_bytes()), &expected))
            }
            Users::Check(check) => check(&self.realm, username, password),
        }
    }

    /// The outcome for `Basic` credentials, without the async wrapper.
    fn outcome(&self, credentials: &Credentials<'_>) -> AuthOutcome {
        if !credentials.is_scheme("basic") {
            return AuthOutcome::NotMine;
        }
        let token = credentials.token();
        if token.is_empty() {
            return refused("empty credentials");
        }
        if token.len() > MAX_TOKEN_LEN {
            return refused("credentials longer than 4096 bytes");
        }
        let Ok(decoded) = BASE64.decode(token) else {
            return refused("credentials are not valid base64");
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return refused("credentials are not utf-8");
        };
        let Some((username, password)) = decoded.split_once(':') else {
            return refused("credentials have no colon between username and password");
        };
        self.password_outcome(username, password)
    }

    fn password_outcome(&self, username: &str, password: &str) -> AuthOutcome {
        if !self.verify(username, password) {
            return refused("wrong username or password");
        }
        match &self.users {
            // The name as configured (equal to the one given).
            Users::One { name, .. } => AuthOutcome::Authenticated(User::new(name.clone())),
            Users::Map(_) | Users::Check(_) => AuthOutcome::Authenticated(User::new(username)),
        }
    }

    fn from_parts(users: Users, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        let text = format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            quoted_string_content(&realm)
        );
        let challenge = HeaderValue::from_str(&text).unwrap_or_else(|_| {
            HeaderValue::from_static("Basic realm=\"private\", charset=\"UTF-8\"")
        });
        Self {
            users,
            realm,
            challenge,
        }
    }
}

impl fmt::Debug for Basic {
    /// Shows the realm and who may log in, never a password or its digest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Basic");
        d.field("realm", &self.realm);
        match &self.users {
            Users::One { name, .. } => d.field("username", name),
            Users::Map(map) => d.field("users", &map.keys().collect::<Vec<_>>()),
            Users::Check(_) => d.field("check", &"<fn>"),
        };
        d.finish_non_exhaustive()
    }
}

impl Authenticator for Basic {
    fn authenticate<'a>(
        &'a self,
        credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        std::future::ready(self.outcome(credentials))
    }

    fn verify_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        std::future::ready(self.password_outcome(username, password))
    }

    fn challenges(&self, _refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        out.push(self.challenge.clone());
    }
}

fn refused(reason: &'static str) -> AuthOutcome {
    AuthOutcome::Refused(Refusal::new("Basic", reason))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> Choice {
    a[..].ct_eq(&b[..])
}

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let high = hex_value(pair[0])?;
        let low = hex_value(pair[1])?;
        *byte = high << 4 | low;
    }
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const MY_SECRET_SHA256: &str =
        "186ef76e9d6a723ecb570d4d9c287487d001e5d35f7ed4a313350a407950318e";

    fn b64(text: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn outcome(basic: &Basic, scheme: &str, token: &str) -> AuthOutcome {
        basic.outcome(&Credentials::new(scheme, token))
    }

    fn user_of(outcome: AuthOutcome) -> User {
        match outcome {
            AuthOutcome::Authenticated(user) => user,
            other => panic!("expected a user, got {other:?}"),
        }
    }

    fn reason_of(outcome: AuthOutcome) -> String {
        match outcome {
            AuthOutcome::Refused(refusal) => {
                assert_eq!(refusal.scheme(), "Basic");
                refusal.reason().to_owned()
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn clear_password_authenticates() {
        let basic = Basic::new("alice", "my-secret");
        let user = user_of(outcome(&basic, "Basic", &b64(b"alice:my-secret")));
        assert_eq!(user.name(), "alice");
        assert_eq!(user.claims(), None);
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let basic = Basic::new("alice", "my-secret");
        user_of(outcome(&basic, "bASIC", &b64(b"alice:my-secret")));
    }

    #[test]
    fn wrong_password_or_user_is_refused() {
        let basic = Basic::new("alice", "my-secret");
        for creds in [
            &b"alice:my-secreT"[..],
            b"alice:",
            b"alice:my-secret ",
            b"Alice:my-secret",
            b":my-secret",
            b"bob:my-secret",
        ] {
            assert_eq!(
                reason_of(outcome(&basic, "Basic", &b64(creds))),
                "wrong username or password"
            );
        }
    }

    #[test]
    fn sha256_mode_accepts_the_readme_digest_in_either_case() {
        for digest in [
            MY_SECRET_SHA256.to_owned(),
            MY_SECRET_SHA256.to_ascii_uppercase(),
        ] {
            let basic = Basic::from_sha256("alice", &digest).unwrap();
            user_of(outcome(&basic, "Basic", &b64(b"alice:my-secret")));
            // The digest itself is not the password (canister's sha256 mode got this wrong).
            reason_of(outcome(
                &basic,
                "Basic",
                &b64(format!("alice:{digest}").as_bytes()),
            ));
            reason_of(outcome(&basic, "Basic", &b64(b"alice:my-secret2")));
        }
    }

    #[test]
    fn sha256_mode_rejects_bad_digests() {
        for bad in [
            "",
            "abc",
            &MY_SECRET_SHA256[1..],
            &format!("{}g", &MY_SECRET_SHA256[1..]),
        ] {
            let err = Basic::from_sha256("alice", bad).unwrap_err();
            assert!(
                matches!(err, AuthError::InvalidPasswordDigest { .. }),
                "{err}"
            );
            assert!(!err.to_string().contains("186ef7"), "{err}");
        }
    }

    #[test]
    fn password_with_colons_and_utf8_works() {
        let basic = Basic::new("zoë", "pa:ss:wörd");
        let user = user_of(outcome(&basic, "Basic", &b64("zoë:pa:ss:wörd".as_bytes())));
        assert_eq!(user.name(), "zoë");
        reason_of(outcome(&basic, "Basic", &b64("zoë:pa:ss".as_bytes())));
    }

    #[test]
    fn base64_without_padding_is_accepted() {
        let basic = Basic::new("alice", "my-secre");
        let padded = b64(b"alice:my-secre");
        assert!(padded.ends_with('='));
        user_of(outcome(&basic, "Basic", padded.trim_end_matches('=')));
    }

    #[test]
    fn malformed_credentials_are_refused_with_reasons() {
        let basic = Basic::new("alice", "my-secret");
        let cases = [
            ("", "empty credentials"),
            ("not base64!", "credentials are not valid base64"),
            (
                "YWxpY2U6bXktc2VjcmV0=====",
                "credentials are not valid base64",
            ),
            (
                &b64(b"alice-my-secret"),
                "credentials have no colon between username and password",
            ),
            (&b64(b"alice:\xff\xfe"), "credentials are not utf-8"),
            (&"A".repeat(10 * 1024), "credentials longer than 4096 bytes"),
        ];
        for (token, reason) in cases {
            let got = reason_of(outcome(&basic, "Basic", token));
            assert_eq!(got, reason, "token {token:.20}");
            assert!(!got.contains("my-secret"));
        }
    }

    #[test]
    fn large_valid_base64_never_panics() {
        let basic = Basic::new("alice", "my-secret");
        let big = b64(&vec![b'a'; 3000]);
        assert!(big.len() <= MAX_TOKEN_LEN);
        assert_eq!(
            reason_of(outcome(&basic, "Basic", &big)),
            "credentials have no colon between username and password"
        );
    }

    #[test]
    fn other_schemes_are_not_mine() {
        let basic = Basic::new("alice", "my-secret");
        assert!(matches!(
            outcome(&basic, "Bearer", &b64(b"alice:my-secret")),
            AuthOutcome::NotMine
        ));
    }

    #[test]
    fn users_map_checks_each_user() {
        let basic = Basic::from_users([("alice", "a-pass"), ("bob", "b-pass")]);
        assert_eq!(
            user_of(outcome(&basic, "Basic", &b64(b"bob:b-pass"))).name(),
            "bob"
        );
        assert_eq!(
            user_of(outcome(&basic, "Basic", &b64(b"alice:a-pass"))).name(),
            "alice"
        );
        reason_of(outcome(&basic, "Basic", &b64(b"bob:a-pass")));
        reason_of(outcome(&basic, "Basic", &b64(b"carol:a-pass")));
        // The dummy digest of an unknown user is never a match, even for the empty password.
        reason_of(outcome(&basic, "Basic", &b64(b"carol:")));
    }

    #[test]
    fn check_function_receives_realm_user_and_password() {
        let basic = Basic::with_check("intranet", |realm, user, password| {
            realm == "intranet" && user == "bob" && password == "p:w"
        });
        assert_eq!(
            user_of(outcome(&basic, "Basic", &b64(b"bob:p:w"))).name(),
            "bob"
        );
        reason_of(outcome(&basic, "Basic", &b64(b"bob:p")));
        let moved = basic.with_realm("elsewhere");
        reason_of(outcome(&moved, "Basic", &b64(b"bob:p:w")));
    }

    #[test]
    fn verify_password_is_for_form_logins() {
        let basic = Basic::new("alice", "my-secret");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let user = user_of(rt.block_on(basic.verify_password("alice", "my-secret")));
        assert_eq!(user.name(), "alice");
        reason_of(rt.block_on(basic.verify_password("alice", "nope")));
    }

    #[test]
    fn challenge_names_realm_and_charset() {
        let mut out = Vec::new();
        Basic::new("a", "b").challenges(None, &mut out);
        assert_eq!(out, [r#"Basic realm="private", charset="UTF-8""#]);
        out.clear();
        Basic::new("a", "b")
            .with_realm("my \"special\" \\ realm\n")
            .challenges(Some(&Refusal::new("Basic", "x")), &mut out);
        assert_eq!(
            out,
            [r#"Basic realm="my \"special\" \\ realm ", charset="UTF-8""#]
        );
    }

    #[test]
    fn debug_never_shows_passwords() {
        let text = format!(
            "{:?} {:?} {:?}",
            Basic::new("alice", "my-secret"),
            Basic::from_sha256("alice", MY_SECRET_SHA256).unwrap(),
            Basic::from_users([("bob", "hunter2")]),
        );
        assert!(text.contains("alice") && text.contains("bob"), "{text}");
        for secret in ["my-secret", "186ef7", "hunter2", "[24, 110"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
