//! The Redis the Redis cells run on: `REDIS_URL` if set, else a private `redis-server` on a
//! free loopback port, killed when dropped. Never the system Redis on 6379.
//!
//! [`Redis::start_restartable`] always starts a private `redis-server` (whatever `REDIS_URL`
//! says), with its data in an append-only file flushed at every write, so that a scenario can
//! kill it ([`Redis::stop`]) and start it again on the same port with the same data
//! ([`Redis::restart`]).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canister_store_redis::RedisStore;

use crate::TempDir;

/// Environment variable naming an existing Redis for the suite (not a canister setting).
pub const REDIS_URL: &str = "REDIS_URL";

/// A Redis for one test.
#[derive(Debug)]
pub struct Redis {
    url: String,
    child: Option<Child>,
    /// Port and data directory of a restartable private server.
    restartable: Option<(u16, TempDir)>,
}

impl Redis {
    /// `REDIS_URL` if set and not empty, else a fresh `redis-server`. Panics saying what to
    /// install or set when neither works.
    pub async fn start() -> Self {
        if let Ok(url) = std::env::var(REDIS_URL) {
            if !url.is_empty() {
                let mut redis = Self {
                    url,
                    child: None,
                    restartable: None,
                };
                if let Err(error) = redis.wait_until_up(None).await {
                    panic!("{REDIS_URL}={} does not answer: {error}", redis.url);
                }
                return redis;
            }
        }
        Self::start_private(None).await
    }

    /// A private `redis-server` (even when `REDIS_URL` is set) that keeps its data across
    /// [`stop`](Self::stop) and [`restart`](Self::restart): append-only file in a directory
    /// of its own, `fsync` at every write.
    pub async fn start_restartable() -> Self {
        Self::start_private(Some(TempDir::new("redis"))).await
    }

    async fn start_private(dir: Option<TempDir>) -> Self {
        let mut last = String::new();
        // A free port may be taken between our probe and redis-server's bind: try again.
        for _ in 0..5 {
            let port = free_port();
            let mut redis = Self {
                url: format!("redis://127.0.0.1:{port}"),
                child: Some(spawn(port, dir.as_ref().map(TempDir::path))),
                restartable: None,
            };
            match redis.wait_until_up(Some(port)).await {
                Ok(()) => {
                    redis.restartable = dir.map(|dir| (port, dir));
                    return redis;
                }
                Err(message) => last = message,
            }
            redis.kill();
        }
        panic!("redis-server did not start: {last}");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills a server started by [`start_restartable`](Self::start_restartable) (`SIGKILL`:
    /// no goodbye to its clients). Its port and data stay for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        assert!(
            self.restartable.is_some(),
            "only a Redis from Redis::start_restartable may be stopped"
        );
        self.kill();
    }

    /// Starts the server again on the same port with the same data, and waits until it
    /// answers (10 s at most).
    pub async fn restart(&mut self) {
        let Some((port, dir)) = &self.restartable else {
            panic!("only a Redis from Redis::start_restartable may be restarted");
        };
        let port = *port;
        assert!(self.child.is_none(), "restart a Redis that was stopped");
        self.child = Some(spawn(port, Some(dir.path())));
        if let Err(error) = self.wait_until_up(Some(port)).await {
            panic!("redis-server did not restart on port {port}: {error}");
        }
    }

    async fn wait_until_up(&mut self, port: Option<u16>) -> Result<(), String> {
        let store =
            RedisStore::open(&self.url).unwrap_or_else(|e| panic!("{REDIS_URL}={}: {e}", self.url));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("exited with {status} on port {port:?}"));
                }
            }
            match tokio::time::timeout(Duration::from_secs(1), store.ping()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) if Instant::now() > deadline => return Err(error.to_string()),
                _ if Instant::now() > deadline => {
                    return Err(format!("no answer from {} in 10 s", self.url));
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `redis-server` on `127.0.0.1:port`: without persistence, or with an append-only
/// file in `dir`.
fn spawn(port: u16, dir: Option<&Path>) -> Child {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""]);
    match dir {
        Some(dir) => {
            command
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .arg("--dir")
                .arg(dir)
                .current_dir(dir);
        }
        None => {
            command
                .args(["--appendonly", "no"])
                .current_dir(std::env::temp_dir());
        }
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): install Redis (redis-server on PATH) or set \
                 {REDIS_URL} to a Redis the suite may use"
            )
        })
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
