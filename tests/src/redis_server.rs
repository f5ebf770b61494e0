//! The Redis the Redis cells run on: `REDIS_URL` if set, else a private `redis-server` on a
//! free loopback port, killed when dropped. Never the system Redis on 6379.
//!
//! [`Redis::start_tls`] always starts a private `redis-server` serving TLS only, with a
//! throwaway CA and server certificate made at run time (rcgen); its URL is `rediss://` and
//! [`Redis::tls_ca`] names the CA file clients must trust.
//!
//! [`Redis::start_restartable`] always starts a private `redis-server` (whatever `REDIS_URL`
//! says), with its data in an append-only file flushed at every write, so that a scenario can
//! kill it ([`Redis::stop`]) and start it again on the same port with the same data
//! ([`Redis::restart`]).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canister_store_redis::{RedisStore, TlsCertificates};

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
    /// The certificates of a TLS server (`ca.pem`, `server.pem`, `server.key`).
    tls: Option<TempDir>,
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
                    tls: None,
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
                child: Some(spawn(port, dir.as_ref().map(TempDir::path), None)),
                restartable: None,
                tls: None,
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

    /// A private `redis-server` that serves TLS only (no plain port), with certificates made
    /// now: `rediss://127.0.0.1:PORT`, trusting [`tls_ca`](Self::tls_ca).
    pub async fn start_tls() -> Self {
        let mut last = String::new();
        // A free port may be taken between our probe and redis-server's bind: try again.
        for _ in 0..5 {
            let certs = TempDir::new("redis-tls");
            write_certificates(certs.path());
            let port = free_port();
            let mut redis = Self {
                url: format!("rediss://127.0.0.1:{port}"),
                child: Some(spawn(0, None, Some((port, certs.path())))),
                restartable: None,
                tls: Some(certs),
            };
            match redis.wait_until_up(Some(port)).await {
                Ok(()) => return redis,
                Err(message) => last = message,
            }
            redis.kill();
        }
        panic!("redis-server (TLS) did not start: {last}");
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` for [`start_tls`](Self::start_tls)).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA file a client of a [`start_tls`](Self::start_tls) server trusts.
    pub fn tls_ca(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join("ca.pem"))
    }

    /// A store on this Redis (trusting its CA when it serves TLS).
    pub fn store(&self) -> RedisStore {
        let opened = match self.tls_ca() {
            Some(ca) => RedisStore::open_tls(
                &self.url,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(
                        std::fs::read(&ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display())),
                    ),
                },
            ),
            None => RedisStore::open(&self.url),
        };
        opened.unwrap_or_else(|e| panic!("{REDIS_URL}={}: {e}", self.url))
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
        self.child = Some(spawn(port, Some(dir.path()), None));
        if let Err(error) = self.wait_until_up(Some(port)).await {
            panic!("redis-server did not restart on port {port}: {error}");
        }
    }

    async fn wait_until_up(&mut self, port: Option<u16>) -> Result<(), String> {
        let store = self.store();
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
/// file in `dir`; with `tls` (`(tls_port, certificates directory)`), serving TLS there too.
fn spawn(port: u16, dir: Option<&Path>, tls: Option<(u16, &Path)>) -> Child {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""]);
    if let Some((tls_port, certs)) = tls {
        command
            .args(["--tls-port", &tls_port.to_string()])
            .arg("--tls-cert-file")
            .arg(certs.join("server.pem"))
            .arg("--tls-key-file")
            .arg(certs.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(certs.join("ca.pem"))
            .args(["--tls-auth-clients", "no"]);
    }
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

/// Writes a throwaway CA (`ca.pem`) and a server certificate it signed for `127.0.0.1` and
/// `localhost` (`server.pem`, `server.key`) into `dir`.
fn write_certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
    };
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "canister conformance CA");
    write("ca.pem", ca.self_signed(&ca_key).expect("the CA").pem());
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("a server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server parameters")
        .signed_by(&key, &issuer)
        .expect("the server certificate");
    write("server.pem", server.pem());
    write("server.key", key.serialize_pem());
}
