//! canister as a [tower](https://docs.rs/tower) layer: sessions, authentication, request
//! logs, CORS and CSRF for any stack of `http::Request` → `http::Response` services: axum,
//! warp (through `warp::service`), tonic, or a bare hyper server.
//!
//! [`CanisterLayer`] runs each request through [`Canister::enter`](canister_core::Canister::enter), puts the request's
//! [`Visit`](canister_core::Visit) into its extensions, calls the inner service, then runs
//! [`Canister::finish`](canister_core::Canister::finish) on its response. The framework's extractors or filters read the
//! `Visit` from the extensions; canister-axum and canister-warp are exactly that.
//!
//! # Example: a bare hyper-style service
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use canister_core::{Canister, Visit};
//! use canister_tower::CanisterLayer;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let canister = Canister::from_config(canister_core::config::Config::default())?;
//! let app = service_fn(|request: Request<Full<Bytes>>| async move {
//!     let visit = request.extensions().get::<Visit>().cloned().expect("the layer runs first");
//!     let session = visit.session().await.map_err(|_| "store down")?;
//!     let _ = session.insert("seen", true);
//!     Ok::<_, &str>(Response::new(Full::new(Bytes::from("hello"))))
//! });
//! let app = CanisterLayer::new(canister).layer(app);
//! let response = app.oneshot(Request::new(Full::default())).await?;
//! assert!(response.headers().contains_key("set-cookie"));
//! # Ok(()) }
//! ```
//!
//! # The body types
//!
//! The request body is passed on untouched, of any type. The response has the inner
//! service's own body type `RB`: canister's own answers (a CORS preflight, a CSRF 403, the
//! 503 of a session that cannot be saved) are built with `RB::from(Bytes)`, which axum's
//! `Body`, warp's body and http-body-util's `Full<Bytes>` provide. So the layer changes no
//! type in the stack and costs no extra boxing of the body; a service whose body has no
//! `From<Bytes>` (a `BoxBody`) can be mapped first.
//!
//! # The client's address
//!
//! The server, not the layer, knows the peer: it must put the address into the request's
//! extensions. The layer looks, in this order, for
//!
//! - [`PeerAddr`], which [`serve`] (feature `serve`) inserts,
//! - axum's `ConnectInfo<SocketAddr>` (feature `axum`; what
//!   `into_make_service_with_connect_info::<SocketAddr>()` inserts),
//! - a plain [`SocketAddr`](std::net::SocketAddr),
//!
//! and [`CanisterLayer::peer_from`] replaces that lookup (tonic's `TcpConnectInfo`, a Unix
//! socket's credentials, …). Without an address the log shows `-` for the client, and
//! `log_trust_proxy` still reads `X-Forwarded-For`.
//!
//! # Cancellation
//!
//! Dropping the response future (the client went away, a timeout layer gave up) drops the
//! request's `Visit` with it, so a session lock it holds is released at once; nothing is
//! saved and no log line is written for a response that was never sent.
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `axum` | reads axum's `ConnectInfo<SocketAddr>` (canister-axum enables it) |
//! | `serve` | [`serve`]: a hyper-util accept loop on a tokio `TcpListener` (canister-warp enables it) |
//! | `tracing` (default) | canister-core's `tracing` sink (`log_sink = tracing`); the inner service runs instrumented with each request's span |
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod layer;
#[cfg(feature = "serve")]
mod serve;

pub use layer::{
    default_peer, CanisterLayer, CanisterService, PeerAddr, PeerLookup, ResponseFuture,
};
#[cfg(feature = "serve")]
pub use serve::{serve, Serve};
