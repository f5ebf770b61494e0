//! The engine: [`Canister::enter`] before the handler, [`Canister::finish`] after it.

mod builder;
mod cookie;
mod enter;
mod finish;
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
use std::sync::{Arc, OnceLock};
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
use crate::log::{
    DefaultLogSink, Event, Level, LiveContext, LiveInner, LiveSource, LogContext, LogSink,
    RequestId,
};
use crate::rejection::Rejection;
use crate::response as responses;
use crate::session::{
    LentData, MemoryStore, Record, SessionId, SessionStore, StoreError, StoreKey,
};

use cookie::{CookieAction, CookieSpec};
pub use lifecycle::SessionInfo;
use persist::Plan;
pub use visit::{InsertError, Session, Visit};
use visit::{State, VisitInner};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type HeldLock = Box<dyn Any + Send + Sync>;
type Loaded = Result<(Option<Record>, Option<HeldLock>), StoreError>;
/// A load answered at once: the record without its data, and the data lent by the store.
type LoadedNow = Result<Option<(Record, LentData)>, StoreError>;
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
/// use canister_core::{Canister, config::Config};
///
/// let config = Config::from_ini_str("[canister]\nsession_timeout = 600\nlog_level = DISABLED")?;
/// let canister = Canister::from_config(config)?;
/// assert_eq!(canister.config().session.timeout.map(|t| t.as_secs()), Some(600));
/// # Ok::<(), canister_core::config::ConfigError>(())
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
/// use canister_core::{Canister, config::Config, session::MemoryStore, TestClock};
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
/// # Ok::<(), canister_core::config::ConfigError>(())
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
    /// The load's result at once when the store answers without waiting (the memory store,
    /// without session locking), so that the common case boxes no future and copies no
    /// data (the store lends it); `None`: use [`load`](Engine::load).
    fn load_now(&self, key: StoreKey) -> Option<LoadedNow>;
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
    fn cycle_id(&self, old: &StoreKey) -> Result<SessionId, StoreError>;
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

    fn load_now(&self, key: StoreKey) -> Option<LoadedNow> {
        if self.settings.locking {
            return None;
        }
        let store: &dyn Any = &self.store;
        let memory = store.downcast_ref::<MemoryStore>()?;
        Some(memory.load_lent(&key, self.settings.ttl))
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

    /// A new id for a session moving from `old`: in `old`'s shard when the store has shards.
    fn cycle_id(&self, old: &StoreKey) -> Result<SessionId, StoreError> {
        let Some(shard) = self.store.shard_of(old) else {
            return new_id();
        };
        let mut id = new_id()?;
        for _ in 1..MAX_SHARD_DRAWS {
            if self.store.shard_of(&id.key()) == Some(shard) {
                break;
            }
            id = new_id()?;
        }
        Ok(id)
    }

    fn challenges(&self, refusal: Option<&Refusal>) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        self.auth.challenges(refusal, &mut out);
        out
    }
}

/// The most ids drawn for one change of id before settling for one in another shard than
/// the old key's ([`SessionStore::shard_of`]): with Redis Cluster's 256 shards, the chance of
/// needing more is below one in ten million, and the move is then two steps instead of one.
const MAX_SHARD_DRAWS: usize = 4096;

pub(crate) fn new_id() -> Result<SessionId, StoreError> {
    SessionId::generate().map_err(|e| {
        StoreError::unavailable("the operating system's random source failed", e.to_string())
    })
}

#[cfg(test)]
mod tests;
