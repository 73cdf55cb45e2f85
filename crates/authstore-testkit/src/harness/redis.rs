//! A private `redis-server` process guard for tests, and the `REDIS_URL` escape hatch.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::ManagedProcess;
use super::{LOCALHOST, Target, Watchdog, free_port, wait_until};

/// Environment variable naming an external Redis for [`RedisServer::from_env_or_start`].
pub const REDIS_URL_ENV: &str = "REDIS_URL";

const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const PANIC_TAIL_LINES: usize = 50;
/// Runs when the test process dies without dropping the guard: `$1` pid, `$2` dir.
const WATCHDOG_SCRIPT: &str = "kill -9 \"$1\" 2>/dev/null; sleep 0.2; rm -rf \"$2\"";

/// Builder for a [`RedisServer`] with extra `redis-server` arguments.
#[derive(Debug, Clone)]
pub struct RedisServerBuilder {
    args: Vec<OsString>,
    config: Option<String>,
    start_timeout: Duration,
}

impl Default for RedisServerBuilder {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            config: None,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }
}

impl RedisServerBuilder {
    /// Appends one extra command-line argument (e.g. `"--maxmemory"`).
    /// Extra arguments come after the harness's own, so they override them.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several extra arguments (e.g. `["--cluster-enabled", "yes"]`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Writes `contents` to `<dir>/redis.conf` once, at start, and passes
    /// that file as `redis-server`'s first argument (its config file), e.g.
    /// for `--sentinel`, which needs a writable config file it can rewrite.
    /// Command-line arguments, the harness's and [`arg`](Self::arg)'s, still
    /// override it. The file is kept across restarts.
    pub fn config(mut self, contents: impl Into<String>) -> Self {
        self.config = Some(contents.into());
        self
    }

    /// How long to wait for the server to answer `PING` (default 10 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts the server and waits until it answers `PING`.
    pub fn start(self) -> io::Result<RedisServer> {
        let binary = super::find_program("redis-server").ok_or_else(|| {
            super::missing_program(
                "redis-server",
                "not found on PATH; it is in the Debian package `redis-server`",
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("authstore-redis-")
            .tempdir()?;
        let log_path = dir.path().join("redis.log");
        let config_path = match self.config {
            Some(contents) => {
                let path = dir.path().join("redis.conf");
                std::fs::write(&path, contents)?;
                Some(path)
            }
            None => None,
        };
        let mut server = RedisServer {
            binary,
            port: 0,
            args: self.args,
            config_path,
            start_timeout: self.start_timeout,
            log_path,
            process: ManagedProcess::default(),
            dir,
        };
        // A port found free may be taken before redis binds it: retry a few times.
        for attempt in 1..=5 {
            server.port = free_port()?;
            File::create(&server.log_path)?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) if attempt < 5 && server.log_tail(20).contains("Address already in use") => {
                    drop(e);
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// A private `redis-server` bound to `127.0.0.1` on a free port, killed on drop.
///
/// It runs in its own temporary directory with persistence off
/// (`--save "" --appendonly no`) and logs to `<dir>/redis.log`. The guard is
/// `Send + Sync`, so it can live in a `static OnceLock`.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    args: Vec<OsString>,
    config_path: Option<PathBuf>,
    start_timeout: Duration,
    log_path: PathBuf,
    process: ManagedProcess,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A builder for a server with extra arguments.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// Starts a server with the default arguments.
    pub fn start() -> io::Result<Self> {
        Self::builder().start()
    }

    /// Uses the external server in `REDIS_URL` if it is set and non-empty,
    /// else starts a private one.
    pub fn from_env_or_start() -> io::Result<RedisTarget> {
        Target::from_env_or_start()
    }

    /// The host the server listens on (`127.0.0.1`).
    pub fn host(&self) -> &str {
        LOCALHOST
    }

    /// The TCP port the server listens on; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{LOCALHOST}:{}", self.port)
    }

    /// The server's working directory (`--dir`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file written from [`RedisServerBuilder::config`], if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        super::tail_file(&self.log_path, lines)
    }

    /// The process id of the running server, if any.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Whether the server process is alive (it may still be starting).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Stops the server gracefully (`SHUTDOWN NOSAVE`), killing it if it has
    /// not exited within 10 s. Does nothing if it is not running.
    pub fn stop(&mut self) -> io::Result<()> {
        let addr = self.addr();
        // The server closes the connection instead of replying; ignore errors.
        let shutdown = || drop(send_command(addr, &["SHUTDOWN", "NOSAVE"]));
        self.process.stop_with(shutdown, STOP_TIMEOUT)
    }

    /// Kills the server with SIGKILL (for fault-injection tests) and reaps it.
    pub fn kill(&mut self) -> io::Result<()> {
        self.process.kill()
    }

    /// Starts the server again on the same port, directory and arguments,
    /// stopping it gracefully first if it is running, and waits until it
    /// answers `PING`.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// Spawns `redis-server` on `self.port` and waits until it answers PING.
    fn launch(&mut self) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let dir = self.dir.path();
        let child = Command::new(&self.binary)
            .args(&self.config_path)
            .args(["--bind", LOCALHOST, "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&self.log_path)
            .args(&self.args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let pid = child.id().to_string();
        self.process.set_child(child);
        let watchdog = Watchdog::spawn(WATCHDOG_SCRIPT, &[OsStr::new(&pid), dir.as_os_str()]);
        match watchdog.and_then(|w| {
            self.process.set_watchdog(w);
            self.wait_ready()
        }) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.kill();
                Err(e)
            }
        }
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let (addr, timeout) = (self.addr(), self.start_timeout);
        let mut exited = None;
        let child = self
            .process
            .slot()
            .as_mut()
            .expect("launch stores the child");
        let ready = wait_until(timeout, || match child.try_wait() {
            Ok(None) => ping(addr),
            Ok(Some(status)) => {
                exited = Some(status.to_string());
                true
            }
            Err(e) => {
                exited = Some(e.to_string());
                true
            }
        });
        let problem = match exited {
            Some(status) => format!("exited during startup ({status})"),
            None if ready => return Ok(()),
            None => format!("did not answer PING within {timeout:?}"),
        };
        Err(io::Error::other(format!(
            "redis-server on {addr} {problem}; last lines of {}:\n{}",
            self.log_path.display(),
            self.log_tail(30)
        )))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            super::print_log_tail(
                &format!("redis-server {}", self.addr()),
                &self.log_path,
                PANIC_TAIL_LINES,
            );
        }
        let _ = self.kill();
    }
}

/// Sends one RESP command and returns the first reply line (without CRLF).
fn send_command(addr: SocketAddr, args: &[&str]) -> io::Result<String> {
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") && reply.len() < 4096 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        reply.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
}

/// Whether the server at `addr` answers `PING` with `+PONG`.
fn ping(addr: SocketAddr) -> bool {
    send_command(addr, &["PING"]).is_ok_and(|reply| reply == "+PONG")
}

/// A private [`RedisServer`], or the external server named by `REDIS_URL`.
pub type RedisTarget = Target<RedisServer>;

super::impl_server!(RedisServer, REDIS_URL_ENV);
