//! Masking secrets in URLs before they are logged.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// What a masked value is replaced with.
const MASK: &str = "********";

/// Parameter-name fragments that mark a value as secret (compared case-insensitively).
///
/// Fragments, not whole names, so that a secret cannot leak because its exact name was not
/// listed: `pass` covers `password`, `passwd`, `passphrase`; `pw` covers `pwd`, `new_pw`;
/// `key` covers `api_key`, `apiKey`; `sess` and `sid` cover `session_id`, `sessid`, `sid`;
/// `cred` covers `credential(s)`; `code` covers OAuth's `code` and `otp_code`; `sig` covers
/// `sig`, `signature`, `X-Amz-Signature`.
const SECRET_FRAGMENTS: &[&str] = &[
    "pass", "pw", "secret", "token", "key", "auth", "code", "sig", "sess", "sid", "pin", "cred",
    "jwt", "otp", "bearer", "saml", "nonce",
];

/// Masks the values of secret-looking query parameters in `url`, for the `GET <url>` line.
///
/// A parameter is secret when its name, percent-decoded and compared case-insensitively,
/// **contains** one of these fragments: `pass`, `pw`, `secret`, `token`, `key`, `auth`,
/// `code`, `sig`, `sess`, `sid`, `pin`, `cred`, `jwt`, `otp`, `bearer`, `saml`, `nonce`. Its
/// non-empty value becomes `********`.
///
/// Matching fragments rather than whole names means a secret is not logged just because its
/// exact name was not foreseen (`password`, `new_pw`, `api_key`, `session_id`,
/// `credential`, `X-Amz-Signature`, `SAMLResponse` are all masked). The rule errs on the
/// safe side: `author`, `monkey`, `zipcode`, `design`, `shipping` or `inside` are masked too.
/// Ordinary names (`q`, `page`, `sort`, `name`, `id`, `lang`, `next`, `foo`, ...) stay
/// readable. A password in the URL's user information (`scheme://user:password@host`) is
/// masked as well. Everything else is kept as written, and a URL with nothing to mask is
/// returned without copying.
///
/// `url` is either a path with its query (`/login?user=a`) or an absolute URL whose
/// authority is well-formed. The engine masks the request's path and query *before* it
/// puts `scheme://host` in front, so a `Host` header can never be taken for part of the
/// query or fragment.
///
/// # Examples
///
/// ```
/// use canister_core::log::mask_query;
///
/// assert_eq!(
///     mask_query("/login?user=alice&password=hunter2&next=%2F"),
///     "/login?user=alice&password=********&next=%2F",
/// );
/// assert_eq!(mask_query("/cb?code=4/0Ad&state=xyz"), "/cb?code=********&state=xyz");
/// assert_eq!(mask_query("/items?page=2"), "/items?page=2");
/// ```
pub fn mask_query(url: &str) -> Cow<'_, str> {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (head, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let masked_head = mask_userinfo(head);
    let needs_query_mask = query.is_some_and(|q| q.split('&').any(is_secret_pair));
    if matches!(masked_head, Cow::Borrowed(_)) && !needs_query_mask {
        return Cow::Borrowed(url);
    }

    let mut out = String::with_capacity(url.len() + MASK.len());
    out.push_str(&masked_head);
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_pair(pair) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(MASK);
                }
                _ => out.push_str(pair),
            }
        }
    }
    out.push_str(fragment);
    Cow::Owned(out)
}

/// Whether `pair` (`name=value`) has a secret-looking name and a non-empty value.
fn is_secret_pair(pair: &str) -> bool {
    match pair.split_once('=') {
        Some((name, value)) => !value.is_empty() && is_secret_name(name),
        None => false,
    }
}

/// Whether a parameter or key name looks like it holds a secret.
fn is_secret_name(name: &str) -> bool {
    if !name.contains(['%', '+']) {
        // The common case, nothing to decode: compared in place, without allocating.
        return SECRET_FRAGMENTS
            .iter()
            .any(|s| contains_ignore_ascii_case(name.as_bytes(), s.as_bytes()));
    }
    let decoded = percent_decode_str(name)
        .decode_utf8_lossy()
        .replace('+', " ");
    let lower = decoded.to_ascii_lowercase();
    SECRET_FRAGMENTS.iter().any(|s| lower.contains(s))
}

/// Whether `hay` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Masks the password in `scheme://user:password@host/...`.
fn mask_userinfo(head: &str) -> Cow<'_, str> {
    let Some(scheme_end) = head.find("://") else {
        return Cow::Borrowed(head);
    };
    let authority_start = scheme_end + 3;
    let rest = &head[authority_start..];
    let authority_len = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return Cow::Borrowed(head);
    };
    let Some(colon) = authority[..at].find(':') else {
        return Cow::Borrowed(head);
    };
    let password_start = authority_start + colon + 1;
    let password_end = authority_start + at;
    if password_start == password_end {
        return Cow::Borrowed(head);
    }
    Cow::Owned(format!(
        "{}{MASK}{}",
        &head[..password_start],
        &head[password_end..]
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn masks_each_secret_looking_name() {
        for name in [
            "password",
            "PassWord",
            "new_passwd",
            "pwd",
            "access_token",
            "client_secret",
            "api_key",
            "apiKey",
            "auth",
            "Authorization",
            "pass%77ord",
        ] {
            let url = format!("/x?a=1&{name}=s3cr3t&b=2");
            let masked = mask_query(&url);
            assert_eq!(masked, format!("/x?a=1&{name}=********&b=2"), "{name}");
            assert!(!masked.contains("s3cr3t"), "{name}");
        }
    }

    #[test]
    fn keeps_other_parameters_and_borrows() {
        let url = "http://localhost:8080/items?page=2&sort=name&flag";
        assert!(matches!(mask_query(url), Cow::Borrowed(u) if u == url));
        assert!(matches!(mask_query("/"), Cow::Borrowed("/")));
    }

    #[test]
    fn empty_value_and_no_value_are_kept() {
        assert_eq!(mask_query("/x?password=&token"), "/x?password=&token");
    }

    #[test]
    fn masks_every_occurrence_and_keeps_fragment() {
        assert_eq!(
            mask_query("/x?token=a&token=b#top"),
            "/x?token=********&token=********#top"
        );
    }

    #[test]
    fn value_with_equals_sign_is_masked_whole() {
        assert_eq!(mask_query("/x?key=a=b=c&z=1"), "/x?key=********&z=1");
    }

    #[test]
    fn masks_password_in_userinfo() {
        assert_eq!(
            mask_query("http://bob:hunter2@host:8080/p?q=1"),
            "http://bob:********@host:8080/p?q=1"
        );
        assert_eq!(mask_query("http://bob@host/"), "http://bob@host/");
        assert_eq!(mask_query("/a@b:c"), "/a@b:c");
    }

    #[test]
    fn masks_names_containing_a_secret_fragment() {
        // Finding 6 of the security review: these were logged in clear.
        for name in [
            "pass",
            "PASS",
            "pw",
            "new_pw",
            "jwt",
            "id_jwt",
            "session_id",
            "SessionId",
            "sid",
            "code",
            "sig",
            "signature",
            "X-Amz-Signature",
            "api_key",
            "pin",
            "credential",
            "Credentials",
            "otp",
            "bearer",
            "SAMLResponse",
            "nonce",
            "pass%77ord",
            "p%61ss",
        ] {
            let url = format!("/hi?foo=x&{name}=S3cret&bar=y");
            let masked = mask_query(&url);
            assert_eq!(masked, format!("/hi?foo=x&{name}=********&bar=y"), "{name}");
        }
    }

    #[test]
    fn ordinary_names_stay_readable() {
        let url = "/hi?foo=x&bar=y&page=2&q=rust&name=bob&id=7&lang=en&next=%2F&sort=asc&limit=10&user=al&email=a%40b&state=xyz&redirect_uri=%2Fhome";
        assert!(matches!(mask_query(url), Cow::Borrowed(u) if u == url));
    }
}
