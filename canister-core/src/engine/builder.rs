//! Building a [`Canister`]: [`Canister::builder`], [`Canister::from_config`] and the
//! [`Builder`]'s setters.

use super::*;

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
                if config.log.sink == crate::log::LogSinkKind::Tracing {
                    return Err(ConfigError::conflict(
                        config,
                        "log_sink",
                        "is `tracing`, but canister-core was built without its `tracing` \
                         feature: enable it (`canister-core = { features = [\"tracing\"] }`; \
                         the adapters enable it by default) or set `log_sink = canister`",
                    ));
                }
                #[cfg(not(feature = "default-sink"))]
                if config.log.sink == crate::log::LogSinkKind::Canister
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
