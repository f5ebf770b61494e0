//! A request's passage through the engine, and the session handle handlers use.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cookie::RequestCookie;
use super::{new_id, Engine, HeldLock};
use crate::auth::{AuthOutcome, Refusal, User};
use crate::config::OnStoreError;
use crate::log::{Event, Level, LiveContext, LiveInner, LiveSource, LogContext, RequestId};
use crate::params::{ParamMap, ParamsError};
use crate::session::{tag_of, Change, Data, LentData, Record, SessionId, StoreKey};
use crate::Rejection;

/// One request's state between [`Canister::enter`](crate::Canister::enter) and
/// [`Canister::finish`](crate::Canister::finish).
///
/// Adapters keep it where the framework's extractors, guards or filters can reach it
/// (request extensions, Rocket's local cache). Cheap to clone: clones are the same visit.
#[derive(Clone)]
pub struct Visit {
    inner: Arc<VisitInner>,
}

pub(crate) struct VisitInner {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) client: Option<IpAddr>,
    /// The client and the session's tag, once known: read by loggers as they write. Its
    /// [`LiveContext`]s point into this allocation ([`live_context`]): the request allocates
    /// them once with the rest. So a request logger ([`Visit::logger`]) kept after the
    /// request keeps the whole visit alive: its state, and a session lock of a request that
    /// never reached `finish` (cancelled), until the logger is dropped or the lock's lease
    /// ends.
    pub(crate) live: LiveInner,
    pub(crate) request_id: RequestId,
    pub(crate) secure: bool,
    pub(crate) origin: Option<HeaderValue>,
    pub(crate) started: SystemTime,
    pub(crate) cookie: RequestCookie,
    /// The user the `Authorization` header proved, and why it was refused: set once, at the
    /// end of `enter` (the visit exists before, so that `enter`'s lines have its context).
    pub(crate) auth: OnceLock<(Option<User>, Option<Refusal>)>,
    pub(crate) state: Mutex<State>,
    /// Held while the session is being loaded: a second load of the same request (actix-web
    /// runs a handler's extractors concurrently) waits for the first instead of waiting for
    /// the session lock the first holds.
    pub(crate) loading: futures_util::lock::Mutex<()>,
}

// slog asks a logger's values to be unwind-safe, and a visit's log context points into the
// visit. What a panic could leave half-done here is behind the state's mutex (poisoned, and
// taken with `into_inner` on purpose: plain data) or the loading mutex (held only across a
// load); the rest is written once, before the visit is shared.
impl std::panic::RefUnwindSafe for VisitInner {}

impl LiveSource for VisitInner {
    fn live(&self) -> &LiveInner {
        &self.live
    }
}

impl VisitInner {
    /// The user the `Authorization` header proved.
    pub(crate) fn header_user(&self) -> Option<&User> {
        self.auth.get().and_then(|(user, _)| user.as_ref())
    }

    /// Why the `Authorization` header was refused.
    pub(crate) fn refusal(&self) -> Option<&Refusal> {
        self.auth.get().and_then(|(_, refusal)| refusal.as_ref())
    }
}

/// The log context of the visit `inner`: its fields are the visit's, in the same allocation.
pub(crate) fn live_context(inner: &Arc<VisitInner>) -> LiveContext {
    LiveContext::of(Arc::clone(inner) as Arc<dyn LiveSource>)
}

/// The session as this request sees it.
#[derive(Default)]
pub(crate) struct State {
    /// The session was looked up (or there was nothing to look up).
    pub(crate) loaded: bool,
    /// The store failed and `session_on_store_error = anonymous`: nothing is saved.
    pub(crate) failed: bool,
    /// The live session the cookie named: its id and key.
    pub(crate) existing: Option<(SessionId, StoreKey)>,
    /// The id the session has now (a new one after login/logout/regenerate).
    pub(crate) id: Option<SessionId>,
    /// Current data and user (the data: see `lent`).
    pub(crate) record: Record,
    /// The session's data as the memory store lent it, instead of a copy: while it is
    /// `Some`, `record.data` is empty and the data is this with `change` over it (reads look
    /// at `change` first). Copied into `record.data` ([`State::own_data`]) before anything
    /// needs the whole map.
    pub(crate) lent: Option<LentData>,
    /// What this request changed.
    pub(crate) change: Change,
    pub(crate) destroyed: bool,
    /// The cookie named no live session.
    pub(crate) stale_cookie: bool,
    pub(crate) lock: Option<HeldLock>,
    /// The handler logged in, logged out, regenerated or destroyed: a store failure must
    /// then be a 503 in every `session_on_store_error` mode (a reported login or logout
    /// that did not happen is worse than an error).
    pub(crate) identity_changed: bool,
    /// The operating system's random source failed when a new id was needed: `finish`
    /// answers 503 rather than keep the old id (session fixation).
    pub(crate) rng_failed: bool,
    /// The user changed (login, logout): the session's lifetime counts afresh
    /// (`session_max_lifetime`).
    pub(crate) new_identity: bool,
    /// The size of `record` as `session_max_bytes` counts it, once computed; `None` after
    /// any change other than an insert.
    pub(crate) size: Option<usize>,
}

/// The session of the current request, for handlers.
///
/// Reads and writes are synchronous and touch only data already loaded; what changed is
/// saved once, after the handler, by [`Canister::finish`](crate::Canister::finish). Nothing
/// is stored, and no cookie set, unless something is written.
///
/// # Examples
///
/// ```
/// # async fn example(session: canister_core::Session) -> Result<(), canister_core::InsertError> {
/// let counter: i64 = session.get("counter").map_or(0, |n: i64| n + 1);
/// session.insert("counter", counter)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    visit: Visit,
}

/// Why [`Session::insert`] stored nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The value could not be serialized to JSON (a map with non-string keys, a `Serialize`
    /// impl that fails): a bug in the application. Nothing was stored.
    #[error("session value not stored: it cannot be serialized to JSON")]
    Serialize(#[from] serde_json::Error),
    /// The write would take the session's data past `session_max_bytes`. Nothing was
    /// stored and the session is as it was; answer 413 ([`InsertError::status`]) or store
    /// less (keep large data elsewhere and a reference in the session).
    #[error(
        "session data would take {size} bytes, over session_max_bytes = {limit}: nothing was stored"
    )]
    TooLarge {
        /// The key that was being written.
        key: String,
        /// The bytes the session's data would take with the write (keys, values as JSON,
        /// user as JSON).
        size: usize,
        /// `session_max_bytes`.
        limit: usize,
    },
}

impl InsertError {
    /// The status to answer: 413 for [`InsertError::TooLarge`] (the client sent more than a
    /// session holds), 500 for [`InsertError::Serialize`] (the application's bug).
    pub fn status(&self) -> StatusCode {
        match self {
            InsertError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            InsertError::Serialize(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Visit {
    /// The visit of `inner`, made by `enter`.
    pub(crate) fn from_arc(inner: Arc<VisitInner>) -> Self {
        Self { inner }
    }

    pub(crate) fn inner(&self) -> &VisitInner {
        &self.inner
    }

    /// The request's log context, for a sink (its fields are the visit's).
    pub(crate) fn live_context(&self) -> LiveContext {
        live_context(&self.inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.state().loaded
    }

    pub(crate) fn take_state(&self) -> State {
        std::mem::take(&mut *self.state())
    }

    /// The log context of this request as it is now: client address and session tag.
    pub fn context(&self) -> LogContext {
        self.inner.live.now()
    }

    pub(crate) fn log(&self, event: &Event<'_>) {
        let sink = self.inner.engine.sink();
        if sink.enabled(event.level()) {
            sink.log_request(&self.live_context(), event);
        }
    }

    /// The request's id: the value of `request_id_header` on its response, in every log line
    /// of it and in its `tracing` span.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn handler(visit: canister_core::Visit) {
    /// let id = visit.request_id().to_string(); // e.g. `Kq3xZp7a-17`
    /// # let _ = id; }
    /// ```
    pub fn request_id(&self) -> &RequestId {
        &self.inner.request_id
    }

    /// The request's `tracing` span (feature `tracing`): the span its handler runs in, or
    /// [`Span::none`](tracing::Span::none) when the sink is not the `tracing` one or the
    /// subscriber does not want it.
    ///
    /// The adapters run the handler inside it; run work you spawn inside it too
    /// (`tokio::spawn(work.instrument(visit.span().clone()))`) to keep the request's fields.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn span(&self) -> &tracing::Span {
        self.inner.live.span()
    }

    /// The session, loaded from the store the first time it is asked for.
    ///
    /// # Errors
    ///
    /// The 503 response to send when the store failed (with
    /// `session_on_store_error = fail`, the default).
    pub async fn session(&self) -> Result<Session, Rejection> {
        if self.is_loaded() {
            return Ok(self.handle());
        }
        let _loading = self.inner.loading.lock().await;
        if self.is_loaded() {
            return Ok(self.handle());
        }
        let engine = &self.inner.engine;
        match &self.inner.cookie {
            RequestCookie::Ids { ids, .. } => {
                // The first live one of the ids the browser sent (a sibling subdomain may have
                // tossed in its own, and it may come first).
                let mut found = None;
                for id in ids.iter() {
                    let key = id.key();
                    // The memory store without locking answers at once and lends the data:
                    // no boxed future, no copy.
                    let (loaded, lent) = match engine.load_now(key) {
                        Some(Ok(Some((record, lent)))) => (Ok((Some(record), None)), Some(lent)),
                        Some(Ok(None)) => (Ok((None, None)), None),
                        Some(Err(error)) => (Err(error), None),
                        None => (engine.load(key).await, None),
                    };
                    match loaded {
                        Ok((Some(record), lock)) => {
                            let settings = engine.settings();
                            // The clock is read only with a session_max_lifetime to check.
                            let over = settings.max_lifetime.is_some()
                                && super::persist::lifetime_over(
                                    &record.meta,
                                    settings.max_lifetime,
                                    engine.now(),
                                );
                            if !over {
                                found = Some((id, key, record, lock, lent));
                                break;
                            }
                            // session_max_lifetime: the session ends whatever its activity.
                            if let Some(lock) = lock {
                                engine.release(lock).await;
                            }
                            self.log(&Event::Message {
                                level: Level::Info,
                                text: "session ended: it reached session_max_lifetime",
                            });
                            if let Err(error) = engine.delete(key).await {
                                // Never served again either way: the lifetime is checked at
                                // every load, and its time to live ends it in the store.
                                self.log(&Event::StoreError { error: &error });
                            }
                        }
                        Ok((None, lock)) => {
                            if let Some(lock) = lock {
                                engine.release(lock).await;
                            }
                        }
                        Err(error) => {
                            self.log(&Event::StoreError { error: &error });
                            if engine.settings().on_store_error == OnStoreError::Fail {
                                return Err(Rejection::StoreUnavailable);
                            }
                            let mut state = self.state();
                            state.loaded = true;
                            state.failed = true;
                            drop(state);
                            return Ok(self.anonymous_handle());
                        }
                    }
                }
                // Decide under the state lock, await only after releasing it.
                let (release, event) = {
                    let mut state = self.state();
                    if state.loaded {
                        // Another extractor of this request loaded it meanwhile.
                        (found.and_then(|(_, _, _, lock, _)| lock), None)
                    } else {
                        state.loaded = true;
                        match found {
                            Some((id, key, record, lock, lent)) => {
                                state.existing = Some((id.clone(), key));
                                state.id = Some(id.clone());
                                state.record = record;
                                state.lent = lent;
                                self.inner.live.set_tag(tag_of(&key));
                                if let Some(user) = &state.record.user {
                                    self.inner.live.set_user(user.name());
                                }
                                state.lock = lock;
                                (None, Some(Event::SessionFound))
                            }
                            None => {
                                state.stale_cookie = self.inner.cookie.is_single();
                                self.inner.live.no_session();
                                (None, Some(Event::SessionUnknown))
                            }
                        }
                    }
                };
                if let Some(lock) = release {
                    engine.release(lock).await;
                }
                match event {
                    Some(event) => self.log(&event),
                    None => return Ok(self.handle()),
                }
            }
            RequestCookie::Malformed { .. } => {
                let mut state = self.state();
                state.loaded = true;
                state.stale_cookie = self.inner.cookie.is_single();
                drop(state);
                self.log(&Event::SessionUnknown);
            }
            RequestCookie::Absent => self.state().loaded = true,
        }
        Ok(self.anonymous_handle())
    }

    /// The handle of a session that starts empty (no live session, or the store failed in
    /// `session_on_store_error = anonymous` mode), with the header user kept in it under
    /// `auth_remember`.
    fn anonymous_handle(&self) -> Session {
        let session = self.handle();
        if self.inner.engine.settings().remember {
            if let Some(user) = self.inner.header_user() {
                if session.user().as_ref() != Some(user) {
                    session.login_as(user.clone(), false);
                }
            }
        }
        session
    }

    fn handle(&self) -> Session {
        Session {
            visit: self.clone(),
        }
    }

    /// The request's user: the one its `Authorization` header proved, else the session's.
    ///
    /// Loads the session only when the request carries a session cookie (or it was already
    /// loaded).
    ///
    /// # Errors
    ///
    /// The 503 response when the session had to be loaded and the store failed.
    pub async fn user(&self) -> Result<Option<User>, Rejection> {
        if let Some(user) = self.inner.header_user() {
            return Ok(Some(user.clone()));
        }
        if !self.is_loaded() && !self.inner.cookie.is_present() {
            return Ok(None);
        }
        Ok(self.session().await?.user())
    }

    /// The request's user, or the 401 response (with a `WWW-Authenticate` challenge per
    /// configured scheme) to send when there is none.
    ///
    /// # Errors
    ///
    /// The 401, or a 503 when the store failed.
    pub async fn require_user(&self) -> Result<User, Rejection> {
        match self.user().await? {
            Some(user) => Ok(user),
            None => Err(self.unauthorized()),
        }
    }

    /// The 401 response for this request: challenges of every configured scheme, with
    /// `error="invalid_token"` when a bearer token was refused.
    ///
    /// When the request's token could not be checked because the identity provider's keys
    /// were never fetched ([`Refusal::is_unavailable`]), this is the 503 with `Retry-After`
    /// instead.
    pub fn unauthorized(&self) -> Rejection {
        if self.inner.refusal().is_some_and(Refusal::is_unavailable) {
            return Rejection::AuthUnavailable;
        }
        Rejection::Unauthenticated {
            challenges: self.inner.engine.challenges(self.inner.refusal()),
        }
    }

    /// The request's user when its token grants `scope`; else the 401 (no user), 503 (as
    /// [`unauthorized`](Self::unauthorized)) or 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"` to send.
    ///
    /// # Errors
    ///
    /// That response.
    pub async fn require_scope(&self, scope: &str) -> Result<User, Rejection> {
        let user = self.require_user().await?;
        user.require_scope(scope)?;
        Ok(user)
    }

    /// The user proved by the `Authorization` header, if any.
    pub fn header_user(&self) -> Option<&User> {
        self.inner.header_user()
    }

    /// Why the `Authorization` header was refused, if it was.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.inner.refusal()
    }

    /// Whether the request came over https.
    pub fn is_secure(&self) -> bool {
        self.inner.secure
    }

    /// The client's address (from `X-Forwarded-For` only with `log_trust_proxy`).
    pub fn client(&self) -> Option<IpAddr> {
        self.inner.client
    }

    /// A logger for the handler, carrying this request's context (`[ip-tag]`).
    ///
    /// The session tag is read when each line is written
    /// ([`LogSink::request_logger`](crate::log::LogSink::request_logger)), so a logger taken
    /// before the session was loaded still carries the tag on every line written after:
    /// the order of the framework's extractors does not matter.
    ///
    /// The logger shares the visit's allocation: one kept after the request (moved into a
    /// task that outlives it) keeps the visit's state alive, and with session locking on,
    /// the lock of a request that was cancelled before `finish` stays held until the logger
    /// is dropped or the lock's lease ends. For work that outlives the request, log through
    /// a logger of your own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use canister_core::Visit;
    /// # async fn handler(visit: Visit) -> Result<(), canister_core::Rejection> {
    /// let log = visit.logger(); // no session yet: `[ip-...]` so far
    /// let session = visit.session().await?;
    /// slog::info!(log, "counter is {:?}", session.get::<i64>("counter")); // `[ip-TAG]`
    /// # Ok(()) }
    /// ```
    pub fn logger(&self) -> slog::Logger {
        self.inner
            .engine
            .sink()
            .request_logger(&self.live_context())
    }

    /// Decodes the request's parameters (query, then an url-encoded, multipart or JSON-object
    /// body, see [`params`](crate::params)) into `T`.
    ///
    /// # Errors
    ///
    /// The 400 response naming the missing or malformed parameter (also logged).
    pub async fn params<T: DeserializeOwned>(
        &self,
        query: Option<&str>,
        content_type: Option<&HeaderValue>,
        body: Bytes,
    ) -> Result<T, Rejection> {
        let decoded = ParamMap::from_parts(query, content_type, body)
            .await
            .and_then(|map| map.deserialize());
        decoded.map_err(|error| self.bad_params(error))
    }

    /// The most bytes of a request body an adapter reads to decode parameters
    /// (`params_body_limit`, default 2 MiB); see [`adapter::read_body`](crate::adapter::read_body).
    pub fn params_body_limit(&self) -> usize {
        self.inner.engine.settings().config.params.body_limit
    }

    /// Logs a parameter error and makes it the 400 [`Rejection`].
    pub fn bad_params(&self, error: ParamsError) -> Rejection {
        let reason = error.to_string();
        self.log(&Event::BadParams { reason: &reason });
        Rejection::BadParams(error)
    }
}

impl fmt::Debug for Visit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Visit")
            .field("context", &self.context().to_string())
            .field("header_user", &self.inner.header_user())
            .finish_non_exhaustive()
    }
}

impl Session {
    fn state(&self) -> MutexGuard<'_, State> {
        self.visit.state()
    }

    /// The value of `key` as a `T`; `None` when absent or not a `T` (see
    /// [`try_get`](Self::try_get) to tell the two apart).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.try_get(key).ok().flatten()
    }

    /// The value of `key` as a `T`, `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// The deserialization error when the stored value is not a `T`.
    pub fn try_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, serde_json::Error> {
        let state = self.state();
        match state.value(key) {
            Some(value) => T::deserialize(value).map(Some),
            None => Ok(None),
        }
    }

    /// The raw JSON value of `key`.
    pub fn value(&self, key: &str) -> Option<serde_json::Value> {
        self.state().value(key).cloned()
    }

    /// A copy of all the session's data.
    pub fn data(&self) -> Data {
        let mut state = self.state();
        state.own_data();
        state.record.data.clone()
    }

    /// Stores `value` under `key`.
    ///
    /// A session holds at most `session_max_bytes` (default 64 KiB) of data: the lengths of
    /// its keys, of its values as JSON and of its user as JSON. A write that would leave it
    /// above that is refused whole and logged at WARNING.
    ///
    /// # Errors
    ///
    /// [`InsertError::Serialize`] when `value` cannot be serialized to JSON;
    /// [`InsertError::TooLarge`] when the session would exceed `session_max_bytes`. Either
    /// way the session is left as it was.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), InsertError> {
        let value = serde_json::to_value(value)?;
        let limit = self.visit.inner.engine.settings().config.session.max_bytes;
        let mut guard = self.state();
        let state = &mut *guard;
        let current = match state.size {
            Some(size) => size,
            None => state.data_size(),
        };
        let replaced = state.value(key).map_or(0, |old| key.len() + json_len(old));
        let size = current.saturating_sub(replaced) + key.len() + json_len(&value);
        if size > limit {
            state.size = Some(current);
            drop(guard);
            let text = format!(
                "session write refused: its data would take {size} bytes, over \
                 session_max_bytes = {limit}"
            );
            self.visit.log(&Event::Message {
                level: Level::Warning,
                text: &text,
            });
            return Err(InsertError::TooLarge {
                key: key.to_owned(),
                size,
                limit,
            });
        }
        state.size = Some(size);
        state.change.removed.retain(|k| k != key);
        state.change.set.retain(|(k, _)| k != key);
        if state.lent.is_some() {
            // The data is the lent one with the change over it: the change is enough.
            state.change.set.push((key.to_owned(), value));
            return Ok(());
        }
        state.change.set.push((key.to_owned(), value.clone()));
        // An existing key keeps its `String`: only the value is replaced.
        match state.record.data.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                state.record.data.insert(key.to_owned(), value);
            }
        }
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&self, key: &str) -> Option<serde_json::Value> {
        let mut state = self.state();
        state.own_data();
        state.size = None;
        state.change.set.retain(|(k, _)| k != key);
        if !state.change.removed.iter().any(|k| k == key) {
            state.change.removed.push(key.to_owned());
        }
        state.record.data.remove(key)
    }

    /// Removes every key (the user stays logged in).
    pub fn clear(&self) {
        let mut state = self.state();
        state.lent = None;
        state.size = None;
        state.change.cleared = true;
        state.change.set.clear();
        state.change.removed.clear();
        state.record.data.clear();
    }

    /// The session id, drawing one if the session has none yet (the session is still only
    /// stored if something is written).
    ///
    /// Secret: send it only in the cookie, never to a log.
    pub fn id(&self) -> String {
        let mut state = self.state();
        if state.id.is_none() {
            state.id = new_id().ok();
        }
        state
            .id
            .as_ref()
            .map_or_else(String::new, |id| id.as_str().to_owned())
    }

    /// The session's logged-in user (a form login, or a header user with `auth_remember`).
    pub fn user(&self) -> Option<User> {
        self.state().record.user.clone()
    }

    /// Logs `user` in: stored in the session, and the session id changes (no fixation).
    ///
    /// If the new id cannot be drawn (the operating system's random source failed) or the
    /// session cannot be saved, the response becomes a 503 whatever
    /// `session_on_store_error` says: the login is never reported done when it was not.
    pub fn login(&self, user: User) {
        self.login_as(user, true);
    }

    /// Logs `user` in and remembers the login: the cookie becomes persistent, with
    /// `session_remember_timeout` (default 30 days) as its `Max-Age`, and the session lives
    /// that long in the store, sliding with use (a "remember me" box on a login form).
    ///
    /// Otherwise as [`login`](Self::login): the id changes, and a failure is a 503. A later
    /// [`login`](Self::login) or [`logout`](Self::logout) forgets the remembering;
    /// `session_max_lifetime`, when set, still ends the session.
    pub fn login_remembered(&self, user: User) {
        let ms = self.visit.inner.engine.settings().remember_ttl.as_millis();
        self.login_as(user, true);
        self.state().record.meta.remember_ms = Some(u64::try_from(ms).unwrap_or(u64::MAX).max(1));
    }

    /// Whether the session is a remembered login ([`login_remembered`](Self::login_remembered)).
    pub fn is_remembered(&self) -> bool {
        self.state().record.meta.remember_ms.is_some()
    }

    fn login_as(&self, user: User, explicit: bool) {
        {
            let mut state = self.state();
            state.size = None;
            state.new_identity = true;
            state.record.meta.remember_ms = None;
            state.record.user = Some(user.clone());
            state.change.user = Some(Some(user.clone()));
            state.identity_changed |= explicit;
            self.cycle(&mut state);
        }
        self.visit.inner.live.set_user(user.name());
        self.visit.log(&Event::LoggedIn { name: user.name() });
    }

    /// Logs the user out: the session forgets its user, keeps its data, and changes id.
    ///
    /// A store failure makes the response a 503 in every `session_on_store_error` mode.
    pub fn logout(&self) {
        let name = {
            let mut state = self.state();
            state.size = None;
            let previous = state.record.user.take();
            state.change.user = Some(None);
            state.new_identity = true;
            state.record.meta.remember_ms = None;
            state.identity_changed = true;
            self.cycle(&mut state);
            previous.map(|u| u.name().to_owned())
        };
        if let Some(name) = name {
            self.visit.log(&Event::LoggedOut { name: &name });
        }
    }

    /// Gives the session a new id, keeping its data.
    pub fn regenerate(&self) {
        let mut state = self.state();
        state.identity_changed = true;
        self.cycle(&mut state);
    }

    /// Ends the session: it is deleted from the store and the cookie is cleared.
    ///
    /// The clearing cookie is sent even when the store fails (the response is then a 503:
    /// the server-side session may still be live until it expires).
    pub fn destroy(&self) {
        let mut state = self.state();
        state.destroyed = true;
        state.identity_changed = true;
        state.size = None;
        state.record = Record::default();
        state.lent = None;
        state.change = Change::default();
    }

    /// Checks a username and password against the configured authenticators (a login
    /// form). [`AuthOutcome::NotMine`] when no authenticator checks passwords.
    ///
    /// # Errors
    ///
    /// With login throttling (`auth_throttle`, `auth_throttle_ip`):
    /// [`Rejection::Throttled`] (429 with `Retry-After`) when this user name or this client
    /// failed too often in the window, without checking the password, and
    /// [`Rejection::StoreUnavailable`] when the store's counters cannot be used. Answer the
    /// rejection as it is: every adapter turns it into its response.
    pub async fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthOutcome, Rejection> {
        let inner = &self.visit.inner;
        inner
            .engine
            .verify_password(username, password, inner.client, &self.visit.live_context())
            .await
    }

    /// The visit this session belongs to.
    pub fn visit(&self) -> &Visit {
        &self.visit
    }

    /// The key the session has now (a new one after a login in this request), if any.
    pub(crate) fn current_key(&self) -> Option<StoreKey> {
        self.state().id.as_ref().map(SessionId::key)
    }

    fn cycle(&self, state: &mut State) {
        if state.existing.is_none() && state.id.is_some() {
            // Not stored yet: the id drawn for it was never sent in a cookie.
            return;
        }
        // A new id; `finish` moves the record to it and deletes the old one. On a store
        // spread over shards, in the old key's shard, so that the move is one atomic step.
        let drawn = match &state.existing {
            Some((_, old)) => self.visit.inner.engine.cycle_id(old),
            None => new_id(),
        };
        match drawn {
            Ok(id) => state.id = Some(id),
            Err(_) => {
                // Never keep the old id at a login (fixation): `finish` answers 503.
                state.id = None;
                state.rng_failed = true;
            }
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut state = self.state();
        state.own_data();
        f.debug_struct("Session")
            .field("keys", &state.record.data.keys().collect::<Vec<_>>())
            .field("user", &state.record.user)
            .finish_non_exhaustive()
    }
}

impl State {
    /// The value of `key` as the handler sees it now: from the change over the lent data,
    /// or from the record's own data.
    fn value(&self, key: &str) -> Option<&serde_json::Value> {
        let Some(lent) = &self.lent else {
            return self.record.data.get(key);
        };
        if let Some((_, value)) = self.change.set.iter().find(|(k, _)| k == key) {
            return Some(value);
        }
        if self.change.cleared || self.change.removed.iter().any(|k| k == key) {
            return None;
        }
        lent.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    /// Copies the lent data, with the change over it, into `record.data` (what the store
    /// would have handed out), for what needs the whole map.
    pub(crate) fn own_data(&mut self) {
        let Some(lent) = self.lent.take() else {
            return;
        };
        let mut data = Data::new();
        if !self.change.cleared {
            for (k, v) in lent.iter() {
                data.insert(String::from(&**k), v.clone());
            }
        }
        for k in &self.change.removed {
            data.remove(k);
        }
        for (k, v) in &self.change.set {
            data.insert(k.clone(), v.clone());
        }
        self.record.data = data;
    }

    /// The bytes the data and user take as `session_max_bytes` counts them
    /// ([`record_size`]), lent data included.
    fn data_size(&self) -> usize {
        let Some(lent) = &self.lent else {
            return record_size(&self.record);
        };
        let change = &self.change;
        // `set` and `removed` never share a key; each key is in `set` once.
        let kept: usize = lent
            .iter()
            .filter(|(k, _)| {
                !change.cleared
                    && !change.removed.iter().any(|r| r == &**k)
                    && !change.set.iter().any(|(s, _)| s == &**k)
            })
            .map(|(k, v)| k.len() + json_len(v))
            .sum();
        let set: usize = change.set.iter().map(|(k, v)| k.len() + json_len(v)).sum();
        kept + set + self.record.user.as_ref().map_or(0, json_len)
    }
}

/// The bytes `record` takes as `session_max_bytes` counts them: keys, values as JSON, user
/// as JSON.
fn record_size(record: &Record) -> usize {
    let data: usize = record.data.iter().map(|(k, v)| k.len() + json_len(v)).sum();
    data + record.user.as_ref().map_or(0, json_len)
}

/// The length of `value` serialized as compact JSON, without building the text.
fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A `Value` or a `User` always serializes, and this writer never fails: the count is
    // complete.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
