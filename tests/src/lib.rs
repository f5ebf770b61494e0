//! canister's conformance suite: the demo contract (`docs/ADAPTERS.md`) checked the same way on
//! every adapter and every store.
//!
//! An adapter implements [`Adapter`]: start its demo application in this process on
//! `127.0.0.1:0` for a [`Config`] and a [`Store`], and answer the running [`Server`]. The
//! scenarios ([`scenarios`]) are plain async functions that talk HTTP to a [`Server`] with
//! `reqwest`; [`conformance!`] expands each of them into one test per adapter × store, so a
//! failure names itself (`rocket_redis::counter`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canister_core::{Canister, Config, SessionStore};
use canister_store_redis::RedisStore;

pub mod redis_server;
pub mod scenarios;

// The demos' own application code, so the suite drives exactly the routes they serve.
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the demo's main and flags are not used"
)]
#[path = "../../canister-axum/examples/demo/app.rs"]
mod axum_demo;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the demo's main and flags are not used"
)]
#[path = "../../canister-rocket/examples/demo.rs"]
mod rocket_demo;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the demo's main and flags are not used"
)]
#[path = "../../canister-warp/examples/demo.rs"]
mod warp_demo;

/// Where the sessions live.
#[derive(Debug, Clone)]
pub enum Store {
    /// The core's in-memory store (`Canister::from_config`).
    Memory,
    /// A `RedisStore` on `url`, its keys under `prefix` (so tests may share one Redis).
    Redis {
        /// `redis://host:port`.
        url: String,
        /// The store's key prefix.
        prefix: String,
    },
}

impl Store {
    /// A Redis store on `url` with a prefix no other test uses.
    pub fn redis(url: &str) -> Self {
        Self::Redis {
            url: url.to_owned(),
            prefix: unique_prefix(),
        }
    }
}

/// A key prefix unique to this process and call.
fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "conformance:{}:{nanos}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The configuration every scenario runs with: quiet, CORS for every origin, Basic
/// credentials alice / my-secret.
pub fn config() -> Config {
    Config::from_ini_str(
        "[canister]\n\
         log_level = DISABLED\n\
         CORS = *\n\
         auth_basic_username = alice\n\
         auth_basic_password = my-secret\n",
    )
    .expect("the suite's configuration")
}

/// A demo application running in this process; stopped when dropped.
#[derive(Debug)]
pub struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// A server at `base` (`http://127.0.0.1:PORT`) run by `task`, which stops when `stop`
    /// is sent or dropped.
    pub fn new(
        base: String,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            base,
            stop: Some(stop),
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// What an adapter provides to the suite.
pub trait Adapter {
    /// The adapter's name in messages.
    const NAME: &'static str;

    /// Starts the adapter's demo on a free loopback port with `config` and `store`.
    fn start(config: Config, store: Store) -> impl Future<Output = Server> + Send;
}

/// Builds the engine for `config` and `store` and hands it to `serve`, which is generic over
/// the store: `$serve(canister).await` for both kinds.
macro_rules! with_store {
    ($config:expr, $store:expr, $serve:ident) => {
        match $store {
            Store::Memory => {
                $serve(Canister::from_config($config).expect("the suite's engine")).await
            }
            Store::Redis { url, prefix } => {
                let store = RedisStore::open(&url)
                    .unwrap_or_else(|e| panic!("RedisStore::open({url}): {e}"))
                    .prefix(prefix);
                let canister = Canister::builder()
                    .config($config)
                    .store(store)
                    .build()
                    .expect("the suite's engine");
                $serve(canister).await
            }
        }
    };
}

async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let addr = listener.local_addr().expect("the bound address");
    (listener, format!("http://{addr}"))
}

/// canister-axum: the demo's `app::router` served by `axum::serve`.
#[derive(Debug)]
pub struct Axum;

impl Adapter for Axum {
    const NAME: &'static str = "axum";

    fn start(config: Config, store: Store) -> impl Future<Output = Server> + Send {
        async fn serve<S: SessionStore>(canister: Canister<S>) -> Server {
            let (listener, base) = listener().await;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let app = axum_demo::router(canister)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            Server::new(base, stop, task)
        }
        async move { with_store!(config, store, serve) }
    }
}

/// canister-rocket: the demo's `app` launched on port 0.
#[derive(Debug)]
pub struct Rocket;

impl Adapter for Rocket {
    const NAME: &'static str = "rocket";

    fn start(config: Config, store: Store) -> impl Future<Output = Server> + Send {
        async fn serve<S: SessionStore>(canister: Canister<S>) -> Server {
            let (port_tx, port_rx) = tokio::sync::oneshot::channel();
            let port_tx = std::sync::Mutex::new(Some(port_tx));
            let liftoff = rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
                let config = rocket.config();
                let addr = std::net::SocketAddr::new(config.address, config.port);
                if let Some(tx) = port_tx.lock().ok().and_then(|mut tx| tx.take()) {
                    let _ = tx.send(addr);
                }
                Box::pin(async {})
            });
            let mut config = rocket_demo::quiet_config(([127, 0, 0, 1], 0).into());
            // No signal handlers (Ctrl-C must still stop `cargo test`), no graceful wait when
            // a test drops its server.
            config.shutdown.ctrlc = false;
            #[cfg(unix)]
            config.shutdown.signals.clear();
            config.shutdown.grace = 0;
            config.shutdown.mercy = 0;
            let rocket = rocket_demo::app(canister, config)
                .attach(liftoff)
                .ignite()
                .await
                .expect("rocket ignites");
            let shutdown = rocket.shutdown();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                tokio::select! {
                    _ = rocket.launch() => {}
                    _ = stopped => shutdown.notify(),
                }
            });
            let addr = tokio::time::timeout(Duration::from_secs(30), port_rx)
                .await
                .expect("rocket lifts off within 30 s")
                .expect("rocket reports its port");
            Server::new(format!("http://{addr}"), stop, task)
        }
        async move { with_store!(config, store, serve) }
    }
}

/// canister-warp: the demo's own `serve` on a bound listener.
#[derive(Debug)]
pub struct Warp;

impl Adapter for Warp {
    const NAME: &'static str = "warp";

    fn start(config: Config, store: Store) -> impl Future<Output = Server> + Send {
        async fn serve<S: SessionStore>(canister: Canister<S>) -> Server {
            let (listener, base) = listener().await;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(warp_demo::serve(canister, listener, async {
                let _ = stopped.await;
            }));
            Server::new(base, stop, task)
        }
        async move { with_store!(config, store, serve) }
    }
}

/// Expands every scenario of [`scenarios`] named in the list into one test per adapter ×
/// store: modules `axum_memory`, `axum_redis`, `rocket_memory`, … each holding one
/// `#[tokio::test]` per scenario.
///
/// ```text
/// tests::conformance! { counter, lazy_session }
/// ```
#[macro_export]
macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        $crate::conformance!(@cell axum_memory, $crate::Axum, memory; $($scenario),*);
        $crate::conformance!(@cell axum_redis, $crate::Axum, redis; $($scenario),*);
        $crate::conformance!(@cell rocket_memory, $crate::Rocket, memory; $($scenario),*);
        $crate::conformance!(@cell rocket_redis, $crate::Rocket, redis; $($scenario),*);
        $crate::conformance!(@cell warp_memory, $crate::Warp, memory; $($scenario),*);
        $crate::conformance!(@cell warp_redis, $crate::Warp, redis; $($scenario),*);
    };
    (@cell $module:ident, $adapter:ty, $store:ident; $($scenario:ident),*) => {
        mod $module {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let fixture = $crate::Fixture::$store().await;
                    let server = <$adapter as $crate::Adapter>::start(
                        $crate::config(),
                        fixture.store(),
                    )
                    .await;
                    $crate::scenarios::$scenario(&server).await;
                    drop(server);
                    drop(fixture);
                }
            )*
        }
    };
}

/// The store of one test and whatever keeps it alive (a private `redis-server`).
#[derive(Debug)]
pub struct Fixture {
    store: Store,
    _redis: Option<redis_server::Redis>,
}

impl Fixture {
    /// The in-memory store.
    #[allow(clippy::unused_async, reason = "same shape as `redis`, for the macro")]
    pub async fn memory() -> Self {
        Self {
            store: Store::Memory,
            _redis: None,
        }
    }

    /// A Redis store: `REDIS_URL` if set, else a private `redis-server`.
    pub async fn redis() -> Self {
        let redis = redis_server::Redis::start().await;
        Self {
            store: Store::redis(redis.url()),
            _redis: Some(redis),
        }
    }

    /// The store to start a server with (the same store each call).
    pub fn store(&self) -> Store {
        self.store.clone()
    }
}
