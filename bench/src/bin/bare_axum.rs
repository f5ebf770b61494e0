//! Bare axum: a text body, no middleware. The limit every other stack is compared to.
//!
//! Usage: `bare_axum ADDR` (default `127.0.0.1:8090`); prints `listening on http://ADDR`.

use std::io::Write;

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app).await
}
