//! canister's demo application on axum.
//!
//! ```text
//! cargo run -p canister-axum --example demo -- [--config FILE] [--bind ADDR] [--redis URL]
//! ```
//!
//! Prints `listening on http://ADDR` once it accepts connections; stops on Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use canister_core::{config::Config, session::SessionStore, Canister};
use canister_store_redis::RedisStore;

mod app;

const USAGE: &str = "usage: demo [--config FILE] [--bind ADDR] [--redis URL]";

struct Args {
    config: Option<String>,
    bind: String,
    redis: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        bind: "127.0.0.1:8080".to_owned(),
        redis: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag, None),
        };
        if name == "--help" || name == "-h" {
            return Err(String::new());
        }
        let value = match inline.or_else(|| argv.next()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value")),
        };
        match name.as_str() {
            "--config" => args.config = Some(value),
            "--bind" => args.bind = value,
            "--redis" => args.redis = Some(value),
            _ => return Err(format!("unknown argument {name}")),
        }
    }
    Ok(args)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("demo: {message}");
    ExitCode::from(2)
}

/// With `log_sink = tracing`: tracing-subscriber's JSON formatter, one object per line on
/// standard error, each event with its request span's fields (`span`). `RUST_LOG` filters
/// (default `info`); canister's `log_level` filters canister's events before that.
fn install_json_subscriber(config: &Config) {
    if config.log.sink == canister_core::log::LogSinkKind::Tracing {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(&format!("{message}\n{USAGE}")),
    };
    let config = match &args.config {
        Some(path) => Config::from_file(path),
        None => {
            let mut config = Config::default();
            config
                .apply_env(std::env::vars_os())
                .and_then(|()| config.validate())
                .map(|()| config)
        }
    };
    let mut config = match config {
        Ok(config) => config,
        Err(error) => return fail(&error.to_string()),
    };
    if let Some(url) = &args.redis {
        if let Err(error) = config.set("session_store", url) {
            return fail(&format!("--redis: {error}"));
        }
    }
    install_json_subscriber(&config);
    // An identity provider (auth_oidc_issuer, auth_jwt_jwks_url): its keys come from
    // canister-oidc, refreshed in the background once the engine is built.
    let provider = if config.has_jwt_provider() {
        match canister_oidc::Provider::from_config(&config) {
            Ok(provider) => Some(provider),
            Err(error) => return fail(&error.to_string()),
        }
    } else {
        None
    };
    // The store the configuration (or `--redis`) names, checked at start: the constructor
    // every demo and application shares.
    match RedisStore::connect(&config).await {
        Ok(Some(store)) => {
            let builder = Canister::builder().config(config).store(store);
            let builder = match &provider {
                Some(provider) => builder.jwks(provider.keys()),
                None => builder,
            };
            serve(builder.build(), provider, &args.bind).await
        }
        Ok(None) => {
            let builder = Canister::builder().config(config);
            let builder = match &provider {
                Some(provider) => builder.jwks(provider.keys()),
                None => builder,
            };
            serve(builder.build(), provider, &args.bind).await
        }
        Err(error) => fail(&error.to_string()),
    }
}

async fn serve<S: SessionStore>(
    canister: Result<Canister<S>, canister_core::config::ConfigError>,
    provider: Option<canister_oidc::Provider>,
    bind: &str,
) -> ExitCode {
    let canister = match canister {
        Ok(canister) => canister,
        Err(error) => return fail(&error.to_string()),
    };
    if let Some(provider) = provider {
        provider.spawn(canister.logger());
    }
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {bind}: {error}")),
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(error) => return fail(&format!("cannot listen on {bind}: {error}")),
    }
    // The harness waits for that line: do not leave it in the buffer.
    let _ = std::io::stdout().flush();

    let app = app::router(canister.clone());
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await;
    canister.flush();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: server error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
