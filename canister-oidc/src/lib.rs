//! Bearer tokens from an identity provider (OAuth2 / OpenID Connect) for canister: Keycloak,
//! Auth0, Entra ID, Cognito, Google, or any provider that publishes its signing keys as a
//! JWK Set.
//!
//! canister-core verifies the tokens and decides when the keys are due again, but does no
//! I/O. This crate fetches the provider's discovery document and key set over HTTPS
//! (reqwest on rustls) and keeps them fresh in a background task on the tokio runtime.
//!
//! # Quick start
//!
//! ```ini
//! [canister]
//! auth_jwt_client_id = my-api                             ; the `aud` tokens must carry
//! auth_oidc_issuer = https://id.example.com/realms/main   ; every token's `iss`
//! ```
//!
//! ```no_run
//! use canister_core::{Canister, config::Config};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_file("canister.ini")?;
//! let provider = canister_oidc::Provider::from_config(&config)?;
//! let canister = Canister::builder()
//!     .config(config)
//!     .jwks(provider.keys())
//!     .build()?;
//! // Fetches the keys now and keeps them fresh; warnings go to canister's log.
//! provider.spawn(canister.logger());
//! // ... hand `canister` to your adapter (CanisterLayer, CanisterFairing, c.wrap()).
//! # Ok(()) }
//! ```
//!
//! Without this crate, `Canister::from_config` refuses a configuration that names a
//! provider, and says what to call: canister never quietly ignores a provider.
//!
//! # The configuration keys
//!
//! | key | meaning |
//! |---|---|
//! | `auth_oidc_issuer` | the issuer URL: `{issuer}/.well-known/openid-configuration` names the key set (`jwks_uri`); its `issuer` must equal this value exactly, and so must every token's `iss` |
//! | `auth_jwt_jwks_url` | the key set's URL, for a provider without discovery (or to skip it); with `auth_oidc_issuer` too, this URL is used and the issuer is only checked on tokens |
//! | `auth_jwt_jwks_refresh` | seconds between refreshes (default 600, from 10 to 86400); a shorter `Cache-Control: max-age` from the provider wins (never below 10 s) |
//! | `auth_jwt_client_id` | the audience (`aud`) every token must carry: required |
//! | `auth_jwt_algorithms` | default with a provider: RS256/384/512, PS256/384/512, ES256/384, EdDSA (plus HS256 when `auth_jwt_secret` is set) |
//! | `auth_jwt_cookie` | a cookie to read the token from when there is no `Authorization` header |
//!
//! Issuer URL forms of common providers:
//!
//! - Keycloak: `https://HOST/realms/REALM` (before Keycloak 17: `https://HOST/auth/realms/REALM`)
//! - Auth0: `https://TENANT.REGION.auth0.com/` (with the trailing slash: Auth0's `iss` has it)
//! - Entra ID (v2 tokens): `https://login.microsoftonline.com/TENANT-ID/v2.0`
//! - Cognito: `https://cognito-idp.REGION.amazonaws.com/POOL-ID`
//! - Google: `https://accounts.google.com`
//!
//! # What happens at run time
//!
//! - Keys are chosen by the token's `kid`. A key's `alg`, when it has one, must be the
//!   token's; symmetric (`oct`) keys and keys whose `use` is not `sig` are ignored.
//!   Each key is parsed once per fetch, never per request.
//! - A token naming an unknown `kid` (the provider rotated its keys) wakes the refresher at
//!   once, at most once per 10 seconds however many such tokens arrive; the request waits
//!   for that fetch and is checked again, so a rotation needs no restart.
//! - When the provider cannot be reached (or answers garbage, or a set without usable
//!   keys), the last good keys keep serving and canister logs a WARNING naming the provider
//!   and the error, then retries after 1, 2, 4, … up to 30 seconds.
//! - When no key was ever fetched (the provider was down at start-up), a request with a
//!   Bearer token gets `503 Service Unavailable` with `Retry-After: 10`, never a 401 that
//!   would make a client drop a good token; service returns by itself with the first
//!   successful fetch. Requests without a token are not affected.
//!
//! # Several issuers
//!
//! One API can accept tokens from two (or more) providers at once, say a company's Keycloak
//! and a partner's Entra ID. Make one [`Provider`] per issuer, one `Jwt` per provider with
//! that provider's keys and issuer, and chain them in an
//! [`Issuers`](canister_core::auth::Issuers): each token goes to the `Jwt` of the issuer its
//! `iss` names, is verified with that provider's keys only, and a token of neither issuer
//! is refused (`wrong issuer (iss)`). A plain chain (a tuple) would not do: the first `Jwt`
//! would refuse the other provider's tokens instead of passing them on.
//!
//! ```no_run
//! use std::time::Duration;
//! use canister_core::auth::{Issuers, Jwt};
//! use canister_core::config::JwtAlgorithm;
//! use canister_core::{Canister, config::Config};
//! use canister_oidc::Provider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let refresh = Duration::from_secs(600);
//! let staff = Provider::issuer("https://id.example.com/realms/staff", refresh)?;
//! let partners = Provider::issuer("https://login.microsoftonline.com/TENANT-ID/v2.0", refresh)?;
//! let jwt = |provider: &Provider, issuer: &str| {
//!     Jwt::builder("my-api") // the `aud` tokens must carry
//!         .algorithms([JwtAlgorithm::RS256, JwtAlgorithm::ES256])
//!         .jwks(provider.keys())
//!         .issuer(issuer)
//!         .build()
//! };
//! let issuers = Issuers::new([
//!     jwt(&staff, "https://id.example.com/realms/staff")?,
//!     jwt(&partners, "https://login.microsoftonline.com/TENANT-ID/v2.0")?,
//! ])?;
//! let canister = Canister::builder()
//!     .config(Config::from_file("canister.ini")?)
//!     .authenticator(issuers)
//!     .build()?;
//! // Each provider keeps its own keys fresh.
//! staff.spawn(canister.logger());
//! partners.spawn(canister.logger());
//! # Ok(()) }
//! ```
//!
//! `tests/issuers.rs` runs this with two local providers.
//!
//! # Security
//!
//! Use `https://` URLs: the key set decides who can sign tokens for your API. Plain
//! `http://` is accepted (for a provider on the same host or in tests) with a WARNING at
//! start-up unless the host is a loopback address. Redirects are not followed.
//!
//! # Dependencies and why
//!
//! | crate | for |
//! |---|---|
//! | `canister-core` | key set parsing, key selection and the refresh policy |
//! | `reqwest` (rustls, webpki and native roots) | HTTPS without OpenSSL, trusting Mozilla's roots and the system's (for a provider behind a company CA) |
//! | `tokio` | the background refresher's timer |
//! | `slog` | warnings through canister's logger |
//! | `thiserror` | [`OidcError`] |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::Duration;

use canister_core::auth::MAX_DOCUMENT_LEN;
use canister_core::auth::{cache_max_age, Discovery, JwkSet, JwksCache, JwksError};
use canister_core::config::Config;

/// The longest one fetch (connection, request and body) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the provider could not be set up or its keys fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The configuration names no provider: set `auth_oidc_issuer` or `auth_jwt_jwks_url`.
    #[error(
        "the configuration names no identity provider: set auth_oidc_issuer or auth_jwt_jwks_url"
    )]
    NoProvider,
    /// The HTTP client could not be built (no TLS roots at all, for one).
    #[error("cannot build the HTTPS client")]
    Client(#[source] reqwest::Error),
    /// The request failed: connection, TLS, timeout, or a body that could not be read.
    #[error("cannot fetch {url}")]
    Fetch {
        /// The URL.
        url: String,
        /// The innermost cause, as text (connection refused, certificate unknown, timeout);
        /// the same error ends the [`source`](std::error::Error::source) chain.
        cause: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The provider answered with another status than 200.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The document is larger than canister reads (1 MiB).
    #[error("{url} sent more than 1 MiB")]
    TooLarge {
        /// The URL.
        url: String,
    },
    /// The document is not an acceptable discovery document or key set.
    #[error("{url} is not an acceptable document")]
    Document {
        /// The URL.
        url: String,
        /// What is wrong with it.
        #[source]
        source: JwksError,
    },
}

/// Where the keys come from.
#[derive(Debug, Clone)]
enum Source {
    /// `auth_oidc_issuer`: discovery first.
    Issuer(String),
    /// `auth_jwt_jwks_url`.
    JwksUrl(String),
}

/// An identity provider: where its keys are, the HTTPS client that fetches them, and the
/// [`JwksCache`] the engine verifies tokens with.
///
/// Build it with [`from_config`](Self::from_config) (or [`issuer`](Self::issuer),
/// [`jwks_url`](Self::jwks_url)), give [`keys`](Self::keys) to
/// `Canister::builder().jwks(…)`, then [`spawn`](Self::spawn) the refresher.
#[derive(Debug, Clone)]
pub struct Provider {
    source: Source,
    keys: JwksCache,
    client: reqwest::Client,
}

impl Provider {
    /// The provider the configuration names (`auth_oidc_issuer`, `auth_jwt_jwks_url`,
    /// `auth_jwt_jwks_refresh`).
    ///
    /// # Errors
    ///
    /// [`OidcError::NoProvider`] when the configuration names none (check
    /// `config.has_jwt_provider()` first to make the provider optional);
    /// [`OidcError::Client`] when the HTTPS client cannot be built.
    pub fn from_config(config: &Config) -> Result<Self, OidcError> {
        let keys = JwksCache::from_config(config).ok_or(OidcError::NoProvider)?;
        let source = match (&config.auth.jwt.jwks_url, &config.auth.jwt.oidc_issuer) {
            (Some(url), _) => Source::JwksUrl(url.clone()),
            (None, Some(issuer)) => Source::Issuer(issuer.clone()),
            (None, None) => return Err(OidcError::NoProvider),
        };
        Self::new(source, keys)
    }

    /// The provider of `issuer`, found through OpenID discovery, refreshed every `refresh`.
    ///
    /// # Errors
    ///
    /// [`OidcError::Client`] when the HTTPS client cannot be built.
    pub fn issuer(issuer: impl Into<String>, refresh: Duration) -> Result<Self, OidcError> {
        let issuer = issuer.into();
        let keys = JwksCache::new(issuer.clone(), refresh);
        Self::new(Source::Issuer(issuer), keys)
    }

    /// The provider whose key set is at `url`, refreshed every `refresh`.
    ///
    /// # Errors
    ///
    /// [`OidcError::Client`] when the HTTPS client cannot be built.
    pub fn jwks_url(url: impl Into<String>, refresh: Duration) -> Result<Self, OidcError> {
        let url = url.into();
        let keys = JwksCache::new(url.clone(), refresh);
        Self::new(Source::JwksUrl(url), keys)
    }

    fn new(source: Source, keys: JwksCache) -> Result<Self, OidcError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // The configured URL is the provider: a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("canister-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(OidcError::Client)?;
        Ok(Self {
            source,
            keys,
            client,
        })
    }

    /// The keys, shared with the engine: `Canister::builder().jwks(provider.keys())`.
    pub fn keys(&self) -> JwksCache {
        self.keys.clone()
    }

    /// Fetches the keys once now (discovery first for an issuer) and stores them; answers
    /// how many usable keys the set has. [`spawn`](Self::spawn) does this in a loop; call it
    /// yourself to refuse to start while the provider is unreachable.
    ///
    /// # Errors
    ///
    /// An [`OidcError`] saying which URL failed and how; the keys in use are kept.
    pub async fn refresh(&self) -> Result<usize, OidcError> {
        let (set, max_age) = self.fetch().await?;
        let count = set.len();
        self.keys.store(set, max_age);
        Ok(count)
    }

    /// Starts the background refresher on the current tokio runtime: fetches at once, then
    /// when the policy says (periodically, on an unknown `kid`, after a failure with
    /// backoff). Logs to `logger` (canister's: `canister.logger()`): a WARNING for each
    /// failed fetch, an INFO when keys arrive after a failure or their ids change.
    ///
    /// The task runs until the runtime stops, or until the returned handle is aborted.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn`).
    pub fn spawn(self, logger: slog::Logger) -> tokio::task::JoinHandle<()> {
        if let Some(url) = self.plain_http_url() {
            slog::warn!(
                logger,
                "identity provider {} is reached over plain http: anyone on the path can replace its signing keys; use https",
                url
            );
        }
        self.keys.attach();
        tokio::spawn(self.run(logger))
    }

    async fn run(self, logger: slog::Logger) {
        let mut kids: Vec<String> = Vec::new();
        let mut failing = false;
        loop {
            // Listen before reading the wait, so that no request's wake-up is missed.
            let wake = self.keys.listen_for_request();
            let wait = self.keys.next_wait();
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake => {}
                }
                if !self.keys.next_wait().is_zero() {
                    continue;
                }
            }
            match self.fetch().await {
                Ok((set, max_age)) => {
                    let now: Vec<String> = set
                        .keys()
                        .iter()
                        .map(|k| k.kid().unwrap_or("-").to_owned())
                        .collect();
                    if failing || now != kids {
                        slog::info!(
                            logger,
                            "identity provider {}: {} signing key(s) in use (kid {})",
                            self.keys.source(),
                            now.len(),
                            now.join(", ")
                        );
                    }
                    kids = now;
                    failing = false;
                    self.keys.store(set, max_age);
                }
                Err(error) => {
                    failing = true;
                    let failure = self.keys.fetch_failed();
                    if failure.serving_last_good {
                        slog::warn!(
                            logger,
                            "identity provider {} unreachable ({}); the last good keys keep serving (attempt {} failed)",
                            self.keys.source(),
                            canister_core::ErrorChain(&error),
                            failure.failures
                        );
                    } else {
                        slog::warn!(
                            logger,
                            "identity provider {} unreachable ({}); no key fetched yet: requests with a Bearer token get 503 (attempt {} failed)",
                            self.keys.source(),
                            canister_core::ErrorChain(&error),
                            failure.failures
                        );
                    }
                }
            }
        }
    }

    async fn fetch(&self) -> Result<(JwkSet, Option<Duration>), OidcError> {
        let jwks_uri = match &self.source {
            Source::JwksUrl(url) => url.clone(),
            Source::Issuer(issuer) => {
                let url = Discovery::url(issuer);
                let (body, _) = self.get(&url).await?;
                Discovery::parse(&body, issuer)
                    .map_err(|source| OidcError::Document { url, source })?
                    .jwks_uri
            }
        };
        let (body, max_age) = self.get(&jwks_uri).await?;
        let set = JwkSet::parse(&body).map_err(|source| OidcError::Document {
            url: jwks_uri,
            source,
        })?;
        Ok((set, max_age))
    }

    /// GETs `url`: the body (at most [`MAX_DOCUMENT_LEN`] bytes) and the `Cache-Control`
    /// max-age.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), OidcError> {
        let fetch = |source: reqwest::Error| {
            // reqwest's message is "error sending request"; the reason is at the end of the
            // chain.
            let mut cause: &dyn std::error::Error = &source;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            OidcError::Fetch {
                url: url.to_owned(),
                cause: cause.to_string(),
                source,
            }
        };
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(fetch)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(OidcError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let max_age = response
            .headers()
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(cache_max_age)
            .min();
        let too_large = || OidcError::TooLarge {
            url: url.to_owned(),
        };
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_LEN as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fetch)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_LEN {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }

    /// The provider's URL when it is plain http to a host that is not a loopback address.
    fn plain_http_url(&self) -> Option<&str> {
        let url = match &self.source {
            Source::Issuer(url) | Source::JwksUrl(url) => url.as_str(),
        };
        let rest = url
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
            .map(|_| &url[7..])?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        let loopback = host.starts_with("127.")
            || host.starts_with("[::1]")
            || host.eq_ignore_ascii_case("localhost")
            || host
                .split_once(':')
                .is_some_and(|(h, _)| h.eq_ignore_ascii_case("localhost"));
        (!loopback).then_some(url)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_flagged_unless_loopback() {
        let p = |url: &str| Provider::jwks_url(url, Duration::from_secs(600)).unwrap();
        assert_eq!(
            p("http://id.example/jwks").plain_http_url(),
            Some("http://id.example/jwks")
        );
        assert_eq!(p("https://id.example/jwks").plain_http_url(), None);
        assert_eq!(p("http://127.0.0.1:8080/jwks").plain_http_url(), None);
        assert_eq!(p("http://localhost:8080/jwks").plain_http_url(), None);
        assert_eq!(p("http://[::1]:8080/jwks").plain_http_url(), None);
    }

    #[test]
    fn from_config_needs_a_provider() {
        let config = Config::from_ini_str("[canister]\n").unwrap();
        assert!(matches!(
            Provider::from_config(&config),
            Err(OidcError::NoProvider)
        ));
    }
}
