//! Bare actix-web: a text body, no middleware, one worker (as every stack here).
//!
//! Usage: `bare_actix ADDR` (default `127.0.0.1:8090`); prints `listening on http://ADDR`.

use actix_web::{web, App, HttpServer};
use canister_bench::{announce, bind_arg, HELLO};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = bind_arg("127.0.0.1:8090");
    let listener = std::net::TcpListener::bind(&bind)?;
    announce(listener.local_addr()?)?;
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { HELLO })))
        .workers(1)
        .listen(listener)?
        .run()
        .await
}
