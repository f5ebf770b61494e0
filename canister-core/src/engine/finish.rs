//! The second pass: [`Canister::finish`], after the handler, and the one store operation
//! its plan names.

use super::*;

impl<S: SessionStore, A: Authenticator, L: LogSink> Canister<S, A, L> {
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

        if settings.remember && visit_inner.header_user().is_some() && !visit.is_loaded() {
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
        let result = self.execute(plan, &visit, &mut state).await;
        if let Some(lock) = state.lock.take() {
            Engine::release(&**inner, lock).await;
        }
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
                visit.log(&Event::StoreError { error: &error });
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
        // Made here, once: a value kept in the visit and cloned would cost a second
        // allocation (the clone makes its bytes shared).
        head.insert(
            settings.request_id_header.clone(),
            visit_inner.request_id.to_header_value(),
        );
        self.log_response(|| visit.live_context(), head.status(), visit_inner.started);
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
        visit: &Visit,
        state: &mut State,
    ) -> Result<CookieAction, StoreError> {
        let inner = &self.inner;
        let store = &inner.store;
        let new_lifetime = matches!(plan, Plan::Create { .. })
            || (matches!(plan, Plan::Cycle { .. }) && state.new_identity);
        // The clock is read only when something needs it: not for the common save.
        let now =
            (new_lifetime || inner.settings.max_lifetime.is_some()).then(|| inner.clock.now());
        if let (true, Some(now)) = (new_lifetime, now) {
            // Where session_max_lifetime counts from: creation, login, logout.
            state.record.meta.created_ms = Some(persist::unix_ms(now));
        }
        let ttl = match now {
            Some(now) => persist::ttl_for(
                &state.record.meta,
                inner.settings.ttl,
                inner.settings.max_lifetime,
                now,
            ),
            // No session_max_lifetime: what `ttl_for` answers then, without the time.
            None => state.record.meta.ttl_or(inner.settings.ttl),
        };
        let live = &visit.inner().live;
        // Only the request that ended a session touches the cookie: a concurrent login may
        // just have set the new one.
        let ended = || {
            visit.log(&Event::SessionEndedConcurrently);
            Ok(CookieAction::None)
        };
        match plan {
            Plan::Nothing(action) => Ok(action),
            Plan::Refuse(message) => Err(persist::refusal(message)),
            Plan::Delete { key, clear_cookie } => {
                if let Some(key) = key {
                    store.delete(&key).await?;
                }
                visit.log(&Event::SessionDestroyed);
                Ok(if clear_cookie {
                    CookieAction::Clear
                } else {
                    CookieAction::None
                })
            }
            Plan::Cycle { old, new } => {
                // The whole record moves: its data copied out of the store's loan.
                state.own_data();
                let new_key = new.key();
                if store.cycle(&old, &new_key, &state.record, ttl).await? {
                    // The response line names the session the cookie now carries.
                    live.set_tag(crate::session::tag_of(&new_key));
                    if let (Some(user), true) = (&state.record.user, state.new_identity) {
                        self.enforce_cap(user.name(), &new_key).await?;
                    }
                    Ok(CookieAction::Set(new))
                } else {
                    ended()
                }
            }
            Plan::Save { id, key } => {
                // Only the change is written; the loan ends first, so that the store can
                // replace the values where they are.
                state.lent = None;
                if store.save(&key, &state.change, ttl).await? {
                    Ok(id.map_or(CookieAction::None, CookieAction::Set))
                } else {
                    ended()
                }
            }
            Plan::Create { id } => {
                state.own_data();
                let mut id = match id {
                    Some(id) => id,
                    None => new_id()?,
                };
                for _ in 0..3 {
                    let key = id.key();
                    if store.create(&key, &state.record, ttl).await? {
                        live.set_tag(crate::session::tag_of(&key));
                        visit.log(&Event::SessionCreated);
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

    /// Logs the response line (status and time since `started`; WARNING when slow).
    /// `live` makes the request's log context, only when the line is written.
    pub(super) fn log_response(
        &self,
        live: impl FnOnce() -> LiveContext,
        status: StatusCode,
        started: SystemTime,
    ) {
        let sink = &self.inner.sink;
        if !sink.enabled(Level::Warning) && !sink.enabled(Level::Info) {
            // No line would be written: the clock is not read.
            return;
        }
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
                &live(),
                &Event::Response {
                    status,
                    elapsed,
                    slow,
                },
            );
        }
    }
}
