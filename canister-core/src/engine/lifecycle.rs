//! A user's sessions (issue #22): listing them, ending them, capping them.
//!
//! Built on the store's per-user index ([`SessionStore::sessions_of`]); ending one is a
//! [`SessionStore::delete`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::visit::Visit;
use super::Canister;
use crate::auth::Authenticator;
use crate::log::{Event, Level, LogContext, LogSink};
use crate::session::{tag_of, SessionStore, StoreError, StoreKey, UserSession};
use crate::Rejection;

/// One live session of a user, as [`Visit::user_sessions`] and [`Canister::sessions_of`]
/// list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's 6-character tag, as its log lines carry it (a hash of its id, never the
    /// id): what a page listing sessions shows, and what [`Visit::end_user_session`] takes.
    pub tag: String,
    /// When it was created or logged in (`None`: a session stored by an older canister).
    pub created: Option<SystemTime>,
    /// When a request last wrote it or refreshed its time to live (sliding expiry refreshes
    /// at most once per fifth of the time to live, so this may lag by that much).
    pub last_seen: Option<SystemTime>,
    /// Whether it is the session of the request that asked.
    pub current: bool,
    key: StoreKey,
}

impl SessionInfo {
    fn of(session: &UserSession, current: Option<&StoreKey>) -> Self {
        let time = |ms: Option<u64>| ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
        Self {
            tag: String::from_utf8_lossy(&tag_of(&session.key)).into_owned(),
            created: time(session.created_ms),
            last_seen: time(session.seen_ms),
            current: current == Some(&session.key),
            key: session.key,
        }
    }

    /// `created` in Unix seconds (0 when unknown), as the demos' `GET /sessions` shows it.
    pub fn created_unix(&self) -> u64 {
        unix_secs(self.created)
    }

    /// `last_seen` in Unix seconds (0 when unknown).
    pub fn last_seen_unix(&self) -> u64 {
        unix_secs(self.last_seen)
    }
}

/// As the demos' `GET /sessions` lists it: `{"tag": str, "created": int, "last_seen": int,
/// "current": bool}`, times in Unix seconds (0 when unknown).
impl serde::Serialize for SessionInfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut out = serializer.serialize_struct("SessionInfo", 4)?;
        out.serialize_field("tag", &self.tag)?;
        out.serialize_field("created", &self.created_unix())?;
        out.serialize_field("last_seen", &self.last_seen_unix())?;
        out.serialize_field("current", &self.current)?;
        out.end()
    }
}

fn unix_secs(time: Option<SystemTime>) -> u64 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which<'a> {
    /// All but the current one.
    Others,
    /// The one with this tag (never the current one: [`Session::destroy`](crate::Session::destroy) ends that).
    Tag(&'a str),
}

impl Visit {
    /// The session user's live sessions, oldest first, this one marked `current`.
    ///
    /// The user is the one logged in to the session (a form login, or a header user kept
    /// with `auth_remember`): a request authenticated only by its `Authorization` header has
    /// no session to list from.
    ///
    /// # Errors
    ///
    /// The 401 (with challenges) when the session has no user; a 503 when the store fails or
    /// keeps no per-user index.
    pub async fn user_sessions(&self) -> Result<Vec<SessionInfo>, Rejection> {
        let (user, current) = self.session_user().await?;
        let engine = &self.inner().engine;
        match engine.sessions_of(&user).await {
            Ok(list) => Ok(list
                .iter()
                .map(|s| SessionInfo::of(s, current.as_ref()))
                .collect()),
            Err(error) => Err(self.store_failed(&error)),
        }
    }

    /// Ends every other live session of the session's user ("log out everywhere else",
    /// after a password change); how many it ended. The current session stays.
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions).
    pub async fn end_other_sessions(&self) -> Result<usize, Rejection> {
        self.end_sessions(Which::Others).await
    }

    /// Ends the session of the session's user whose tag is `tag` (one of
    /// [`user_sessions`](Self::user_sessions)); whether there was such a session. The current
    /// session is not ended this way: call [`Session::destroy`](crate::Session::destroy).
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions).
    pub async fn end_user_session(&self, tag: &str) -> Result<bool, Rejection> {
        self.end_sessions(Which::Tag(tag)).await.map(|n| n > 0)
    }

    async fn end_sessions(&self, which: Which<'_>) -> Result<usize, Rejection> {
        let (user, current) = self.session_user().await?;
        let engine = &self.inner().engine;
        let list = engine
            .sessions_of(&user)
            .await
            .map_err(|e| self.store_failed(&e))?;
        let mut ended = 0;
        for session in &list {
            if Some(&session.key) == current.as_ref() {
                continue;
            }
            if let Which::Tag(tag) = which {
                if tag_of(&session.key) != tag.as_bytes() {
                    continue;
                }
            }
            engine
                .delete(session.key)
                .await
                .map_err(|e| self.store_failed(&e))?;
            ended += 1;
        }
        if ended > 0 {
            let text = format!("ended {ended} other session(s) of {user}");
            self.log(&Event::Message {
                level: Level::Info,
                text: &text,
            });
        }
        Ok(ended)
    }

    /// The session's user and the session's current key.
    async fn session_user(&self) -> Result<(String, Option<StoreKey>), Rejection> {
        let session = self.session().await?;
        let Some(user) = session.user() else {
            return Err(self.unauthorized());
        };
        Ok((user.name().to_owned(), session.current_key()))
    }

    fn store_failed(&self, error: &StoreError) -> Rejection {
        self.log(&Event::StoreError { error });
        Rejection::StoreUnavailable
    }
}

impl<S: SessionStore, A: Authenticator, L: LogSink> Canister<S, A, L> {
    /// The live sessions of the user named `user`, oldest first (none `current`): for an
    /// administration page or a background job.
    ///
    /// # Errors
    ///
    /// The store's error (also when it keeps no per-user index).
    pub async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let list = self.inner.store.sessions_of(user).await?;
        Ok(list.iter().map(|s| SessionInfo::of(s, None)).collect())
    }

    /// Ends every live session of the user named `user`, outside any request (after a
    /// password change made elsewhere, an account locked by an administrator); how many.
    ///
    /// # Errors
    ///
    /// The store's error; sessions ended before it stay ended.
    pub async fn end_sessions_of(&self, user: &str) -> Result<usize, StoreError> {
        let list = self.inner.store.sessions_of(user).await?;
        for session in &list {
            self.inner.store.delete(&session.key).await?;
        }
        if !list.is_empty() {
            let text = format!("ended all {} session(s) of {user}", list.len());
            self.inner.sink.log(
                &LogContext::main(),
                &Event::Message {
                    level: Level::Info,
                    text: &text,
                },
            );
        }
        Ok(list.len())
    }

    /// `session_max_per_user`: after a login into `new`, ends the user's oldest sessions
    /// beyond the cap (never `new`).
    pub(crate) async fn enforce_cap(&self, user: &str, new: &StoreKey) -> Result<(), StoreError> {
        let cap = self.inner.settings.config.session.max_per_user;
        if cap == 0 {
            return Ok(());
        }
        let list = self.inner.store.sessions_of(user).await?;
        let excess = list.len().saturating_sub(cap);
        for session in list.iter().filter(|s| s.key != *new).take(excess) {
            self.inner.store.delete(&session.key).await?;
        }
        Ok(())
    }
}
