//! Rejections carrying the core's responses, and the service that makes them the reply.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use canister_core::Visit;
use http::{Request, Response, StatusCode};
use tower_service::Service;
use warp::reject::{self, Reject, Rejection};
use warp::Reply;

/// A warp rejection carrying canister's (401, 400, 413, 503), which
/// [`service`](crate::CanisterFilters::service) sends when the routes answer it with a 500.
#[derive(Debug)]
pub struct CanisterRejection(pub canister_core::Rejection);

impl CanisterRejection {
    /// The response to send.
    pub fn to_response(&self) -> Response<Bytes> {
        self.0.clone().into_response()
    }
}

impl Reject for CanisterRejection {}

/// Rejects with canister's `rejection`.
pub(crate) fn reject(rejection: canister_core::Rejection) -> Rejection {
    reject::custom(CanisterRejection(rejection))
}

/// Turns canister's rejections into their responses and gives back every other rejection,
/// as in `routes.recover(canister_warp::recover).recover(yours)` (not needed inside
/// [`service`](crate::CanisterFilters::service)).
pub async fn recover(rejection: Rejection) -> Result<impl Reply, Rejection> {
    match rejection.find::<CanisterRejection>() {
        Some(ours) => Ok(ours.to_response()),
        None => Err(rejection),
    }
}

/// Where the filters leave canister's first rejection of a request for [`Recovered`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending(Arc<Mutex<Option<canister_core::Rejection>>>);

/// What the filters find in a request served by [`CanisterFilters::service`](crate::CanisterFilters::service).
#[derive(Debug)]
pub(crate) struct Here {
    pub(crate) visit: Visit,
    pub(crate) pending: Option<Pending>,
}

impl Here {
    /// Rejects with `rejection`, keeping the request's first one for [`Recovered`].
    pub(crate) fn reject(&self, rejection: canister_core::Rejection) -> Rejection {
        if let Some(Ok(mut slot)) = self.pending.as_ref().map(|pending| pending.0.lock()) {
            slot.get_or_insert_with(|| rejection.clone());
        }
        reject(rejection)
    }
}

/// Gives each request a [`Pending`] slot; a 500 reply after canister rejected becomes
/// canister's response (warp answers an unrecovered custom rejection with a 500, and so do
/// the usual catch-all recovers).
#[derive(Debug, Clone)]
pub(crate) struct Recovered<I>(pub(crate) I);

impl<I, B, RB> Service<Request<B>> for Recovered<I>
where
    I: Service<Request<B>, Response = Response<RB>>,
    RB: From<Bytes>,
{
    type Response = Response<RB>;
    type Error = I::Error;
    type Future = Recovering<I::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let pending = Pending::default();
        request.extensions_mut().insert(pending.clone());
        Recovering {
            inner: self.0.call(request),
            pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Recovered`].
    pub(crate) struct Recovering<F> {
        #[pin]
        inner: F,
        pending: Pending,
    }
}

impl<F, RB, E> Future for Recovering<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    RB: From<Bytes>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
            return Poll::Ready(Ok(response));
        }
        let ours = this.pending.0.lock().ok().and_then(|mut slot| slot.take());
        Poll::Ready(Ok(
            ours.map_or(response, |ours| ours.into_response().map(RB::from))
        ))
    }
}
