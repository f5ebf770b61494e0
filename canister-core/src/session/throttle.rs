//! Login throttling's pieces that are not I/O: the `N/S` limit and the counters' keys.
//!
//! The engine counts password checks (Basic headers and
//! [`Session::verify_password`](crate::Session::verify_password)) per user name
//! (`auth_throttle`) and per client address (`auth_throttle_ip`) in the session store: each
//! check is counted before it runs
//! ([`SessionStore::count_attempt`](super::SessionStore::count_attempt)) and given back when
//! it succeeds ([`SessionStore::refund_attempt`](super::SessionStore::refund_attempt)), so
//! what stays counted are the failures, and parallel attempts cannot slip past the limit.
//! An attempt that takes a counter past its limit within its window is answered 429 with
//! `Retry-After`, and its password is not checked.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::store::{Counter, StoreKey};

/// At most `max` failed password checks per `window` (`auth_throttle = N/S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimit {
    /// Failed checks allowed in one window (≥ 1).
    pub max: u32,
    /// The window's length (≥ 1 s).
    pub window: Duration,
}

impl ThrottleLimit {
    /// Reads `N/S`: `N` failed checks (1 to 1 000 000) per `S` seconds (1 to 86 400, one day),
    /// both whole numbers. `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (n, s) = text.split_once('/')?;
        let max: u32 = n.trim().parse().ok()?;
        let secs: u64 = s.trim().parse().ok()?;
        ((1..=1_000_000).contains(&max) && (1..=86_400).contains(&secs)).then_some(Self {
            max,
            window: Duration::from_secs(secs),
        })
    }

    /// How long the client must wait, when `counter` (as counting this attempt made it, at
    /// `now_ms`) is past this limit in a window that still lasts; `None` when the check may
    /// run.
    ///
    /// The wait is rounded up to whole seconds (`Retry-After` counts seconds), at least 1.
    pub fn retry_after(&self, counter: Counter, now_ms: u64) -> Option<Duration> {
        if counter.count <= u64::from(self.max) || !counter.is_live(now_ms, self.window) {
            return None;
        }
        let left_ms = counter.ends_ms(self.window).saturating_sub(now_ms);
        Some(Duration::from_secs(left_ms.div_ceil(1000).max(1)))
    }
}

impl fmt::Display for ThrottleLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.max, self.window.as_secs())
    }
}

/// What a throttling counter counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKey<'a> {
    /// Failed checks of one user name (`auth_throttle`).
    User(&'a str),
    /// Failed checks from one client address (`auth_throttle_ip`).
    Client(IpAddr),
}

/// The store key of a throttling counter: the SHA-256 of `throttle\0user\0<name>` or
/// `throttle\0ip\0<address>`, so a dump of the store holds neither user names nor addresses,
/// and never a password: counters are keyed by who is asked for, not by what was tried.
pub fn throttle_key(key: ThrottleKey<'_>) -> StoreKey {
    let mut hasher = Sha256::new();
    match key {
        ThrottleKey::User(name) => {
            hasher.update(b"throttle\0user\0");
            hasher.update(name.as_bytes());
        }
        ThrottleKey::Client(ip) => {
            hasher.update(b"throttle\0ip\0");
            // An IPv4 client seen over IPv6 (`::ffff:a.b.c.d`) is the same client.
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            hasher.update(ip.to_string().as_bytes());
        }
    }
    StoreKey(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> ThrottleLimit {
        ThrottleLimit::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn parses_n_per_s() {
        assert_eq!(
            limit("5/60"),
            ThrottleLimit {
                max: 5,
                window: Duration::from_secs(60)
            }
        );
        assert_eq!(limit(" 3 / 1 ").to_string(), "3/1");
        for bad in [
            "", "5", "5/", "/60", "0/60", "5/0", "5/-1", "-5/60", "5/60/1", "a/b", "5/86401",
        ] {
            assert_eq!(ThrottleLimit::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_within_a_window_and_restarts_after_it() {
        let window = Duration::from_secs(10);
        let first = Counter::after_attempt(None, 1_000, window);
        assert_eq!(
            first,
            Counter {
                count: 1,
                since_ms: 1_000
            }
        );
        let second = Counter::after_attempt(Some(first), 10_999, window);
        assert_eq!(
            second,
            Counter {
                count: 2,
                since_ms: 1_000
            }
        );
        assert_eq!(
            Counter::after_refund(second, 10_999, window),
            Counter {
                count: 1,
                since_ms: 1_000
            }
        );
        // The window ends 10 s after its first attempt, whatever came later.
        let third = Counter::after_attempt(Some(second), 11_000, window);
        assert_eq!(
            third,
            Counter {
                count: 1,
                since_ms: 11_000
            }
        );
        // A refund after the window ended changes nothing, and never goes below zero.
        assert_eq!(Counter::after_refund(second, 11_000, window), second);
        let zero = Counter {
            count: 0,
            since_ms: 1_000,
        };
        assert_eq!(Counter::after_refund(zero, 2_000, window), zero);
    }

    #[test]
    fn refuses_only_past_the_limit_in_a_live_window() {
        let limit = limit("2/10");
        let at = |count| Counter { count, since_ms: 0 };
        // The counts include the attempt being decided: the 1st and 2nd run, the 3rd waits.
        assert_eq!(limit.retry_after(at(1), 5_000), None);
        assert_eq!(limit.retry_after(at(2), 5_000), None);
        assert_eq!(
            limit.retry_after(at(3), 5_000),
            Some(Duration::from_secs(5))
        );
        // Rounded up to whole seconds, never 0.
        assert_eq!(
            limit.retry_after(at(3), 8_001),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            limit.retry_after(at(3), 9_999),
            Some(Duration::from_secs(1))
        );
        assert_eq!(limit.retry_after(at(3), 10_000), None);
    }

    #[test]
    fn keys_depend_on_kind_and_value_only() {
        let alice = throttle_key(ThrottleKey::User("alice"));
        assert_eq!(alice, throttle_key(ThrottleKey::User("alice")));
        assert_ne!(alice, throttle_key(ThrottleKey::User("bob")));
        assert_ne!(alice, crate::session::user_key("alice"));
        let v4: IpAddr = "192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(
            throttle_key(ThrottleKey::Client(v4)),
            throttle_key(ThrottleKey::Client(mapped))
        );
        assert_ne!(
            throttle_key(ThrottleKey::Client(v4)),
            throttle_key(ThrottleKey::User("192.0.2.7"))
        );
    }
}
