//! A private PostgreSQL cluster guard for tests (initdb + pg_ctl), and the `DATABASE_URL` escape hatch.
//!
//! PostgreSQL refuses to run as root. When the effective uid is 0 the server
//! programs (`initdb`, `pg_ctl`) run as the `postgres` system user if it
//! exists, else as a system user `authstore-test` created on first use, via
//! `runuser -u USER --` (or `su` where `runuser` is missing); the cluster's
//! temporary directory under `/tmp` is chowned to that user. Clients (`psql`,
//! `pg_isready`) always run as the current user.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use super::{LOCALHOST, Watchdog, env_url, external_unsupported, free_port, is_executable, wait_until};

/// Environment variable naming an external PostgreSQL for [`PostgresServer::from_env_or_start`].
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

const SUPERUSER: &str = "postgres";
const FALLBACK_USER: &str = "authstore-test";
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
const PANIC_TAIL_LINES: usize = 50;
/// Client environment that would redirect `psql`/`pg_isready` away from the private server.
const PG_ENV: &[&str] = &[
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE", "PGOPTIONS", "PGDATA",
];
/// Runs when the test process dies without dropping the guard: `$1` data dir, `$2` temp dir.
const WATCHDOG_SCRIPT: &str = r#"pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
  i=0; while [ -f "$1/postmaster.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$2""#;

/// Builder for a [`PostgresServer`].
#[derive(Debug, Clone)]
pub struct PostgresServerBuilder {
    fsync: bool,
    settings: Vec<(String, String)>,
    start_timeout: Duration,
}

impl Default for PostgresServerBuilder {
    fn default() -> Self {
        Self { fsync: true, settings: Vec::new(), start_timeout: DEFAULT_START_TIMEOUT }
    }
}

impl PostgresServerBuilder {
    /// Sets `fsync` (default on). Turning it off makes tests faster but
    /// voids durability across OS crashes; keep it on for durability tests.
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Adds a `postgresql.conf` setting; `value` is written verbatim, so
    /// quote strings yourself (`.setting("log_statement", "'all'")`).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// How long to wait for the server to accept connections (default 30 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Runs `initdb`, starts the server and waits until `pg_isready` succeeds.
    pub fn start(self) -> io::Result<PostgresServer> {
        let bins = binaries()?;
        let runner = runner()?;
        let tmp = Path::new("/tmp");
        let mut builder = tempfile::Builder::new();
        builder.prefix("authstore-pg-");
        let dir = if tmp.is_dir() { builder.tempdir_in(tmp)? } else { builder.tempdir()? };
        if let Runner::As(user) = runner {
            check(Command::new("chown").arg(format!("{user}:")).arg(dir.path()).output()?, "chown")?;
        }
        let data_dir = dir.path().join("data");
        let watchdog = Watchdog::spawn(WATCHDOG_SCRIPT, &[data_dir.as_os_str(), dir.path().as_os_str()])?;
        let mut server = PostgresServer {
            bins,
            runner,
            port: 0,
            fsync: self.fsync,
            start_timeout: self.start_timeout,
            log_path: dir.path().join("postgres.log"),
            data_dir,
            watchdog: Some(watchdog),
            dir,
        };
        let mut initdb = server.server_cmd(&bins.initdb);
        initdb.arg("-D").arg(&server.data_dir);
        initdb.args(["-E", "UTF8", "--locale=C", "--auth=trust", "-U", SUPERUSER]);
        if !self.fsync {
            initdb.arg("--no-sync");
        }
        check(initdb.output()?, "initdb")?;
        // A port found free may be taken before the postmaster binds it: retry.
        for attempt in 1..=5 {
            server.port = free_port()?;
            server.append_config(&self.settings)?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) if attempt < 5 && server.log_tail(20).contains("already in use") => drop(e),
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// A private PostgreSQL cluster on `127.0.0.1` and a free port, stopped and
/// deleted on drop.
///
/// Superuser `postgres` with `trust` auth, UTF8, locale C. Settings:
/// `listen_addresses='127.0.0.1'`, `unix_socket_directories=<tempdir>`,
/// `max_connections=100`, `shared_buffers=128MB`, `fsync` from the builder.
/// The guard is `Send + Sync`, so it can live in a `static OnceLock`.
#[derive(Debug)]
pub struct PostgresServer {
    bins: &'static Binaries,
    runner: &'static Runner,
    port: u16,
    fsync: bool,
    start_timeout: Duration,
    data_dir: PathBuf,
    log_path: PathBuf,
    watchdog: Option<Watchdog>,
    dir: tempfile::TempDir,
}

impl PostgresServer {
    /// A builder for a server with non-default settings.
    pub fn builder() -> PostgresServerBuilder {
        PostgresServerBuilder::default()
    }

    /// Starts a server with the default settings.
    pub fn start() -> io::Result<Self> {
        Self::builder().start()
    }

    /// Uses the external server in `DATABASE_URL` if it is set and
    /// non-empty, else starts a private one.
    pub fn from_env_or_start() -> io::Result<PostgresTarget> {
        match env_url(DATABASE_URL_ENV) {
            Some(url) => Ok(PostgresTarget::External { url }),
            None => Self::start().map(PostgresTarget::Private),
        }
    }

    /// The host the server listens on (`127.0.0.1`).
    pub fn host(&self) -> &str {
        LOCALHOST
    }

    /// The TCP port; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether `fsync` is on.
    pub fn fsync(&self) -> bool {
        self.fsync
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@{LOCALHOST}:{}/{name}", self.port)
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The temporary directory holding the data directory, log and socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        super::tail_file(&self.log_path, lines)
    }

    /// Whether the postmaster recorded in `postmaster.pid` is alive.
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(super::pid_alive)
    }

    /// Runs `sql` through `psql` against the `postgres` database; see [`psql`].
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        psql_with(&self.url(), sql, true)
    }

    /// Creates database `name` (which must match `[a-z0-9_]+`) and returns its URL.
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        validate_db_name(name)?;
        psql_with(&self.url(), &format!("CREATE DATABASE \"{name}\""), true)?;
        Ok(self.database_url(name))
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`). Does nothing if it is not running.
    pub fn stop(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("fast")
    }

    /// Crash-stops the server: `pg_ctl stop -m immediate` (SIGQUIT, no
    /// shutdown checkpoint, so the next start runs WAL crash recovery),
    /// falling back to SIGKILL of the postmaster. Does nothing if it is not running.
    pub fn kill(&mut self) -> io::Result<()> {
        let result = self.pg_ctl_stop("immediate");
        if let (Err(_), Some(pid)) = (&result, self.postmaster_pid()) {
            let _ = Command::new("/bin/sh").args(["-c", "kill -KILL \"$1\"", "sh", &pid.to_string()]).status();
            if wait_until(Duration::from_secs(10), || !super::pid_alive(pid)) {
                return Ok(());
            }
        }
        result
    }

    /// Starts the server again with the same port and data directory,
    /// stopping it cleanly first if it is running, and waits until it is ready.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A command running `program` as the server user, with client env cleared.
    fn server_cmd(&self, program: &Path) -> Command {
        let mut cmd = self.runner.command(program);
        cmd.current_dir(self.dir.path());
        cmd.env_remove("PGDATA");
        cmd
    }

    fn append_config(&self, extra: &[(String, String)]) -> io::Result<()> {
        let mut conf = format!(
            "\n# authstore-testkit harness\nlisten_addresses = '{LOCALHOST}'\nport = {}\n\
             unix_socket_directories = '{}'\nfsync = {}\nmax_connections = 100\nshared_buffers = 128MB\n",
            self.port,
            self.dir.path().display(),
            if self.fsync { "on" } else { "off" },
        );
        for (name, value) in extra {
            let _ = writeln!(conf, "{name} = {value}");
        }
        let path = self.data_dir.join("postgresql.conf");
        OpenOptions::new().append(true).open(path)?.write_all(conf.as_bytes())
    }

    /// `pg_ctl start`, then waits for `pg_isready`.
    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = self.server_cmd(&self.bins.pg_ctl);
        cmd.arg("-D").arg(&self.data_dir).arg("-l").arg(&self.log_path);
        cmd.args(["-w", "-t", &self.start_timeout.as_secs().max(1).to_string(), "start"]);
        let started = check(cmd.output()?, "pg_ctl start");
        let ready = started.is_ok() && wait_until(self.start_timeout, || pg_isready(LOCALHOST, self.port).unwrap_or(false));
        if ready {
            return Ok(());
        }
        let _ = self.kill();
        let why = started.err().map_or_else(|| format!("not ready within {:?}", self.start_timeout), |e| e.to_string());
        Err(io::Error::other(format!(
            "PostgreSQL on {LOCALHOST}:{} failed to start: {why}\nlast lines of {}:\n{}",
            self.port,
            self.log_path.display(),
            self.log_tail(30)
        )))
    }

    fn pg_ctl_stop(&mut self, mode: &str) -> io::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let mut cmd = self.server_cmd(&self.bins.pg_ctl);
        cmd.arg("-D").arg(&self.data_dir).args(["-m", mode, "-w", "-t", "30", "stop"]);
        check(cmd.output()?, &format!("pg_ctl stop -m {mode}"))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let what = format!("PostgreSQL {LOCALHOST}:{}", self.port);
            super::print_log_tail(&what, &self.log_path, PANIC_TAIL_LINES);
        }
        let _ = self.kill();
        self.watchdog = None;
    }
}

/// Either a private [`PostgresServer`] or an external server from `DATABASE_URL`.
///
/// Tests call [`url`](Self::url) and [`create_database`](Self::create_database)
/// uniformly. Lifecycle operations only work on a private server; on an
/// external one they return an error of kind [`io::ErrorKind::Unsupported`].
#[derive(Debug)]
pub enum PostgresTarget {
    /// A server started and owned by this process.
    Private(PostgresServer),
    /// An external server; nothing is owned, started or stopped.
    External {
        /// The URL taken from `DATABASE_URL`.
        url: String,
    },
}

impl PostgresTarget {
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
    pub fn server(&self) -> Option<&PostgresServer> {
        match self {
            Self::Private(server) => Some(server),
            Self::External { .. } => None,
        }
    }

    /// Creates database `name` (`[a-z0-9_]+`) via `psql` and returns its URL
    /// (for an external server: its URL with the path replaced).
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        match self {
            Self::Private(server) => server.create_database(name),
            Self::External { url } => {
                validate_db_name(name)?;
                psql_with(url, &format!("CREATE DATABASE \"{name}\""), false)?;
                Ok(with_database(url, name))
            }
        }
    }

    fn private(&mut self, op: &str) -> io::Result<&mut PostgresServer> {
        match self {
            Self::Private(server) => Ok(server),
            Self::External { url } => Err(external_unsupported(op, DATABASE_URL_ENV, url)),
        }
    }

    /// [`PostgresServer::stop`]; unsupported on an external server.
    pub fn stop(&mut self) -> io::Result<()> {
        self.private("stop")?.stop()
    }

    /// [`PostgresServer::kill`]; unsupported on an external server.
    pub fn kill(&mut self) -> io::Result<()> {
        self.private("kill")?.kill()
    }

    /// [`PostgresServer::restart`]; unsupported on an external server.
    pub fn restart(&mut self) -> io::Result<()> {
        self.private("restart")?.restart()
    }
}

/// Returns `url` with its path (database) replaced by `/name`, keeping any query.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| i + authority_start);
    format!("{}/{name}{query}", &base[..path_start])
}

/// Runs `sql` with `psql -X -A -t -q -v ON_ERROR_STOP=1 -d URL -c SQL` and
/// returns its trimmed standard output (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> io::Result<String> {
    psql_with(url, sql, false)
}

/// Whether `pg_isready -h HOST -p PORT` reports the server accepting connections.
pub fn pg_isready(host: &str, port: u16) -> io::Result<bool> {
    let mut cmd = Command::new(client_tool("pg_isready")?);
    cmd.args(["-q", "-t", "2", "-h", host, "-p", &port.to_string(), "-U", SUPERUSER, "-d", "postgres"]);
    Ok(clear_pg_env(&mut cmd).status()?.success())
}

fn psql_with(url: &str, sql: &str, clear_env: bool) -> io::Result<String> {
    let mut cmd = Command::new(client_tool("psql")?);
    cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]);
    if clear_env {
        clear_pg_env(&mut cmd);
    }
    let output = cmd.output()?;
    check_ref(&output, &format!("psql -c {sql:?}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn clear_pg_env(cmd: &mut Command) -> &mut Command {
    PG_ENV.iter().fold(cmd, |cmd, var| cmd.env_remove(var))
}

fn validate_db_name(name: &str) -> io::Result<()> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Ok(());
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid database name {name:?}: use [a-z0-9_]+")))
}

fn check(output: Output, what: &str) -> io::Result<()> {
    check_ref(&output, what)
}

fn check_ref(output: &Output, what: &str) -> io::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// Absolute paths of the server programs.
#[derive(Debug)]
struct Binaries {
    bindir: PathBuf,
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

fn binaries() -> io::Result<&'static Binaries> {
    static BINARIES: OnceLock<Option<Binaries>> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let bindir = server_bindir()?;
        Some(Binaries { initdb: bindir.join("initdb"), pg_ctl: bindir.join("pg_ctl"), bindir })
    })
    .as_ref()
    .ok_or_else(|| {
        super::missing_program(
            "PostgreSQL server (initdb, pg_ctl, postgres)",
            "searched `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH; Debian package `postgresql`",
        )
    })
}

/// `pg_config --bindir`, else the newest `/usr/lib/postgresql/N/bin`, else
/// the directory of `initdb` on PATH (symlinks resolved).
fn server_bindir() -> Option<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| is_executable(&dir.join(b)));
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let newest_versioned = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|entries| {
        let version = |name: &OsStr| -> Vec<u32> {
            name.to_string_lossy().split('.').map(|part| part.parse().unwrap_or(0)).collect()
        };
        entries
            .filter_map(Result::ok)
            .map(|entry| (version(&entry.file_name()), entry.path().join("bin")))
            .filter(|(_, bin)| complete(bin))
            .max()
            .map(|(_, bin)| bin)
    });
    let from_path = super::find_on_path("initdb")
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf));
    [from_pg_config, newest_versioned, from_path].into_iter().flatten().find(|dir| complete(dir))
}

/// A client program from the server's bindir, else from PATH.
fn client_tool(name: &str) -> io::Result<PathBuf> {
    binaries()
        .ok()
        .map(|b| b.bindir.join(name))
        .filter(|p| is_executable(p))
        .or_else(|| super::find_on_path(name))
        .ok_or_else(|| super::missing_program(name, "PostgreSQL client, Debian package `postgresql-client`"))
}

/// How server programs are run: directly, or as an unprivileged user when root.
#[derive(Debug)]
enum Runner {
    Direct,
    As(String),
}

impl Runner {
    fn command(&self, program: &Path) -> Command {
        match self {
            Self::Direct => Command::new(program),
            Self::As(user) => match super::find_on_path("runuser") {
                Some(runuser) => {
                    let mut cmd = Command::new(runuser);
                    cmd.args(["-u", user, "--"]).arg(program);
                    cmd
                }
                None => {
                    let mut cmd = Command::new("su");
                    cmd.args(["-s", "/bin/sh", "-c", "exec \"$0\" \"$@\"", user]).arg(program);
                    cmd
                }
            },
        }
    }
}

fn runner() -> io::Result<&'static Runner> {
    static RUNNER: OnceLock<Result<Runner, String>> = OnceLock::new();
    RUNNER
        .get_or_init(|| if effective_uid() == Some(0) { unprivileged_user().map(Runner::As) } else { Ok(Runner::Direct) })
        .as_ref()
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.clone()))
}

/// The effective uid, from `/proc/self/status` or `id -u`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let from_proc = status.as_deref().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    });
    from_proc.or_else(|| {
        let out = Command::new("id").arg("-u").output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    })
}

fn user_exists(user: &str) -> bool {
    Command::new("id").args(["-u", user]).output().is_ok_and(|o| o.status.success())
}

/// `postgres` if it exists, else `authstore-test`, created if missing.
fn unprivileged_user() -> Result<String, String> {
    if let Some(user) = [SUPERUSER, FALLBACK_USER].into_iter().find(|u| user_exists(u)) {
        return Ok(user.to_owned());
    }
    let created = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/bin/sh", FALLBACK_USER]).output();
    // Another test process may have created it concurrently: re-check.
    if user_exists(FALLBACK_USER) {
        return Ok(FALLBACK_USER.to_owned());
    }
    Err(format!(
        "running as root, PostgreSQL needs an unprivileged user, and neither `{SUPERUSER}` nor \
         `{FALLBACK_USER}` exists and `useradd {FALLBACK_USER}` failed: {created:?}"
    ))
}
