//! One connection type over the three Redis deployments: standalone, Cluster and Sentinel.
//!
//! - Standalone (and TLS): a `ConnectionManager`, i.e. one multiplexed
//!   connection on which concurrent requests are pipelined automatically,
//!   reconnecting with exponential backoff when the server goes away.
//! - Cluster: redis-rs's async `ClusterConnection` (slot routing, MOVED/ASK,
//!   one multiplexed connection per node).
//! - Sentinel: a multiplexed connection to the master that the sentinels name;
//!   when it fails or the node turns read-only (a failover), the sentinels
//!   are asked again and the request is retried once on the new master.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};

/// Connection settings common to every deployment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) response: Duration,
}

/// A cheap-to-clone handle; clones share the underlying connections.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConn),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Conn::Single",
            Self::Cluster(_) => "Conn::Cluster",
            Self::Sentinel(_) => "Conn::Sentinel",
        })
    }
}

impl Conn {
    /// Connects to one server (`redis://` or `rediss://`).
    pub(crate) async fn single(client: redis::Client, t: Timeouts) -> RedisResult<Self> {
        // No response timeout here: `RedisStore::exec` bounds every request
        // (scripts and pipelines included) with one timer of its own.
        let _ = t.response;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(t.connect))
            .set_response_timeout(None)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_secs(2))
            .set_exponent_base(2.0)
            .set_number_of_retries(6);
        Ok(Self::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }

    /// Connects to a Redis Cluster through any of `nodes`.
    pub(crate) async fn cluster(
        builder: redis::cluster::ClusterClientBuilder,
        t: Timeouts,
    ) -> RedisResult<Self> {
        let client = builder
            .connection_timeout(t.connect)
            .response_timeout(t.response)
            .retries(4)
            .build()?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }

    /// Connects to the master that the sentinels name.
    pub(crate) async fn sentinel(mut client: SentinelClient) -> RedisResult<Self> {
        let current = client.get_async_connection().await?;
        Ok(Self::Sentinel(SentinelConn {
            inner: Arc::new(SentinelInner {
                client: tokio::sync::Mutex::new(client),
                current: RwLock::new((0, current)),
            }),
        }))
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    pub(crate) fn cluster_mut(&mut self) -> Option<&mut ClusterConnection> {
        match self {
            Self::Cluster(c) => Some(c),
            _ => None,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.inner.current.read().1.get_db(),
        }
    }
}

/// The Sentinel-managed master connection.
#[derive(Clone)]
pub(crate) struct SentinelConn {
    inner: Arc<SentinelInner>,
}

struct SentinelInner {
    client: tokio::sync::Mutex<SentinelClient>,
    /// The master connection and its generation (bumped on each reconnect).
    current: RwLock<(u64, MultiplexedConnection)>,
}

/// Errors after which the master may have changed: the connection broke, or
/// the node we talk to has been demoted to a read-only replica.
fn may_be_failover(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

impl SentinelConn {
    fn current(&self) -> (u64, MultiplexedConnection) {
        self.inner.current.read().clone()
    }

    /// Asks the sentinels for the master again and reconnects to it, unless
    /// another request already replaced connection generation `failed`.
    async fn refresh(&self, failed: u64) -> RedisResult<()> {
        let mut client = self.inner.client.lock().await;
        if self.inner.current.read().0 != failed {
            return Ok(());
        }
        let fresh = client.get_async_connection().await?;
        *self.inner.current.write() = (failed + 1, fresh);
        Ok(())
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.current();
            match conn.req_packed_command(cmd).await {
                Err(e) if may_be_failover(&e) => {
                    self.refresh(generation).await?;
                    let (_, mut conn) = self.current();
                    conn.req_packed_command(cmd).await
                }
                other => other,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.current();
            match conn.req_packed_commands(pipeline, offset, count).await {
                Err(e) if may_be_failover(&e) => {
                    self.refresh(generation).await?;
                    let (_, mut conn) = self.current();
                    conn.req_packed_commands(pipeline, offset, count).await
                }
                other => other,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.current.read().1.get_db()
    }
}
