//! Bare axum: a text body, no middleware. The limit every other stack is compared to.
//!
//! Usage: `bare_axum ADDR` (default `127.0.0.1:8090`); prints `listening on http://ADDR`.

use axum::routing::get;
use axum::Router;
use canister_bench::{announce, bind_arg, HELLO};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = bind_arg("127.0.0.1:8090");
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let app = Router::new().route("/", get(|| async { HELLO }));
    announce(listener.local_addr()?)?;
    axum::serve(listener, app).await
}
