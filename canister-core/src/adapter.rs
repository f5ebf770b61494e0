//! What an adapter writes the second pass through: the response head.
//!
//! [`Canister::finish`](crate::Canister::finish) never sees a framework's response. It
//! writes through [`ResponseHead`], which the core implements for `http`'s
//! [`response::Parts`] and [`Response`] (axum, warp, any tower stack) and each other adapter
//! implements for its framework's own response (Rocket's `Response`, actix-web's
//! `HttpResponse`). So which headers canister sets, replaces or appends is decided once, here
//! in the core, and an adapter converts only the headers canister writes, never the whole
//! response.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{HeaderName, HeaderValue};
use http::{response, Response, StatusCode};

use crate::Rejection;

/// A response's status and headers, as [`Canister::finish`](crate::Canister::finish)
/// writes them.
///
/// What `finish` does through it, which an implementation may rely on: it reads the status,
/// reads no header, [`append`](Self::append)s `Set-Cookie` and `Vary`, and
/// [`insert`](Self::insert)s (replacing) `Access-Control-Allow-Origin`, `-Allow-Credentials`,
/// `-Expose-Headers` and the request id header. When the store failed it first
/// [`clear`](Self::clear)s the head and sets the 503's status and headers.
///
/// # Examples
///
/// A framework whose response keeps headers as a list of pairs:
///
/// ```
/// use canister_core::adapter::ResponseHead;
/// use http::{HeaderName, HeaderValue, StatusCode};
///
/// struct Head { status: u16, headers: Vec<(String, String)> }
///
/// impl ResponseHead for Head {
///     fn status(&self) -> StatusCode {
///         StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
///     }
///     fn set_status(&mut self, status: StatusCode) {
///         self.status = status.as_u16();
///     }
///     fn insert(&mut self, name: HeaderName, value: HeaderValue) {
///         self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_str()));
///         self.append(name, value);
///     }
///     fn append(&mut self, name: HeaderName, value: HeaderValue) {
///         let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
///         self.headers.push((name.as_str().to_owned(), value));
///     }
///     fn clear(&mut self) {
///         self.headers.clear();
///     }
/// }
/// ```
pub trait ResponseHead {
    /// The response's status.
    fn status(&self) -> StatusCode;
    /// Replaces the status.
    fn set_status(&mut self, status: StatusCode);
    /// Sets `name` to `value`, removing every value it had.
    fn insert(&mut self, name: HeaderName, value: HeaderValue);
    /// Adds a value of `name`, keeping those it had.
    fn append(&mut self, name: HeaderName, value: HeaderValue);
    /// Removes every header: the response becomes one of canister's own.
    fn clear(&mut self);
}

impl ResponseHead for response::Parts {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }
    fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.append(name, value);
    }
    fn clear(&mut self) {
        self.headers.clear();
    }
}

impl<B> ResponseHead for Response<B> {
    fn status(&self) -> StatusCode {
        Response::status(self)
    }
    fn set_status(&mut self, status: StatusCode) {
        *self.status_mut() = status;
    }
    fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers_mut().insert(name, value);
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers_mut().append(name, value);
    }
    fn clear(&mut self) {
        self.headers_mut().clear();
    }
}

/// Makes `head` the head of `replacement`: status and every header (the rest of the
/// response, its body, is the caller's).
pub fn replace_head<H: ResponseHead + ?Sized>(head: &mut H, replacement: &response::Parts) {
    head.clear();
    head.set_status(replacement.status);
    for (name, value) in &replacement.headers {
        head.append(name.clone(), value.clone());
    }
}

/// Reads a request body for parameter decoding, at most `limit` bytes
/// ([`Visit::params_body_limit`](crate::Visit::params_body_limit)).
///
/// # Errors
///
/// [`Rejection::PayloadTooLarge`] (413) as soon as the body grows past `limit`, without
/// reading the rest; [`Rejection::UnreadableBody`] (400) when the stream fails (a connection
/// cut, bad framing).
pub async fn read_body<S, B, E>(body: S, limit: usize) -> Result<Bytes, Rejection>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Rejection::UnreadableBody)?;
        if out.len().saturating_add(chunk.remaining()) > limit {
            return Err(Rejection::PayloadTooLarge { limit });
        }
        out.put(chunk);
    }
    Ok(out.freeze())
}

/// `Deref` to the wrapped value and `into_inner` for an adapter's newtype extractors, so
/// every adapter's `Session`, `User`, `Params<T>` and `Log` read alike:
/// `canister_core::newtypes!(Session => canister_core::Session, Params<T> => T);`
#[doc(hidden)]
#[macro_export]
macro_rules! newtypes {
    ($($ty:ident$(<$t:ident>)? => $target:ty),* $(,)?) => {$(
        impl$(<$t>)? ::core::ops::Deref for $ty$(<$t>)? {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.0
            }
        }

        impl$(<$t>)? $ty$(<$t>)? {
            /// The wrapped value.
            pub fn into_inner(self) -> $target {
                self.0
            }
        }
    )*};
}

/// Whether [`ParamMap::from_parts`](crate::params::ParamMap::from_parts) reads the body of a request with this `Content-Type`
/// (url-encoded form, multipart, or JSON: `application/json` and `application/…+json`); for
/// any other request adapters need not read the body and may pass an empty one.
///
/// # Examples
///
/// ```
/// use canister_core::adapter::decodes_body;
/// use http::HeaderValue;
///
/// assert!(decodes_body(Some(&HeaderValue::from_static("application/x-www-form-urlencoded"))));
/// assert!(decodes_body(Some(&HeaderValue::from_static("multipart/form-data; boundary=x"))));
/// assert!(decodes_body(Some(&HeaderValue::from_static("application/json"))));
/// assert!(decodes_body(Some(&HeaderValue::from_static("application/merge-patch+json"))));
/// assert!(!decodes_body(Some(&HeaderValue::from_static("text/plain"))));
/// assert!(!decodes_body(None));
/// ```
pub fn decodes_body(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|c| c.to_str().ok())
        .and_then(crate::params::body_kind)
        .is_some()
}
