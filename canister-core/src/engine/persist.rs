//! What `finish` writes: a [`Plan`] decided from the visit's state alone (pure, tested
//! without a store), then carried out against the store.

use super::cookie::CookieAction;
use super::visit::State;
use crate::session::{SessionId, StoreError, StoreKey};

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
    /// Apply the request's change to the live session `id`.
    Save { id: SessionId, key: StoreKey },
    /// Store a new session under `id` (drawn now when `None`).
    Create { id: Option<SessionId> },
}

impl Plan {
    /// The plan for a request whose handler left `state`.
    ///
    /// `cookie_present`: the request carried a session cookie; `cookie_refresh`: a read-only
    /// request re-sends the cookie so its `Max-Age` slides.
    pub(crate) fn of(state: &State, cookie_present: bool, cookie_refresh: bool) -> Plan {
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
                id: old_id.clone(),
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
            Plan::Save { ref id, key } if *id == live && key == live.key()
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
