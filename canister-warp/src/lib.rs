#![doc = include_str!("../docs/guide.md")]
#![doc = include_str!("../docs/login.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod rejection;

use std::convert::Infallible;
use std::ops::Deref;

use bytes::Bytes;
use canister_core::{
    auth::Authenticator, auth::DefaultAuthenticator, log::DefaultLogSink, Canister,
};
use canister_core::{log::LogSink, session::MemoryStore, session::SessionStore};
use http::header::{HeaderValue, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;
use warp::{Filter, Rejection, Reply};

pub use canister_core::{auth::User, Session, Visit};
pub use canister_tower::{serve, CanisterLayer, PeerAddr, Serve};
pub use rejection::{recover, CanisterRejection};
pub use slog;

use rejection::{reject, Here, Recovered};

/// canister for warp: a [`Canister`] with its filters and the [`service`](Self::service) that
/// runs them. Named for what it hands out, as `CanisterLayer` and `CanisterFairing` are.
///
/// Cheap to clone (clones share the engine); dereferences to the [`Canister`] (`flush`,
/// `logger`, `config`). Outside [`service`](Self::service) the filters answer a 500 saying
/// so (printed once).
#[derive(Debug)]
pub struct CanisterFilters<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> {
    canister: Canister<S, A, L>,
}

/// The former name of [`CanisterFilters`].
#[deprecated(
    since = "0.1.0",
    note = "renamed `CanisterFilters`; `wrap(routes)` became `service(routes)` run by `canister_warp::serve`"
)]
pub type Warp<S = MemoryStore, A = DefaultAuthenticator, L = DefaultLogSink> =
    CanisterFilters<S, A, L>;

impl<S, A, L> Clone for CanisterFilters<S, A, L> {
    fn clone(&self) -> Self {
        Self {
            canister: self.canister.clone(),
        }
    }
}

impl<S, A, L> Deref for CanisterFilters<S, A, L> {
    type Target = Canister<S, A, L>;

    fn deref(&self) -> &Self::Target {
        &self.canister
    }
}

impl<S: SessionStore, A: Authenticator, L: LogSink> CanisterFilters<S, A, L> {
    /// canister's filters for `canister`.
    pub fn new(canister: Canister<S, A, L>) -> Self {
        Self { canister }
    }

    /// `routes` as a tower service inside [`CanisterLayer`], for [`serve`] (or any hyper
    /// server that puts a [`PeerAddr`] into the request extensions).
    ///
    /// `routes` run as `warp::service(routes)` runs them, with the request's [`Visit`] in its
    /// extensions; a 500 reply after one of canister's filters rejected becomes canister's
    /// response ([crate documentation](crate#rejections-your-own-recover-filter-order)).
    pub fn service<F, B>(
        &self,
        routes: F,
    ) -> impl Service<
        http::Request<B>,
        Response = warp::reply::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
           + Send
           + Sync
           + 'static
    where
        F: Filter + Clone + Send + Sync + 'static,
        F::Extract: Reply,
        B: http_body::Body + Send + Sync + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let routes = Recovered(warp::service(routes));
        CanisterLayer::new(self.canister.clone()).layer(routes)
    }

    /// The request's [`Visit`], for what the other filters do not cover.
    pub fn visit(
        &self,
    ) -> impl Filter<Extract = (Visit,), Error = Rejection> + Clone + Send + Sync + 'static {
        here().map(|here: Here| here.visit)
    }

    /// The live sessions of the session's user, oldest first
    /// ([`Visit::user_sessions`]); rejects with the 401 when the session has no user, or the
    /// 503 of a failed store.
    pub fn user_sessions(
        &self,
    ) -> impl Filter<Extract = (Vec<canister_core::SessionInfo>,), Error = Rejection>
           + Clone
           + Send
           + Sync
           + 'static {
        here().and_then(|here: Here| async move {
            here.visit.user_sessions().await.map_err(|r| here.reject(r))
        })
    }

    /// Ends every other session of the session's user and extracts how many
    /// ([`Visit::end_other_sessions`]); rejects as [`user_sessions`](Self::user_sessions).
    pub fn end_other_sessions(
        &self,
    ) -> impl Filter<Extract = (usize,), Error = Rejection> + Clone + Send + Sync + 'static {
        here().and_then(|here: Here| async move {
            here.visit
                .end_other_sessions()
                .await
                .map_err(|r| here.reject(r))
        })
    }

    /// The request's [`Session`], loaded from the store the first time it is asked for;
    /// rejects with the 503 to send when the store failed.
    pub fn session(
        &self,
    ) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone + Send + Sync + 'static {
        here().and_then(|here: Here| async move {
            here.visit.session().await.map_err(|r| here.reject(r))
        })
    }

    /// The request's [`User`] (its `Authorization` header's, else its session's); rejects with
    /// the 401 carrying a `WWW-Authenticate` challenge per configured scheme when there is
    /// none (or the 503 of a failed store).
    ///
    /// Put it after the path filters of its route ([crate documentation](crate#rejections-your-own-recover-filter-order)).
    /// With `auth_basic_challenge = false` the 401 carries no Basic challenge; for browser
    /// pages take [`optional_user()`](Self::optional_user) and redirect.
    pub fn user(
        &self,
    ) -> impl Filter<Extract = (User,), Error = Rejection> + Clone + Send + Sync + 'static {
        here().and_then(|here: Here| async move {
            here.visit.require_user().await.map_err(|r| here.reject(r))
        })
    }

    /// The request's [`User`] when its token grants `scope` (its `scope` or `scp` claim lists
    /// it); rejects with the 401 (no user, as [`user()`](Self::user)) or the 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 section 3.1).
    ///
    /// ```
    /// # fn routes(canister: canister_warp::CanisterFilters) {
    /// use warp::Filter;
    /// let orders = warp::path!("orders")
    ///     .and(canister.scope("orders:read"))
    ///     .map(|user: canister_warp::User| format!("orders of {}", user.name()));
    /// # let _ = orders;
    /// # }
    /// ```
    pub fn scope(
        &self,
        scope: impl Into<String>,
    ) -> impl Filter<Extract = (User,), Error = Rejection> + Clone + Send + Sync + 'static {
        let scope: std::sync::Arc<str> = scope.into().into();
        here().and_then(move |here: Here| {
            let scope = std::sync::Arc::clone(&scope);
            async move {
                here.visit
                    .require_scope(&scope)
                    .await
                    .map_err(|r| here.reject(r))
            }
        })
    }

    /// The request's [`User`] if there is one; rejects only with the 503 of a failed store.
    pub fn optional_user(
        &self,
    ) -> impl Filter<Extract = (Option<User>,), Error = Rejection> + Clone + Send + Sync + 'static
    {
        here().and_then(
            |here: Here| async move { here.visit.user().await.map_err(|r| here.reject(r)) },
        )
    }

    /// The request's parameters as a `T`: query string, then an url-encoded, multipart or
    /// JSON body (at most `params_body_limit` bytes, default 2 MiB, else 413). Rejects with the 400 naming
    /// the missing or malformed parameter.
    ///
    /// A JSON body must be one flat object, whose members are parameters as a form's fields
    /// are ([`canister_core::params`]); for structured bodies use `warp::body::json()` instead.
    /// Reads the body of those types (any other is left unread): use no other body filter
    /// with it.
    pub fn params<T>(
        &self,
    ) -> impl Filter<Extract = (T,), Error = Rejection> + Clone + Send + Sync + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let content_type = warp::header::value(CONTENT_TYPE.as_str())
            .map(Some)
            .or(warp::any().map(|| None))
            .unify();
        let query = warp::query::raw()
            .map(Some)
            .or(warp::any().map(|| None))
            .unify();
        here()
            .and(query)
            .and(content_type)
            .and(warp::body::stream())
            .and_then(
                |here: Here, query: Option<String>, content_type: Option<HeaderValue>, body| async move {
                    // Only forms, multipart and JSON bodies are decoded: leave any other unread.
                    let body = if canister_core::adapter::decodes_body(content_type.as_ref()) {
                        let limit = here.visit.params_body_limit();
                        canister_core::adapter::read_body(body, limit).await.map_err(|r| here.reject(r))?
                    } else {
                        Bytes::new()
                    };
                    here.visit
                        .params::<T>(query.as_deref(), content_type.as_ref(), body)
                        .await
                        .map_err(|r| here.reject(r))
                },
            )
    }

    /// A logger carrying the request's context (client address and session tag). Its type
    /// is [`slog::Logger`], re-exported as `canister_warp::slog`.
    ///
    /// The tag is read as each line is written, so filter order does not matter: a `log()`
    /// before `session()` still logs the session's tag once it is loaded (`...` until then).
    pub fn log(
        &self,
    ) -> impl Filter<Extract = (slog::Logger,), Error = Rejection> + Clone + Send + Sync + 'static
    {
        here().map(|here: Here| here.visit.logger())
    }
}

/// The request's visit and rejection slot, put there by [`CanisterFilters::service`].
fn here() -> impl Filter<Extract = (Here,), Error = Rejection> + Clone + Send + Sync + 'static {
    let fix = "run the routes with `canister.service(routes)` (canister_warp::CanisterFilters)";
    warp::ext::optional::<Visit>()
        .and(warp::ext::optional())
        .and_then(move |visit: Option<Visit>, pending| async move {
            let visit = visit.ok_or(canister_core::Rejection::NotInstalled { fix });
            let visit = visit.map_err(reject)?;
            Ok::<_, Rejection>(Here { visit, pending })
        })
}
