//! Rejections carrying the core's responses, and every rejection turned into a reply.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use warp::reject::{self, Reject, Rejection};
use warp::Reply;

/// A rejection carrying the response canister decided on: the 401 of
/// [`user`](crate::Warp::user), the 503 of a failed store, the 400 of
/// [`params`](crate::Warp::params), a CORS preflight or CSRF refusal.
///
/// [`recover`] (and the wrapper itself) turn it back into that response.
#[derive(Debug)]
pub struct CanisterRejection {
    response: Response<Bytes>,
}

impl CanisterRejection {
    /// The response to send.
    pub fn response(&self) -> &Response<Bytes> {
        &self.response
    }

    /// A copy of the response to send (status, version, headers and body).
    pub fn to_response(&self) -> Response<Bytes> {
        let mut copy = Response::new(self.response.body().clone());
        *copy.status_mut() = self.response.status();
        *copy.version_mut() = self.response.version();
        copy.headers_mut().clone_from(self.response.headers());
        copy
    }
}

impl Reject for CanisterRejection {}

/// Rejects with the core's `response`.
pub(crate) fn reject(response: Response<Bytes>) -> Rejection {
    reject::custom(CanisterRejection { response })
}

/// Turns canister's rejections into their responses; passes every other rejection on.
///
/// The wrapper already does this for the routes it wraps; use it with
/// [`Filter::recover`](warp::Filter::recover) where filters run outside the wrapper or
/// before your own recovery.
///
/// # Errors
///
/// The rejection itself when it is not canister's.
pub async fn recover(rejection: Rejection) -> Result<impl Reply, Rejection> {
    match rejection.find::<CanisterRejection>() {
        Some(ours) => Ok(ours.to_response()),
        None => Err(rejection),
    }
}

/// The reply for any rejection: canister's response, else what warp would answer.
pub(crate) fn answer(rejection: &Rejection) -> warp::reply::Response {
    match rejection.find::<CanisterRejection>() {
        Some(ours) => ours.to_response().into_response(),
        None => warp_default(rejection).into_response(),
    }
}

/// warp's own answer to a rejection, rebuilt from its public causes (warp keeps the
/// conversion private): the most specific status wins, 404 and 405 only when nothing else
/// matched; a custom cause nobody recovered is a 500.
fn warp_default(rejection: &Rejection) -> Response<Bytes> {
    fn cause<T: std::fmt::Display + 'static>(
        rejection: &Rejection,
        status: StatusCode,
    ) -> Option<(StatusCode, String)> {
        rejection.find::<T>().map(|e| (status, e.to_string()))
    }
    if rejection.is_not_found() {
        return text(StatusCode::NOT_FOUND, String::new());
    }
    let known = [
        cause::<reject::MethodNotAllowed>(rejection, StatusCode::METHOD_NOT_ALLOWED),
        cause::<reject::InvalidHeader>(rejection, StatusCode::BAD_REQUEST),
        cause::<reject::MissingHeader>(rejection, StatusCode::BAD_REQUEST),
        cause::<reject::MissingCookie>(rejection, StatusCode::BAD_REQUEST),
        cause::<reject::InvalidQuery>(rejection, StatusCode::BAD_REQUEST),
        cause::<warp::body::BodyDeserializeError>(rejection, StatusCode::BAD_REQUEST),
        cause::<reject::LengthRequired>(rejection, StatusCode::LENGTH_REQUIRED),
        cause::<reject::PayloadTooLarge>(rejection, StatusCode::PAYLOAD_TOO_LARGE),
        cause::<reject::UnsupportedMediaType>(rejection, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        cause::<warp::cors::CorsForbidden>(rejection, StatusCode::FORBIDDEN),
        cause::<warp::ext::MissingExtension>(rejection, StatusCode::INTERNAL_SERVER_ERROR),
    ];
    let best = known.into_iter().flatten().max_by_key(|(status, _)| {
        if *status == StatusCode::METHOD_NOT_ALLOWED {
            0
        } else {
            status.as_u16()
        }
    });
    match best {
        Some((status, message)) => text(status, message),
        None => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Unhandled rejection: {rejection:?}"),
        ),
    }
}

/// A `text/plain` response (an empty 404 as warp sends it).
pub(crate) fn text(status: StatusCode, body: String) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    if status != StatusCode::NOT_FOUND {
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}
