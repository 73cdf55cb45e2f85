//! Private redis-server and PostgreSQL processes for tests.
//!
//! [`redis::RedisServer`] and [`postgres::PostgresServer`] are guards: each
//! starts a real server on `127.0.0.1` and a free port in a fresh temporary
//! directory, waits until it answers, and tears it down on drop (printing the
//! server log's tail first if the test is panicking). [`Target`] runs against
//! an external server instead when `REDIS_URL` / `DATABASE_URL` is set.
//!
//! Each server is paired with a `/bin/sh` watchdog holding a pipe from this
//! process: if the process dies without running destructors (a guard in a
//! `static`, `exit`, SIGKILL) the pipe closes and the watchdog kills the
//! server and removes its directory. Linux only (reads `/proc`).
#![cfg(unix)]

pub mod postgres;
mod process;
pub mod redis;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod redis_tls;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The loopback address every private server binds to.
pub const LOCALHOST: &str = "127.0.0.1";

/// Lowest port [`free_port`] picks from (below the kernel's ephemeral range).
const PORT_RANGE_LOW: u16 = 10_000;

/// Ports already handed out by [`free_port`] in this process.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Picks a currently free TCP port on `127.0.0.1`.
///
/// Ports are drawn at random from `10000..` up to the start of the kernel's
/// ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), so that a port
/// freed by a killed server is unlikely to be grabbed by an outgoing client
/// connection before the server is restarted on it. A port is never handed
/// out twice in one process.
pub fn free_port() -> io::Result<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
    let ephemeral = range
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok());
    let span = ephemeral.unwrap_or(32_768u16).max(PORT_RANGE_LOW + 1_000) - PORT_RANGE_LOW;
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..1_000 {
        let port =
            PORT_RANGE_LOW + (RandomState::new().build_hasher().finish() % u64::from(span)) as u16;
        if !handed_out.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    let msg = "could not find a free port on 127.0.0.1";
    Err(io::Error::new(io::ErrorKind::AddrInUse, msg))
}

/// Polls `ready` until it returns `true` or `timeout` has passed.
///
/// Returns whether `ready` succeeded. Polls quickly at first and backs off to
/// every 200 ms; `ready` is always called at least once, and once more at the
/// deadline.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(10);
    loop {
        if ready() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// Returns the last `lines` lines of the file at `path`, or a note saying
/// why it could not be read.
pub fn tail_file(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("<could not read {}: {e}>", path.display()),
    }
}

/// Prints the tail of a server log to stderr, framed so it stands out in
/// test output. Used by the guards' `Drop` when the thread is panicking.
pub(crate) fn print_log_tail(what: &str, path: &Path, lines: usize) {
    eprintln!(
        "----- {what}: last {lines} lines of {} -----\n{}\n----- end of {what} log -----",
        path.display(),
        tail_file(path, lines)
    );
}

/// Whether `path` is a regular file with an executable bit set.
pub(crate) fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Looks `name` up on `PATH`, then in the system directories (`/usr/sbin`,
/// `/sbin`, `/usr/bin`, `/bin`), which a non-login `PATH` may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let system = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(system)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// Turns a failed process [`Output`] into an error carrying its output.
pub(crate) fn check_output(output: Output, what: &str) -> io::Result<Output> {
    if output.status.success() {
        return Ok(output);
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    Err(io::Error::other(format!(
        "{what} failed ({}):\n{stdout}{stderr}",
        output.status
    )))
}

/// Whether process `pid` exists and is not a zombie (Linux `/proc`).
pub(crate) fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A `/bin/sh` process that runs a cleanup script unless disarmed.
///
/// It blocks reading a pipe from this process. Dropping the watchdog writes
/// `disarm` and reaps it; if this process dies first the pipe hits EOF and the
/// script runs. It ignores terminal and termination signals and sits in its
/// own process group, so Ctrl-C or a runner killing the test's process group
/// cannot take it down before it has cleaned up.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Spawns a watchdog running `script` (with `args` as `$1`, `$2`, ...) on EOF.
    pub(crate) fn spawn(script: &str, args: &[&OsStr]) -> io::Result<Self> {
        let full = format!(
            "trap '' INT HUP TERM QUIT PIPE\nread cmd\n[ \"$cmd\" = disarm ] && exit 0\n{script}\n"
        );
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(full)
            .arg("authstore-watchdog")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/")
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .process_group(0)
            .spawn()?;
        Ok(Self { child })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"disarm\n");
        }
        let _ = self.child.wait();
    }
}

/// Builds the error returned when a required program is not installed.
pub(crate) fn missing_program(what: &str, detail: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{what} is not installed ({detail}); scripts/test installs it"),
    )
}

/// The user to run servers that refuse root (PostgreSQL) as: `None` unless
/// the effective uid is 0; else `postgres` if it exists, else the system user
/// `authstore-test`, created with `useradd` if missing. Decided once.
pub(crate) fn server_user() -> io::Result<Option<&'static str>> {
    static USER: OnceLock<Result<Option<&'static str>, String>> = OnceLock::new();
    let tool = |name: &str| Command::new(find_program(name).unwrap_or_else(|| name.into()));
    let exists = |user| {
        tool("id")
            .args(["-u", user])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let pick = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"));
        if uid.and_then(|ids| ids.split_whitespace().nth(1)) != Some("0") {
            return Ok(None);
        }
        if find_program("runuser").is_none() {
            return Err("running as root, which needs `runuser` (util-linux)".to_owned());
        }
        if let Some(user) = ["postgres", "authstore-test"]
            .into_iter()
            .find(|u| exists(u))
        {
            return Ok(Some(user));
        }
        let args = [
            "--system",
            "--no-create-home",
            "--shell",
            "/bin/sh",
            "authstore-test",
        ];
        let useradd = tool("useradd").args(args).output();
        // Another test process may have created it concurrently: re-check.
        match exists("authstore-test") {
            true => Ok(Some("authstore-test")),
            false => Err(format!(
                "running as root and `useradd authstore-test` failed: {useradd:?}"
            )),
        }
    };
    let user = USER.get_or_init(pick).as_ref();
    user.copied()
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.clone()))
}

/// A command running `program` directly, or as `user` via `runuser -u USER --`.
pub(crate) fn command_as(user: Option<&str>, program: &Path) -> Command {
    let Some(user) = user else {
        return Command::new(program);
    };
    let mut cmd = Command::new(find_program("runuser").unwrap_or_else(|| "runuser".into()));
    cmd.args(["-u", user, "--"]).arg(program);
    cmd
}

/// A private server guard, or an external server named by an environment
/// variable (`REDIS_URL`, `DATABASE_URL`) that is used instead when set.
///
/// Tests call [`url`](Self::url) uniformly. Lifecycle operations only work
/// on a private server; on an external one they fail with
/// [`io::ErrorKind::Unsupported`]. Fault-injection tests should call the
/// guard's own `start()` instead, since they need a private server.
#[derive(Debug)]
pub enum Target<S> {
    /// A server started and owned by this process.
    Private(S),
    /// An external server; nothing is owned, started or stopped.
    External {
        /// The URL taken from the environment.
        url: String,
    },
}

/// The lifecycle of a private server guard, as used by [`Target`].
pub trait Server: Sized {
    /// The environment variable naming an external server.
    const URL_ENV: &'static str;
    /// Starts a private server with default settings.
    fn start() -> io::Result<Self>;
    /// The URL to connect to.
    fn url(&self) -> String;
    /// Stops the server cleanly.
    fn stop(&mut self) -> io::Result<()>;
    /// Crash-stops the server.
    fn kill(&mut self) -> io::Result<()>;
    /// Starts the server again on the same port and directory.
    fn restart(&mut self) -> io::Result<()>;
}

/// Implements [`Server`] by forwarding to the guard's inherent methods.
macro_rules! impl_server {
    ($ty:ty, $env:expr) => {
        impl $crate::harness::Server for $ty {
            const URL_ENV: &'static str = $env;
            fn start() -> std::io::Result<Self> {
                <$ty>::start()
            }
            fn url(&self) -> String {
                <$ty>::url(self)
            }
            fn stop(&mut self) -> std::io::Result<()> {
                <$ty>::stop(self)
            }
            fn kill(&mut self) -> std::io::Result<()> {
                <$ty>::kill(self)
            }
            fn restart(&mut self) -> std::io::Result<()> {
                <$ty>::restart(self)
            }
        }
    };
}
pub(crate) use impl_server;

impl<S: Server> Target<S> {
    /// The external server in `S::URL_ENV` if that is set and non-empty,
    /// else a private server from `S::start()`.
    pub fn from_env_or_start() -> io::Result<Self> {
        match std::env::var(S::URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(url) => Ok(Self::External { url }),
            None => S::start().map(Self::Private),
        }
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        match self {
            Self::Private(server) => server.url(),
            Self::External { url } => url.clone(),
        }
    }

    /// Whether this is an external server.
    pub fn is_external(&self) -> bool {
        matches!(self, Self::External { .. })
    }

    /// The private server, if any.
    pub fn server(&self) -> Option<&S> {
        match self {
            Self::Private(server) => Some(server),
            Self::External { .. } => None,
        }
    }

    /// The private server, mutably, if any.
    pub fn server_mut(&mut self) -> Option<&mut S> {
        match self {
            Self::Private(server) => Some(server),
            Self::External { .. } => None,
        }
    }

    /// The private server, or an [`io::ErrorKind::Unsupported`] error saying
    /// that `op` is impossible because the server is external.
    fn owned(&mut self, op: &str) -> io::Result<&mut S> {
        match self {
            Self::Private(server) => Ok(server),
            Self::External { url } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "cannot {op} {url}: the server is external (from {}), not owned by this process",
                    S::URL_ENV
                ),
            )),
        }
    }

    /// Stops a private server; unsupported on an external one.
    pub fn stop(&mut self) -> io::Result<()> {
        self.owned("stop")?.stop()
    }

    /// Crash-stops a private server; unsupported on an external one.
    pub fn kill(&mut self) -> io::Result<()> {
        self.owned("kill")?.kill()
    }

    /// Restarts a private server; unsupported on an external one.
    pub fn restart(&mut self) -> io::Result<()> {
        self.owned("restart")?.restart()
    }
}
