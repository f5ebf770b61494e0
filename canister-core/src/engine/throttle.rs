//! Login throttling (`auth_throttle`, `auth_throttle_ip`): the store's counters around a
//! password check. The pure parts (the `N/S` limit, the counting rule, the keys) are in
//! `session/throttle.rs` and `session/store.rs`.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use super::persist::unix_ms;
use super::Inner;
use crate::auth::{AuthOutcome, Authenticator};
use crate::log::{Event, LiveContext, LogSink};
use crate::rejection::Rejection;
use crate::session::{throttle_key, SessionStore, StoreKey, ThrottleKey, ThrottleLimit};

/// One limit that applies to an attempt: which, its counter's key, and for the log.
struct Applied {
    limit: ThrottleLimit,
    key: StoreKey,
    by: &'static str,
}

impl<S: SessionStore, A: Authenticator, L: LogSink> Inner<S, A, L> {
    /// Whether any login throttling is configured (a request with Basic credentials then
    /// costs the store's counters a round trip before and, when it succeeds, after the check).
    pub(super) fn throttles(&self) -> bool {
        let auth = &self.settings.config.auth;
        auth.throttle.is_some() || auth.throttle_ip.is_some()
    }

    /// Runs `check`, the password check of a login as `user` from `client`, under login
    /// throttling.
    ///
    /// The attempt is counted first, at the user's and the client's counters, in one store
    /// call; if that takes either past its limit within its window, the check does not run
    /// and the answer is [`Rejection::Throttled`] with the longer wait. A check that
    /// succeeds (or was not a password check: not this scheme, keys unavailable) is given
    /// back. A store failure while counting is [`Rejection::StoreUnavailable`]: no attempt
    /// is let through uncounted. A failure to give a success back is only logged (the
    /// counter then errs on the safe side by one).
    pub(super) async fn throttled<F>(
        &self,
        user: &str,
        client: Option<IpAddr>,
        live: &LiveContext,
        check: F,
    ) -> Result<AuthOutcome, Rejection>
    where
        F: Future<Output = AuthOutcome>,
    {
        let auth = &self.settings.config.auth;
        let applied: Vec<Applied> = [
            auth.throttle.map(|limit| Applied {
                limit,
                key: throttle_key(ThrottleKey::User(user)),
                by: "user",
            }),
            auth.throttle_ip.zip(client).map(|(limit, ip)| Applied {
                limit,
                key: throttle_key(ThrottleKey::Client(ip)),
                by: "ip",
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        if applied.is_empty() {
            return Ok(check.await);
        }
        let counters: Vec<(StoreKey, Duration)> =
            applied.iter().map(|a| (a.key, a.limit.window)).collect();
        let now_ms = unix_ms(self.clock.now());
        let counted = match self.store.count_attempt(&counters, now_ms).await {
            Ok(counted) => counted,
            Err(error) => {
                self.sink
                    .log_request(live, &Event::StoreError { error: &error });
                return Err(Rejection::StoreUnavailable);
            }
        };
        let wait = applied
            .iter()
            .zip(counted)
            .filter_map(|(a, counter)| Some((a.limit.retry_after(counter, now_ms)?, a.by)))
            .max_by_key(|(wait, _)| *wait);
        if let Some((retry_after, by)) = wait {
            self.sink.log_request(
                live,
                &Event::LoginThrottled {
                    name: user,
                    by,
                    retry_after: retry_after.as_secs(),
                },
            );
            return Err(Rejection::Throttled { retry_after });
        }
        let outcome = check.await;
        let failed = matches!(&outcome, AuthOutcome::Refused(r) if !r.is_unavailable());
        if !failed {
            let now_ms = unix_ms(self.clock.now());
            if let Err(error) = self.store.refund_attempt(&counters, now_ms).await {
                self.sink
                    .log_request(live, &Event::StoreError { error: &error });
            }
        }
        Ok(outcome)
    }
}
