//! The Redis the Redis cells run on: `REDIS_URL` if set, else a private `redis-server` on a
//! free loopback port, killed when dropped. Never the system Redis on 6379.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canister_store_redis::RedisStore;

/// Environment variable naming an existing Redis for the suite (not a canister setting).
pub const REDIS_URL: &str = "REDIS_URL";

/// A Redis for one test.
#[derive(Debug)]
pub struct Redis {
    url: String,
    child: Option<Child>,
}

impl Redis {
    /// `REDIS_URL` if set and not empty, else a fresh `redis-server`. Panics saying what to
    /// install or set when neither works.
    pub async fn start() -> Self {
        if let Ok(url) = std::env::var(REDIS_URL) {
            if !url.is_empty() {
                let mut redis = Self { url, child: None };
                if let Err(error) = redis.wait_until_up(None).await {
                    panic!("{REDIS_URL}={} does not answer: {error}", redis.url);
                }
                return redis;
            }
        }
        let mut last = String::new();
        // A free port may be taken between our probe and redis-server's bind: try again.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .current_dir(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start redis-server ({e}): install Redis (redis-server on \
                         PATH) or set {REDIS_URL} to a Redis the suite may use"
                    )
                });
            let mut redis = Self {
                url: format!("redis://127.0.0.1:{port}"),
                child: Some(child),
            };
            match redis.wait_until_up(Some(port)).await {
                Ok(()) => return redis,
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

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
