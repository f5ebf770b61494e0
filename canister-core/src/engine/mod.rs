//! The engine: [`Canister::enter`] before the handler, [`Canister::finish`] after it.

mod cookie;
mod lifecycle;
mod persist;
mod request_log;
mod throttle;
mod visit;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{request, Response, StatusCode};

use crate::adapter::{replace_head, ResponseHead};
use crate::auth::{AuthOutcome, Authenticator, Credentials, DefaultAuthenticator, Refusal};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, OnStoreError};
use crate::cors::{Cors, Preflight};
use crate::csrf::Csrf;
use crate::log::{DefaultLogSink, Event, Level, LiveContext, LogContext, LogSink, RequestId};
use crate::rejection::Rejection;
use crate::response as responses;
use crate::session::{MemoryStore, Record, SessionId, SessionStore, StoreError, StoreKey};

use cookie::{CookieAction, CookieSpec};
pub use lifecycle::SessionInfo;
use persist::Plan;
#[cfg(feature = "tracing")]
pub(crate) use request_log::request_url;
pub use visit::{InsertError, Session, Visit};
use visit::{State, VisitInner};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type HeldLock = Box<dyn Any + Send + Sync>;
type Loaded = Result<(Option<Record>, Option<HeldLock>), StoreError>;
type MakeStore<S> = Box<dyn FnOnce(&Config, &Arc<dyn Clock>) -> Result<S, ConfigError>>;
type MakeAuth<A> = Box<dyn FnOnce(&Config, &Arc<dyn Clock>) -> Result<A, ConfigError>>;
type MakeSink<L> = Box<dyn FnOnce(&Config, &Arc<dyn Clock>) -> Result<L, ConfigError>>;

/// The canister engine: sessions, authentication, logging, CORS and CSRF for one app.
///
/// Generic over where sessions live (`S`), who authenticates (`A`) and where logs go (`L`),
/// each with a default built from the [`Config`]. Cheap to clone: clones share everything.
///
/// # Examples
///
/// ```
/// use canister_core::{Canister, Config};
///
/// let config = Config::from_ini_str("[canister]\nsession_timeout = 600\nlog_level = DISABLED")?;
/// let canister = Canister::from_config(config)?;
/// assert_eq!(canister.config().session.timeout.map(|t| t.as_secs()), Some(600));
/// # Ok::<(), canister_core::ConfigError>(())
/// ```
pub struct Canister<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    inner: Arc<Inner<S, A, L>>,
}

/// What [`Canister::enter`] decided about a request.
#[must_use = "an Entry must be acted on: send the response, or run the handler and call finish"]
#[derive(Debug)]
pub enum Entry {
    /// Answer with this response and do not run the handler (a CORS preflight, allowed or
    /// not; a CSRF refusal).
    /// The request is complete: do not call [`Canister::finish`].
    Respond(Response<Bytes>),
    /// Run the handler with this visit available to it (request extensions, local cache),
    /// then pass the visit and the response's parts to [`Canister::finish`].
    Proceed(Visit),
}

/// What [`Canister::finish`] did to the response.
#[must_use = "a ReplaceBody answer means the handler's body must not be sent"]
#[derive(Debug)]
pub enum Finish {
    /// The parts were updated (cookie, CORS headers); send them with the handler's body.
    Keep,
    /// The session could not be saved: the parts now describe a 503; send them with this
    /// body instead of the handler's.
    ReplaceBody(Bytes),
}

/// Builds a [`Canister`] from a configuration and, optionally, your own store,
/// authenticator, log sink and clock.
///
/// # Examples
///
/// ```
/// use canister_core::{Canister, Config, MemoryStore, TestClock};
///
/// let clock = TestClock::new();
/// let canister = Canister::builder()
///     .config(Config::from_ini_str("[canister]\nlog_level = DISABLED")?)
///     .store(MemoryStore::new().with_clock(clock.clone()))
///     .authenticator(())
///     .log_sink(())
///     .clock(clock)
///     .build()?;
/// # let _ = canister;
/// # Ok::<(), canister_core::ConfigError>(())
/// ```
pub struct Builder<S, A, L> {
    config: Config,
    store: MakeStore<S>,
    /// The type of the store given to [`Builder::store`]; `None`: the default memory store.
    store_given: Option<&'static str>,
    /// Whether the keys of an identity provider were given ([`Builder::jwks`]).
    jwks_given: bool,
    auth: MakeAuth<A>,
    sink: MakeSink<L>,
    clock: Arc<dyn Clock>,
}

pub(crate) struct Inner<S, A, L> {
    settings: Settings,
    store: S,
    auth: A,
    sink: L,
    clock: Arc<dyn Clock>,
}

/// The configuration compiled for the request path.
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) ttl: Option<Duration>,
    /// `session_max_lifetime`.
    pub(crate) max_lifetime: Option<Duration>,
    /// `session_remember_timeout`.
    pub(crate) remember_ttl: Duration,
    pub(crate) cookie: CookieSpec,
    pub(crate) cors: Cors,
    pub(crate) csrf: Csrf,
    pub(crate) slow: Duration,
    pub(crate) locking: bool,
    pub(crate) lock_wait: Duration,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) trust_proxy: u8,
    pub(crate) remember: bool,
    pub(crate) request_id_header: header::HeaderName,
    pub(crate) request_id_trust: bool,
}

/// The engine as visits see it: no type parameters, so adapters' extractors need none.
pub(crate) trait Engine: Send + Sync + 'static {
    fn settings(&self) -> &Settings;
    fn sink(&self) -> &dyn LogSink;
    fn load(&self, key: StoreKey) -> BoxFuture<'_, Loaded>;
    fn delete(&self, key: StoreKey) -> BoxFuture<'_, Result<(), StoreError>>;
    fn sessions_of<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::session::UserSession>, StoreError>>;
    fn now(&self) -> SystemTime;
    fn release(&self, lock: HeldLock) -> BoxFuture<'_, ()>;
    fn verify_password<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
        client: Option<IpAddr>,
        live: &'a LiveContext,
    ) -> BoxFuture<'a, Result<AuthOutcome, Rejection>>;
    fn challenges(&self, refusal: Option<&Refusal>) -> Vec<HeaderValue>;
}

impl Canister {
    /// A builder starting from the default configuration, memory store, configured
    /// authenticators and default log sink.
    pub fn builder() -> Builder<MemoryStore, DefaultAuthenticator, DefaultLogSink> {
        Builder {
            config: Config::default(),
            store_given: None,
            jwks_given: false,
            store: Box::new(|config, clock| {
                let store = MemoryStore::with_shared_clock(Arc::clone(clock))
                    .max_sessions(config.session_cap().unwrap_or(0));
                let sweep = config.session.timeout.map_or(Duration::from_secs(60), |t| {
                    (t / 4).max(Duration::from_secs(1))
                });
                Ok(store.sweep_every(sweep))
            }),
            auth: Box::new(|config, clock| {
                DefaultAuthenticator::from_config_with_clock(config, Arc::clone(clock))
            }),
            sink: Box::new(|config, clock| {
                #[cfg(not(feature = "tracing"))]
                if config.log.sink == crate::config::LogSinkKind::Tracing {
                    return Err(ConfigError::conflict(
                        config,
                        "log_sink",
                        "is `tracing`, but canister-core was built without its `tracing` \
                         feature: enable it (`canister-core = { features = [\"tracing\"] }`; \
                         the adapters enable it by default) or set `log_sink = canister`",
                    ));
                }
                #[cfg(not(feature = "default-sink"))]
                if config.log.sink == crate::config::LogSinkKind::Canister
                    && config.log.level.is_some()
                {
                    return Err(ConfigError::conflict(
                        config,
                        "log_sink",
                        "is `canister` (the default), but canister-core was built without its \
                         `default-sink` feature, which writes canister's lines: enable it \
                         (on by default), set `log_sink = tracing` (feature `tracing`), set \
                         `log_level = DISABLED` to log nothing, or give the builder a sink \
                         (`.log_sink(...)`)",
                    ));
                }
                DefaultLogSink::from_settings_with_clock(&config.log, Arc::clone(clock)).map_err(
                    |source| ConfigError::Log {
                        key: "log_path",
                        origin: config.origin("log_path").map(str::to_owned),
                        source,
                    },
                )
            }),
            clock: Arc::new(SystemClock),
        }
    }

    /// The engine for a canister INI file, with `CANISTER_<KEY>` environment overrides and
    /// every default.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key, value and what was expected.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_config(Config::from_file(path)?)
    }

    /// The engine for a configuration, with every default.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the configuration is inconsistent or a resource it names (a key
    /// file, a log directory) cannot be used, or when its `log_sink` needs a feature
    /// canister-core was built without (`tracing`; `default-sink` for `log_sink = canister`,
    /// the default, unless `log_level = DISABLED`: see the crate's "Features").
    pub fn from_config(config: Config) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }
}

impl<S, A, L> Builder<S, A, L> {
    /// Uses this configuration (the defaults built at [`build`](Self::build) follow it).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets one key, INI spelling, as [`Config::set`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unknown key or a bad value.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, ConfigError> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// Keeps sessions in `store` instead of memory.
    ///
    /// `session_max` then must not be set in the configuration ([`build`](Self::build)
    /// refuses it): it sizes the memory store the engine builds, and `store` has its own
    /// bound (Redis: its `maxmemory`; a [`MemoryStore`]: [`MemoryStore::max_sessions`]).
    ///
    /// The start-up banner then names the store's type for `session_store` when the
    /// configuration names none (a store opened in code rather than from the configuration).
    pub fn store<S2: SessionStore>(self, store: S2) -> Builder<S2, A, L> {
        Builder {
            config: self.config,
            store_given: Some(std::any::type_name::<S2>()),
            jwks_given: self.jwks_given,
            store: Box::new(move |_, _| Ok(store)),
            auth: self.auth,
            sink: self.sink,
            clock: self.clock,
        }
    }

    /// Authenticates with `authenticator` instead of the configured Basic/JWT chain.
    pub fn authenticator<A2: Authenticator>(self, authenticator: A2) -> Builder<S, A2, L> {
        Builder {
            config: self.config,
            store: self.store,
            store_given: self.store_given,
            jwks_given: self.jwks_given,
            auth: Box::new(move |_, _| Ok(authenticator)),
            sink: self.sink,
            clock: self.clock,
        }
    }

    /// Sends events to `sink` instead of the configured slog sink.
    pub fn log_sink<L2: LogSink>(self, sink: L2) -> Builder<S, A, L2> {
        Builder {
            config: self.config,
            store: self.store,
            store_given: self.store_given,
            jwks_given: self.jwks_given,
            auth: self.auth,
            sink: Box::new(move |_, _| Ok(sink)),
            clock: self.clock,
        }
    }

    /// Verifies Bearer tokens with an identity provider's keys (`auth_jwt_jwks_url`,
    /// `auth_oidc_issuer`), which `canister-oidc` fetches and keeps fresh:
    /// `.jwks(provider.keys())`. The configured authenticator is then built with them.
    ///
    /// canister-core does no I/O, so [`build`](Self::build) refuses a configuration that
    /// names a provider without its keys given here. This sets the authenticator back to
    /// the configured one ([`DefaultAuthenticator`]): call it instead of
    /// [`authenticator`](Self::authenticator), not after it.
    pub fn jwks(self, keys: crate::auth::JwksCache) -> Builder<S, DefaultAuthenticator, L> {
        Builder {
            config: self.config,
            store: self.store,
            store_given: self.store_given,
            jwks_given: true,
            auth: Box::new(move |config, clock| {
                DefaultAuthenticator::from_config_with(config, Arc::clone(clock), Some(keys))
            }),
            sink: self.sink,
            clock: self.clock,
        }
    }

    /// Reads time from `clock` (the default memory store and log sink share it).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

impl<S: SessionStore, A: Authenticator, L: LogSink> Builder<S, A, L> {
    /// Validates the configuration and builds the engine; logs canister's start-up banner.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the configuration is inconsistent or one of the defaults cannot
    /// be built from it; also when `session_store` names a server but no store was given to
    /// [`store`](Self::store): canister-core cannot open one itself, and quietly keeping the
    /// sessions in this process's memory instead would break every instance that shares them.
    /// Also when `session_max` is set and a store was given: that store would ignore it, and
    /// a bound that is not applied must not look applied.
    pub fn build(self) -> Result<Canister<S, A, L>, ConfigError> {
        self.config.validate()?;
        if let (Some(store), Some(max)) = (self.store_given, self.config.session.max) {
            return Err(ConfigError::conflict(
                &self.config,
                "session_max",
                format!(
                    "is set ({max}) but sessions live in a store given in code ({store}), which \
                     does not read it: remove `session_max` and bound that store itself \
                     (Redis: `maxmemory`; MemoryStore: `.max_sessions(n)`)"
                ),
            ));
        }
        if self.store_given.is_none() && self.config.store.url.is_some() {
            return Err(ConfigError::conflict(
                &self.config,
                "session_store",
                "names a session server, but no store was given for it and \
                 canister-core only has the memory store: build with \
                 `.store(canister_store_redis::RedisStore::from_config(&config)?)`, \
                 or set `session_store = memory`",
            ));
        }
        if !self.jwks_given && self.config.has_jwt_provider() {
            let key = if self.config.auth.jwt.oidc_issuer.is_some() {
                "auth_oidc_issuer"
            } else {
                "auth_jwt_jwks_url"
            };
            return Err(ConfigError::conflict(
                &self.config,
                key,
                "names an identity provider, but canister-core does no I/O and cannot fetch \
                 its keys: build with \
                 `let provider = canister_oidc::Provider::from_config(&config)?;` then \
                 `.jwks(provider.keys())` on the builder and `provider.spawn(canister.logger())` \
                 (crate canister-oidc)",
            ));
        }
        // The parts built from the configuration do not know where their settings came
        // from: their errors get the origin here.
        let located = |e: ConfigError| e.located(&self.config);
        let store = (self.store)(&self.config, &self.clock).map_err(located)?;
        let auth = (self.auth)(&self.config, &self.clock).map_err(located)?;
        let sink = (self.sink)(&self.config, &self.clock).map_err(located)?;
        let config = self.config;
        let settings = Settings {
            ttl: config.session.timeout,
            max_lifetime: config.session.max_lifetime,
            remember_ttl: config.session.remember_timeout,
            cookie: CookieSpec::new(&config.cookie, config.session.timeout),
            cors: Cors::new(&config.cors),
            csrf: Csrf::new(config.csrf.enabled, config.csrf.trusted_origins.clone()),
            slow: Duration::from_millis(config.log.slow_ms),
            locking: config.session.locking,
            lock_wait: config.session.lock_timeout,
            on_store_error: config.session.on_store_error,
            trust_proxy: config.log.trust_proxy,
            remember: config.auth.remember,
            request_id_header: config.log.request_id_header.clone(),
            request_id_trust: config.log.request_id_trust,
            config,
        };
        crate::config::log_banner_for(&sink, &settings.config, self.store_given);
        Ok(Canister {
            inner: Arc::new(Inner {
                settings,
                store,
                auth,
                sink,
                clock: self.clock,
            }),
        })
    }
}

impl<S, A, L> fmt::Debug for Builder<S, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, A, L> Clone for Canister<S, A, L> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, A, L> fmt::Debug for Canister<S, A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canister")
            .field("config", &self.inner.settings.config)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore, A: Authenticator, L: LogSink> Canister<S, A, L> {
    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.settings.config
    }

    /// The session store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &A {
        &self.inner.auth
    }

    /// The log sink.
    pub fn log_sink(&self) -> &L {
        &self.inner.sink
    }

    /// Writes out queued log lines (call at shutdown).
    pub fn flush(&self) {
        self.inner.sink.flush();
    }

    /// A logger for application code outside requests (start-up, background jobs).
    pub fn logger(&self) -> slog::Logger {
        self.inner.sink.logger(&LogContext::main())
    }

    /// First pass of a request: before the handler.
    ///
    /// Gives the request its id ([`RequestId`]: a new one, or with `request_id_trust` a valid
    /// incoming `request_id_header`), which every log line of the request carries and every
    /// response gets in `request_id_header`, the [`Entry::Respond`] ones included. With the
    /// `tracing` sink it opens the request's span (`Visit::span`, feature `tracing`).
    ///
    /// Logs the request, answers CORS preflights (204; without CORS headers for an origin
    /// that is not allowed) and refuses cross-origin unsafe requests,
    /// with or without the session cookie ([`Entry::Respond`], see `csrf` in
    /// [`Config`]); otherwise reads the session cookie
    /// and runs the authenticator on the `Authorization` header, and hands back the
    /// [`Visit`] ([`Entry::Proceed`]). No store I/O happens here: the session is loaded when
    /// something first asks for it ([`Visit::session`]).
    ///
    /// `peer` is the client's socket address, when the adapter knows it.
    pub async fn enter(&self, parts: &request::Parts, peer: Option<SocketAddr>) -> Entry {
        let inner = &self.inner;
        let settings = &inner.settings;
        let started = inner.clock.now();
        let client = request_log::client_ip(&parts.headers, peer, settings.trust_proxy);
        let secure = is_https(parts);
        let request_id = settings
            .request_id_trust
            .then(|| parts.headers.get(&settings.request_id_header))
            .flatten()
            .and_then(RequestId::from_header)
            .unwrap_or_else(RequestId::generate);
        let id_value = request_id.to_header_value();
        let live = self.live_context(parts, client, secure, request_id.clone());
        if inner.sink.enabled(Level::Info) {
            let url = request_log::request_url(parts, secure);
            inner.sink.log_request(
                &live,
                &Event::Request {
                    method: &parts.method,
                    url: &url,
                },
            );
        }
        // The engine's own answers carry the request id too.
        let respond = |mut response: Response<Bytes>| {
            response
                .headers_mut()
                .insert(settings.request_id_header.clone(), id_value.clone());
            Entry::Respond(response)
        };

        match settings.cors.preflight(parts) {
            Preflight::None => {}
            Preflight::Allowed(headers) => {
                let response = responses::preflight(headers);
                self.log_response(&live, response.status(), started);
                return respond(response);
            }
            Preflight::Refused(origin) => {
                // Answered here, not by the router (a 405 in axum): a 204 without CORS
                // headers, which the browser takes as a refusal (cors.rs).
                if inner.sink.enabled(Level::Warning) {
                    let text = format!("CORS preflight refused: origin {origin} is not allowed");
                    inner.sink.log_request(
                        &live,
                        &Event::Message {
                            level: Level::Warning,
                            text: &text,
                        },
                    );
                }
                let response = responses::preflight(Cors::refused_preflight_headers());
                self.log_response(&live, response.status(), started);
                return respond(response);
            }
        }

        // Every unsafe request, cookie or not: a cross-site login, a session swap and cached
        // Basic credentials carry no session cookie (DESIGN.md, CSRF).
        if let Err(origin) = settings.csrf.check(parts, host(parts), &settings.cors) {
            inner
                .sink
                .log_request(&live, &Event::CsrfRefused { origin });
            let mut response = responses::csrf_refused();
            settings
                .cors
                .apply(parts.headers.get(header::ORIGIN), &mut response);
            self.log_response(&live, response.status(), started);
            return respond(response);
        }

        let cookie = settings.cookie.find(&parts.headers);

        let (header_user, refusal) = match parts.headers.get(header::AUTHORIZATION) {
            // `auth_jwt_cookie`: a bearer token in a cookie, when there is no header.
            None => match settings
                .config
                .auth
                .jwt
                .cookie
                .as_deref()
                .and_then(|name| cookie::cookie_value(&parts.headers, name))
            {
                None => (None, None),
                Some(token) => {
                    let credentials = Credentials::new("Bearer", token);
                    match inner.auth.authenticate(&credentials).await {
                        AuthOutcome::Authenticated(user) => (Some(user), None),
                        AuthOutcome::Refused(refusal) => (None, Some(refusal)),
                        AuthOutcome::NotMine => (None, None),
                    }
                }
            },
            Some(value) => match Credentials::parse(value) {
                Err(refusal) => (None, Some(refusal)),
                Ok(credentials) => {
                    let check = inner.auth.authenticate(&credentials);
                    // Login throttling: Basic credentials name a user whose password is
                    // about to be checked.
                    let name = inner
                        .throttles()
                        .then(|| crate::auth::basic_username(&credentials))
                        .flatten();
                    let outcome = match name {
                        None => check.await,
                        Some(name) => match inner.throttled(&name, client, &live, check).await {
                            Ok(outcome) => outcome,
                            Err(rejection) => {
                                let mut response = rejection.into_response();
                                settings
                                    .cors
                                    .apply(parts.headers.get(header::ORIGIN), &mut response);
                                self.log_response(&live, response.status(), started);
                                return respond(response);
                            }
                        },
                    };
                    match outcome {
                        AuthOutcome::Authenticated(user) => (Some(user), None),
                        AuthOutcome::Refused(refusal) => (None, Some(refusal)),
                        AuthOutcome::NotMine => (None, Some(not_mine(&credentials))),
                    }
                }
            },
        };
        if let Some(user) = &header_user {
            live.set_user(user.name());
            inner
                .sink
                .log_request(&live, &Event::LoggedIn { name: user.name() });
        }
        if let Some(refusal) = &refusal {
            inner.sink.log_request(
                &live,
                &Event::AuthRefused {
                    scheme: refusal.scheme(),
                    reason: refusal.reason(),
                },
            );
        }

        let engine: Arc<dyn Engine> = Arc::clone(&self.inner) as Arc<dyn Engine>;
        Entry::Proceed(Visit::new(VisitInner {
            engine,
            client,
            live,
            request_id,
            id_value,
            secure,
            origin: parts.headers.get(header::ORIGIN).cloned(),
            started,
            cookie,
            header_user,
            refusal,
            state: Default::default(),
            loading: Default::default(),
        }))
    }

    /// Second pass of a request: after the handler.
    ///
    /// Persists what the request changed in its session (only the change), sets or clears
    /// the cookie, adds CORS headers and the request id, and logs the response. It writes
    /// through [`ResponseHead`] (implemented for `http`'s response and its parts; other
    /// adapters implement it for their framework's response), whose docs say exactly what
    /// it writes. When the store fails and `session_on_store_error = fail`, the head becomes
    /// a 503's and [`Finish::ReplaceBody`] says what to send instead of the handler's body.
    pub async fn finish<H: ResponseHead + ?Sized>(&self, visit: Visit, head: &mut H) -> Finish {
        let inner = &self.inner;
        let settings = &inner.settings;
        let visit_inner = visit.inner();

        if settings.remember && visit_inner.header_user.is_some() && !visit.is_loaded() {
            // auth_remember: keep the header user in the session (loads it if needed).
            let _ = visit.session().await;
        }

        let mut state = visit.take_state();
        let plan = Plan::of(
            &state,
            visit_inner.cookie.is_present(),
            settings.cookie_refresh(),
        );
        // A remembered login's cookie is persistent: Max-Age = session_remember_timeout.
        let remembered = state.record.meta.remember_ms.map(|ms| ms / 1000);
        let result = self.execute(plan, visit_inner, &mut state).await;
        if let Some(lock) = state.lock.take() {
            Engine::release(&**inner, lock).await;
        }
        let live = &visit_inner.live;
        self.report_evictions();

        let mut replaced = None;
        match result {
            Ok(action) => {
                if let Some(value) = settings
                    .cookie
                    .render(&action, visit_inner.secure, remembered)
                {
                    head.append(header::SET_COOKIE, value);
                }
            }
            Err(error) => {
                inner
                    .sink
                    .log_request(live, &Event::StoreError { error: &error });
                if settings.on_store_error == OnStoreError::Fail || state.identity_changed {
                    let (fresh, body) = responses::store_unavailable().into_parts();
                    replace_head(head, &fresh);
                    replaced = Some(body);
                }
                if state.destroyed && visit_inner.cookie.is_single() {
                    // The user asked to end the session: at least the browser forgets it.
                    if let Some(value) =
                        settings
                            .cookie
                            .render(&CookieAction::Clear, visit_inner.secure, None)
                    {
                        head.append(header::SET_COOKIE, value);
                    }
                }
            }
        }
        settings.cors.apply(visit_inner.origin.as_ref(), head);
        head.insert(
            settings.request_id_header.clone(),
            visit_inner.id_value.clone(),
        );
        self.log_response(live, head.status(), visit_inner.started);
        match replaced {
            Some(body) => Finish::ReplaceBody(body),
            None => Finish::Keep,
        }
    }

    /// Carries out a [`Plan`]: at most one store operation (or three `create` draws), and the
    /// log line of what happened. Returns the cookie action for the response.
    async fn execute(
        &self,
        plan: Plan,
        visit: &VisitInner,
        state: &mut State,
    ) -> Result<CookieAction, StoreError> {
        let inner = &self.inner;
        let store = &inner.store;
        let now = inner.clock.now();
        if matches!(plan, Plan::Create { .. })
            || (matches!(plan, Plan::Cycle { .. }) && state.new_identity)
        {
            // Where session_max_lifetime counts from: creation, login, logout.
            state.record.meta.created_ms = Some(persist::unix_ms(now));
        }
        let ttl = persist::ttl_for(
            &state.record.meta,
            inner.settings.ttl,
            inner.settings.max_lifetime,
            now,
        );
        let live = &visit.live;
        // Only the request that ended a session touches the cookie: a concurrent login may
        // just have set the new one.
        let ended = || {
            inner
                .sink
                .log_request(live, &Event::SessionEndedConcurrently);
            Ok(CookieAction::None)
        };
        match plan {
            Plan::Nothing(action) => Ok(action),
            Plan::Refuse(message) => Err(persist::refusal(message)),
            Plan::Delete { key, clear_cookie } => {
                if let Some(key) = key {
                    store.delete(&key).await?;
                }
                inner.sink.log_request(live, &Event::SessionDestroyed);
                Ok(if clear_cookie {
                    CookieAction::Clear
                } else {
                    CookieAction::None
                })
            }
            Plan::Cycle { old, new } => {
                let new_key = new.key();
                if store.cycle(&old, &new_key, &state.record, ttl).await? {
                    // The response line names the session the cookie now carries.
                    visit.live.set_tag(crate::session::tag_of(&new_key));
                    if let (Some(user), true) = (&state.record.user, state.new_identity) {
                        self.enforce_cap(user.name(), &new_key).await?;
                    }
                    Ok(CookieAction::Set(new))
                } else {
                    ended()
                }
            }
            Plan::Save { id, key } => {
                if store.save(&key, &state.change, ttl).await? {
                    Ok(id.map_or(CookieAction::None, CookieAction::Set))
                } else {
                    ended()
                }
            }
            Plan::Create { id } => {
                let mut id = match id {
                    Some(id) => id,
                    None => new_id()?,
                };
                for _ in 0..3 {
                    let key = id.key();
                    if store.create(&key, &state.record, ttl).await? {
                        visit.live.set_tag(crate::session::tag_of(&key));
                        inner.sink.log_request(live, &Event::SessionCreated);
                        if let Some(user) = &state.record.user {
                            self.enforce_cap(user.name(), &key).await?;
                        }
                        return Ok(CookieAction::Set(id));
                    }
                    id = new_id()?;
                }
                Err(StoreError::Unavailable {
                    message: "could not find a free session id after 3 draws".to_owned(),
                    source: None,
                })
            }
        }
    }

    /// Logs a WARNING when the memory store evicted sessions to make room (at most once a
    /// minute: [`MemoryStore::take_eviction_report`]).
    fn report_evictions(&self) {
        let store: &dyn Any = &self.inner.store;
        let Some(memory) = store.downcast_ref::<MemoryStore>() else {
            return;
        };
        if let Some(evicted) = memory.take_eviction_report() {
            let cap = memory.cap().unwrap_or(0);
            let text = format!(
                "memory session store full (session_max = {cap}): evicted {evicted} \
                 sessions, least recently used anonymous ones first, since the last warning; \
                 raise session_max or use a shared store"
            );
            self.inner.sink.log(
                &LogContext::main(),
                &Event::Message {
                    level: Level::Warning,
                    text: &text,
                },
            );
        }
    }

    /// The request's log context: client, request id and, when the sink traces requests, its
    /// `tracing` span (made only when the subscriber wants it).
    fn live_context(
        &self,
        parts: &request::Parts,
        client: Option<std::net::IpAddr>,
        secure: bool,
        request_id: RequestId,
    ) -> LiveContext {
        #[cfg(feature = "tracing")]
        if self.inner.sink.traces_requests() {
            let trace_id = parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::log::trace_id_of);
            let span = crate::log::tracing_sink::request_span(
                parts,
                &request_id,
                client,
                secure,
                trace_id,
            );
            return LiveContext::with_span(client, Some(request_id), span);
        }
        let _ = (parts, secure);
        LiveContext::new(client, Some(request_id))
    }

    fn log_response(&self, live: &LiveContext, status: StatusCode, started: SystemTime) {
        let sink = &self.inner.sink;
        let elapsed = self
            .inner
            .clock
            .now()
            .duration_since(started)
            .unwrap_or_default();
        let slow = elapsed >= self.inner.settings.slow;
        let level = if slow { Level::Warning } else { Level::Info };
        if sink.enabled(level) {
            sink.log_request(
                live,
                &Event::Response {
                    status,
                    elapsed,
                    slow,
                },
            );
        }
    }
}

impl Settings {
    /// Whether a read-only request re-sends the cookie so its `Max-Age` slides with the TTL.
    fn cookie_refresh(&self) -> bool {
        self.config.cookie.persistent && self.ttl.is_some()
    }
}

impl<S: SessionStore, A: Authenticator, L: LogSink> Engine for Inner<S, A, L> {
    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn sink(&self) -> &dyn LogSink {
        &self.sink
    }

    fn load(&self, key: StoreKey) -> BoxFuture<'_, Loaded> {
        Box::pin(async move {
            let lock = if self.settings.locking {
                Some(self.store.lock(&key, self.settings.lock_wait).await?)
            } else {
                None
            };
            match self.store.load(&key, self.settings.ttl).await {
                Ok(record) => Ok((record, lock.map(|l| Box::new(l) as HeldLock))),
                Err(error) => {
                    if let Some(lock) = lock {
                        self.store.unlock(lock).await;
                    }
                    Err(error)
                }
            }
        })
    }

    fn delete(&self, key: StoreKey) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.store.delete(&key).await })
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn sessions_of<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::session::UserSession>, StoreError>> {
        Box::pin(self.store.sessions_of(user))
    }

    fn release(&self, lock: HeldLock) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(lock) = lock.downcast::<S::Lock>() {
                self.store.unlock(*lock).await;
            }
        })
    }

    fn verify_password<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
        client: Option<IpAddr>,
        live: &'a LiveContext,
    ) -> BoxFuture<'a, Result<AuthOutcome, Rejection>> {
        Box::pin(self.throttled(
            user,
            client,
            live,
            self.auth.verify_password(user, password),
        ))
    }

    fn challenges(&self, refusal: Option<&Refusal>) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        self.auth.challenges(refusal, &mut out);
        out
    }
}

pub(crate) fn new_id() -> Result<SessionId, StoreError> {
    SessionId::generate().map_err(|e| {
        StoreError::unavailable("the operating system's random source failed", e.to_string())
    })
}

/// The refusal when no authenticator took the request's credentials
/// ([`AuthOutcome::NotMine`]), logged as `Authorization refused (-): <reason>`.
///
/// For the two schemes canister knows, the reason says that the scheme is not configured,
/// which is what a user needs to hear: Basic and Bearer are supported, but nobody set
/// `auth_basic_username` or `auth_jwt_client_id` (or the application's own authenticator
/// does not take them). Other schemes are "unsupported". Only fixed texts: nothing of the
/// header reaches the log.
fn not_mine(credentials: &Credentials<'_>) -> Refusal {
    let reason = if credentials.is_scheme("Basic") {
        "Basic authentication is not configured (no Basic user)"
    } else if credentials.is_scheme("Bearer") {
        "Bearer authentication is not configured (no JWT client id)"
    } else {
        "unsupported authorization scheme"
    };
    Refusal::new("-", reason)
}

/// Whether the request came over https: the URI's scheme, `X-Forwarded-Proto` or
/// `Forwarded: proto=https`.
fn is_https(parts: &request::Parts) -> bool {
    if parts.uri.scheme_str() == Some("https") {
        return true;
    }
    let headers = &parts.headers;
    if let Some(proto) = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        return proto
            .split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    }
    headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| {
            first.split(';').any(|pair| {
                pair.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            })
        })
}

fn host(parts: &request::Parts) -> Option<&str> {
    parts.uri.authority().map(|a| a.as_str()).or_else(|| {
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}

#[cfg(test)]
mod tests;
