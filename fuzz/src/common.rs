//! Helpers shared by the targets: a minimal executor, input splitting, models of the wire
//! formats canister reads.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use canister_core::session::MemoryLock;
use canister_core::{
    config::Config, session::Change, session::MemoryStore, session::Record, session::SessionStore,
    session::StoreError, session::StoreKey,
};
use http::header::{self, HeaderMap};
use sha2::{Digest, Sha256};

/// Wakes the thread that polls.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
}

/// Runs `future` to completion on this thread, parking while it is pending.
pub fn block_on<F: Future>(future: F) -> F::Output {
    WAKER.with(|waker| {
        let mut context = Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        loop {
            match future.as_mut().poll(&mut context) {
                Poll::Ready(output) => return output,
                Poll::Pending => std::thread::park_timeout(Duration::from_millis(10)),
            }
        }
    })
}

/// Splits `data` at its first occurrence of `separator`: before it, and after it (`None`
/// when absent).
pub fn split_once<'a>(data: &'a [u8], separator: &[u8]) -> (&'a [u8], Option<&'a [u8]>) {
    match data
        .windows(separator.len())
        .position(|window| window == separator)
    {
        Some(at) => (&data[..at], Some(&data[at + separator.len()..])),
        None => (data, None),
    }
}

/// The lines of `data` (split at `\n`, a trailing `\r` kept: `http` refuses it in headers).
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b'\n')
}

/// `haystack` with every `from` replaced by `to`.
pub fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len() + to.len());
    let mut rest = haystack;
    while let (before, Some(after)) = split_once(rest, from) {
        out.extend_from_slice(before);
        out.extend_from_slice(to);
        rest = after;
    }
    out.extend_from_slice(rest);
    out
}

/// A configuration from INI lines added to `[canister]` with logging off.
///
/// # Panics
///
/// When the fixture is not a valid configuration (a bug of the target).
pub fn config(ini: &str) -> Config {
    match Config::from_ini_str(&format!("[canister]\nlog_level = DISABLED\n{ini}")) {
        Ok(config) => config,
        Err(error) => panic!("fixture configuration refused: {error}"),
    }
}

/// Whether `value` is a session id canister could have issued: 32 bytes in canonical
/// unpadded base64url (43 characters), written independently of canister's parser.
pub fn is_session_id(value: &str) -> bool {
    value.len() == 43
        && URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == 32 && URL_SAFE_NO_PAD.encode(&bytes) == value)
}

/// What canister should make of a request's cookies, per the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestCookie {
    /// No cookie of that name.
    Absent,
    /// Cookies of that name, none with a well-formed id.
    Malformed,
    /// The id the session is looked up by: the first live one among the candidates, else the
    /// first candidate.
    Id(String),
}

/// At most this many well-formed ids of one request are candidates (canister's
/// `MAX_CANDIDATES`).
pub const MAX_CANDIDATES: usize = 4;

/// The model of the session cookie lookup: among the `Cookie` headers that are visible
/// ASCII, the `name=value` pairs whose trimmed name is `name`. Returns how many there are and
/// the candidates: the first [`MAX_CANDIDATES`] distinct values (trimmed, quotes removed)
/// that are well-formed ids, in order.
pub fn session_cookies(headers: &HeaderMap, name: &str) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut ids: Vec<String> = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            let Some((n, value)) = pair.split_once('=') else {
                continue;
            };
            if n.trim() != name {
                continue;
            }
            count += 1;
            let value = value.trim().trim_matches('"');
            if ids.len() < MAX_CANDIDATES && is_session_id(value) && !ids.iter().any(|i| i == value)
            {
                ids.push(value.to_owned());
            }
        }
    }
    (count, ids)
}

/// The model's choice among [`session_cookies`]: the first candidate `is_live` accepts, else
/// the first candidate.
pub fn request_cookie(
    headers: &HeaderMap,
    name: &str,
    is_live: impl Fn(&str) -> bool,
) -> RequestCookie {
    let (count, ids) = session_cookies(headers, name);
    if count == 0 {
        return RequestCookie::Absent;
    }
    match ids.iter().find(|id| is_live(id)).or(ids.first()) {
        Some(id) => RequestCookie::Id(id.clone()),
        None => RequestCookie::Malformed,
    }
}

/// The store key of a session id: the SHA-256 of its text.
pub fn key_of(id: &str) -> StoreKey {
    StoreKey::from_bytes(Sha256::digest(id.as_bytes()).into())
}

/// What the `Set-Cookie` headers of a response say about the cookie called `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetCookie {
    /// No `Set-Cookie` header.
    None,
    /// The cookie is set to this id.
    Set(String),
    /// The cookie is cleared (`Max-Age=0`).
    Clear,
}

/// Reads the `Set-Cookie` headers of a response, checking their shape.
///
/// # Panics
///
/// When there is more than one, when one names another cookie, or when its value is neither
/// an id nor a clearing.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> SetCookie {
    let mut all = headers.get_all(header::SET_COOKIE).iter();
    let Some(value) = all.next() else {
        return SetCookie::None;
    };
    assert!(all.next().is_none(), "more than one Set-Cookie");
    let Ok(text) = value.to_str() else {
        panic!("Set-Cookie is not visible ascii: {value:?}");
    };
    let Some(rest) = text.strip_prefix(name).and_then(|r| r.strip_prefix('=')) else {
        panic!("Set-Cookie for another cookie than {name:?}: {text:?}");
    };
    let (id, attributes) = rest.split_once(';').unwrap_or((rest, ""));
    assert!(
        attributes.contains(" Path=") && attributes.contains(" HttpOnly"),
        "Set-Cookie without Path or HttpOnly: {text:?}"
    );
    if id.is_empty() {
        assert!(
            attributes.contains(" Max-Age=0"),
            "an empty cookie that is not a clearing: {text:?}"
        );
        SetCookie::Clear
    } else {
        assert!(is_session_id(id), "Set-Cookie carries a malformed id");
        SetCookie::Set(id.to_owned())
    }
}

/// Locks a mutex, ignoring poisoning (a failed check already reported the panic).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A memory store that records the keys it is asked to load.
#[derive(Debug, Clone)]
pub struct RecordingStore {
    /// The store doing the work.
    pub inner: MemoryStore,
    /// Every key passed to `load`, in order.
    pub loads: Arc<Mutex<Vec<StoreKey>>>,
}

impl RecordingStore {
    /// Records loads made of `inner`.
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            loads: Arc::default(),
        }
    }

    /// The keys loaded so far, emptied.
    pub fn take_loads(&self) -> Vec<StoreKey> {
        std::mem::take(&mut *lock(&self.loads))
    }
}

impl SessionStore for RecordingStore {
    type Lock = MemoryLock;

    fn load(
        &self,
        key: &StoreKey,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        lock(&self.loads).push(*key);
        self.inner.load(key, ttl)
    }

    fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.create(key, record, ttl)
    }

    fn save(
        &self,
        key: &StoreKey,
        change: &Change,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.save(key, change, ttl)
    }

    fn cycle(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        record: &Record,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.cycle(old, new, record, ttl)
    }

    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.delete(key)
    }

    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
    ) -> impl Future<Output = Result<MemoryLock, StoreError>> + Send {
        self.inner.lock(key, wait)
    }

    fn unlock(&self, lock: MemoryLock) -> impl Future<Output = ()> + Send {
        self.inner.unlock(lock)
    }
}

/// The RSA public key of canister-core's JWT test data (RS256/PS256 tokens made by PyJWT).
pub const RSA_PUBLIC_PEM: &str = include_str!("../../canister-core/tests/data/jwt/rsa_public.pem");
