//! Test harness: a private `redis-server` (or `REDIS_URL`), a Redis Cluster of six local
//! servers, and a proxy that counts the commands a client sends.
//!
//! Servers are started with `--save "" --appendonly no` on free loopback ports, each in its own
//! temporary directory, and killed when dropped. When `REDIS_URL` is set, [`Redis::start`] uses
//! that server instead (tests then separate themselves by key prefix); tests that must kill or
//! cluster servers always start their own. When a server is needed and `redis-server` cannot be
//! run, the test panics with a message saying what to install or set: it never skips.

#![allow(dead_code, reason = "each test file uses a part of the harness")]
#![allow(clippy::unwrap_used, reason = "test harness")]

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canister_core::session::StoreKey;
use canister_store_redis::RedisStore;
use redis::{Client, ConnectionAddr, IntoConnectionInfo};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Environment variable naming an existing Redis for the tests (not a canister setting).
pub(crate) const REDIS_URL: &str = "REDIS_URL";

/// The Redis a test talks to: its own server, or the one named by `REDIS_URL`.
pub(crate) struct Redis {
    url: String,
    server: Option<Server>,
}

impl Redis {
    /// `REDIS_URL` if set, else a fresh private server.
    pub(crate) fn start() -> Self {
        match std::env::var(REDIS_URL) {
            Ok(url) if !url.is_empty() => Self { url, server: None },
            _ => {
                let server = Server::start();
                Self {
                    url: server.url(),
                    server: Some(server),
                }
            }
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A store on this Redis with a prefix no other test uses.
    pub(crate) fn store(&self, test: &str) -> RedisStore {
        RedisStore::open(&self.url)
            .unwrap()
            .prefix(unique_prefix(test))
    }

    /// A plain connection for inspecting what the store wrote.
    pub(crate) async fn raw(&self) -> redis::aio::MultiplexedConnection {
        Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

/// A `redis-server` process of our own, killed on drop.
pub(crate) struct Server {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Server {
    /// Starts a server on a free port.
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server on a free port with extra command-line arguments.
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.restart();
        server
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`Server::kill`]).
    pub(crate) fn restart(&mut self) {
        self.kill();
        let mut args = vec![
            "--port".to_owned(),
            self.port.to_string(),
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "no".to_owned(),
            "--logfile".to_owned(),
            "redis.log".to_owned(),
        ];
        args.extend(self.extra.iter().cloned());
        self.child = Some(spawn_server(&args, self.dir.path()));
        wait_until_up(
            self.port,
            self.child.as_mut().unwrap(),
            &self.extra,
            self.dir.path(),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of 3 masters and 3 replicas on loopback ports, torn down on drop.
pub(crate) struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    pub(crate) fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let bus = free_port();
            nodes.push(Server::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
                "--cluster-port",
                &bus.to_string(),
            ]));
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let output = create
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): install redis-tools"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// Waits until every node reports `cluster_state:ok`.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let client = Client::open(node.url()).unwrap();
                let state: Option<String> = client
                    .get_connection()
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query(&mut c))
                    .ok();
                if state.is_some_and(|s| s.contains("cluster_state:ok")) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "cluster did not become ok in 30 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A TCP proxy in front of a Redis server that counts the commands clients send through it
/// (each RESP array is one command). Pipelined commands count one each, so the count is an
/// upper bound of the round trips.
pub(crate) struct CountingProxy {
    port: u16,
    commands: Arc<AtomicUsize>,
    upstream: redis::ConnectionInfo,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Starts the proxy in front of the Redis at `url` (TCP only).
    pub(crate) async fn start(url: &str) -> Self {
        let upstream = url.into_connection_info().unwrap();
        let target = match upstream.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => panic!("the counting proxy needs a TCP Redis, got {other:?}"),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let commands = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&commands);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = target.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upstream = async {
                        let mut parser = RespCounter::default();
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            counter.fetch_add(parser.feed(&buf[..n]), Ordering::SeqCst);
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = server_write.shutdown().await;
                    };
                    let downstream = async {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(upstream, downstream);
                });
            }
        });
        Self {
            port,
            commands,
            upstream,
            task,
        }
    }

    /// A store that talks to Redis through this proxy.
    pub(crate) fn store(&self, test: &str) -> RedisStore {
        let info = self
            .upstream
            .clone()
            .set_addr(ConnectionAddr::Tcp("127.0.0.1".to_owned(), self.port));
        RedisStore::from_client(Client::open(info).unwrap()).prefix(unique_prefix(test))
    }

    /// Commands sent through the proxy since the last call.
    pub(crate) fn take(&self) -> usize {
        self.commands.swap(0, Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts complete RESP commands (`*<n>` arrays of `$<len>` bulk strings) in a byte stream.
#[derive(Default)]
struct RespCounter {
    buf: Vec<u8>,
}

impl RespCounter {
    fn feed(&mut self, bytes: &[u8]) -> usize {
        self.buf.extend_from_slice(bytes);
        let mut count = 0;
        while let Some(used) = command_len(&self.buf) {
            self.buf.drain(..used);
            count += 1;
        }
        count
    }
}

/// The length of the first complete command in `buf`, if it is complete.
fn command_len(buf: &[u8]) -> Option<usize> {
    let (header, mut pos) = line(buf, 0)?;
    let items: usize = header.strip_prefix(b"*")?.iter().try_fold(0usize, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })?;
    for _ in 0..items {
        let (len_line, next) = line(buf, pos)?;
        let len: usize = std::str::from_utf8(len_line.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        pos = next + len + 2;
        if pos > buf.len() {
            return None;
        }
    }
    Some(pos)
}

/// The line starting at `from` (without CRLF) and the position after its CRLF.
fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(from..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..end], from + end + 2))
}

/// A prefix no other test (or test run) shares.
pub(crate) fn unique_prefix(test: &str) -> String {
    format!("test:{test}:{}:", hex(&random_bytes::<6>()))
}

/// A session id as canister issues them (32 random bytes, base64url) and its store key.
pub(crate) fn new_session() -> (String, StoreKey) {
    use base64::Engine as _;
    use sha2::Digest as _;

    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let key = StoreKey::from_bytes(sha2::Sha256::digest(id.as_bytes()).into());
    (id, key)
}

/// A random store key.
pub(crate) fn new_key() -> StoreKey {
    new_session().1
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).unwrap();
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A port that was free a moment ago (and whose cluster bus port, +10000, is also in range).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 {
            return port;
        }
    }
}

fn spawn_server(args: &[String], dir: &Path) -> Child {
    Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): install Redis (redis-server on PATH) or set \
                 {REDIS_URL} to a Redis the tests may use"
            )
        })
}

fn wait_until_up(port: u16, child: &mut Child, extra: &[String], dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let password = extra
        .iter()
        .position(|a| a == "--requirepass")
        .and_then(|i| extra.get(i + 1));
    let url = match password {
        Some(p) => format!("redis://:{p}@127.0.0.1:{port}"),
        None => format!("redis://127.0.0.1:{port}"),
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut out = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut out);
            }
            panic!("redis-server exited with {status} on port {port}:\n{out}");
        }
        let pong: Option<String> = Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query(&mut c))
            .ok();
        if pong.as_deref() == Some("PONG") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not answer in 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
