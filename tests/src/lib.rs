//! canister's conformance suite: the demo contract (`docs/ADAPTERS.md`) checked the same way on
//! every adapter and every store.
//!
//! An adapter implements [`Adapter`]: start its demo application in this process on
//! `127.0.0.1:0` for a [`Config`] and a [`Store`], and answer the running [`Server`]. The
//! scenarios ([`scenarios`]) are plain async functions that talk HTTP to a [`Server`] with
//! `reqwest`; [`conformance!`] expands each of them into one test per adapter × store, so a
//! failure names itself (`rocket_redis::counter`).
//!
//! Each test runs in a [`Cell`] (one adapter, one store, one configuration). A scenario is
//! either `async fn(&Server)`, run on a server the cell started with its configuration, or
//! `async fn(&mut Cell)`, which starts and stops servers, or takes the store down, itself
//! ([`Scenario`]). A scenario asks for its own configuration in the list given to
//! [`conformance!`]: `expiry => tests::config_with(&[("session_timeout", "1")])`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canister_core::{config::Config, session::SessionStore, Canister, TestClock};
use canister_store_redis::RedisStore;

// The local identity provider of canister-oidc's tests: one implementation for both.
#[path = "../../canister-oidc/tests/provider/mod.rs"]
pub mod provider;
pub mod redis_server;
pub mod scenarios;

use canister_core::session::{FaultyStore, StoreOp};

// The demos' own application code, so the suite drives exactly the routes they serve.
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the demo's main and flags are not used"
)]
#[path = "../../canister-actix/examples/demo.rs"]
mod actix_demo;
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
        /// `redis://host:port`, or `rediss://host:port` with `tls_ca`.
        url: String,
        /// The store's key prefix.
        prefix: String,
        /// The CA file a `rediss://` server is trusted through (`session_store_tls_ca`).
        tls_ca: Option<PathBuf>,
    },
    /// A fresh `MemoryStore` per server behind a `FaultyStore` switch (the memory cells'
    /// "store down": every operation fails while the switch is on).
    MemoryWithOutage(FaultyStore),
}

impl Store {
    /// A Redis store on `url` with a prefix no other test uses.
    pub fn redis(url: &str) -> Self {
        Self::Redis {
            url: url.to_owned(),
            prefix: unique_prefix(),
            tls_ca: None,
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

/// [`config`] with some keys changed (INI spelling, as `Config::set` takes them), for a
/// scenario that needs its own settings. Panics naming a key or value canister refuses.
///
/// ```
/// let config = tests::config_with(&[("session_timeout", "1"), ("session_locking", "true")]);
/// assert!(config.session.locking);
/// ```
pub fn config_with(settings: &[(&str, &str)]) -> Config {
    let mut config = config();
    for (key, value) in settings {
        config
            .set(key, value)
            .unwrap_or_else(|e| panic!("the suite's setting {key} = {value}: {e}"));
    }
    config
        .validate()
        .unwrap_or_else(|e| panic!("the suite's settings {settings:?}: {e}"));
    config
}

/// A directory of its own under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/canister-tests-<label>-<unique>`.
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "canister-tests-{label}-{}",
            unique_prefix().replace(':', "-").trim_end_matches('-')
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A demo application running in this process; stopped when dropped.
#[derive(Debug)]
pub struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    config: Option<Config>,
    /// The log [`Cell::start_with`] turned on for a scenario that runs without one, and the
    /// secrets that must not be in it: checked by [`stop`](Self::stop).
    audit: Option<(TempDir, Vec<String>)>,
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
            config: None,
            audit: None,
        }
    }

    /// The configuration the server was started with, when a [`Cell`] started it.
    pub fn config(&self) -> &Config {
        self.config
            .as_ref()
            .expect("a server started by Cell::start knows its configuration")
    }

    /// Stops the server and waits (10 s at most) until it has: connections closed, the
    /// application and its engine dropped, the log flushed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let stopped = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        assert!(
            matches!(stopped, Ok(Ok(()))),
            "{} did not stop cleanly within 10 s: {stopped:?}",
            self.base
        );
        if let Some((dir, secrets)) = self.audit.take() {
            audit_log(dir.path(), &secrets);
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

/// Panics if a log file in `dir` holds a session id (43 characters of base64url standing
/// alone: canister's ids have no other shape), any of `secrets` (as a whole word when it is
/// one), or no line at all (a log that was never written proves nothing).
pub fn audit_log(dir: &Path, secrets: &[String]) {
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).expect("the audited log directory") {
        let path = entry.expect("a log file").path();
        let text = std::fs::read_to_string(&path).expect("a readable log file");
        let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        for line in text.lines() {
            lines += 1;
            for secret in secrets {
                // A secret made of word characters is looked for as a whole word (a
                // `password` would be found in the banner's `auth_basic_password`), any
                // other anywhere.
                let found = if secret.chars().all(is_word_char) {
                    line.split(|c: char| !is_word_char(c))
                        .any(|word| word == secret)
                } else {
                    line.contains(secret.as_str())
                };
                assert!(
                    !found,
                    "a configured secret reached the log ({}): {line}",
                    path.display()
                );
            }
            let id_like = line
                .split(|c: char| !is_word_char(c))
                .find(|word| word.len() == 43);
            assert!(
                id_like.is_none(),
                "something shaped like a session id reached the log ({}): {line}",
                path.display()
            );
        }
    }
    assert!(lines > 0, "the audited log in {} is empty", dir.display());
}

/// What an adapter provides to the suite.
pub trait Adapter {
    /// The adapter's name in messages.
    const NAME: &'static str;

    /// Starts the adapter's demo on a free loopback port with `config` and `store`.
    fn start(config: Config, store: Store) -> impl Future<Output = Server> + Send + 'static {
        Self::start_on(config, store, None)
    }

    /// [`start`](Self::start), the engine reading time from `clock` when given (scenarios
    /// that move time by hand: [`Cell::use_test_clock`]).
    fn start_on(
        config: Config,
        store: Store,
        clock: Option<TestClock>,
    ) -> impl Future<Output = Server> + Send + 'static;
}

/// Builds the engine for `config` and `store` and hands it to `serve`, which is generic over
/// the store: `$serve(canister).await` for every kind.
///
/// A configuration naming an identity provider gets its keys from canister-oidc, as the
/// demos' `main` does: `.jwks(provider.keys())`, then the refresher spawned.
macro_rules! with_store {
    ($config:expr, $store:expr, $clock:expr, $serve:ident) => {{
        let config: Config = $config;
        let clock: Option<TestClock> = $clock;
        let provider = config.has_jwt_provider().then(|| {
            canister_oidc::Provider::from_config(&config).expect("the suite's identity provider")
        });
        let keys = provider.as_ref().map(canister_oidc::Provider::keys);
        let spawn = |canister_logger| {
            if let Some(provider) = provider {
                provider.spawn(canister_logger);
            }
        };
        match $store {
            Store::Memory => {
                let builder = Canister::builder().config(config);
                let builder = match keys {
                    Some(keys) => builder.jwks(keys),
                    None => builder,
                };
                let builder = match clock {
                    Some(clock) => builder.clock(clock),
                    None => builder,
                };
                let canister = builder.build().expect("the suite's engine");
                spawn(canister.logger());
                $serve(canister).await
            }
            Store::MemoryWithOutage(outage) => {
                let builder = Canister::builder()
                    .config(config)
                    .store(outage.wrap(canister_core::session::MemoryStore::new()));
                let builder = match keys {
                    Some(keys) => builder.jwks(keys),
                    None => builder,
                };
                let builder = match clock {
                    Some(clock) => builder.clock(clock),
                    None => builder,
                };
                let canister = builder.build().expect("the suite's engine");
                spawn(canister.logger());
                $serve(canister).await
            }
            Store::Redis {
                url,
                prefix,
                tls_ca,
            } => {
                // The constructor the demos and applications use, from the store settings
                // (the engine's configuration stays the scenario's).
                let mut settings = Config::default();
                settings
                    .set("session_store", &url)
                    .unwrap_or_else(|e| panic!("session_store = {url}: {e}"));
                settings.store.tls_ca = tls_ca;
                settings.store.prefix = prefix;
                let store = RedisStore::from_config(&settings)
                    .unwrap_or_else(|e| panic!("RedisStore::from_config({url}): {e}"));
                let builder = Canister::builder().config(config).store(store);
                let builder = match keys {
                    Some(keys) => builder.jwks(keys),
                    None => builder,
                };
                let builder = match clock {
                    Some(clock) => builder.clock(clock),
                    None => builder,
                };
                let canister = builder.build().expect("the suite's engine");
                spawn(canister.logger());
                $serve(canister).await
            }
        }
    }};
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

    fn start_on(
        config: Config,
        store: Store,
        clock: Option<TestClock>,
    ) -> impl Future<Output = Server> + Send + 'static {
        async fn serve<S: SessionStore>(canister: Canister<S>) -> Server {
            let (listener, base) = listener().await;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let app = axum_demo::router(canister.clone())
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
                // As the demo's main does after its graceful shutdown.
                canister.flush();
            });
            Server::new(base, stop, task)
        }
        async move { with_store!(config, store, clock, serve) }
    }
}

/// canister-rocket: the demo's `app` launched on port 0.
#[derive(Debug)]
pub struct Rocket;

impl Adapter for Rocket {
    const NAME: &'static str = "rocket";

    fn start_on(
        config: Config,
        store: Store,
        clock: Option<TestClock>,
    ) -> impl Future<Output = Server> + Send + 'static {
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
            let rocket = rocket_demo::app(canister.clone(), config)
                .attach(liftoff)
                .ignite()
                .await
                .expect("rocket ignites");
            let shutdown = rocket.shutdown();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                let launch = rocket.launch();
                tokio::pin!(launch);
                tokio::select! {
                    _ = &mut launch => {}
                    _ = stopped => {
                        shutdown.notify();
                        let _ = launch.await;
                    }
                }
                // As the demo's main does once Rocket has shut down.
                canister.flush();
            });
            let addr = tokio::time::timeout(Duration::from_secs(30), port_rx)
                .await
                .expect("rocket lifts off within 30 s")
                .expect("rocket reports its port");
            Server::new(format!("http://{addr}"), stop, task)
        }
        async move { with_store!(config, store, clock, serve) }
    }
}

/// canister-warp: the demo's own `serve` on a bound listener.
#[derive(Debug)]
pub struct Warp;

impl Adapter for Warp {
    const NAME: &'static str = "warp";

    fn start_on(
        config: Config,
        store: Store,
        clock: Option<TestClock>,
    ) -> impl Future<Output = Server> + Send + 'static {
        async fn serve<S: SessionStore>(canister: Canister<S>) -> Server {
            let (listener, base) = listener().await;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(warp_demo::serve(canister, listener, async {
                let _ = stopped.await;
            }));
            Server::new(base, stop, task)
        }
        async move { with_store!(config, store, clock, serve) }
    }
}

/// canister-actix: the demo's server, run by an actix system on a thread of its own (actix-web
/// runs its workers on single-threaded runtimes of their own).
#[derive(Debug)]
pub struct Actix;

impl Adapter for Actix {
    const NAME: &'static str = "actix";

    fn start_on(
        config: Config,
        store: Store,
        clock: Option<TestClock>,
    ) -> impl Future<Output = Server> + Send + 'static {
        async fn serve<S: SessionStore>(canister: Canister<S>) -> Server {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
            let base = format!(
                "http://{}",
                listener.local_addr().expect("the bound address")
            );
            let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
            let engine = canister.clone();
            let thread = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = actix_demo::server(engine, listener, 2).expect("actix listens");
                    let _ = handle_tx.send(server.handle());
                    let _ = server.await;
                });
            });
            let handle = handle_rx.await.expect("the actix server starts");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                let _ = stopped.await;
                handle.stop(false).await;
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
                // As the demo's main does once the server has stopped.
                canister.flush();
            });
            Server::new(base, stop, task)
        }
        async move { with_store!(config, store, clock, serve) }
    }
}

/// Expands every scenario of [`scenarios`] named in the list into one test per adapter ×
/// store: modules `axum_memory`, `axum_redis`, `rocket_memory`, … each holding one
/// `#[tokio::test]` per scenario.
///
/// A scenario runs with [`config`] unless its name is followed by `=> expression`, an
/// expression giving the [`Config`] for that scenario (evaluated inside the generated test
/// module, so name things by absolute path: `tests::…`, `crate::…`).
///
/// ```text
/// tests::conformance! {
///     counter,
///     lazy_session,
///     expiry => tests::config_with(&[("session_timeout", "1")]),
/// }
/// ```
#[macro_export]
macro_rules! conformance {
    (@config) => { $crate::config() };
    (@config $config:expr) => { $config };
    (@cell $module:ident, $adapter:ty, $store:ident; $($scenario:ident $(=> $config:expr)?),*) => {
        mod $module {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let cell = $crate::Cell::new::<$adapter>(
                        $crate::Fixture::$store().await,
                        $crate::conformance!(@config $($config)?),
                    );
                    $crate::Scenario::run($crate::scenarios::$scenario, cell).await;
                }
            )*
        }
    };
    (tls: $($scenario:ident $(=> $config:expr)?),* $(,)?) => {
        $crate::conformance!(@cell axum_redis_tls, $crate::Axum, redis_tls; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell rocket_redis_tls, $crate::Rocket, redis_tls; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell warp_redis_tls, $crate::Warp, redis_tls; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell actix_redis_tls, $crate::Actix, redis_tls; $($scenario $(=> $config)?),*);
    };
    ($($scenario:ident $(=> $config:expr)?),* $(,)?) => {
        $crate::conformance!(@cell axum_memory, $crate::Axum, memory; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell axum_redis, $crate::Axum, redis; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell rocket_memory, $crate::Rocket, memory; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell rocket_redis, $crate::Rocket, redis; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell warp_memory, $crate::Warp, memory; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell warp_redis, $crate::Warp, redis; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell actix_memory, $crate::Actix, memory; $($scenario $(=> $config)?),*);
        $crate::conformance!(@cell actix_redis, $crate::Actix, redis; $($scenario $(=> $config)?),*);
    };
}

/// Starts an adapter's server, type-erased so that a [`Cell`] can hold it.
type StartFn = fn(Config, Store, Option<TestClock>) -> Pin<Box<dyn Future<Output = Server> + Send>>;

fn start_boxed<A: Adapter>(
    config: Config,
    store: Store,
    clock: Option<TestClock>,
) -> Pin<Box<dyn Future<Output = Server> + Send>> {
    Box::pin(A::start_on(config, store, clock))
}

/// One test of the matrix: an adapter, a store ([`Fixture`]) and the scenario's
/// configuration.
#[derive(Debug)]
pub struct Cell {
    adapter: &'static str,
    start: StartFn,
    fixture: Fixture,
    config: Config,
    clock: Option<TestClock>,
}

impl Cell {
    /// The cell of adapter `A` on `fixture`'s store, starting servers with `config`.
    pub fn new<A: Adapter>(fixture: Fixture, config: Config) -> Self {
        Self {
            adapter: A::NAME,
            start: start_boxed::<A>,
            fixture,
            config,
            clock: None,
        }
    }

    /// From now on, servers this cell starts read time from the returned clock (one clock for
    /// all of them: two instances on one store agree on the time), which the scenario moves
    /// by hand: expiry without sleeping. Call it before starting servers.
    ///
    /// The engine's clock only: a Redis key's own time to live still runs on Redis's clock,
    /// so a scenario on the test clock asserts what the engine decides (a lifetime ended, a
    /// session cap), not what Redis expires.
    pub fn use_test_clock(&mut self) -> TestClock {
        let clock = TestClock::at(SystemTime::now());
        self.clock = Some(clock.clone());
        clock
    }

    /// Starts the adapter's demo with `config`, expecting start-up to fail: the panic message
    /// of the failed start (the engine's refusal, as the demos' `main` would print it).
    ///
    /// # Panics
    ///
    /// When the server starts.
    pub async fn start_refused(&self, config: Config) -> String {
        let start = (self.start)(config, self.fixture.store(), self.clock.clone());
        match tokio::spawn(start).await {
            Ok(server) => panic!("{} started, expected a refusal", server.base()),
            Err(e) => match e.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
                Err(e) => panic!("the start was cancelled: {e}"),
            },
        }
    }

    /// The adapter's name (`axum`, `rocket`, `warp`, `actix`).
    pub fn adapter(&self) -> &'static str {
        self.adapter
    }

    /// The configuration [`start`](Self::start) uses.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts the adapter's demo with the cell's configuration on the cell's store.
    pub async fn start(&self) -> Server {
        self.start_with(self.config.clone()).await
    }

    /// Starts the adapter's demo with `config` on the cell's store.
    ///
    /// A configuration without a log (`log_level = DISABLED`, the suite's default) gets one:
    /// DEBUG into a directory of its own, which [`Server::stop`] scans for session ids and
    /// the configuration's secrets of 8 characters or more ([`audit_log`]), so every
    /// scenario that stops its server also checks that nothing secret reached the log. [`Server::config`] still answers the
    /// configuration as given.
    pub async fn start_with(&self, config: Config) -> Server {
        let mut running = config.clone();
        let audit = if config.log.level.is_none() {
            let dir = TempDir::new("audit");
            running.log.level = Some(canister_core::log::Level::Debug);
            running.log.path = Some(dir.path().to_owned());
            // A secret that is a common word cannot be told from other text: the suite's JWT
            // secret is canister's example `secret`, also the demo's route `/secret`.
            let secrets = [&config.auth.basic.password, &config.auth.jwt.secret]
                .into_iter()
                .flatten()
                .map(|s| s.expose().to_owned())
                .filter(|s| s.len() >= 8)
                .collect();
            Some((dir, secrets))
        } else {
            None
        };
        let mut server = (self.start)(running, self.fixture.store(), self.clock.clone()).await;
        server.config = Some(config);
        server.audit = audit;
        server
    }

    /// The cell's store and what keeps it alive.
    pub fn fixture(&mut self) -> &mut Fixture {
        &mut self.fixture
    }
}

/// Marks a scenario run on a server the cell started: `async fn(&Server)`.
#[derive(Debug)]
pub enum OnServer {}

/// Marks a scenario that drives the cell itself: `async fn(&mut Cell)`.
#[derive(Debug)]
pub enum OnCell {}

/// A scenario [`conformance!`] can run: `async fn(&Server)` (kind [`OnServer`]) or
/// `async fn(&mut Cell)` (kind [`OnCell`]). The kind is inferred from the function's
/// signature, so both are listed the same way.
pub trait Scenario<Kind> {
    /// Runs the scenario in `cell`.
    fn run(self, cell: Cell) -> impl Future<Output = ()>;
}

impl<F> Scenario<OnServer> for F
where
    F: AsyncFnOnce(&Server),
{
    async fn run(self, cell: Cell) {
        let server = cell.start().await;
        self(&server).await;
        // Gracefully: flushes the log and audits it.
        server.stop().await;
        drop(cell);
    }
}

impl<F> Scenario<OnCell> for F
where
    F: AsyncFnOnce(&mut Cell),
{
    async fn run(self, mut cell: Cell) {
        self(&mut cell).await;
        drop(cell);
    }
}

/// The store of one test and whatever keeps it alive (a private `redis-server`).
#[derive(Debug)]
pub struct Fixture {
    store: Store,
    redis: Option<redis_server::Redis>,
}

impl Fixture {
    /// The in-memory store.
    #[allow(clippy::unused_async, reason = "same shape as `redis`, for the macro")]
    pub async fn memory() -> Self {
        Self {
            store: Store::Memory,
            redis: None,
        }
    }

    /// A Redis store: `REDIS_URL` if set, else a private `redis-server`.
    pub async fn redis() -> Self {
        let redis = redis_server::Redis::start().await;
        Self {
            store: Store::redis(redis.url()),
            redis: Some(redis),
        }
    }

    /// A Redis store over TLS: a private `redis-server` serving `rediss://` with a throwaway
    /// CA, trusted through `session_store_tls_ca` (whatever `REDIS_URL` says).
    pub async fn redis_tls() -> Self {
        let redis = redis_server::Redis::start_tls().await;
        Self {
            store: Store::Redis {
                url: redis.url().to_owned(),
                prefix: unique_prefix(),
                tls_ca: redis.tls_ca(),
            },
            redis: Some(redis),
        }
    }

    /// Replaces the store by one the test can take down and bring back, of the same kind:
    /// memory becomes a `MemoryStore` behind a [`FaultyStore`] switch, Redis a private
    /// `redis-server` that keeps its data across a kill and restart (also when `REDIS_URL` is
    /// set: that Redis is not ours to kill). Call it before starting servers.
    pub async fn make_breakable(&mut self) {
        match &self.store {
            Store::Memory | Store::MemoryWithOutage(_) => {
                self.store = Store::MemoryWithOutage(FaultyStore::memory());
            }
            Store::Redis { .. } => {
                let redis = redis_server::Redis::start_restartable().await;
                self.store = Store::redis(redis.url());
                self.redis = Some(redis);
            }
        }
    }

    /// Takes the store down: switches the outage on, or kills `redis-server`.
    pub fn take_down(&mut self) {
        match (&self.store, self.redis.as_mut()) {
            (Store::MemoryWithOutage(outage), _) => outage.fail(&StoreOp::ALL),
            (Store::Redis { .. }, Some(redis)) => redis.stop(),
            _ => panic!("Fixture::make_breakable first"),
        }
    }

    /// Brings the store back: switches the outage off, or restarts `redis-server` on the same
    /// port with the same data (waiting until it answers).
    pub async fn bring_back(&mut self) {
        match (&self.store, self.redis.as_mut()) {
            (Store::MemoryWithOutage(outage), _) => outage.heal(),
            (Store::Redis { .. }, Some(redis)) => redis.restart().await,
            _ => panic!("Fixture::make_breakable first"),
        }
    }

    /// The store to start a server with (the same store each call).
    pub fn store(&self) -> Store {
        self.store.clone()
    }
}

/// What tracing-subscriber's JSON formatter wrote in this process: one object per line,
/// each event with its span's fields (`span`), as the demos write them to standard error
/// with `log_sink = tracing`.
///
/// The first call installs that formatter as the process's global subscriber (targets
/// `canister`, `canister::app` and the demos' `demo`, every level), writing to memory.
/// Request ids are unique in the process, so a scenario picks its own requests' events by
/// `span.request_id` whatever other tests run beside it.
pub fn tracing_json() -> &'static JsonCapture {
    static CAPTURE: std::sync::OnceLock<JsonCapture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = JsonCapture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "canister=trace,canister::app=trace,demo=trace",
            ))
            .with_writer(move || writer.clone())
            .finish();
        // Not `try_init`: that also installs a `log` logger, which fails once Rocket (whose
        // 0.5 logs through `log`) has started a server in this process, whatever the order
        // the tests run in.
        let installed = tracing::subscriber::set_global_default(subscriber);
        assert!(
            installed.is_ok(),
            "another global tracing subscriber is installed: {installed:?}"
        );
        capture
    })
}

/// The lines a JSON subscriber wrote ([`tracing_json`]).
#[derive(Debug, Clone, Default)]
pub struct JsonCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl JsonCapture {
    /// Every JSON object written so far, in order (lines that are not JSON fail the test).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"))
            })
            .collect()
    }

    /// The events whose span (`span.request_id`) is the request `id`.
    pub fn of_request(&self, id: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["span"]["request_id"] == id)
            .collect()
    }
}

impl std::io::Write for JsonCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
