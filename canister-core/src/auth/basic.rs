//! HTTP Basic authentication (RFC 7617).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
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
/// Five ways to say who may log in:
///
/// - one user with a clear password: [`Basic::new`] (canister's `auth_basic_encryption = clear`);
/// - one user with the hex SHA-256 of the password: [`Basic::from_sha256`] (`= sha256`;
///   unsalted, see there);
/// - an htpasswd file of bcrypt hashes, the app's own users without code:
///   [`Basic::from_htpasswd_file`] (`auth_basic_htpasswd`);
/// - a map of users to clear passwords, like CherryPy's `checkpassword_dict`:
///   [`Basic::from_users`];
/// - your own check, like CherryPy's `checkpassword(realm, username, password)`:
///   [`Basic::from_check`] (a database of users: see its example).
///
/// Each of them checks the `Authorization: Basic` header and, through
/// [`Session::verify_password`](crate::Session::verify_password), a login form.
///
/// The realm defaults to `private`; the 401 challenge is
/// `Basic realm="private", charset="UTF-8"`, or none with
/// [`with_challenge(false)`](Self::with_challenge) (`auth_basic_challenge = false`), for
/// applications with a login form of their own.
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
/// let basic = Basic::from_check("private", |_realm, username, password| {
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
    send_challenge: bool,
}

#[derive(Clone)]
enum Users {
    One {
        name: String,
        name_digest: [u8; 32],
        password_digest: [u8; 32],
    },
    Map(HashMap<String, [u8; 32]>),
    Htpasswd(Arc<Htpasswd>),
    Check(Arc<CheckFn>),
}

/// The users of an htpasswd file: name → bcrypt hash, and a hash to check unknown names
/// against.
struct Htpasswd {
    users: HashMap<String, String>,
    /// A bcrypt hash of a password nobody knows, at the file's highest cost: an unknown user
    /// costs one bcrypt check as a known one does, so timing does not tell who exists.
    dummy: String,
}

/// The highest bcrypt cost [`Basic::from_htpasswd`] accepts: 14, about a second of one core
/// per check on a 2020s server (each step doubles it). Every login, and every request with a
/// Basic header, pays one check on the request's thread, so a higher cost lets a few requests
/// occupy the server. `htpasswd -B` writes cost 5 by default; 10 to 12 is the usual advice.
pub const MAX_BCRYPT_COST: u32 = 14;
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
    /// # Security
    ///
    /// This is canister's `auth_basic_encryption = sha256`, kept so its files work: the
    /// digest is **unsalted** and fast to compute, so whoever reads the configuration can
    /// test billions of guesses a second, and equal passwords have equal digests. For new
    /// setups use bcrypt: [`Basic::from_htpasswd_file`] (`auth_basic_htpasswd`).
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

    /// The users of an htpasswd file at `path`, with bcrypt hashes (`htpasswd -B`), as
    /// `auth_basic_htpasswd` reads it. See [`from_htpasswd`](Self::from_htpasswd) for the
    /// format.
    ///
    /// The file is read once, here: restart the application to pick up a changed file.
    ///
    /// # Errors
    ///
    /// [`AuthError::HtpasswdFile`] when it cannot be read, [`AuthError::InvalidHtpasswd`]
    /// (naming the file and the line, never the hash) as for
    /// [`from_htpasswd`](Self::from_htpasswd).
    pub fn from_htpasswd_file(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::HtpasswdFile {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_htpasswd(&text, &path.display().to_string())
    }

    /// The users of htpasswd text: one `user:hash` per line, the hash a bcrypt one (`$2y$`
    /// as Apache's `htpasswd -B` writes, or `$2b$`); blank lines and lines starting with `#`
    /// are skipped.
    ///
    /// Checking a password runs bcrypt (through the `bcrypt` crate), salted and slow on
    /// purpose, so a leaked file does not give the passwords away as canister's unsalted
    /// sha256 does. For an unknown user, a dummy hash of the same cost is checked all the
    /// same, so the time taken does not tell which users exist. A check costs about
    /// `2^cost` times a few microseconds on the request's thread (cost 5: about 2 ms; 10:
    /// about 60 ms) and happens at each login and at each request carrying a Basic header
    /// (browsers resend it on every request): prefer a login form and the session where that
    /// matters.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidHtpasswd`] naming the line (never the hash) when a line is not
    /// `user:hash`, when a hash is not bcrypt `$2y$`/`$2b$` (Apache's MD5 `$apr1$`, `{SHA}`,
    /// crypt, or a clear password: recreate it with `htpasswd -B`), is malformed, costs more
    /// than [`MAX_BCRYPT_COST`], or when a user is listed twice or nobody is listed.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::auth::Basic;
    ///
    /// // alice:my-secret, made by `htpasswd -nbB -C 4 alice my-secret`
    /// let basic = Basic::from_htpasswd(
    ///     "# staff\nalice:$2y$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey\n",
    /// )?;
    /// assert!(basic.verify("alice", "my-secret"));
    /// assert!(!basic.verify("alice", "my-secreT"));
    /// assert!(!basic.verify("bob", "my-secret"));
    ///
    /// let md5 = Basic::from_htpasswd("bob:$apr1$x$y\n").unwrap_err();
    /// assert_eq!(
    ///     md5.to_string(),
    ///     "<string>, line 1: user \"bob\": an Apache MD5 ($apr1$) hash; only bcrypt ($2y$ or \
    ///      $2b$) is accepted: recreate the entry with `htpasswd -B FILE USER`"
    /// );
    /// # Ok::<(), canister_core::auth::AuthError>(())
    /// ```
    pub fn from_htpasswd(text: &str) -> Result<Self, AuthError> {
        Self::parse_htpasswd(text, "<string>")
    }

    fn parse_htpasswd(text: &str, origin: &str) -> Result<Self, AuthError> {
        let invalid = |line: usize, reason: String| AuthError::InvalidHtpasswd {
            origin: origin.to_owned(),
            line,
            reason,
        };
        let mut users = HashMap::new();
        let mut max_cost = bcrypt_min_cost();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                return Err(invalid(
                    number,
                    "expected `user:hash` (no colon found)".to_owned(),
                ));
            };
            if name.is_empty() {
                return Err(invalid(number, "empty user name".to_owned()));
            }
            let cost = bcrypt_cost(hash)
                .map_err(|reason| invalid(number, format!("user {name:?}: {reason}")))?;
            max_cost = max_cost.max(cost);
            if users.insert(name.to_owned(), hash.to_owned()).is_some() {
                return Err(invalid(number, format!("user {name:?} is listed twice")));
            }
        }
        if users.is_empty() {
            return Err(invalid(
                0,
                "no users: the file has no `user:hash` line (add one with `htpasswd -B FILE USER`)"
                    .to_owned(),
            ));
        }
        // A fixed salt is enough: the dummy only has to cost what a real check costs.
        let dummy = bcrypt::hash_with_salt("canister: no such user", max_cost, [0x5a; 16])
            .map(|parts| parts.format_for_version(bcrypt::Version::TwoB))
            .map_err(|e| invalid(0, format!("cannot build the dummy bcrypt hash: {e}")))?;
        let users = Users::Htpasswd(Arc::new(Htpasswd { users, dummy }));
        Ok(Self::from_parts(users, "private"))
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
    /// let basic = Basic::from_check("intranet", |realm, username, password| {
    ///     realm == "intranet" && username == "bob" && password == "hunter2"
    /// });
    /// assert!(basic.verify("bob", "hunter2"));
    /// ```
    ///
    /// The application's own users, e.g. a table loaded from its database (refresh it as
    /// the application sees fit), with bcrypt hashes; the engine then checks both Basic
    /// headers and login forms ([`Session::verify_password`](crate::Session::verify_password))
    /// against it, with no [`Authenticator`] to write:
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::sync::{Arc, RwLock};
    ///
    /// use canister_core::auth::{AuthOutcome, Basic};
    /// use canister_core::{Canister, config::Config};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // name -> bcrypt hash, as the application stores them (here: "my-secret", cost 4).
    /// let users: Arc<RwLock<HashMap<String, String>>> = Arc::new(RwLock::new(HashMap::from([(
    ///     "alice".to_owned(),
    ///     "$2y$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey".to_owned(),
    /// )])));
    /// let table = Arc::clone(&users);
    /// let basic = Basic::from_check("private", move |_realm, username, password| {
    ///     let users = table.read().unwrap_or_else(|e| e.into_inner());
    ///     // An unknown user still costs one bcrypt check (any valid hash of the same cost).
    ///     let (known, hash) = match users.get(username) {
    ///         Some(hash) => (true, hash.as_str()),
    ///         None => (false, "$2y$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey"),
    ///     };
    ///     bcrypt::verify(password, hash).unwrap_or(false) && known
    /// })
    /// .with_challenge(false); // the app has a login form: no browser dialog
    ///
    /// let canister = Canister::builder()
    ///     .config(Config::from_ini_str("[canister]\nlog_level = DISABLED")?)
    ///     .authenticator(basic)
    ///     .build()?;
    /// # let _ = canister;
    /// # let basic = Basic::from_check("private", |_, u, p| u == "alice" && p == "my-secret");
    /// // In a login handler: `session.verify_password(&form.username, &form.password).await`.
    /// # use canister_core::auth::Authenticator;
    /// assert!(matches!(
    ///     basic.verify_password("alice", "my-secret").await,
    ///     AuthOutcome::Authenticated(user) if user.name() == "alice"
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_check<F>(realm: impl Into<String>, check: F) -> Self
    where
        F: Fn(&str, &str, &str) -> bool + Send + Sync + 'static,
    {
        Self::from_parts(Users::Check(Arc::new(check)), realm)
    }

    /// Sets the realm named in the challenge (and passed to a [`from_check`](Self::from_check)
    /// function). Default `private`.
    ///
    /// A `"` or `\` in the realm is escaped in the challenge; control characters become spaces.
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        let send_challenge = self.send_challenge;
        Self::from_parts(self.users, realm).with_challenge(send_challenge)
    }

    /// Whether 401s carry this authenticator's `WWW-Authenticate: Basic` challenge
    /// (`auth_basic_challenge`). Default true.
    ///
    /// `false` for an application with its own login form: browsers answer a Basic challenge
    /// with their own password dialog. Credentials are still checked, by header and by
    /// [`verify_password`](Authenticator::verify_password); the 401 just carries no Basic
    /// challenge, and a browser page can redirect to the form instead (take `Option<User>`).
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::auth::{Authenticator, Basic};
    ///
    /// let basic = Basic::new("alice", "my-secret").with_challenge(false);
    /// let mut challenges = Vec::new();
    /// basic.challenges(None, &mut challenges);
    /// assert!(challenges.is_empty());
    /// assert!(basic.verify("alice", "my-secret"));
    /// ```
    pub fn with_challenge(mut self, send: bool) -> Self {
        self.send_challenge = send;
        self
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
            Users::Htpasswd(file) => {
                // Check even for an unknown user, against the dummy, so the time taken does
                // not tell. bcrypt compares its digests in constant time.
                let (known, hash) = match file.users.get(username) {
                    Some(hash) => (true, hash.as_str()),
                    None => (false, file.dummy.as_str()),
                };
                let matches = bcrypt::verify(password, hash).unwrap_or(false);
                matches && known
            }
            Users::Check(check) => check(&self.realm, username, password),
        }
    }

    /// The outcome for `Basic` credentials, without the async wrapper.
    fn outcome(&self, credentials: &Credentials<'_>) -> AuthOutcome {
        if !credentials.is_scheme("basic") {
            return AuthOutcome::NotMine;
        }
        let decoded = match decode(credentials.token()) {
            Ok(decoded) => decoded,
            Err(reason) => return refused(reason),
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
            Users::Map(_) | Users::Htpasswd(_) | Users::Check(_) => {
                AuthOutcome::Authenticated(User::new(username))
            }
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
            send_challenge: true,
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
            Users::Htpasswd(file) => d.field("htpasswd", &file.users.keys().collect::<Vec<_>>()),
            Users::Check(_) => d.field("check", &"<fn>"),
        };
        d.field("challenge", &self.send_challenge);
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
        if self.send_challenge {
            out.push(self.challenge.clone());
        }
    }
}

/// bcrypt's lowest cost.
const fn bcrypt_min_cost() -> u32 {
    4
}

/// The cost of `hash` if it is a bcrypt hash canister accepts, else why not (never quoting
/// the hash).
fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let bcrypt_only = "only bcrypt ($2y$ or $2b$) is accepted: recreate the entry with \
                       `htpasswd -B FILE USER`";
    if !(hash.starts_with("$2y$") || hash.starts_with("$2b$")) {
        let kind = if hash.starts_with("$apr1$") {
            "an Apache MD5 ($apr1$) hash"
        } else if hash.starts_with("{SHA}") {
            "a SHA-1 ({SHA}) hash"
        } else if hash.starts_with("$2a$") || hash.starts_with("$2x$") {
            "an old bcrypt variant ($2a$ or $2x$)"
        } else if hash.starts_with("$1$") || hash.starts_with("$5$") || hash.starts_with("$6$") {
            "a crypt(3) MD5 or SHA hash"
        } else {
            "not a bcrypt hash (a clear password or crypt?)"
        };
        return Err(format!("{kind}; {bcrypt_only}"));
    }
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|_| format!("malformed bcrypt hash (expected 60 characters); {bcrypt_only}"))?;
    let cost = parts.get_cost();
    if cost < bcrypt_min_cost() {
        return Err(format!(
            "malformed bcrypt hash (cost {cost} is below 4); {bcrypt_only}"
        ));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(format!(
            "bcrypt cost {cost} is above {MAX_BCRYPT_COST}: each check would take seconds; \
             recreate the entry with a lower cost (`htpasswd -B -C 10 FILE USER`)"
        ));
    }
    Ok(cost)
}

/// The `user:password` text of a Basic token, or why it is malformed.
fn decode(token: &str) -> Result<String, &'static str> {
    if token.is_empty() {
        return Err("empty credentials");
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err("credentials longer than 4096 bytes");
    }
    let decoded = BASE64
        .decode(token)
        .map_err(|_| "credentials are not valid base64")?;
    String::from_utf8(decoded).map_err(|_| "credentials are not utf-8")
}

/// The user name of well-formed `Basic` credentials (login throttling counts per name);
/// `None` for another scheme or malformed credentials, whose password is never checked.
pub(crate) fn basic_username(credentials: &Credentials<'_>) -> Option<String> {
    if !credentials.is_scheme("basic") {
        return None;
    }
    let decoded = decode(credentials.token()).ok()?;
    let (username, _password) = decoded.split_once(':')?;
    Some(username.to_owned())
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
        let basic = Basic::from_check("intranet", |realm, user, password| {
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

    /// alice:my-secret at cost 4, and bob:hunter2 at cost 4 written `$2b$`.
    const ALICE: &str = "alice:$2y$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey";
    const BOB: &str = "bob:$2b$04$.uKB.uKB.uKB.uKB.uKB.uhi47oasC3eDIPR71UDOnqNLmu14y.VK";
    /// carol:my-secret at cost 5.
    const CAROL: &str = "carol:$2y$05$AOiHAOiHAOiHAOiHAOiHAODYLlwjENYkLLjHMgWCXgNGA03IJA4Y.";

    /// Issue #17: the app's own users from an htpasswd file of bcrypt hashes, for the Basic
    /// header and for login forms alike.
    #[test]
    fn htpasswd_users_authenticate_by_header_and_form() {
        let text = format!("# staff\n\n{ALICE}\r\n  {BOB}  \n");
        let basic = Basic::from_htpasswd(&text).unwrap();
        assert_eq!(
            user_of(outcome(&basic, "Basic", &b64(b"alice:my-secret"))).name(),
            "alice"
        );
        assert_eq!(
            user_of(outcome(&basic, "Basic", &b64(b"bob:hunter2"))).name(),
            "bob"
        );
        for wrong in [
            &b"alice:hunter2"[..],
            b"bob:my-secret",
            b"carol:my-secret",
            b"alice:",
        ] {
            assert_eq!(
                reason_of(outcome(&basic, "Basic", &b64(wrong))),
                "wrong username or password"
            );
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let user = user_of(rt.block_on(basic.verify_password("bob", "hunter2")));
        assert_eq!(user.name(), "bob");
        reason_of(rt.block_on(basic.verify_password("bob", "hunter3")));
        let debug = format!("{basic:?}");
        assert!(debug.contains("alice") && !debug.contains("$2"), "{debug}");
    }

    /// An unknown user is checked against a dummy hash of the file's highest cost, so the
    /// work done (bcrypt at that cost) does not tell whether the user exists.
    #[test]
    fn htpasswd_unknown_users_cost_one_check_at_the_highest_cost() {
        let basic = Basic::from_htpasswd(&format!("{ALICE}\n{CAROL}\n")).unwrap();
        let Users::Htpasswd(file) = &basic.users else {
            panic!("htpasswd users");
        };
        let dummy: bcrypt::HashParts = file.dummy.parse().unwrap();
        assert_eq!(dummy.get_cost(), 5);
        assert!(!basic.verify("dave", "canister: no such user"));
        assert!(basic.verify("carol", "my-secret"));
    }

    #[test]
    fn htpasswd_refuses_other_formats_naming_the_line_never_the_hash() {
        let apr1 = "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/";
        let sha = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=";
        let old = "$2a$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey";
        let costly = "$2y$15$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey";
        let short = "$2y$04$/uaF/uaF/uaF";
        let cases: [(String, usize, &str); 8] = [
            (format!("{ALICE}\nbob:{apr1}"), 2, "Apache MD5"),
            (format!("# c\nbob:{sha}"), 2, "SHA-1"),
            (format!("bob:{old}"), 1, "old bcrypt variant"),
            ("bob:hunter2".to_owned(), 1, "not a bcrypt hash"),
            (format!("\n\nbob:{short}"), 3, "malformed bcrypt hash"),
            (format!("bob:{costly}"), 1, "cost 15 is above 14"),
            (format!("{ALICE}\n{ALICE}"), 2, "listed twice"),
            ("alice".to_owned(), 1, "no colon"),
        ];
        for (text, line, says) in cases {
            let err = Basic::from_htpasswd(&text).unwrap_err();
            let AuthError::InvalidHtpasswd {
                line: at, reason, ..
            } = &err
            else {
                panic!("{err:?}");
            };
            assert_eq!(*at, line, "{err}");
            assert!(reason.contains(says), "{err}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("<string>, line {line}: ")),
                "{message}"
            );
            for hash in [apr1, sha, old, costly, short, "hunter2", "$2y$04$/uaF"] {
                assert!(!message.contains(hash), "the hash is in {message}");
            }
        }
        let err = Basic::from_htpasswd("# nobody yet\n").unwrap_err();
        assert!(err.to_string().contains("no users"), "{err}");
        let err = Basic::from_htpasswd_file("/nonexistent/canister.htpasswd").unwrap_err();
        assert!(matches!(err, AuthError::HtpasswdFile { .. }), "{err}");
    }

    /// Issue #17: `auth_basic_challenge = false` keeps browsers from popping their dialog;
    /// credentials still work.
    #[test]
    fn challenge_can_be_left_out_and_survives_a_new_realm() {
        let basic = Basic::new("alice", "my-secret")
            .with_challenge(false)
            .with_realm("staff");
        let mut out = Vec::new();
        basic.challenges(None, &mut out);
        assert!(out.is_empty(), "{out:?}");
        user_of(outcome(&basic, "Basic", &b64(b"alice:my-secret")));
        basic.with_challenge(true).challenges(None, &mut out);
        assert_eq!(out, [r#"Basic realm="staff", charset="UTF-8""#]);
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
