//! Bare warp: `GET /` answers a text body, no other filter. warp's own limit.
//!
//! Usage: `bare_warp ADDR` (default `127.0.0.1:8090`); prints `listening on http://ADDR`.

use canister_bench::{announce, bind_arg, HELLO};
use warp::Filter;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = bind_arg("127.0.0.1:8090");
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let hello = warp::path::end().and(warp::get()).map(|| HELLO);
    announce(listener.local_addr()?)?;
    warp::serve(hello).incoming(listener).run().await;
    Ok(())
}
