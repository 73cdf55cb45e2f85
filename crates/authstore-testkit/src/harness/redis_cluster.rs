//! A private Redis Cluster of `redis-server` processes for tests, and the `REDIS_CLUSTER_URL` escape hatch.

use std::ffi::OsStr;
use std::io::{self, Read, Seek};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::redis::RedisServer;
use super::{LOCALHOST, Target, find_program, missing_program, wait_until};

/// Environment variable naming an external cluster for
/// [`RedisCluster::from_env_or_start`]; its value is used unchanged as the
/// authstore URL, e.g. `redis+cluster://10.0.0.1:7000,10.0.0.2:7000`.
pub const REDIS_CLUSTER_URL_ENV: &str = "REDIS_CLUSTER_URL";

/// Masters started by [`RedisCluster::start`]; Redis Cluster needs at least 3.
pub const DEFAULT_MASTERS: usize = 3;

/// How long to wait for every node to report `cluster_state:ok`.
const CLUSTER_OK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `redis-cli` invocation may take before it is killed.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines per node included in errors.
const ERROR_TAIL_LINES: usize = 15;

/// Runs `redis-cli` with `args` and returns its standard output, trimmed.
///
/// Fails if `redis-cli` is missing (Debian package `redis-tools`), exits
/// unsuccessfully (e.g. cannot connect) or runs longer than 10 s (then it is
/// killed). Output is in `redis-cli`'s raw (non-tty) form: one line per
/// element; an error reply is printed as its text (`ERR ...`) and does not
/// fail the call. Used by the cluster, sentinel and TLS guards.
pub fn redis_cli<I, S>(args: I) -> io::Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = find_program("redis-cli").ok_or_else(|| {
        missing_program(
            "redis-cli",
            "not found on PATH; it is in the Debian package `redis-tools`",
        )
    })?;
    // Files rather than pipes: nothing to drain while polling for exit.
    let (mut stdout, mut stderr) = (tempfile::tempfile()?, tempfile::tempfile()?);
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?)
        .spawn()?;
    let mut status = None;
    wait_until(CLI_TIMEOUT, || {
        status = child.try_wait().transpose();
        status.is_some()
    });
    let Some(status) = status.transpose()? else {
        let _ = child.kill();
        let _ = child.wait();
        let msg = format!("redis-cli {args:?} did not finish within {CLI_TIMEOUT:?}");
        return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
    };
    let read = |file: &mut std::fs::File| -> io::Result<String> {
        let mut text = String::new();
        file.rewind()?;
        file.read_to_string(&mut text)?;
        Ok(text)
    };
    let (out, err) = (read(&mut stdout)?, read(&mut stderr)?);
    if !status.success() {
        return Err(io::Error::other(format!(
            "redis-cli {args:?} failed ({status}): {}{}",
            out.trim(),
            err.trim()
        )));
    }
    Ok(out.trim_end().to_owned())
}

/// Runs `redis-cli -h 127.0.0.1 -p PORT <args>`; see [`redis_cli`].
pub(crate) fn cli_on(port: u16, args: &[&str]) -> io::Result<String> {
    let port = port.to_string();
    redis_cli(["-h", LOCALHOST, "-p", &port].iter().chain(args))
}

/// The value of `field` in `field:value` lines (`INFO`, `CLUSTER INFO`).
pub(crate) fn info_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(field)?.strip_prefix(':'))
}

/// A private Redis Cluster: N masters (no replicas) on free loopback ports,
/// with all 16384 slots assigned, killed on drop.
///
/// Each node is a [`RedisServer`] (own temporary directory, log and
/// watchdog) started with `--cluster-enabled yes --cluster-node-timeout 2000`
/// and `--cluster-config-file nodes.conf`, which is relative to, and so
/// inside, the node's own directory; restarting a node therefore brings it
/// back into the cluster with its slots. The guard is `Send + Sync`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts a cluster of [`DEFAULT_MASTERS`] (3) masters.
    pub fn start() -> io::Result<Self> {
        Self::with_masters(DEFAULT_MASTERS)
    }

    /// Starts a cluster of `masters` (at least 3) masters without replicas,
    /// joins them with `redis-cli --cluster create` and waits until every
    /// node reports `cluster_state:ok`.
    pub fn with_masters(masters: usize) -> io::Result<Self> {
        if masters < 3 {
            let msg = format!("a Redis Cluster needs at least 3 masters, not {masters}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        // Fail on a missing redis-cli before starting any server.
        redis_cli(["--version"])?;
        let nodes = (0..masters)
            .map(|_| {
                RedisServer::builder()
                    .args(["--cluster-enabled", "yes"])
                    .args(["--cluster-config-file", "nodes.conf"])
                    .args(["--cluster-node-timeout", "2000"])
                    .args(["--appendonly", "no", "--save", ""])
                    .start()
            })
            .collect::<io::Result<Vec<_>>>()?;
        let cluster = Self { nodes };
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(cluster.addrs());
        create.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        redis_cli(&create)
            .map_err(|e| cluster.error(&format!("`redis-cli --cluster create` failed: {e}")))?;
        cluster.wait_ok()?;
        Ok(cluster)
    }

    /// Uses the external cluster in `REDIS_CLUSTER_URL` if it is set and
    /// non-empty, else starts a private one.
    pub fn from_env_or_start() -> io::Result<RedisClusterTarget> {
        Target::from_env_or_start()
    }

    /// `host:port` of every node, in start order.
    fn addrs(&self) -> Vec<String> {
        let addr = |n: &RedisServer| format!("{LOCALHOST}:{}", n.port());
        self.nodes.iter().map(addr).collect()
    }

    /// `redis://127.0.0.1:PORT` of every node, in start order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`, authstore's URL form.
    pub fn url(&self) -> String {
        format!("redis+cluster://{}", self.addrs().join(","))
    }

    /// The ports of every node, in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// Every node, in start order.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Node `i` (in start order), mutably, e.g. to kill or restart it.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// Runs `CLUSTER INFO` on node `i` and returns its `field:value` text.
    pub fn cluster_info(&self, i: usize) -> io::Result<String> {
        cli_on(self.nodes[i].port(), &["CLUSTER", "INFO"])
    }

    /// Waits (up to 20 s) until every running node reports
    /// `cluster_state:ok`; the error includes every node's log tail.
    pub fn wait_ok(&self) -> io::Result<()> {
        let mut last = String::new();
        let ok = wait_until(CLUSTER_OK_TIMEOUT, || {
            self.nodes.iter().enumerate().all(|(i, node)| {
                if !node.is_running() {
                    return true;
                }
                match self.cluster_info(i) {
                    Ok(info) if info_field(&info, "cluster_state") == Some("ok") => true,
                    Ok(info) => {
                        last = format!("node {} CLUSTER INFO:\n{info}", node.port());
                        false
                    }
                    Err(e) => {
                        last = format!("node {}: {e}", node.port());
                        false
                    }
                }
            })
        });
        match ok {
            true => Ok(()),
            false => Err(self.error(&format!(
                "cluster not ok within {CLUSTER_OK_TIMEOUT:?}; last: {last}"
            ))),
        }
    }

    /// Stops every node gracefully.
    pub fn stop(&mut self) -> io::Result<()> {
        self.nodes.iter_mut().try_for_each(RedisServer::stop)
    }

    /// Kills every node with SIGKILL.
    pub fn kill(&mut self) -> io::Result<()> {
        self.nodes.iter_mut().try_for_each(RedisServer::kill)
    }

    /// Restarts every node on its port and directory (keeping `nodes.conf`)
    /// and waits until the cluster is ok again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        for node in &mut self.nodes {
            node.restart()?;
        }
        self.wait_ok()
    }

    /// An error with `msg` followed by every node's log tail.
    fn error(&self, msg: &str) -> io::Error {
        let mut text = msg.to_owned();
        for node in &self.nodes {
            text.push_str(&format!(
                "\n--- redis-server {} ({}):\n{}",
                node.addr(),
                node.log_path().display(),
                node.log_tail(ERROR_TAIL_LINES)
            ));
        }
        io::Error::other(text)
    }
}

/// A private [`RedisCluster`], or the external cluster named by `REDIS_CLUSTER_URL`.
///
/// [`Target::url`] gives the `redis+cluster://` URL either way; use
/// [`Target::server`] to reach the nodes of a private cluster.
pub type RedisClusterTarget = Target<RedisCluster>;

super::impl_server!(RedisCluster, REDIS_CLUSTER_URL_ENV);
