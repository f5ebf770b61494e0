//! Session ids: 256 bits from the operating system, base64url, hashed before use as keys.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::StoreKey;

#[cfg(test)]
thread_local! {
    static FAIL_RANDOM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes [`SessionId::generate`] fail on this thread (tests of the random source failing).
#[cfg(test)]
pub(crate) fn fail_random_for_test(fail: bool) {
    FAIL_RANDOM.with(|f| f.set(fail));
}

/// Length of an id in characters: 32 random bytes in unpadded base64url.
pub(crate) const ID_LEN: usize = 43;

/// A session id as carried by the cookie. Secret: `Debug` shows only its tag.
///
/// Its store key (a SHA-256) is computed once, when first asked for, and kept: a request
/// asks for it when it opens its span and again when it loads the session.
///
/// The id's 43 characters are held inline (no heap allocation per request).
///
/// Its store key is cached in atomics rather than a `OnceLock`: a `OnceLock` is initialised,
/// and cloned, through `Once`'s slow path (about 100 instructions each, and a request clones
/// its id twice). Two threads computing the key at once store the same words, so a reader
/// that sees `key_ready` reads the key whichever thread wrote it. The flag sits beside the
/// text (80 bytes in all): the visit holds three ids and must stay within the allocator's
/// thread cache.
pub(crate) struct SessionId {
    text: [u8; ID_LEN],
    key_ready: AtomicBool,
    key_words: [AtomicU64; 4],
}

impl Clone for SessionId {
    fn clone(&self) -> Self {
        let copy = Self::new(self.text);
        if let Some(key) = self.cached_key() {
            copy.cache_key(&key);
        }
        copy
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SessionId {}

impl SessionId {
    /// Draws a new id from the operating system's random source.
    pub(crate) fn generate() -> Result<Self, getrandom::Error> {
        #[cfg(test)]
        if FAIL_RANDOM.with(std::cell::Cell::get) {
            return Err(getrandom::Error::UNSUPPORTED);
        }
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)?;
        let mut text = [0u8; ID_LEN];
        // 32 bytes encode to exactly ID_LEN characters of unpadded base64url.
        let written = URL_SAFE_NO_PAD.encode_slice(bytes, &mut text).unwrap_or(0);
        debug_assert_eq!(written, ID_LEN);
        Ok(Self::new(text))
    }

    /// Accepts a cookie value only if it has the exact shape of an id canister issues.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let text: &[u8; ID_LEN] = value.as_bytes().try_into().ok()?;
        // Every byte checked without stopping early (no branch per byte: the compiler
        // vectorises the fixed-length loop).
        let base64url = text.iter().fold(true, |ok, &b| {
            ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_'))
        });
        // The last character carries 2 padding bits that must be zero (what the strict
        // decoder checks): without decoding the rest.
        let well_formed = base64url && last_char_ok(text[ID_LEN - 1]);
        well_formed.then(|| Self::new(*text))
    }

    pub(crate) fn as_str(&self) -> &str {
        // ASCII by construction (base64url): never the empty fallback.
        std::str::from_utf8(&self.text).unwrap_or("")
    }

    /// The key the session is stored under: SHA-256 of the id.
    pub(crate) fn key(&self) -> StoreKey {
        if let Some(key) = self.cached_key() {
            return key;
        }
        let key = StoreKey(Sha256::digest(self.text).into());
        self.cache_key(&key);
        key
    }

    fn new(text: [u8; ID_LEN]) -> Self {
        Self {
            text,
            key_ready: AtomicBool::new(false),
            key_words: Default::default(),
        }
    }

    fn cached_key(&self) -> Option<StoreKey> {
        if !self.key_ready.load(Ordering::Acquire) {
            return None;
        }
        let mut key = [0u8; 32];
        for (chunk, word) in key.chunks_exact_mut(8).zip(&self.key_words) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        Some(StoreKey(key))
    }

    fn cache_key(&self, key: &StoreKey) {
        for (chunk, word) in key.0.chunks_exact(8).zip(&self.key_words) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.key_ready.store(true, Ordering::Release);
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = tag_of(&self.key());
        write!(f, "SessionId({})", String::from_utf8_lossy(&tag))
    }
}

/// Whether `b`, a base64url character, may end an id: 32 bytes leave 4 bits for its last
/// character, so the 2 low bits of its 6-bit value (padding) must be zero.
fn last_char_ok(b: u8) -> bool {
    let value = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return false,
    };
    value & 0b11 == 0
}

/// The 6-character tag of a session in logs: the start of the base64url of its key (a hash of
/// the id, never the id).
pub(crate) fn tag_of(key: &StoreKey) -> [u8; 6] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The first 36 bits of the key, 6 at a time, as base64url writes them (no encoder).
    let k = &key.0;
    let bits = u64::from_be_bytes([0, 0, k[0], k[1], k[2], k[3], k[4], k[5]]);
    let mut tag = [0u8; 6];
    for (i, c) in tag.iter_mut().enumerate() {
        *c = ALPHABET[((bits >> (42 - 6 * i)) & 63) as usize];
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_256_bits_base64url_and_parse_back() {
        let id = SessionId::generate().expect("os random");
        assert_eq!(id.as_str().len(), ID_LEN);
        assert_eq!(URL_SAFE_NO_PAD.decode(id.as_str()).expect("b64").len(), 32);
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(SessionId::generate().expect("os random"), id);
    }

    /// 256 bits of OS randomness per id: 10 000 ids are distinct, every one of the 256 bit
    /// positions is set in about half of them (within 6 standard deviations: a stuck or
    /// biased bit fails; a fair source fails about once in 10^7 runs), and so is every
    /// bit overall (monobit).
    #[test]
    fn ids_carry_256_random_bits() {
        const N: usize = 10_000;
        let mut seen = std::collections::HashSet::new();
        let mut ones = [0u32; 256];
        for _ in 0..N {
            let id = SessionId::generate().expect("os random");
            let mut bytes = [0u8; 32];
            assert_eq!(
                URL_SAFE_NO_PAD.decode_slice(id.as_str(), &mut bytes),
                Ok(32)
            );
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += u32::from(bytes[bit / 8] >> (bit % 8) & 1);
            }
            assert!(seen.insert(id.as_str().to_owned()), "an id came twice");
        }
        // Binomial(10 000, 1/2): mean 5 000, standard deviation 50.
        for (bit, count) in ones.iter().enumerate() {
            assert!(
                (4_700..=5_300).contains(count),
                "bit {bit} set {count} times in {N}"
            );
        }
        let total: u32 = ones.iter().sum();
        // 2 560 000 bits: mean 1 280 000, standard deviation 800.
        assert!((1_275_200..=1_284_800).contains(&total), "{total} ones");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        let good = SessionId::generate().expect("os random");
        for bad in [
            "",
            "abc",
            &good.as_str()[..42],
            &format!("{}A", good.as_str()),
            &format!("{}=", &good.as_str()[..42]),
            "+++++++++++++++++++++++++++++++++++++++++++",
            "VJ8zq5Gq55cVstAJg4zcC2E1",
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    /// The padding check on the last character agrees with the strict decoder for each of
    /// the 64 characters (and refuses what is not base64url).
    #[test]
    fn the_last_character_is_checked_as_the_strict_decoder_does() {
        let good = SessionId::generate().expect("os random");
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut accepted = 0;
        for &last in alphabet {
            let mut text = good.as_str().as_bytes().to_vec();
            text[ID_LEN - 1] = last;
            let text = String::from_utf8(text).expect("ascii");
            let strict = URL_SAFE_NO_PAD
                .decode_slice(&text, &mut [0u8; 32])
                .is_ok_and(|n| n == 32);
            assert_eq!(
                SessionId::parse(&text).is_some(),
                strict,
                "last character {:?}",
                char::from(last)
            );
            accepted += usize::from(strict);
        }
        assert_eq!(accepted, 16);
        for last in [b'=', b'+', b'/', b'.', b' ', 0x80] {
            assert!(!last_char_ok(last));
        }
    }

    /// The tag is the start of the key's base64url, as the encoder writes it; a cloned id
    /// keeps its key.
    #[test]
    fn tags_are_the_start_of_the_keys_base64url() {
        for _ in 0..1_000 {
            let id = SessionId::generate().expect("os random");
            let key = id.key();
            let encoded = URL_SAFE_NO_PAD.encode(key.0);
            assert_eq!(&tag_of(&key)[..], &encoded.as_bytes()[..6]);
            assert_eq!(id.clone().key(), key);
            assert_eq!(
                SessionId::parse(id.as_str()).expect("parses").key(),
                StoreKey(Sha256::digest(id.as_str()).into())
            );
        }
    }

    #[test]
    fn an_id_with_its_cached_key_takes_80_bytes() {
        assert!(std::mem::size_of::<SessionId>() <= 80);
    }

    #[test]
    fn key_and_tag_do_not_reveal_the_id() {
        let id = SessionId::generate().expect("os random");
        let key = id.key();
        assert!(!key.to_hex().contains(id.as_str()));
        let tag = tag_of(&key);
        assert!(!id
            .as_str()
            .starts_with(std::str::from_utf8(&tag).expect("ascii")));
        assert!(!format!("{id:?}").contains(id.as_str()));
    }
}
