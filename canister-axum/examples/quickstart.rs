//! canister's counter example on axum: `cargo run -p canister-axum --example quickstart`.

use axum::{routing::get, Router};
use canister_axum::{CanisterLayer, Session};
use canister_core::{config::Config, Canister};

async fn counter(session: Session) -> String {
    let counter = session.get::<i64>("counter").map_or(0, |n| n + 1);
    let _ = session.insert("counter", counter); // an i64 always serializes
    format!("You have visited this page {counter} times before")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let canister = Canister::from_config(Config::default())?;
    let app = Router::new()
        .route("/", get(counter))
        .layer(CanisterLayer::new(canister));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
