//! From configuration to clients: TLS files, Sentinel URLs, password masking.

use std::path::Path;

use canister_core::config::Config;
use canister_core::session::StoreError;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{ClientTlsConfig, ConnectionAddr, TlsCertificates, TlsMode};

/// Default port of a Redis Sentinel.
pub(crate) const SENTINEL_PORT: u16 = 26379;

/// The TLS settings of a configuration: CA file and client certificate, read now so that a
/// missing or unreadable file stops start-up with its key named.
pub(crate) fn tls_certificates(config: &Config) -> Result<Option<TlsCertificates>, StoreError> {
    let read = |key: &str, path: &Path| {
        std::fs::read(path).map_err(|e| {
            StoreError::unavailable(format!("{key}: cannot read {}", path.display()), e)
        })
    };
    let root_cert = match &config.store.tls_ca {
        Some(path) => Some(read("session_store_tls_ca", path)?),
        None => None,
    };
    let client_tls =
        match (&config.store.tls_cert, &config.store.tls_key) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read("session_store_tls_cert", cert)?,
                client_key: read("session_store_tls_key", key)?,
            }),
            (None, None) => None,
            _ => return Err(unavailable(
                "session_store_tls_cert and session_store_tls_key go together: set both or neither",
            )),
        };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// Makes rustls usable: installs its `ring` provider as the process default unless the
/// application installed one already.
pub(crate) fn install_crypto_provider() {
    // An error means a provider is installed already: that one is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether `url` asks for TLS (`rediss://`, `rediss+sentinel://`).
pub(crate) fn is_tls(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("rediss://") || lower.starts_with("rediss+sentinel://")
}

/// Whether `url` names Sentinels (`redis+sentinel://`, `rediss+sentinel://`).
pub(crate) fn is_sentinel(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("redis+sentinel://") || lower.starts_with("rediss+sentinel://")
}

/// A parsed `redis+sentinel://[user:password@]host[:port][,host2[:port2]…]/service[/db]`.
#[derive(PartialEq, Eq)]
pub(crate) struct SentinelUrl {
    pub(crate) tls: bool,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) hosts: Vec<(String, u16)>,
    pub(crate) service: String,
    pub(crate) db: i64,
}

impl std::fmt::Debug for SentinelUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelUrl")
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .field("hosts", &self.hosts)
            .field("service", &self.service)
            .field("db", &self.db)
            .finish()
    }
}

const SENTINEL_FORM: &str =
    "expected redis+sentinel://[user:password@]host[:port][,host2[:port2]...]/service_name[/db] \
     (rediss+sentinel:// for TLS)";

impl SentinelUrl {
    /// Parses the URL; the error masks the password.
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| {
            unavailable(format!(
                "session_store: invalid sentinel URL {:?}: {why}; {SENTINEL_FORM}",
                mask_password(url)
            ))
        };
        let (scheme, rest) = url
            .trim()
            .split_once("://")
            .ok_or_else(|| bad("no scheme"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "redis+sentinel" => false,
            "rediss+sentinel" => true,
            _ => return Err(bad("unknown scheme")),
        };
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no service name"))?;
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("the user info is not UTF-8 once percent-decoded"))
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = Some(decode(user)?).filter(|u| !u.is_empty());
                let password = password.map(decode).transpose()?.filter(|p| !p.is_empty());
                (user, password)
            }
        };
        let mut parsed_hosts = Vec::new();
        for host in hosts.split(',') {
            let host = host.trim();
            if host.is_empty() {
                return Err(bad("an empty host"));
            }
            let (name, port) = split_port(host).ok_or_else(|| bad("a port is not a number"))?;
            parsed_hosts.push((name.to_owned(), port.unwrap_or(SENTINEL_PORT)));
        }
        let mut parts = path.trim_end_matches('/').split('/');
        let service = parts.next().unwrap_or_default();
        if service.is_empty() {
            return Err(bad("no service name"));
        }
        let service = decode(service)?;
        let db = match parts.next() {
            None => 0,
            Some(db) => db
                .parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| bad("the database is not a number"))?,
        };
        if parts.next().is_some() {
            return Err(bad("too many path segments"));
        }
        Ok(Self {
            tls,
            username,
            password,
            hosts: parsed_hosts,
            service,
            db,
        })
    }

    /// A sentinel client builder for the master of the service. `certificates`: the CA and
    /// client certificate, used towards both the sentinels and the data nodes.
    pub(crate) fn builder(
        &self,
        certificates: Option<TlsCertificates>,
    ) -> Result<SentinelClientBuilder, StoreError> {
        let addrs = self.hosts.iter().map(|(host, port)| {
            if self.tls {
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host.clone(), *port)
            }
        });
        let mut builder =
            SentinelClientBuilder::new(addrs, &self.service, SentinelServerType::Master)
                .map_err(|e| unavailable(format!("session_store: sentinel: {e}")))?
                .set_client_to_redis_db(self.db);
        if let Some(user) = &self.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if self.tls {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
            if let Some(certs) = certificates {
                builder = builder
                    .set_client_to_redis_certificates(certs.clone())
                    .set_client_to_sentinel_certificates(certs);
            }
        }
        Ok(builder)
    }
}

/// `host[:port]` or `[v6]:port`.
fn split_port(host: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((name, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((name, None)),
            None => None,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => Some((name, Some(port.parse().ok()?))),
        None => Some((host, None)),
    }
}

pub(crate) fn unavailable(message: impl Into<String>) -> StoreError {
    StoreError::Unavailable {
        message: message.into(),
        source: None,
    }
}

/// The password part of a URL's user info, if any.
pub(crate) fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo.split_once(':').map(|(_, p)| p)
}

/// The URL with its password replaced by `********` (several URLs: each one).
pub(crate) fn mask_password(url: &str) -> String {
    url.split(',')
        .map(|one| match password_of(one).filter(|p| !p.is_empty()) {
            Some(password) => one.replacen(password, "********", 1),
            None => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `text` with every password of `url` (and its percent-decoded form) masked.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut text = text.to_owned();
    for one in url.split(',') {
        if let Some(password) = password_of(one).filter(|p| !p.is_empty()) {
            text = text.replace(password, "********");
            if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                if !decoded.is_empty() {
                    text = text.replace(decoded.as_ref(), "********");
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn sentinel_urls() {
        let url = SentinelUrl::parse("redis+sentinel://u:p%40ss@h1,h2:26380/mymaster/3").unwrap();
        assert!(!url.tls);
        assert_eq!(url.username.as_deref(), Some("u"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(
            url.hosts,
            vec![("h1".to_owned(), 26379), ("h2".to_owned(), 26380)]
        );
        assert_eq!(url.service, "mymaster");
        assert_eq!(url.db, 3);
        let url = SentinelUrl::parse("rediss+sentinel://[::1]:5000/svc").unwrap();
        assert!(url.tls);
        assert_eq!(url.hosts, vec![("::1".to_owned(), 5000)]);
        assert_eq!((url.service.as_str(), url.db), ("svc", 0));
        assert!(!format!("{url:?}").contains("p@ss"));
        for bad in [
            "redis+sentinel://h1",
            "redis+sentinel://h1/",
            "redis+sentinel://h1:x/svc",
            "redis+sentinel://h1,,h2/svc",
            "redis+sentinel://h1/svc/x",
            "redis+sentinel://h1/svc/1/2",
        ] {
            assert!(SentinelUrl::parse(bad).is_err(), "{bad}");
        }
        let err = SentinelUrl::parse("redis+sentinel://u:topsecret@h1:x/svc").unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn scrub_masks_every_password() {
        let url = "redis://:a1b2c3@h1,redis://u:p%40ss@h2";
        let text = scrub("failed on a1b2c3 and p@ss and p%40ss", url);
        assert!(!text.contains("a1b2c3") && !text.contains("p@ss") && !text.contains("p%40ss"));
        assert_eq!(
            mask_password(url),
            "redis://:********@h1,redis://u:********@h2"
        );
    }
}
