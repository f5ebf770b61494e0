//! Bare Rocket: `GET /` answers a text body, no fairing attached. Rocket's own limit
//! (with Rocket's defaults, e.g. its Shield headers, as canister's Rocket demo has them).
//!
//! Usage: `bare_rocket ADDR` (default `127.0.0.1:8090`); prints `listening on http://ADDR`.
//! Rocket's runtime reads its worker count from `ROCKET_WORKERS` (Rocket's figment);
//! everything else in `ROCKET_*` applies too, except the address, port and log level, which
//! this binary sets (logging off, as in canister's Rocket demo).

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use canister_bench::{announce, bind_arg, HELLO};
use rocket::config::LogLevel;
use rocket::fairing::AdHoc;
use rocket::{get, routes};

#[get("/")]
fn index() -> &'static str {
    HELLO
}

#[rocket::main]
async fn main() -> ExitCode {
    let bind = bind_arg("127.0.0.1:8090");
    let Some(addr) = bind.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("bare_rocket: {bind}: not an address");
        return ExitCode::from(2);
    };
    let figment = rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()))
        .merge(("log_level", LogLevel::Off))
        .merge(("cli_colors", false));
    let listening = AdHoc::on_liftoff("listening", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            if announce(SocketAddr::new(config.address, config.port)).is_err() {
                rocket.shutdown().notify();
            }
        })
    });
    match rocket::custom(figment)
        .mount("/", routes![index])
        .attach(listening)
        .launch()
        .await
    {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bare_rocket: {error}");
            ExitCode::FAILURE
        }
    }
}
