//! Why an `auth_jwt_secret` does not decode in its `auth_jwt_encoding`, in words a user can
//! act on, without ever quoting the secret.
//!
//! The engines here are the ones the JWT authenticator decodes with (alphabet of the
//! encoding, `=` padding optional), so a secret is refused here exactly when the
//! authenticator would refuse it; a test in this module checks that they agree.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{DecodeError, Engine as _};

use super::JwtEncoding;

const fn lenient(alphabet: &'static base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

const BASE64_STD: GeneralPurpose = lenient(&base64::alphabet::STANDARD);
const BASE64_URL: GeneralPurpose = lenient(&base64::alphabet::URL_SAFE);

/// Why `secret` is not valid in `encoding`, or `None` when it decodes (or the encoding is
/// `clear`, where every secret is valid).
///
/// The answer names lengths, positions and, for a character outside the alphabet, that
/// character when it is ASCII punctuation (such a character cannot be part of a valid
/// secret in that encoding, and naming it is what makes the message useful); letters and
/// digits of the secret are never shown.
pub(crate) fn problem(secret: &str, encoding: JwtEncoding) -> Option<String> {
    let (engine, name, alphabet, other, other_chars) = match encoding {
        JwtEncoding::Clear => return None,
        JwtEncoding::Base64Std => (
            &BASE64_STD,
            "base64std",
            "standard base64 (A-Z, a-z, 0-9, + and /)",
            "base64url",
            ['-', '_'],
        ),
        JwtEncoding::Base64Url => (
            &BASE64_URL,
            "base64url",
            "url-safe base64 (A-Z, a-z, 0-9, - and _)",
            "base64std",
            ['+', '/'],
        ),
    };
    let text = secret.trim();
    let error = engine.decode(text).err()?;
    let chars = text.chars().count();
    let body = text.trim_end_matches('=');
    let unpadded = body.chars().count();
    // The 1-based character (not byte) at byte `offset`.
    let position = |offset: usize| text.get(..offset).map_or(offset, |s| s.chars().count()) + 1;
    let length = || {
        format!(
            "it is {unpadded} character{} long{}, and base64 text never ends with a single \
             leftover character (its length without `=` is never 1 more than a multiple of 4)",
            if unpadded == 1 { "" } else { "s" },
            if unpadded == chars {
                ""
            } else {
                " without its `=` padding"
            },
        )
    };
    let why = match error {
        DecodeError::InvalidLength(_) => length(),
        // `=` in the trailing run, or padding the decoder found wrong: its amount is at fault.
        DecodeError::InvalidByte(offset, b'=') if offset >= body.len() => padding(unpadded),
        DecodeError::InvalidPadding if unpadded % 4 == 1 => length(),
        DecodeError::InvalidPadding => padding(unpadded),
        DecodeError::InvalidByte(offset, b'=') => format!(
            "character {} of {chars} is `=`, which base64 allows only as padding at the end",
            position(offset)
        ),
        DecodeError::InvalidByte(offset, byte) if other_chars.contains(&char::from(byte)) => {
            format!(
                "character {} of {chars} is `{}`, which belongs to {other}, not {name}: if the \
                 secret is {other}, set `auth_jwt_encoding = {other}`",
                position(offset),
                char::from(byte)
            )
        }
        DecodeError::InvalidByte(offset, byte) => format!(
            "character {} of {chars} is {}, which is not in the {alphabet} alphabet",
            position(offset),
            describe(byte)
        ),
        DecodeError::InvalidLastSymbol(offset, _) => format!(
            "its last character (character {} of {chars}) leaves stray bits that no base64 \
             encoder writes, so the text was not produced by one",
            position(offset)
        ),
    };
    Some(format!(
        "is not valid {name}, as `auth_jwt_encoding` declares: {why}. If the secret is plain \
         text (as in canister's samples, e.g. `secret`), set `auth_jwt_encoding = clear`; \
         otherwise give the secret's exact {name} text"
    ))
}

/// Why the `=` padding after `unpadded` characters is wrong.
fn padding(unpadded: usize) -> String {
    if unpadded % 4 == 1 {
        return format!(
            "it is {unpadded} characters long without its `=` padding, and base64 text never \
             ends with a single leftover character"
        );
    }
    let needed = (4 - unpadded % 4) % 4;
    format!(
        "its `=` padding does not fit its length: base64 pads only up to a multiple of 4 \
         characters, so {unpadded} characters take {needed} `=` (or none)"
    )
}

/// A byte outside the alphabet, described without revealing letters or digits (which are in
/// every base64 alphabet, so never land here).
fn describe(byte: u8) -> String {
    match byte {
        b' ' => "a space".to_owned(),
        b'\t' => "a tab".to_owned(),
        b if b.is_ascii_punctuation() => format!("`{}`", char::from(b)),
        b if b.is_ascii_control() => "a control character".to_owned(),
        _ => "a non-ASCII character".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn url(secret: &str) -> String {
        problem(secret, JwtEncoding::Base64Url).unwrap_or_default()
    }

    /// Finding F1: `my-secret` (9 characters, all in the alphabet) was refused with "expected
    /// url-safe base64 (A-Z, a-z, 0-9, - and _)": the wrong reason, and no fix.
    #[test]
    fn a_length_fault_says_length_and_how_to_fix() {
        let text = url("my-secret");
        assert!(
            text.contains("it is 9 characters long")
                && text.contains("never ends with a single leftover character"),
            "{text}"
        );
        assert!(text.contains("set `auth_jwt_encoding = clear`"), "{text}");
        assert!(!text.contains("my-secret"), "{text}");
        assert!(url("a").contains("it is 1 character long,"), "{}", url("a"));
        assert!(
            url("abcde==").contains(
                "it is 5 characters long without its `=` padding, and base64 text never ends"
            ),
            "{}",
            url("abcde==")
        );
        assert_eq!(problem("my-secre", JwtEncoding::Base64Url), None);
        assert_eq!(problem("my-secret", JwtEncoding::Clear), None);
    }

    #[test]
    fn a_character_fault_says_which_and_where() {
        let text = url("my+secre");
        assert!(
            text.contains("character 3 of 8 is `+`, which belongs to base64std, not base64url")
                && text.contains("set `auth_jwt_encoding = base64std`"),
            "{text}"
        );
        let text = problem("ab_d", JwtEncoding::Base64Std).unwrap();
        assert!(
            text.contains("character 3 of 4 is `_`, which belongs to base64url"),
            "{text}"
        );
        let text = url("ab*d");
        assert!(
            text.contains("character 3 of 4 is `*`, which is not in the url-safe"),
            "{text}"
        );
        let text = url("aé*d");
        assert!(
            text.contains("character 2 of 4 is a non-ASCII character"),
            "{text}"
        );
        let text = url("ab cd");
        assert!(text.contains("is a space"), "{text}");
        let text = url("ab=d");
        assert!(text.contains("character 3 of 4 is `=`"), "{text}");
    }

    #[test]
    fn stray_bits_and_padding() {
        // "ab" decodes to 1 byte with 4 bits over; "ab" with the last symbol's low bits set
        // ("af") is not the end of any encoding.
        let text = url("af");
        assert!(text.contains("stray bits"), "{text}");
        // The report's `my-secre=`: 8 characters need no padding.
        let text = url("my-secre=");
        assert!(
            text.contains("its `=` padding does not fit its length")
                && text.contains("8 characters take 0 `=`"),
            "{text}"
        );
        assert!(
            url("abc==").contains("3 characters take 1 `=`"),
            "{}",
            url("abc==")
        );
        assert!(
            url("a===").contains("it is 1 characters long without"),
            "{}",
            url("a===")
        );
    }

    /// The diagnosis refuses exactly what the JWT authenticator refuses.
    #[test]
    fn agrees_with_the_authenticator() {
        for encoding in [JwtEncoding::Base64Std, JwtEncoding::Base64Url] {
            for secret in [
                "my-secret",
                "my-secre",
                "my+secre",
                "my/secr",
                "a",
                "ab",
                "af",
                "abc",
                "abcd",
                "abcd=",
                "abc=",
                "ab==",
                "ab=",
                "a===",
                "abc==",
                "ab*d",
                " abcd ",
                "é",
                "c2VjcmV0LWp3dC1rZXk",
                "c2VjcmV0LWp3dC1rZXk=",
            ] {
                assert_eq!(
                    problem(secret, encoding).is_none(),
                    crate::auth::secret_len(secret, encoding).is_some(),
                    "{secret:?} in {encoding:?}"
                );
            }
        }
    }
}
