//! [`traced`]: route handlers run inside their request's `tracing` span.

use canister_core::tracing::Instrument as _;
use rocket::route::{self, Handler, Route};
use rocket::{Data, Request};

use crate::fairing::Slot;

/// Runs each route's handler, request guards included, inside its request's `tracing` span
/// (feature `tracing`, on by default), so what the handler logs with `tracing::info!` carries
/// the span's fields (`request_id`, `client`, `session`, `user`, `method`, `uri`).
///
/// A fairing cannot wrap the handler's future, so mount your routes through this:
/// `rocket.mount("/", traced(routes![...]))`. Without it the engine's events and the
/// handler's [`Log`](crate::Log) are in the span all the same (they name it as their
/// parent); only the handler's own `tracing` events are not. Requests canister does not
/// handle (`exclude`) run with no span, as before.
///
/// # Examples
///
/// ```no_run
/// use canister_core::Canister;
/// use canister_rocket::{traced, CanisterFairing};
/// use rocket::{get, routes};
///
/// #[get("/")]
/// fn index() -> &'static str {
///     tracing::info!("inside the request's span");
///     "hello"
/// }
///
/// # fn app() -> Result<rocket::Rocket<rocket::Build>, canister_core::ConfigError> {
/// let canister = Canister::from_config_file("canister.ini")?;
/// Ok(rocket::build()
///     .attach(CanisterFairing::new(canister))
///     .mount("/", traced(routes![index])))
/// # }
/// ```
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
