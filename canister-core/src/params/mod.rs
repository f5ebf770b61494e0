//! Request parameters: query string, url-encoded form, multipart text fields or a JSON
//! object, merged.
//!
//! As bottle's `request.params`: a key given in the body wins over the same key in the query,
//! and when a name is repeated its last value wins (`foo=a&foo=b` gives `b`) for a typed
//! [`deserialize`](ParamMap::deserialize); [`ParamMap::get_all`] still sees every value.
//! Decoding is strict: a bad `%` escape or invalid UTF-8 is an error (400), never replaced
//! silently. A request carries at most [`MAX_PAIRS`] parameters, query and body together
//! (more is a 400 naming the limit). Form decoding uses `serde_urlencoded` for typed values
//! and `multer` for multipart bodies.
//!
//! # JSON bodies
//!
//! A body of type `application/json` (or any `…+json` type) is read too, because users
//! expect `Params` to see `{"foo":"x"}` as it sees `foo=x`: it must be one JSON object, and
//! its top-level members become parameters as a form's fields do, merged with the query the
//! same way. A string is taken as is, a number or a boolean as its JSON text (so `{"n": 3}`
//! fills a `u32` field as `n=3` does), `null` as absent, and an array of those as the name
//! repeated. A nested object, an array holding an object or an array, or a body that is not
//! an object is a 400 saying so: `Params` is for flat parameters; take the framework's own
//! JSON extractor (`axum::Json`, Rocket's `Json`, `warp::body::json`) for structured
//! bodies. An empty JSON body carries no parameters.
use std::fmt;

use bytes::Bytes;
use http::header::HeaderValue;
use serde::de::DeserializeOwned;

/// Largest multipart text field accepted, in bytes.
const MAX_FIELD: u64 = 1 << 20;

/// The most parameters one request may carry, query and body together (1 000, as Django's
/// `DATA_UPLOAD_MAX_NUMBER_FIELDS` and PHP's `max_input_vars`).
///
/// Every parameter costs a few dozen bytes of bookkeeping besides its text, so a body of
/// `a&a&a&…` used to cost ten times its size in memory (2 MB: 20 MiB). Empty pieces
/// (`&&`) are skipped and do not count. One more is [`ParamsError::TooMany`], a 400.
pub const MAX_PAIRS: usize = 1000;

/// Why parameters could not be decoded. Renders as a 400 response naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// A mandatory parameter is absent.
    #[error("missing parameter '{0}'")]
    Missing(String),
    /// A parameter's value has the wrong type or form, and which parameter could not be told.
    #[error("invalid parameter: {0}")]
    Invalid(String),
    /// The parameter `name`'s value has the wrong type or form (e.g. `n=four` for a number).
    #[error("invalid parameter '{name}': {reason}")]
    InvalidValue {
        /// The parameter, as the handler's type names it (`tags[1]` for an element).
        name: String,
        /// What is wrong with the value, as serde reports it.
        reason: String,
    },
    /// The query or body is not validly encoded (bad `%` escape, invalid UTF-8, bad multipart).
    #[error("malformed parameters: {0}")]
    Malformed(String),
    /// More than `limit` ([`MAX_PAIRS`]) parameters in the query and body together.
    #[error("too many parameters: at most {limit} are accepted, query and body together")]
    TooMany {
        /// The limit that was passed.
        limit: usize,
    },
}

/// All parameters of a request, in order, body entries after query entries.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ParamMap {
    pairs: Vec<(String, String)>,
}

/// The body types [`ParamMap::from_parts`] decodes.
pub(crate) enum BodyKind {
    Form,
    Multipart,
    Json,
}

pub(crate) fn body_kind(content_type: &str) -> Option<BodyKind> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let lower = mime.to_ascii_lowercase();
    if lower == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else if lower == "multipart/form-data" {
        Some(BodyKind::Multipart)
    } else if lower == "application/json"
        || (lower.ends_with("+json") && lower.starts_with("application/"))
    {
        Some(BodyKind::Json)
    } else {
        None
    }
}

impl ParamMap {
    /// Decodes a query string alone.
    ///
    /// # Errors
    ///
    /// [`ParamsError::Malformed`] for a bad `%` escape or invalid UTF-8,
    /// [`ParamsError::TooMany`] for more than [`MAX_PAIRS`] parameters.
    pub fn from_query(query: Option<&str>) -> Result<Self, ParamsError> {
        let mut pairs = Vec::new();
        if let Some(q) = query {
            decode_urlencoded(q.as_bytes(), &mut pairs, MAX_PAIRS)?;
        }
        Ok(Self { pairs })
    }

    /// Decodes the query plus a body of type `application/x-www-form-urlencoded`,
    /// `multipart/form-data` (text fields only; files are skipped) or JSON (one object, see
    /// the [module docs](self#json-bodies)). Other bodies are ignored.
    ///
    /// # Errors
    ///
    /// [`ParamsError::Malformed`] when the query or body is not validly encoded (or a JSON
    /// body is not a flat object), [`ParamsError::TooMany`] for more than [`MAX_PAIRS`]
    /// parameters in both together.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::params::ParamMap;
    /// use http::HeaderValue;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), canister_core::params::ParamsError> {
    /// let json = HeaderValue::from_static("application/json");
    /// let body = r#"{"foo": "x", "n": 3, "tags": ["a", "b"]}"#;
    /// let map = ParamMap::from_parts(Some("foo=q&bar=y"), Some(&json), body.into()).await?;
    /// assert_eq!(map.get("foo"), Some("x")); // the body wins over the query
    /// assert_eq!(map.get("bar"), Some("y"));
    /// assert_eq!(map.get("n"), Some("3"));
    /// assert_eq!(map.get_all("tags").collect::<Vec<_>>(), ["a", "b"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_parts(
        query: Option<&str>,
        content_type: Option<&HeaderValue>,
        body: Bytes,
    ) -> Result<Self, ParamsError> {
        let mut map = Self::from_query(query)?;
        let Some(ct) = content_type.and_then(|c| c.to_str().ok()) else {
            return Ok(map);
        };
        let mut body_pairs = Vec::new();
        // The query's pairs count against the same budget (a body name that replaces a query
        // name still counts twice: the limit is on what was sent).
        let budget = MAX_PAIRS.saturating_sub(map.pairs.len());
        match body_kind(ct) {
            Some(BodyKind::Form) => decode_urlencoded(&body, &mut body_pairs, budget)?,
            Some(BodyKind::Multipart) => {
                decode_multipart(ct, body, &mut body_pairs, budget).await?;
            }
            Some(BodyKind::Json) => json::decode(&body, &mut body_pairs, budget)?,
            None => return Ok(map),
        }
        // Body values replace the query's for the same name. A set of the body's names keeps
        // this linear: comparing every query name with every body name let a request of
        // 4 000 query names and a 2 MB form spend seconds here (found by fuzzing).
        if !map.pairs.is_empty() && !body_pairs.is_empty() {
            let body_names: std::collections::HashSet<&str> =
                body_pairs.iter().map(|(k, _)| k.as_str()).collect();
            map.pairs.retain(|(k, _)| !body_names.contains(k.as_str()));
        }
        map.pairs.extend(body_pairs);
        Ok(map)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Deserializes the parameters into `T`; the last value of a repeated name wins, as in
    /// bottle (`foo=a&foo=b` gives `foo = "b"`).
    ///
    /// Fields of `T` that are `Option` or `#[serde(default)]` are optional; numbers and
    /// booleans are parsed from their text. For every value of a repeated name, read
    /// [`get_all`](Self::get_all).
    ///
    /// # Errors
    ///
    /// [`ParamsError::Missing`] naming the first absent mandatory field, or
    /// [`ParamsError::Invalid`] / [`ParamsError::InvalidValue`] for a value of the wrong type.
    ///
    /// # Examples
    ///
    /// ```
    /// use canister_core::params::ParamMap;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Hi {
    ///     foo: String,
    /// }
    ///
    /// let map = ParamMap::from_query(Some("foo=a&foo=b"))?;
    /// assert_eq!(map.deserialize::<Hi>()?.foo, "b");
    /// assert_eq!(map.get_all("foo").collect::<Vec<_>>(), ["a", "b"]);
    /// # Ok::<(), canister_core::params::ParamsError>(())
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ParamsError> {
        // serde_urlencoded refuses a struct field given twice ("duplicate field"): keep each
        // name once, at the place of its last value.
        let mut seen = std::collections::HashSet::with_capacity(self.pairs.len());
        let mut last: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .rev()
            .filter(|(k, _)| seen.insert(k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        last.reverse();
        let encoded =
            serde_urlencoded::to_string(&last).map_err(|e| ParamsError::Invalid(e.to_string()))?;
        serde_urlencoded::from_str(&encoded).map_err(|e| {
            let message = e.to_string();
            match message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                Some(field) => ParamsError::Missing(field.to_owned()),
                None => locate::<T>(&encoded, message),
            }
        })
    }
}

/// The error of a value of the wrong type, naming the parameter: `serde_urlencoded`'s errors
/// do not, so on this error path only the parameters are decoded once more through
/// `serde_path_to_error`, which follows the field being read. A request that decodes pays
/// nothing for it.
fn locate<T: DeserializeOwned>(encoded: &str, reason: String) -> ParamsError {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    let name = match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Err(error) => error.path().to_string(),
        Ok(_) => String::new(),
    };
    if name.is_empty() || name == "." {
        ParamsError::Invalid(reason)
    } else {
        ParamsError::InvalidValue { name, reason }
    }
}

impl fmt::Debug for ParamMap {
    /// Shows the names only: values may be passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

/// Decodes `name=value&…` into `out`, refusing more than `budget` pairs (counted before any
/// of them is decoded, so a flood costs no allocation).
fn decode_urlencoded(
    input: &[u8],
    out: &mut Vec<(String, String)>,
    budget: usize,
) -> Result<(), ParamsError> {
    let pieces = || input.split(|b| *b == b'&').filter(|p| !p.is_empty());
    if pieces().nth(budget).is_some() {
        return Err(ParamsError::TooMany { limit: MAX_PAIRS });
    }
    for piece in pieces() {
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &[][..]),
        };
        out.push((strict_decode(name)?, strict_decode(value)?));
    }
    Ok(())
}

fn strict_decode(input: &[u8]) -> Result<String, ParamsError> {
    let mut bytes = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
                match (hex(input.get(i + 1)), hex(input.get(i + 2))) {
                    (Some(hi), Some(lo)) => {
                        // two hex digits make at most 255
                        bytes.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                        i += 2;
                    }
                    _ => {
                        return Err(ParamsError::Malformed(
                            "bad percent escape (a '%' must be followed by two hex digits)"
                                .to_owned(),
                        ))
                    }
                }
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes)
        .map_err(|_| ParamsError::Malformed("a parameter is not valid UTF-8".to_owned()))
}

async fn decode_multipart(
    content_type: &str,
    body: Bytes,
    out: &mut Vec<(String, String)>,
    budget: usize,
) -> Result<(), ParamsError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ParamsError::Malformed(format!("multipart: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().per_field(MAX_FIELD));
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ParamsError::Malformed(format!("multipart: {e}")))?;
        let Some(field) = field else {
            return Ok(());
        };
        if field.file_name().is_some() {
            continue;
        }
        if out.len() >= budget {
            return Err(ParamsError::TooMany { limit: MAX_PAIRS });
        }
        let name = field.name().unwrap_or_default().to_owned();
        let data = field
            .bytes()
            .await
            .map_err(|e| ParamsError::Malformed(format!("multipart: {e}")))?;
        let value = String::from_utf8(data.to_vec()).map_err(|_| {
            ParamsError::Malformed(format!("multipart field '{name}' is not valid UTF-8"))
        })?;
        out.push((name, value));
    }
}

mod json;
#[cfg(test)]
mod tests;
