//! The authenticator built from the configuration.

use std::future::Future;
use std::sync::Arc;

use http::HeaderValue;

use super::{AuthError, AuthOutcome, Authenticator, Basic, Credentials, JwksCache, Jwt, Refusal};
use crate::config::{BasicEncryption, Config, ConfigError};
use crate::{Clock, SystemClock};

/// The authenticator the configuration describes: Basic and/or Bearer JWT, tried in that order.
///
/// - Basic when `auth_basic_username` and `auth_basic_password` are set (`auth_basic_encryption`
///   `clear` or `sha256`, realm `auth_basic_realm`), or when `auth_basic_htpasswd` names an
///   htpasswd file of bcrypt hashes ([`Basic::from_htpasswd_file`]); its 401 challenge is
///   left out with `auth_basic_challenge = false`;
/// - Bearer JWT when `auth_jwt_client_id` is set (the required audience), with
///   `auth_jwt_secret` in `auth_jwt_encoding`, `auth_jwt_algorithms`, `auth_jwt_public_key`,
///   `auth_jwt_issuer`, `auth_jwt_leeway` and `auth_jwt_realm`.
///
/// With neither, nobody is authenticated by header and a 401 carries no challenge.
/// [`verify_password`](Authenticator::verify_password) (form logins) asks the Basic user; with
/// no Basic user configured it answers [`AuthOutcome::NotMine`].
///
/// # Examples
///
/// canister's `6_basic_auth.config`:
///
/// ```
/// use canister_core::auth::{AuthOutcome, Authenticator, Credentials, DefaultAuthenticator};
/// use canister_core::config::Config;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), canister_core::config::ConfigError> {
/// let config = Config::from_ini_str(
///     "[canister]\n\
///      auth_basic_username = alice\n\
///      auth_basic_encryption = clear\n\
///      auth_basic_password = my-secret\n",
/// )?;
/// let auth = DefaultAuthenticator::from_config(&config)?;
///
/// let credentials = Credentials::new("Basic", "YWxpY2U6bXktc2VjcmV0"); // alice:my-secret
/// assert!(matches!(auth.authenticate(&credentials).await, AuthOutcome::Authenticated(_)));
/// assert!(matches!(
///     auth.verify_password("alice", "my-secret").await,
///     AuthOutcome::Authenticated(_)
/// ));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct DefaultAuthenticator {
    chain: (Option<Basic>, Option<Jwt>),
}

impl DefaultAuthenticator {
    /// Builds the authenticators the configuration asks for; JWT expiry is judged by the
    /// system clock.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key at fault when an authentication setting is unusable:
    /// a sha256 password that is not 64 hex digits, a JWT secret that is not valid in its
    /// encoding, a public key file that cannot be read or parsed, keys and algorithms that do
    /// not go together, or a JWT secret or public key without `auth_jwt_client_id`.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Self::from_config_with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`from_config`](Self::from_config), with JWT expiry judged by `clock`.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn from_config_with_clock(
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Self::from_config_with(config, clock, None)
    }

    /// Like [`from_config_with_clock`](Self::from_config_with_clock), verifying asymmetric
    /// tokens with an identity provider's keys (`auth_jwt_jwks_url`, `auth_oidc_issuer`),
    /// when given. Every token's `iss` must then be `auth_oidc_issuer`, when set.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn from_config_with(
        config: &Config,
        clock: Arc<dyn Clock>,
        jwks: Option<JwksCache>,
    ) -> Result<Self, ConfigError> {
        let basic =
            match (&config.auth.basic.username, &config.auth.basic.password) {
                (Some(username), Some(password)) => {
                    let basic = match config.auth.basic.encryption {
                        BasicEncryption::Clear => Basic::new(username.clone(), password.expose()),
                        BasicEncryption::Sha256 => {
                            Basic::from_sha256(username.clone(), password.expose())
                                .map_err(|e| conflict("auth_basic_password", e))?
                        }
                    };
                    Some(basic.with_realm(config.auth.basic.realm.clone()))
                }
                (None, None) => match &config.auth.basic.htpasswd {
                    Some(path) => Some(
                        Basic::from_htpasswd_file(path)
                            .map_err(|e| conflict("auth_basic_htpasswd", e))?
                            .with_realm(config.auth.basic.realm.clone()),
                    ),
                    None => None,
                },
                (Some(_), None) => return Err(message(
                    "auth_basic_password",
                    "Basic authentication needs both auth_basic_username and auth_basic_password",
                )),
                (None, Some(_)) => return Err(message(
                    "auth_basic_username",
                    "Basic authentication needs both auth_basic_username and auth_basic_password",
                )),
            };

        let jwt = match &config.auth.jwt.client_id {
            Some(client_id) => {
                let mut builder = Jwt::builder(client_id.clone())
                    .algorithms(config.jwt_algorithms())
                    .leeway(config.auth.jwt.leeway)
                    .realm(config.auth.jwt.realm.clone())
                    .clock(clock);
                if let Some(secret) = &config.auth.jwt.secret {
                    builder = builder.secret_encoded(secret.expose(), config.auth.jwt.encoding);
                }
                if let Some(previous) = &config.auth.jwt.secret_previous {
                    builder = builder
                        .secret_previous_encoded(previous.expose(), config.auth.jwt.encoding);
                }
                if let Some(keys) = jwks {
                    builder = builder.jwks(keys);
                }
                if let Some(path) = &config.auth.jwt.public_key {
                    builder = builder.public_key_file(path.clone());
                }
                if let Some(issuer) = config.auth.jwt.oidc_issuer.as_ref().or(config.auth.jwt.issuer.as_ref()) {
                    builder = builder.issuer(issuer.clone());
                }
                Some(builder.build().map_err(jwt_config_error)?)
            }
            // A secret without a client id leaves JWT off, as in canister (whose README
            // sample does exactly this by spelling the key `auth_client_id`).
            None if config.auth.jwt.public_key.is_some() => {
                return Err(message(
                    "auth_jwt_client_id",
                    "auth_jwt_public_key is set but auth_jwt_client_id is not: JWT authentication needs the client id tokens carry in `aud`",
                ))
            }
            None => None,
        };
        let basic = basic.map(|b| b.with_challenge(config.auth.basic.challenge));
        Ok(Self::new(basic, jwt))
    }

    /// The chain of `basic` then `jwt`, each optional.
    pub fn new(basic: Option<Basic>, jwt: Option<Jwt>) -> Self {
        Self {
            chain: (basic, jwt),
        }
    }

    /// The Basic authenticator, if configured.
    pub fn basic(&self) -> Option<&Basic> {
        self.chain.0.as_ref()
    }

    /// The Bearer JWT authenticator, if configured.
    pub fn jwt(&self) -> Option<&Jwt> {
        self.chain.1.as_ref()
    }

    /// Whether no scheme is configured (nobody can be authenticated by header).
    pub fn is_empty(&self) -> bool {
        self.chain.0.is_none() && self.chain.1.is_none()
    }
}

impl Authenticator for DefaultAuthenticator {
    fn authenticate<'a>(
        &'a self,
        credentials: &'a Credentials<'a>,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        self.chain.authenticate(credentials)
    }

    fn verify_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> impl Future<Output = AuthOutcome> + Send + 'a {
        self.chain.0.verify_password(username, password)
    }

    fn challenges(&self, refusal: Option<&Refusal>, out: &mut Vec<HeaderValue>) {
        self.chain.challenges(refusal, out);
    }
}

fn message(key: &str, message: &str) -> ConfigError {
    ConfigError::Conflict {
        key: key.to_owned(),
        message: message.to_owned(),
        origin: None,
    }
}

/// The authenticator's refusal of `key`, kept as the error's source.
fn conflict(key: &'static str, error: AuthError) -> ConfigError {
    ConfigError::Auth {
        key,
        origin: None,
        source: error,
    }
}

fn jwt_config_error(error: AuthError) -> ConfigError {
    let key = match &error {
        AuthError::EmptyAudience => "auth_jwt_client_id",
        AuthError::NoAlgorithms | AuthError::MixedKeyTypes { .. } => "auth_jwt_algorithms",
        AuthError::InvalidSecret { .. }
        | AuthError::EmptySecret
        | AuthError::MissingSecret { .. }
        | AuthError::UnusedSecret => "auth_jwt_secret",
        _ => "auth_jwt_public_key",
    };
    conflict(key, error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<Config, ConfigError> {
        Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{extra}"))
    }

    /// Issue #17: `auth_basic_htpasswd` and `auth_basic_challenge = false` from the
    /// configuration: header and form logins check the file; no challenge on a 401.
    #[tokio::test]
    async fn htpasswd_file_and_no_challenge_from_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(
            &path,
            "alice:$2y$04$/uaF/uaF/uaF/uaF/uaF/u5Rad6f7NkzYjzoTqH2k33X5Lxa203Ey\n",
        )
        .unwrap();
        let ini = format!(
            "auth_basic_htpasswd = {}\nauth_basic_challenge = false",
            path.display()
        );
        let auth = DefaultAuthenticator::from_config(&config(&ini).unwrap()).unwrap();
        let credentials = Credentials::new("Basic", "YWxpY2U6bXktc2VjcmV0"); // alice:my-secret
        assert!(matches!(
            auth.authenticate(&credentials).await,
            AuthOutcome::Authenticated(u) if u.name() == "alice"
        ));
        assert!(matches!(
            auth.verify_password("alice", "my-secret").await,
            AuthOutcome::Authenticated(_)
        ));
        assert!(matches!(
            auth.verify_password("alice", "nope").await,
            AuthOutcome::Refused(_)
        ));
        let mut challenges = Vec::new();
        auth.challenges(None, &mut challenges);
        assert!(challenges.is_empty(), "{challenges:?}");

        // The default keeps the challenge.
        let ini = format!("auth_basic_htpasswd = {}", path.display());
        let auth = DefaultAuthenticator::from_config(&config(&ini).unwrap()).unwrap();
        auth.challenges(None, &mut challenges);
        assert_eq!(challenges, [r#"Basic realm="private", charset="UTF-8""#]);
    }

    #[test]
    fn a_bad_htpasswd_file_stops_start_up_naming_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "# users\nalice:$apr1$abc$defghijk\n").unwrap();
        let ini = format!("auth_basic_htpasswd = {}", path.display());
        let err = DefaultAuthenticator::from_config(&config(&ini).unwrap()).unwrap_err();
        // Issue #18: the file's fault is the error's source, printed after it in a report.
        assert!(
            matches!(
                err,
                ConfigError::Auth {
                    key: "auth_basic_htpasswd",
                    ..
                }
            ),
            "{err}"
        );
        let text = crate::ErrorChain(&err).to_string();
        assert!(text.contains("`auth_basic_htpasswd`"), "{text}");
        assert!(
            text.contains(", line 2: user \"alice\": an Apache MD5"),
            "{text}"
        );
        assert!(!text.contains("defghijk"), "{text}");

        let err = config(&format!(
            "{ini}\nauth_basic_username = bob\nauth_basic_password = x"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }
}
