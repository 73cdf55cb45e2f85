//! Configuring a [`RedisStore`]: URLs for every deployment, or a builder.
//!
//! | URL | deployment |
//! |---|---|
//! | `redis://[user:pass@]host:port[/db]` | one server |
//! | `rediss://…` | one server over TLS (rustls, system roots or [`RedisStoreBuilder::tls_root_cert`]) |
//! | `redis+cluster://[user:pass@]h1:p1,h2:p2[,…]` (`rediss+cluster://` for TLS) | Redis Cluster, seed nodes |
//! | `redis+sentinel://[user:pass@]s1:p1,s2:p2[,…]/master-name[?db=N]` | Sentinel-managed master |
//!
//! authstore's own query parameters, accepted on every form: `prefix`
//! (default `authstore:`), `timeout_ms` (per command, default 2000),
//! `connect_timeout_ms` (default 5000). Other parameters (such as
//! `protocol=resp3`) are passed to redis-rs.

use std::sync::Arc;
use std::time::Duration;

use super::conn::{Conn, Timeouts};
use super::{ClientCounters, RedisStore};
use crate::error::{Error, Result};
use crate::key::{DEFAULT_MAX_VALUE_SIZE, validate_prefix};
use crate::url_redact::redact_url;

/// Default key prefix of a Redis store.
pub const DEFAULT_PREFIX: &str = "authstore:";

#[derive(Debug, Clone)]
enum Deployment {
    Single(String),
    Cluster(Vec<String>),
    Sentinel {
        sentinels: Vec<String>,
        master: String,
        db: i64,
        username: Option<String>,
        password: Option<String>,
        tls: bool,
    },
}

/// Configures and connects a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    url: Option<String>,
    deployment: Option<Deployment>,
    prefix: String,
    command_timeout: Duration,
    connect_timeout: Duration,
    max_value_size: usize,
    tls_root_cert: Option<Vec<u8>>,
    error: Option<String>,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            url: None,
            deployment: None,
            prefix: DEFAULT_PREFIX.into(),
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            tls_root_cert: None,
            error: None,
        }
    }
}

impl RedisStoreBuilder {
    /// Sets the deployment and options from a URL (see the module docs).
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(redact_url(url));
        match parse_url(url) {
            Ok((deployment, params)) => {
                self.deployment = Some(deployment);
                for (name, value) in params {
                    let ms = value.parse::<u64>().map(Duration::from_millis);
                    match (name.as_str(), ms) {
                        ("prefix", _) => self.prefix = value,
                        ("timeout_ms", Ok(d)) => self.command_timeout = d,
                        ("connect_timeout_ms", Ok(d)) => self.connect_timeout = d,
                        (other, _) => self.error = Some(format!("bad value for {other}")),
                    }
                }
            }
            Err(reason) => self.error = Some(reason),
        }
        self
    }

    /// Seed nodes of a Redis Cluster (`redis://host:port` each).
    pub fn cluster_nodes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, nodes: I) -> Self {
        self.deployment = Some(Deployment::Cluster(
            nodes.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Key prefix (default `authstore:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Deadline of every command; a command past it fails with [`Error::Timeout`].
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Deadline of each connection attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Largest value accepted (default 1 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// A PEM root certificate to trust for `rediss://` instead of the system roots.
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_cert = Some(pem.into());
        self
    }

    /// Connects. Nothing is sent but the connection handshake and a `PING`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad URL or option, [`Error::Backend`] if
    /// the server cannot be reached, [`Error::PermissionDenied`] if the ACL
    /// user may not log in.
    pub async fn connect(self) -> Result<RedisStore> {
        let shown = self.url.clone().unwrap_or_default();
        let invalid = |reason: String| Error::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        if let Some(reason) = self.error.clone() {
            return Err(invalid(reason));
        }
        validate_prefix(&self.prefix)?;
        // rustls needs a process-wide crypto provider for `rediss://`; install
        // ring's unless the application already chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let deployment = self
            .deployment
            .clone()
            .ok_or_else(|| invalid("no Redis URL or cluster nodes given".into()))?;
        let t = Timeouts {
            connect: self.connect_timeout,
            response: self.command_timeout,
        };
        let certs = || redis::TlsCertificates {
            client_tls: None,
            root_cert: self.tls_root_cert.clone(),
        };
        let connecting = async {
            match deployment {
                Deployment::Single(url) => {
                    let client = match &self.tls_root_cert {
                        Some(_) => redis::Client::build_with_tls(url.as_str(), certs())?,
                        None => redis::Client::open(url.as_str())?,
                    };
                    Conn::single(client, t).await
                }
                Deployment::Cluster(nodes) => {
                    let mut builder = redis::cluster::ClusterClientBuilder::new(nodes);
                    if self.tls_root_cert.is_some() {
                        builder = builder.certs(certs());
                    }
                    Conn::cluster(builder, t).await
                }
                Deployment::Sentinel {
                    sentinels,
                    master,
                    db,
                    username,
                    password,
                    tls,
                } => {
                    let mut info = redis::RedisConnectionInfo::default().set_db(db);
                    if let Some(u) = username {
                        info = info.set_username(u);
                    }
                    if let Some(p) = password {
                        info = info.set_password(p);
                    }
                    let mut node = redis::sentinel::SentinelNodeConnectionInfo::default()
                        .set_redis_connection_info(info);
                    if tls {
                        node = node.set_tls_mode(redis::TlsMode::Secure);
                    }
                    let client = redis::sentinel::SentinelClient::build(
                        sentinels,
                        master,
                        Some(node),
                        redis::sentinel::SentinelServerType::Master,
                    )?;
                    Conn::sentinel(client).await
                }
            }
        };
        let conn = match tokio::time::timeout(self.connect_timeout * 2, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(super::map_error(None, e)),
            Err(_) => {
                return Err(Error::Timeout {
                    backend: super::BACKEND,
                    after: self.connect_timeout * 2,
                });
            }
        };
        let store = RedisStore {
            conn,
            prefix: self.prefix.into(),
            timeout: self.command_timeout,
            max_value_size: self.max_value_size,
            counters: Arc::new(ClientCounters::default()),
        };
        let mut c = store.conn.clone();
        let _: String = store
            .exec(None, redis::cmd("PING").query_async(&mut c))
            .await?;
        Ok(store)
    }
}

type Params = Vec<(String, String)>;

/// Splits a URL into the deployment and authstore's own query parameters.
fn parse_url(url: &str) -> std::result::Result<(Deployment, Params), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "expected scheme://…".to_string())?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut ours = Vec::new();
    let mut passthrough = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "prefix" | "timeout_ms" | "connect_timeout_ms" => {
                let v = url::form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                ours.push((k.to_owned(), v));
            }
            _ => passthrough.push(pair),
        }
    }
    let suffix = if passthrough.is_empty() {
        String::new()
    } else {
        format!("?{}", passthrough.join("&"))
    };
    let (userinfo, hosts_and_path) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (hosts, path) = hosts_and_path
        .split_once('/')
        .unwrap_or((hosts_and_path, ""));
    let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return Err("no host given".into());
    }
    let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let deployment = match scheme {
        "redis" | "rediss" => {
            if hosts.len() != 1 {
                return Err("several hosts need redis+cluster:// or redis+sentinel://".into());
            }
            Deployment::Single(format!("{scheme}://{auth}{}/{path}{suffix}", hosts[0]))
        }
        "redis+cluster" | "rediss+cluster" => {
            let base = scheme.trim_end_matches("+cluster");
            Deployment::Cluster(
                hosts
                    .iter()
                    .map(|h| format!("{base}://{auth}{h}{suffix}"))
                    .collect(),
            )
        }
        "redis+sentinel" | "rediss+sentinel" => {
            let master = path.trim_matches('/');
            if master.is_empty() {
                return Err("redis+sentinel:// needs the master name as the path".into());
            }
            let db = query
                .split('&')
                .find_map(|p| p.strip_prefix("db="))
                .map(|d| {
                    d.parse::<i64>()
                        .map_err(|_| "db must be an integer".to_string())
                })
                .transpose()?
                .unwrap_or(0);
            let (username, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, "")))
            {
                Some((u, p)) => (
                    (!u.is_empty()).then(|| decode(u)),
                    (!p.is_empty()).then(|| decode(p)),
                ),
                None => (None, None),
            };
            let tls = scheme.starts_with("rediss");
            let base = if tls { "rediss" } else { "redis" };
            Deployment::Sentinel {
                sentinels: hosts.iter().map(|h| format!("{base}://{h}")).collect(),
                master: master.to_owned(),
                db,
                username,
                password,
                tls,
            }
        }
        other => return Err(format!("{other}:// is not a Redis URL")),
    };
    Ok((deployment, ours))
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_url_form() {
        let (d, p) =
            parse_url("redis://u:p@h:1/2?prefix=app%3A&timeout_ms=50&protocol=resp3").unwrap();
        assert!(
            matches!(d, Deployment::Single(ref u) if u == "redis://u:p@h:1/2?protocol=resp3"),
            "{d:?}"
        );
        assert_eq!(
            p,
            [
                ("prefix".into(), "app:".into()),
                ("timeout_ms".into(), "50".into())
            ]
        );
        let (d, _) = parse_url("redis+cluster://a:1,b:2,c:3").unwrap();
        assert!(
            matches!(d, Deployment::Cluster(ref n) if n == &["redis://a:1", "redis://b:2", "redis://c:3"])
        );
        let (d, _) = parse_url("redis+sentinel://usr:pw@s1:1,s2:2/mymaster?db=3").unwrap();
        match d {
            Deployment::Sentinel {
                sentinels,
                master,
                db,
                username,
                password,
                tls,
            } => {
                assert_eq!(sentinels, ["redis://s1:1", "redis://s2:2"]);
                assert_eq!((master.as_str(), db, tls), ("mymaster", 3, false));
                assert_eq!(
                    (username.as_deref(), password.as_deref()),
                    (Some("usr"), Some("pw"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "redis://",
            "redis://a:1,b:2",
            "redis+sentinel://s:1",
            "http://x",
            "nothing",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
