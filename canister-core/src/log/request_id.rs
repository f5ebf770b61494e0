//! Request ids: made cheaply, or taken from a trusted incoming header; W3C `traceparent`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The id of one request: in its response's `request_id_header`, in every log line and in its
/// `tracing` span.
///
/// Made by [`RequestId::generate`] as a per-process random prefix of 8 characters, a `-` and
/// a counter (`Kq3xZp7a-1`, `Kq3xZp7a-2`, ...): unique within the process, unlikely to
/// repeat across processes, and cheap (one atomic increment, no allocation, no system call
/// after the first). It is not secret and not unguessable, and need not be: it names a
/// request in the logs, it grants nothing.
///
/// With `request_id_trust = true` an incoming id is kept when [`RequestId::trusted`] accepts
/// it (1 to 128 visible ASCII characters), so a proxy's or a caller's id follows the request.
///
/// Cheap to clone: a generated id is a number, a trusted one is shared.
///
/// # Examples
///
/// ```
/// use canister_core::log::RequestId;
///
/// let a = RequestId::generate();
/// let b = RequestId::generate();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string().len(), a.as_str_len());
/// assert_eq!(RequestId::trusted("req-42").map(|id| id.to_string()), Some("req-42".into()));
/// assert!(RequestId::trusted("has space").is_none());
/// assert!(RequestId::trusted("").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// This process's prefix, `-`, the number.
    Counter(u64),
    /// An id taken from a trusted request header.
    Given(Arc<str>),
}

/// The longest incoming id kept, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

impl RequestId {
    /// A new id: this process's random prefix, `-`, and the next number of a counter.
    pub fn generate() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        // Relaxed: only uniqueness matters, not ordering with other memory.
        Self(Repr::Counter(COUNTER.fetch_add(1, Ordering::Relaxed)))
    }

    /// `value` as an id when it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters
    /// (`!` to `~`: no space, no control, nothing beyond ASCII), else `None`.
    ///
    /// Such an id cannot break a log line (no line break, no escape sequence) nor a response
    /// header.
    pub fn trusted(value: &str) -> Option<Self> {
        is_valid(value.as_bytes()).then(|| Self(Repr::Given(Arc::from(value))))
    }

    /// The id from a header value, under the same rule as [`trusted`](Self::trusted).
    pub fn from_header(value: &http::HeaderValue) -> Option<Self> {
        value.to_str().ok().and_then(Self::trusted)
    }

    /// The length of the id's text in bytes.
    pub fn as_str_len(&self) -> usize {
        match &self.0 {
            Repr::Counter(n) => PREFIX_LEN + 1 + decimal_len(*n),
            Repr::Given(s) => s.len(),
        }
    }

    /// The id as a header value.
    pub fn to_header_value(&self) -> http::HeaderValue {
        // Only visible ASCII (base62, `-`, digits; a given id is checked when taken): a valid
        // header value. The fallback cannot happen.
        self.with_text(http::HeaderValue::from_str)
            .unwrap_or_else(|_| http::HeaderValue::from_static("-"))
    }

    /// Calls `f` with the id's text. A generated id is written by hand into a stack buffer
    /// (prefix, `-`, the digits from the right): no formatting machinery on the paths every
    /// request takes (its response header, its log lines' context).
    pub(crate) fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Counter(n) => {
                let mut buf = [0u8; PREFIX_LEN + 1 + 20];
                buf[..PREFIX_LEN].copy_from_slice(prefix().as_bytes());
                buf[PREFIX_LEN] = b'-';
                let end = PREFIX_LEN + 1 + decimal_len(*n);
                let mut rest = *n;
                for digit in buf[PREFIX_LEN + 1..end].iter_mut().rev() {
                    // `rest % 10` is below 10: the cast keeps it.
                    *digit = b'0' + (rest % 10) as u8;
                    rest /= 10;
                }
                // ASCII by construction: never the empty fallback.
                f(std::str::from_utf8(&buf[..end]).unwrap_or_default())
            }
            Repr::Given(s) => f(s),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({self})")
    }
}

/// The trace id of a valid W3C `traceparent` header (Trace Context level 1): 32 lowercase hex
/// digits, not all zero.
///
/// The header is `version-traceid-parentid-flags`: version 2 hex digits other than `ff`;
/// for version `00` exactly that, for a later version the same four fields followed by
/// nothing or by `-` and more (which is ignored). Parent id 16 hex digits not all zero, flags
/// 2 hex digits. Anything else: `None` (the request gets no `trace_id`, as the spec says of
/// a header it cannot parse).
///
/// # Examples
///
/// ```
/// use canister_core::log::trace_id_of;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// assert_eq!(trace_id_of(header), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert_eq!(trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None);
/// assert_eq!(trace_id_of("garbage"), None);
/// ```
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let bytes = traceparent.as_bytes();
    // The fields are ASCII, so slicing within the first 55 bytes stays on char boundaries.
    if bytes.len() < 55 || !bytes[..55].is_ascii() {
        return None;
    }
    let (version, rest) = traceparent.split_at(2);
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && bytes.len() != 55 {
        return None;
    }
    if bytes.len() > 55 && bytes[55] != b'-' {
        return None;
    }
    let rest = &rest[..53];
    let trace = rest.get(1..33)?;
    let parent = rest.get(34..50)?;
    let flags = rest.get(51..53)?;
    let dashes = [0, 33, 50].iter().all(|&i| rest.as_bytes()[i] == b'-');
    let ok = dashes
        && is_lower_hex(trace)
        && is_lower_hex(parent)
        && is_lower_hex(flags)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    ok.then_some(trace)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_valid(bytes: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic())
}

const PREFIX_LEN: usize = 8;

/// This process's prefix: 8 characters of base62 from the operating system's random source
/// (from the time and process id, should that fail: ids need not be secret).
fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
            seed = mixed.to_le_bytes();
        }
        seed.iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect()
    })
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn the_header_value_is_the_ids_text() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let id = RequestId(Repr::Counter(n));
            assert_eq!(id.to_header_value().to_str().unwrap(), id.to_string());
        }
        let given = RequestId::trusted("req-42").unwrap();
        assert_eq!(given.to_header_value(), "req-42");
    }

    #[test]
    fn generated_ids_share_a_prefix_and_count() {
        let a = RequestId::generate().to_string();
        let b = RequestId::generate().to_string();
        assert_ne!(a, b);
        let (pa, na) = a.split_once('-').unwrap();
        let (pb, nb) = b.split_once('-').unwrap();
        assert_eq!(pa, pb);
        assert_eq!(pa.len(), PREFIX_LEN);
        assert!(pa.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(nb.parse::<u64>().unwrap() > na.parse::<u64>().unwrap());
        assert_eq!(RequestId::generate().to_header_value().len(), {
            let id = RequestId::generate();
            id.as_str_len()
        });
    }

    #[test]
    fn only_visible_ascii_up_to_128_is_trusted() {
        assert!(RequestId::trusted("a").is_some());
        assert!(RequestId::trusted(&"x".repeat(128)).is_some());
        assert!(RequestId::trusted(&"x".repeat(129)).is_none());
        for bad in ["", "a b", "a\tb", "a\nb", "é", "a\u{7f}", "\u{1b}[31m"] {
            assert!(RequestId::trusted(bad).is_none(), "{bad:?}");
        }
        let id = RequestId::trusted("!~[]{}").unwrap();
        assert_eq!(id.to_string(), "!~[]{}");
        assert_eq!(id.to_header_value(), "!~[]{}");
    }

    #[test]
    fn traceparent() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id_of(good), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        // A later version may carry more after a dash.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert_eq!(trace_id_of(later), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad:?}");
        }
    }
}
