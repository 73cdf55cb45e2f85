//! A private Redis Sentinel setup (master, replica, three sentinels) for tests.

use std::io;
use std::time::Duration;

use super::redis::RedisServer;
use super::redis_cluster::{cli_on, info_field, redis_cli};
use super::{LOCALHOST, wait_until};

/// The master name [`RedisSentinelSetup::start`] monitors.
pub const DEFAULT_MASTER_NAME: &str = "mymaster";

/// Sentinels started; a quorum of 2 of them declares the master down.
const SENTINELS: usize = 3;
/// How long to wait for replication and the sentinels to settle.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines per process included in errors.
const ERROR_TAIL_LINES: usize = 15;
/// Master and replica arguments: sync at once instead of after the default
/// 5 s diskless-sync delay, which would slow both startup and failover.
const DATA_ARGS: [&str; 2] = ["--repl-diskless-sync-delay", "0"];

/// A private master, one replica and three sentinels monitoring them, all on
/// free loopback ports, killed on drop.
///
/// Sentinels use `down-after-milliseconds 1000`, `failover-timeout 3000`,
/// `parallel-syncs 1` and quorum 2, so a failover completes within a few
/// seconds of the master stopping. Each process is a [`RedisServer`] (own
/// temporary directory, log and watchdog); a sentinel's config file is
/// `<its dir>/redis.conf` (Sentinel rewrites it) with its port given on the
/// command line. [`master`](Self::master) and [`replica`](Self::replica) are
/// the processes started in those roles; after a failover their roles swap.
/// The guard is `Send + Sync`.
#[derive(Debug)]
pub struct RedisSentinelSetup {
    // Field order is drop order: sentinels go first so they do not react to
    // the data nodes disappearing.
    sentinels: Vec<RedisServer>,
    replica: RedisServer,
    master: RedisServer,
    master_name: String,
    /// The master port as last confirmed (at start or by a failover).
    known_master_port: u16,
}

impl RedisSentinelSetup {
    /// Starts a setup monitoring the master as [`DEFAULT_MASTER_NAME`].
    pub fn start() -> io::Result<Self> {
        Self::with_master_name(DEFAULT_MASTER_NAME)
    }

    /// Starts a setup whose sentinels monitor the master as `name`, and waits
    /// (up to 30 s) until the replica is in sync and every sentinel reports
    /// the master, knows the replica and knows the two other sentinels.
    pub fn with_master_name(name: &str) -> io::Result<Self> {
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '/';
        if name.is_empty() || name.chars().any(bad) {
            let msg = format!("invalid sentinel master name {name:?}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        // Fails on a missing redis-cli before starting any server.
        redis_cli(["--version"])?;
        let master = RedisServer::builder().args(DATA_ARGS).start()?;
        let replica = RedisServer::builder()
            .args(DATA_ARGS)
            .args(["--replicaof", LOCALHOST, &master.port().to_string()])
            .start()?;
        let mut setup = Self {
            sentinels: Vec::new(),
            known_master_port: master.port(),
            replica,
            master,
            master_name: name.to_owned(),
        };
        setup.wait_for("the replica to sync with the master", || {
            let info = cli_on(setup.replica.port(), &["INFO", "replication"])?;
            Ok(info_field(&info, "master_link_status") == Some("up"))
        })?;
        let config = format!(
            "bind {LOCALHOST}\n\
             sentinel monitor {name} {LOCALHOST} {port} 2\n\
             sentinel down-after-milliseconds {name} 1000\n\
             sentinel failover-timeout {name} 3000\n\
             sentinel parallel-syncs {name} 1\n",
            port = setup.master.port()
        );
        for _ in 0..SENTINELS {
            let sentinel = RedisServer::builder()
                .config(config.as_str())
                .arg("--sentinel")
                .start()?;
            setup.sentinels.push(sentinel);
        }
        let expected = setup.master.port();
        setup.wait_for(
            "every sentinel to see the master, replica and peers",
            || {
                for sentinel in &setup.sentinels {
                    if setup.master_port_from(sentinel.port())? != expected {
                        return Ok(false);
                    }
                    let master = cli_on(sentinel.port(), &["SENTINEL", "MASTER", name])?;
                    let count = |key| {
                        let value = pairs(&master).find(|(k, _)| *k == key).map(|(_, v)| v);
                        value.and_then(|v| v.parse::<usize>().ok()).unwrap_or(0)
                    };
                    if count("num-slaves") < 1 || count("num-other-sentinels") < SENTINELS - 1 {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )?;
        Ok(setup)
    }

    /// The name the sentinels monitor the master as.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// `redis://127.0.0.1:PORT` of each sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/NAME`,
    /// authstore's URL form.
    pub fn url(&self) -> String {
        let addrs: Vec<String> = (self.sentinels.iter())
            .map(|s| format!("{LOCALHOST}:{}", s.port()))
            .collect();
        format!("redis+sentinel://{}/{}", addrs.join(","), self.master_name)
    }

    /// The port of the process started as master.
    pub fn master_port(&self) -> u16 {
        self.master.port()
    }

    /// The port of the process started as replica.
    pub fn replica_port(&self) -> u16 {
        self.replica.port()
    }

    /// The process started as master.
    pub fn master(&self) -> &RedisServer {
        &self.master
    }

    /// The process started as master, mutably (e.g. to restart it).
    pub fn master_mut(&mut self) -> &mut RedisServer {
        &mut self.master
    }

    /// The process started as replica.
    pub fn replica(&self) -> &RedisServer {
        &self.replica
    }

    /// The process started as replica, mutably.
    pub fn replica_mut(&mut self) -> &mut RedisServer {
        &mut self.replica
    }

    /// The sentinel processes.
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// Sentinel `i`, mutably (e.g. to kill it).
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn sentinel_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.sentinels[i]
    }

    /// The master port according to the first sentinel that answers
    /// `SENTINEL get-master-addr-by-name`.
    pub fn current_master_port(&self) -> io::Result<u16> {
        let mut last = io::Error::other("no sentinel is running");
        for sentinel in self.sentinels.iter().filter(|s| s.is_running()) {
            match self.master_port_from(sentinel.port()) {
                Ok(port) => return Ok(port),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Stops the current master (the process on the port last confirmed as
    /// master) gracefully, with `SHUTDOWN NOSAVE`.
    pub fn stop_master(&mut self) -> io::Result<()> {
        self.current_master_process().stop()
    }

    /// Kills the current master with SIGKILL.
    pub fn kill_master(&mut self) -> io::Result<()> {
        self.current_master_process().kill()
    }

    /// Waits until every running sentinel reports the same master port,
    /// other than the one last confirmed, and that port answers as a master;
    /// returns it (and confirms it for the next failover). The error
    /// includes what the sentinels reported and their log tails.
    pub fn wait_for_failover(&mut self, timeout: Duration) -> io::Result<u16> {
        let old = self.known_master_port;
        let mut new = None;
        let mut last = String::new();
        let done = wait_until(timeout, || {
            let reported: Vec<_> = (self.sentinels.iter())
                .filter(|s| s.is_running())
                .map(|s| self.master_port_from(s.port()).map_err(|e| e.to_string()))
                .collect();
            last = format!("{reported:?}");
            let Some(Ok(first)) = reported.first().cloned() else {
                return false;
            };
            let agreed = reported.iter().all(|r| *r == Ok(first));
            let is_master = || {
                let info = cli_on(first, &["INFO", "replication"]).unwrap_or_default();
                info_field(&info, "role") == Some("master")
            };
            new = Some(first);
            first != old && agreed && is_master()
        });
        match (done, new) {
            (true, Some(port)) => {
                self.known_master_port = port;
                Ok(port)
            }
            _ => Err(self.error(&format!(
                "no failover away from port {old} within {timeout:?}; sentinels last reported {last}"
            ))),
        }
    }

    /// The process serving the port last confirmed as master.
    fn current_master_process(&mut self) -> &mut RedisServer {
        match self.known_master_port == self.replica.port() {
            true => &mut self.replica,
            false => &mut self.master,
        }
    }

    /// The master port reported by the sentinel on `port`.
    fn master_port_from(&self, port: u16) -> io::Result<u16> {
        let args = ["SENTINEL", "get-master-addr-by-name", &self.master_name];
        let reply = cli_on(port, &args)?;
        let mut lines = reply.lines().map(str::trim);
        match (lines.next(), lines.next().map(str::parse)) {
            (Some(_host), Some(Ok(port))) => Ok(port),
            _ => Err(io::Error::other(format!(
                "unexpected reply from sentinel {port}: {reply:?}"
            ))),
        }
    }

    /// Polls `ready` until it is true or [`READY_TIMEOUT`] passes; the error
    /// names `what` and includes the last error and every log tail.
    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> io::Result<bool>) -> io::Result<()> {
        let mut last = String::from("not yet");
        let ok = wait_until(READY_TIMEOUT, || match ready() {
            Ok(ready) => ready,
            Err(e) => {
                last = e.to_string();
                false
            }
        });
        match ok {
            true => Ok(()),
            false => Err(self.error(&format!(
                "timed out after {READY_TIMEOUT:?} waiting for {what} (last: {last})"
            ))),
        }
    }

    /// An error with `msg` followed by every process's log tail.
    fn error(&self, msg: &str) -> io::Error {
        let mut text = msg.to_owned();
        let roles = [("master", &self.master), ("replica", &self.replica)];
        let sentinels = self.sentinels.iter().map(|s| ("sentinel", s));
        for (role, server) in roles.into_iter().chain(sentinels) {
            text.push_str(&format!(
                "\n--- {role} {} ({}):\n{}",
                server.addr(),
                server.log_path().display(),
                server.log_tail(ERROR_TAIL_LINES)
            ));
        }
        io::Error::other(text)
    }
}

/// Key/value pairs from `redis-cli`'s raw output of a flat map reply (one
/// line per element).
fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut lines = text.lines().map(str::trim);
    std::iter::from_fn(move || Some((lines.next()?, lines.next()?)))
}
