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

use canister_core::session::{SessionStore as _, StoreKey};
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

/// Throwaway certificates, made at run time in a temporary directory: a CA, a server
/// certificate it signed (for `localhost` and `127.0.0.1`), a client certificate it signed,
/// and an unrelated CA (`other-ca.pem`) that signed nothing the server holds.
pub(crate) struct Tls {
    dir: TempDir,
}

impl Tls {
    pub(crate) fn generate() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (cert, Issuer::new(params, key))
        };
        let (ca_cert, issuer) = ca("canister test CA");
        write("ca.pem", ca_cert.pem());
        let (other_cert, _) = ca("some other CA");
        write("other-ca.pem", other_cert.pem());
        let leaf =
            |names: Vec<String>, usage: Vec<ExtendedKeyUsagePurpose>, cert: &str, key: &str| {
                let key_pair = KeyPair::generate().unwrap();
                let mut params = CertificateParams::new(names).unwrap();
                params.distinguished_name.push(DnType::CommonName, cert);
                params.extended_key_usages = usage;
                let signed = params.signed_by(&key_pair, &issuer).unwrap();
                write(cert, signed.pem());
                write(key, key_pair.serialize_pem());
            };
        leaf(
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            // Also a client's: cluster nodes present it to each other on the TLS bus.
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            "server.pem",
            "server.key",
        );
        leaf(
            vec!["canister-client".to_owned()],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            "client.pem",
            "client.key",
        );
        Self { dir }
    }

    /// `ca.pem`, `other-ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`.
    pub(crate) fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// `redis-server` arguments serving TLS on `port` with these certificates; clients must
    /// present a certificate of the CA when `client_certs`.
    pub(crate) fn server_args(&self, port: u16, client_certs: bool) -> Vec<String> {
        let p = |n: &str| self.path(n).display().to_string();
        vec![
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            p("server.pem"),
            "--tls-key-file".to_owned(),
            p("server.key"),
            "--tls-ca-cert-file".to_owned(),
            p("ca.pem"),
            "--tls-auth-clients".to_owned(),
            if client_certs { "yes" } else { "no" }.to_owned(),
        ]
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
        Self::start_with_owned(extra.iter().map(|s| (*s).to_owned()).collect())
    }

    pub(crate) fn start_with_owned(extra: Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            extra,
        };
        server.restart();
        server
    }

    /// A replica of `master`.
    pub(crate) fn replica_of(master: &Server) -> Self {
        Self::start_with_owned(vec![
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            master.port().to_string(),
        ])
    }

    /// A server that also serves TLS with `tls`'s certificates, on the port it returns
    /// (its plain port stays open on loopback for the test's own checks).
    pub(crate) fn start_tls(tls: &Tls, client_certs: bool) -> (Self, u16) {
        let tls_port = free_port();
        (
            Self::start_with_owned(tls.server_args(tls_port, client_certs)),
            tls_port,
        )
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
            // Replicas sync at once instead of waiting 5 s for others to join.
            "--repl-diskless-sync-delay".to_owned(),
            "0".to_owned(),
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
    tls_ports: Vec<u16>,
}

impl Cluster {
    pub(crate) fn start() -> Self {
        Self::start_with_timeout(5000, 1)
    }

    /// A cluster of 3 masters with `replicas` replicas each, whose nodes declare a silent
    /// node failed after `node_timeout_ms`.
    pub(crate) fn start_with_timeout(node_timeout_ms: u32, replicas: usize) -> Self {
        Self::start_inner(node_timeout_ms, replicas, None)
    }

    /// A cluster (3 masters, 1 replica each) whose nodes also serve TLS with `tls`'s
    /// certificates and talk TLS to each other; [`Cluster::tls_urls`] names the TLS ports.
    pub(crate) fn start_tls(tls: &Tls) -> Self {
        Self::start_inner(5000, 1, Some(tls))
    }

    fn start_inner(node_timeout_ms: u32, replicas: usize, tls: Option<&Tls>) -> Self {
        let node_timeout = node_timeout_ms.to_string();
        let mut nodes = Vec::new();
        let mut tls_ports = Vec::new();
        for _ in 0..3 * (1 + replicas) {
            let bus = free_port();
            let mut args: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &node_timeout,
                "--cluster-port",
                &bus.to_string(),
                // The other masters keep serving their slots while one is failing over.
                "--cluster-require-full-coverage",
                "no",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            if let Some(tls) = tls {
                let port = free_port();
                tls_ports.push(port);
                args.extend(tls.server_args(port, false));
                args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
            }
            nodes.push(Server::start_with_owned(args));
        }
        let mut create = Command::new("redis-cli");
        if let Some(tls) = tls {
            // Over TLS the nodes know each other by their TLS ports: create it through them.
            create.arg("--tls").arg("--cacert").arg(tls.path("ca.pem"));
            create.arg("--cluster").arg("create");
            for port in &tls_ports {
                create.arg(format!("127.0.0.1:{port}"));
            }
        } else {
            create.arg("--cluster").arg("create");
            for node in &nodes {
                create.arg(format!("127.0.0.1:{}", node.port()));
            }
        }
        create.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
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
        let cluster = Self { nodes, tls_ports };
        cluster.wait_until_ok();
        cluster
    }

    /// `rediss://127.0.0.1:TLS_PORT` of every node of a [`Cluster::start_tls`] cluster.
    pub(crate) fn tls_urls(&self) -> Vec<String> {
        self.tls_ports
            .iter()
            .map(|p| format!("rediss://127.0.0.1:{p}"))
            .collect()
    }

    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// The node serving `key` as master, as the first node that answers sees it.
    pub(crate) fn master_of(&self, key: &str) -> usize {
        for node in &self.nodes {
            let Ok(mut conn) = Client::open(node.url()).unwrap().get_connection() else {
                continue;
            };
            let Ok(slot) = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query::<i64>(&mut conn)
            else {
                continue;
            };
            let Ok(shards) = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query::<Vec<Vec<redis::Value>>>(&mut conn)
            else {
                continue;
            };
            for shard in shards {
                let (Some(redis::Value::Int(from)), Some(redis::Value::Int(to))) =
                    (shard.first(), shard.get(1))
                else {
                    continue;
                };
                if !(*from..=*to).contains(&slot) {
                    continue;
                }
                if let Some(redis::Value::Array(master)) = shard.get(2) {
                    if let Some(redis::Value::Int(port)) = master.get(1) {
                        if let Some(i) =
                            self.nodes.iter().position(|n| i64::from(n.port()) == *port)
                        {
                            return i;
                        }
                    }
                }
            }
        }
        panic!("no node says which master serves {key}");
    }

    /// Kills node `i` (SIGKILL).
    pub(crate) fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Waits until every node reports `cluster_state:ok` and every replica is in sync.
    fn wait_until_ok(&self) {
        self.wait_until_cluster_ok();
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info: String = Client::open(node.url())
                    .unwrap()
                    .get_connection()
                    .and_then(|mut c| redis::cmd("INFO").arg("replication").query(&mut c))
                    .unwrap_or_default();
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica not in sync in 30 s:\n{info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn wait_until_cluster_ok(&self) {
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

/// A master, replicas and one sentinel watching them as service `canister`: the sentinel
/// declares the master down after 1 s without an answer and promotes the replica.
pub(crate) struct SentinelSet {
    pub(crate) master: Server,
    pub(crate) replicas: Vec<Server>,
    sentinel: Option<Child>,
    sentinel_port: u16,
    tls: bool,
    _dir: TempDir,
}

impl SentinelSet {
    /// With `n` replicas.
    pub(crate) fn start(n: usize) -> Self {
        Self::start_inner(n, None)
    }

    /// Everything over TLS with `tls`'s certificates: the master and its replica serve TLS
    /// and replicate over it, the sentinel serves TLS (`sentinel_tls_port`) and watches the
    /// master's TLS port, so the sentinel answers TLS addresses.
    pub(crate) fn start_tls(tls: &Tls) -> Self {
        Self::start_inner(1, Some(tls))
    }

    fn start_inner(n: usize, tls: Option<&Tls>) -> Self {
        let tls_args = |port: u16| -> Vec<String> {
            let mut args = tls.map(|t| t.server_args(port, false)).unwrap_or_default();
            if tls.is_some() {
                args.extend(["--tls-replication".to_owned(), "yes".to_owned()]);
            }
            args
        };
        let master_tls = free_port();
        let master = Server::start_with_owned(tls_args(master_tls));
        let master_port = if tls.is_some() {
            master_tls
        } else {
            master.port()
        };
        let replicas = (0..n)
            .map(|_| {
                let mut args = tls_args(free_port());
                args.extend([
                    "--replicaof".to_owned(),
                    "127.0.0.1".to_owned(),
                    master_port.to_string(),
                ]);
                Server::start_with_owned(args)
            })
            .collect();
        wait_for_replicas(&master, n);
        let dir = tempfile::tempdir().unwrap();
        let sentinel_port = free_port();
        let conf = dir.path().join("sentinel.conf");
        let sentinel_tls = match tls {
            Some(tls) => format!(
                "tls-port {}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients no\ntls-replication yes\n",
                sentinel_port,
                tls.path("server.pem").display(),
                tls.path("server.key").display(),
                tls.path("ca.pem").display(),
            ),
            None => String::new(),
        };
        let plain_port = if tls.is_some() {
            free_port()
        } else {
            sentinel_port
        };
        std::fs::write(
            &conf,
            format!(
                "port {plain_port}\nbind 127.0.0.1\nlogfile sentinel.log\n{sentinel_tls}\
                 sentinel monitor canister 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds canister 1000\n\
                 sentinel failover-timeout canister 10000\n\
                 sentinel parallel-syncs canister 1\n"
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server --sentinel ({e})"));
        let set = Self {
            master,
            replicas,
            sentinel: Some(child),
            sentinel_port,
            tls: tls.is_some(),
            _dir: dir,
        };
        // Ready once the sentinel knows the master and its replica.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let replicas: Option<Vec<redis::Value>> =
                Client::open(format!("redis://127.0.0.1:{plain_port}"))
                    .unwrap()
                    .get_connection()
                    .and_then(|mut c| {
                        redis::cmd("SENTINEL")
                            .arg("REPLICAS")
                            .arg("canister")
                            .query(&mut c)
                    })
                    .ok();
            if replicas.is_some_and(|r| !r.is_empty()) {
                break;
            }
            assert!(Instant::now() < deadline, "sentinel not ready in 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        set
    }

    /// `redis+sentinel://127.0.0.1:PORT/canister` (`rediss+sentinel://` over TLS).
    pub(crate) fn url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}/canister",
            if self.tls {
                "rediss+sentinel"
            } else {
                "redis+sentinel"
            },
            self.sentinel_port
        )
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        if let Some(mut child) = self.sentinel.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `master` reports `n` connected replicas in sync.
pub(crate) fn wait_for_replicas(master: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = Client::open(master.url())
            .unwrap()
            .get_connection()
            .and_then(|mut c| redis::cmd("INFO").arg("replication").query(&mut c))
            .unwrap_or_default();
        let online = info.matches("state=online").count();
        if online >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{online} of {n} replicas online after 20 s:\n{info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP proxy in front of a Redis server that counts the commands clients send through it
/// (each RESP array is one command). Pipelined commands count one each, so the count is an
/// upper bound of the round trips.
pub(crate) struct CountingProxy {
    port: u16,
    commands: Arc<AtomicUsize>,
    /// Reads from a client that held at least one command: on loopback, one per write the
    /// client made, so a pipeline counts once (an estimate of round trips).
    batches: Arc<AtomicUsize>,
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
        let batches = Arc::new(AtomicUsize::new(0));
        let batch_counter = Arc::clone(&batches);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = target.clone();
                let counter = Arc::clone(&counter);
                let batch_counter = Arc::clone(&batch_counter);
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
                            let complete = parser.feed(&buf[..n]);
                            counter.fetch_add(complete, Ordering::SeqCst);
                            if complete > 0 {
                                batch_counter.fetch_add(1, Ordering::SeqCst);
                            }
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
            batches,
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
        self.batches.swap(0, Ordering::SeqCst);
        self.commands.swap(0, Ordering::SeqCst)
    }

    /// Commands and batches (see `batches`) sent since the last call.
    pub(crate) fn take_both(&self) -> (usize, usize) {
        (
            self.commands.swap(0, Ordering::SeqCst),
            self.batches.swap(0, Ordering::SeqCst),
        )
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

/// A change setting `n`.
pub(crate) fn set_n(n: i64) -> canister_core::session::Change {
    canister_core::session::Change {
        set: vec![("n".to_owned(), n.into())],
        ..canister_core::session::Change::default()
    }
}

const FAILOVER_TTL: Option<Duration> = Some(Duration::from_secs(600));

/// What a failover did to the sessions under load.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// From the first failed operation to the last one.
    pub(crate) window: Duration,
    /// From the kill to the first success after the last failure.
    pub(crate) recovery: Duration,
    pub(crate) failures: usize,
    pub(crate) lost_acknowledged: usize,
    /// The sessions that saw at least one failure.
    pub(crate) failed_sessions: Vec<usize>,
    /// The sessions the failover reset (a save answered "gone"): their acknowledged writes
    /// count as lost. Possible without `session_store_replicas` (Redis replicates
    /// asynchronously); the tests with replicas assert there are none.
    pub(crate) reset_sessions: Vec<usize>,
}

/// Saves in a loop over `sessions`, kills via `kill` after a warm-up, and goes on until
/// service has been back for 200 operations. Counts the sessions reset (a save answering
/// "gone") and the acknowledged writes the survivors do not hold.
pub(crate) async fn failover_under_load(
    store: &RedisStore,
    sessions: &[StoreKey],
    kill: impl FnOnce(),
) -> Outcome {
    let mut acked = vec![0i64; sessions.len()];
    let mut kill = Some(kill);
    let mut killed_at = None;
    let mut first_failure: Option<Instant> = None;
    let mut last_failure: Option<Instant> = None;
    let mut back_at: Option<Instant> = None;
    let mut failures = 0;
    let mut ok_since_failure = 0;
    let mut op = 0usize;
    let mut failed_sessions = Vec::new();
    let mut reset_sessions: Vec<usize> = Vec::new();
    loop {
        let i = op % sessions.len();
        op += 1;
        if reset_sessions.contains(&i) {
            continue;
        }
        if op == 300 {
            if let Some(kill) = kill.take() {
                kill();
                killed_at = Some(Instant::now());
            }
        }
        match store
            .save(&sessions[i], &set_n(acked[i] + 1), FAILOVER_TTL)
            .await
        {
            Ok(true) => {
                acked[i] += 1;
                if last_failure.is_some() && back_at.is_none() {
                    back_at = Some(Instant::now());
                }
                ok_since_failure += 1;
            }
            Ok(false) => {
                eprintln!("session {i} was reset by the failover");
                reset_sessions.push(i);
            }
            Err(e) => {
                failures += 1;
                if !failed_sessions.contains(&i) {
                    failed_sessions.push(i);
                }
                let now = Instant::now();
                first_failure.get_or_insert(now);
                last_failure = Some(now);
                back_at = None;
                ok_since_failure = 0;
                if failures % 20 == 1 {
                    eprintln!("failure {failures}: {e}");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if killed_at.is_some() && back_at.is_some() && ok_since_failure >= 200 {
            break;
        }
        let since = killed_at.map_or(Duration::ZERO, |k| k.elapsed());
        assert!(
            since < Duration::from_secs(60),
            "service did not return within 60 s of the kill"
        );
    }
    let killed_at = killed_at.unwrap();
    let mut lost = 0;
    for (i, key) in sessions.iter().enumerate() {
        if reset_sessions.contains(&i) {
            lost += usize::try_from(acked[i]).unwrap();
            continue;
        }
        let record = store
            .load(key, FAILOVER_TTL)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("session {i} is gone after the failover"));
        let n = record.data["n"].as_i64().unwrap();
        // A failed save may have been applied (acked + 1); fewer is a lost acknowledged write.
        if n < acked[i] {
            lost += usize::try_from(acked[i] - n).unwrap();
        }
    }
    Outcome {
        window: match (first_failure, last_failure) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        },
        recovery: back_at.map_or(Duration::ZERO, |b| b - killed_at),
        failures,
        lost_acknowledged: lost,
        failed_sessions,
        reset_sessions,
    }
}
