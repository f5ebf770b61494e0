//! What `finish` writes: a [`Plan`] decided from the visit's state alone (pure, tested
//! without a store), then carried out against the store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cookie::CookieAction;
use super::visit::State;
use crate::session::{Meta, SessionId, StoreError, StoreKey};

/// The one store operation (or none) that ends a request, and the cookie that goes with it.
#[derive(Debug)]
pub(crate) enum Plan {
    /// No store operation: answer with this cookie action.
    Nothing(CookieAction),
    /// Refuse with a 503: the request's login, logout or end cannot be applied.
    Refuse(&'static str),
    /// The session ends: delete it (when it existed) and clear the cookie (when one came).
    Delete {
        key: Option<StoreKey>,
        clear_cookie: bool,
    },
    /// The id changed (login, logout, regenerate): move the session to `new`.
    Cycle { old: StoreKey, new: SessionId },
    /// Apply the request's change to the live session `key`; re-send the cookie of `id` when
    /// given (a persistent cookie whose `Max-Age` slides).
    Save {
        id: Option<SessionId>,
        key: StoreKey,
    },
    /// Store a new session under `id` (drawn now when `None`).
    Create { id: Option<SessionId> },
}

impl Plan {
    /// The plan for a request whose handler left `state`.
    ///
    /// `cookie_present`: the request carried a session cookie; `cookie_refresh`: every
    /// session cookie is persistent (`session_cookie_persistent`) and its `Max-Age` slides.
    ///
    /// A cookie whose id did not change is re-sent only when it is persistent (that, or a
    /// remembered login, so that its `Max-Age` slides): a browser-session cookie the browser
    /// already holds is not sent again on every response.
    pub(crate) fn of(state: &State, cookie_present: bool, cookie_refresh: bool) -> Plan {
        let cookie_refresh = cookie_refresh || state.record.meta.remember_ms.is_some();
        if state.rng_failed {
            // Never save under the old id at a login or logout (fixation).
            return Plan::Refuse("the operating system's random source failed");
        }
        if state.failed {
            // `session_on_store_error = anonymous`: nothing is saved; a login, logout or end
            // that did not happen is never reported done.
            return if state.identity_changed {
                Plan::Refuse(
                    "the session could not be loaded; its login, logout or end was not applied",
                )
            } else {
                Plan::Nothing(CookieAction::None)
            };
        }
        if !state.loaded {
            return Plan::Nothing(CookieAction::None);
        }
        if state.destroyed {
            return Plan::Delete {
                key: state.existing.as_ref().map(|(_, key)| *key),
                clear_cookie: cookie_present,
            };
        }
        match (&state.existing, &state.id) {
            (Some((old_id, old_key)), Some(new_id)) if new_id != old_id => Plan::Cycle {
                old: *old_key,
                new: new_id.clone(),
            },
            (Some((old_id, old_key)), _) if !state.change.is_empty() => Plan::Save {
                id: cookie_refresh.then(|| old_id.clone()),
                key: *old_key,
            },
            // Read-only: the load refreshed the TTL; refresh the cookie's.
            (Some((old_id, _)), _) if cookie_refresh => {
                Plan::Nothing(CookieAction::Set(old_id.clone()))
            }
            (Some(_), _) => Plan::Nothing(CookieAction::None),
            // Lazy: nothing stored, nothing created; forget a stale cookie.
            (None, _) if state.record.data.is_empty() && state.record.user.is_none() => {
                Plan::Nothing(if state.stale_cookie {
                    CookieAction::Clear
                } else {
                    CookieAction::None
                })
            }
            (None, id) => Plan::Create { id: id.clone() },
        }
    }
}

/// `time` in milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a session created (or logged in) at `meta.created_ms` has outlived `max`
/// (`session_max_lifetime`) at `now`. A record without a creation time (stored by an older
/// canister) has not.
pub(crate) fn lifetime_over(meta: &Meta, max: Option<Duration>, now: SystemTime) -> bool {
    match (max, meta.created_ms) {
        (Some(max), Some(created)) => {
            let max = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
            unix_ms(now) >= created.saturating_add(max)
        }
        _ => false,
    }
}

/// The time to live a write gives a session: its own when remembered
/// (`session_remember_timeout`), else `ttl` (`session_timeout`), and never past the end of its
/// lifetime (`session_max_lifetime`), so the store drops it then by itself.
pub(crate) fn ttl_for(
    meta: &Meta,
    ttl: Option<Duration>,
    max_lifetime: Option<Duration>,
    now: SystemTime,
) -> Option<Duration> {
    let ttl = meta.ttl_or(ttl);
    let (Some(max), Some(created)) = (max_lifetime, meta.created_ms) else {
        return ttl;
    };
    let end = created.saturating_add(u64::try_from(max.as_millis()).unwrap_or(u64::MAX));
    let left = Duration::from_millis(end.saturating_sub(unix_ms(now)).max(1));
    Some(ttl.map_or(left, |t| t.min(left)))
}

/// The error of a [`Plan::Refuse`].
pub(crate) fn refusal(message: &'static str) -> StoreError {
    StoreError::Unavailable {
        message: message.to_owned(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;

    fn id() -> SessionId {
        SessionId::generate().unwrap_or_else(|e| panic!("random source: {e}"))
    }

    fn loaded(existing: Option<&SessionId>) -> State {
        State {
            loaded: true,
            existing: existing.map(|id| (id.clone(), id.key())),
            id: existing.cloned(),
            ..State::default()
        }
    }

    #[test]
    fn nothing_loaded_or_nothing_written_touches_no_store() {
        let unloaded = State::default();
        assert!(matches!(
            Plan::of(&unloaded, true, true),
            Plan::Nothing(CookieAction::None)
        ));
        let fresh = loaded(None);
        assert!(matches!(
            Plan::of(&fresh, false, true),
            Plan::Nothing(CookieAction::None)
        ));
        let mut stale = loaded(None);
        stale.stale_cookie = true;
        assert!(matches!(
            Plan::of(&stale, true, true),
            Plan::Nothing(CookieAction::Clear)
        ));
        let live = id();
        let read_only = loaded(Some(&live));
        assert!(matches!(
            Plan::of(&read_only, true, true),
            Plan::Nothing(CookieAction::Set(ref s)) if *s == live
        ));
        assert!(matches!(
            Plan::of(&read_only, true, false),
            Plan::Nothing(CookieAction::None)
        ));
    }

    #[test]
    fn writes_save_create_or_cycle() {
        let live = id();
        let mut written = loaded(Some(&live));
        written
            .change
            .set
            .push(("k".to_owned(), serde_json::Value::Bool(true)));
        assert!(matches!(
            Plan::of(&written, true, true),
            Plan::Save { id: Some(ref id), key } if *id == live && key == live.key()
        ));
        // A browser-session cookie is not re-sent when its id did not change...
        assert!(matches!(
            Plan::of(&written, true, false),
            Plan::Save { id: None, key } if key == live.key()
        ));
        // ... a remembered login's persistent one is, so its Max-Age slides.
        let mut remembered = loaded(Some(&live));
        remembered.record.meta.remember_ms = Some(60_000);
        remembered.change.set.push(("k".to_owned(), 1.into()));
        assert!(matches!(
            Plan::of(&remembered, true, false),
            Plan::Save { id: Some(ref id), .. } if *id == live
        ));
        remembered.change = crate::session::Change::default();
        assert!(matches!(
            Plan::of(&remembered, true, false),
            Plan::Nothing(CookieAction::Set(ref id)) if *id == live
        ));
        let mut logged_in = written;
        let new = id();
        logged_in.id = Some(new.clone());
        assert!(matches!(
            Plan::of(&logged_in, true, true),
            Plan::Cycle { old, new: ref n } if old == live.key() && *n == new
        ));
        let mut created = loaded(None);
        created.record.user = Some(User::new("alice"));
        assert!(matches!(
            Plan::of(&created, false, true),
            Plan::Create { id: None }
        ));
    }

    #[test]
    fn lifetime_counts_from_creation_and_caps_the_ttl() {
        let created = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let meta = Meta {
            created_ms: Some(unix_ms(created)),
            remember_ms: None,
        };
        let max = Some(Duration::from_secs(100));
        let hour = Some(Duration::from_secs(3600));
        assert!(!lifetime_over(
            &meta,
            max,
            created + Duration::from_secs(99)
        ));
        assert!(lifetime_over(
            &meta,
            max,
            created + Duration::from_secs(100)
        ));
        assert!(!lifetime_over(
            &meta,
            None,
            created + Duration::from_secs(10_000)
        ));
        // An old record without a creation time is not ended.
        assert!(!lifetime_over(&Meta::default(), max, created));
        // The TTL never reaches past the end of the lifetime.
        assert_eq!(
            ttl_for(&meta, hour, max, created + Duration::from_secs(40)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(ttl_for(&meta, hour, None, created), hour);
        assert_eq!(
            ttl_for(&meta, None, max, created),
            Some(Duration::from_secs(100))
        );
        // A remembered login lives by its own TTL, still within the lifetime.
        let remembered = Meta {
            remember_ms: Some(30 * 86_400_000),
            ..meta
        };
        assert_eq!(
            ttl_for(&remembered, hour, None, created),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            ttl_for(&remembered, hour, max, created),
            Some(Duration::from_secs(100))
        );
    }

    #[test]
    fn destroy_deletes_and_clears_only_a_sent_cookie() {
        let live = id();
        let mut ended = loaded(Some(&live));
        ended.destroyed = true;
        assert!(matches!(
            Plan::of(&ended, true, true),
            Plan::Delete { key: Some(k), clear_cookie: true } if k == live.key()
        ));
        let mut never_stored = loaded(None);
        never_stored.destroyed = true;
        assert!(matches!(
            Plan::of(&never_stored, false, true),
            Plan::Delete {
                key: None,
                clear_cookie: false
            }
        ));
    }

    #[test]
    fn failures_refuse_identity_changes_and_save_nothing_else() {
        let mut rng = loaded(Some(&id()));
        rng.rng_failed = true;
        assert!(matches!(Plan::of(&rng, true, true), Plan::Refuse(_)));
        let mut failed = State {
            loaded: true,
            failed: true,
            ..State::default()
        };
        failed.record.data.insert("k".to_owned(), 1.into());
        assert!(matches!(
            Plan::of(&failed, true, true),
            Plan::Nothing(CookieAction::None)
        ));
        failed.identity_changed = true;
        assert!(matches!(Plan::of(&failed, true, true), Plan::Refuse(_)));
    }
}
