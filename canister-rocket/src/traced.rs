//! [`traced`]: route handlers run inside their request's `tracing` span.

use canister_core::tracing::Instrument as _;
use rocket::route::{self, Handler, Route};
use rocket::{Data, Request};

use crate::fairing::Slot;

/// Runs each route's handler, request guards included, inside its request's `tracing` span
/// (feature `tracing`, on by default), so what the handler logs with `tracing::info!` carries
/// the span's fields (`request_id`, `client`, `session`, `user`, `method`, `uri`).
#[doc = include_str!("../docs/items/traced.md")]
pub fn traced(routes: Vec<Route>) -> Vec<Route> {
    routes
        .into_iter()
        .map(|mut route| {
            route.handler = Box::new(Traced(route.handler));
            route
        })
        .collect()
}

/// A handler run inside the request's span.
#[derive(Clone)]
struct Traced(Box<dyn Handler>);

#[rocket::async_trait]
impl Handler for Traced {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let span = Slot::of(request)
            .visit
            .as_ref()
            .map_or_else(canister_core::tracing::Span::none, |v| v.span().clone());
        self.0.handle(request, data).instrument(span).await
    }
}
