//! A private PostgreSQL cluster guard for tests (initdb + pg_ctl), or `DATABASE_URL`.
//!
//! PostgreSQL refuses to run as root. When the effective uid is 0, `initdb`
//! and `pg_ctl` run via `runuser -u USER --` as the `postgres` system user if
//! it exists, else as a system user `authstore-test` created on first use,
//! and the cluster's temporary directory under `/tmp` is chowned to that
//! user. Clients (`psql`, `pg_isready`) always run as the current user.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{LOCALHOST, Target, Watchdog, check_output, find_program, free_port, wait_until};

/// Environment variable naming an external PostgreSQL for [`PostgresServer::from_env_or_start`].
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

const SUPERUSER: &str = "postgres";
/// Client environment that would redirect `psql`/`pg_isready` away from a private server.
const PG_ENV: &str = "PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS";
/// Runs when the test process dies without dropping the guard: `$1` data dir, `$2` temp dir.
/// SIGQUIT is PostgreSQL's immediate shutdown; SIGKILL follows if that hangs.
const WATCHDOG_SCRIPT: &str = r#"pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
[ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null && sleep 2 && kill -KILL "$pid" 2>/dev/null
rm -rf "$2""#;

/// Builder for a [`PostgresServer`].
#[derive(Debug, Clone)]
pub struct PostgresServerBuilder {
    fsync: bool,
    tls: bool,
    settings: Vec<(String, String)>,
    start_timeout: Duration,
}

impl PostgresServerBuilder {
    /// Sets `fsync` (default on). Off is faster but voids durability across
    /// OS crashes; keep it on for durability tests.
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Turns on TLS (`ssl = on`) with a throwaway CA and a server
    /// certificate for `127.0.0.1` and `localhost`, made with the `openssl`
    /// CLI; see [`PostgresServer::ca_cert_path`]. Plain connections still work.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
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

    /// Uses the external server in `DATABASE_URL` if it is set and
    /// non-empty, else starts a private one with these settings.
    pub fn from_env_or_start(self) -> io::Result<PostgresTarget> {
        match std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(url) => Ok(Target::External { url }),
            None => self.start().map(Target::Private),
        }
    }

    /// Runs `initdb`, starts the server and waits until `pg_isready` succeeds.
    pub fn start(self) -> io::Result<PostgresServer> {
        let bindir = server_bindir()?;
        let user = super::server_user()?;
        let dir = tempfile::Builder::new()
            .prefix("authstore-pg-")
            .tempdir_in("/tmp")?;
        if let Some(user) = user {
            let mut chown =
                super::command_as(None, &find_program("chown").unwrap_or("chown".into()));
            check_output(
                chown.arg(format!("{user}:")).arg(dir.path()).output()?,
                "chown",
            )?;
        }
        let data_dir = dir.path().join("data");
        let watchdog = Watchdog::spawn(WATCHDOG_SCRIPT, &[data_dir.as_ref(), dir.path().as_ref()])?;
        let mut server = PostgresServer {
            bindir,
            user,
            port: 0,
            fsync: self.fsync,
            start_timeout: self.start_timeout,
            log_path: dir.path().join("postgres.log"),
            data_dir,
            watchdog: Some(watchdog),
            dir,
        };
        let mut initdb = server.server_cmd("initdb");
        initdb.args(["-E", "UTF8", "--locale=C", "--auth=trust", "-U", SUPERUSER]);
        initdb.args((!self.fsync).then_some("--no-sync"));
        check_output(initdb.output()?, "initdb")?;
        let mut settings = self.settings;
        if self.tls {
            settings.extend(server.make_tls_files()?);
        }
        // A port found free may be taken before the postmaster binds it: retry.
        for attempt in 1..=5 {
            server.port = free_port()?;
            server.append_config(&settings)?;
            match server.launch() {
                Err(e) if attempt < 5 && server.log_tail(20).contains("already in use") => drop(e),
                result => return result.map(|()| server),
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// A private PostgreSQL cluster on `127.0.0.1` and a free port, crash-stopped
/// and deleted on drop (printing the log tail first if the thread panics).
///
/// Superuser `postgres` with `trust` auth, UTF8, locale C, and
/// `listen_addresses='127.0.0.1'`, `unix_socket_directories=<tempdir>`,
/// `max_connections=100`, `shared_buffers=128MB`, `fsync` from the builder.
/// The guard is `Send + Sync`, so it can live in a `static OnceLock`.
#[derive(Debug)]
pub struct PostgresServer {
    bindir: &'static Path,
    user: Option<&'static str>,
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
        let start_timeout = Duration::from_secs(30);
        PostgresServerBuilder {
            fsync: true,
            tls: false,
            settings: Vec::new(),
            start_timeout,
        }
    }

    /// Starts a server with the default settings.
    pub fn start() -> io::Result<Self> {
        Self::builder().start()
    }

    /// Uses the external server in `DATABASE_URL` if it is set and
    /// non-empty, else starts a private one.
    pub fn from_env_or_start() -> io::Result<PostgresTarget> {
        Target::from_env_or_start()
    }

    /// The TCP port; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@{LOCALHOST}:{}/{name}", self.port)
    }

    /// The CA certificate (PEM) that signed the server certificate, if the
    /// server was built with [`tls`](PostgresServerBuilder::tls).
    pub fn ca_cert_path(&self) -> Option<PathBuf> {
        let path = self.dir.path().join("tls").join("ca.crt");
        path.exists().then_some(path)
    }

    /// The temporary directory holding the data directory, log and socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of the server log (`<dir>/postgres.log`).
    pub fn log_tail(&self, lines: usize) -> String {
        super::tail_file(&self.log_path, lines)
    }

    /// Whether the postmaster recorded in `postmaster.pid` is alive.
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(super::pid_alive)
    }

    /// Runs `sql` through [`psql`] against the `postgres` database.
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        psql_with(&self.url(), sql, true)
    }

    /// Creates database `name` (which must match `[a-z0-9_]+`) and returns its URL.
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        psql_with(&self.url(), &create_database_sql(name)?, true)?;
        Ok(self.database_url(name))
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`). Does nothing if it is not running.
    pub fn stop(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("fast")
    }

    /// Crash-stops the server with `pg_ctl stop -m immediate` (no shutdown
    /// checkpoint, so the next start runs WAL crash recovery). Does nothing
    /// if it is not running.
    pub fn kill(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("immediate")
    }

    /// Starts the server again with the same port and data directory,
    /// stopping it cleanly first if it is running, and waits until it is ready.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no shutdown
    /// checkpoint, so the next start replays the WAL) and starts it again.
    pub fn crash_and_restart(&mut self) -> io::Result<()> {
        self.kill()?;
        self.launch()
    }

    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// `initdb`/`pg_ctl` with `-D DATA`, run as the server user when root.
    fn server_cmd(&self, program: &str) -> Command {
        let mut cmd = super::command_as(self.user, &self.bindir.join(program));
        cmd.current_dir(self.dir.path()).env_remove("PGDATA");
        cmd.arg("-D").arg(&self.data_dir);
        cmd
    }

    /// Makes the CA and server certificate in `<dir>/tls`, readable by the
    /// server's user only, and returns the settings that use them.
    fn make_tls_files(&self) -> io::Result<Vec<(String, String)>> {
        let openssl = find_program("openssl").ok_or_else(|| {
            super::missing_program(
                "openssl",
                "needed to generate test certificates; it is in the Debian package `openssl`",
            )
        })?;
        let tls = self.dir.path().join("tls");
        std::fs::create_dir(&tls)?;
        super::redis_tls::make_certificates(&openssl, &tls)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        if let Some(user) = self.user {
            let mut chown =
                super::command_as(None, &find_program("chown").unwrap_or("chown".into()));
            check_output(
                chown.arg("-R").arg(format!("{user}:")).arg(&tls).output()?,
                "chown",
            )?;
        }
        let quoted = |name: &str| format!("'{}'", tls.join(name).display());
        Ok(vec![
            ("ssl".into(), "on".into()),
            ("ssl_cert_file".into(), quoted("server.crt")),
            ("ssl_key_file".into(), quoted("server.key")),
        ])
    }

    fn append_config(&self, extra: &[(String, String)]) -> io::Result<()> {
        let (port, dir) = (self.port, self.dir.path().display());
        let fsync = if self.fsync { "on" } else { "off" };
        let mut conf = format!(
            "\n# authstore-testkit harness\nlisten_addresses = '{LOCALHOST}'\nport = {port}\n\
             unix_socket_directories = '{dir}'\nfsync = {fsync}\nmax_connections = 100\n\
             shared_buffers = 128MB\n"
        );
        for (name, value) in extra {
            let _ = writeln!(conf, "{name} = {value}");
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(self.data_dir.join("postgresql.conf"))?;
        file.write_all(conf.as_bytes())
    }

    /// `pg_ctl start`, then waits for `pg_isready`.
    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = self.server_cmd("pg_ctl");
        let timeout = self.start_timeout.as_secs().max(1).to_string();
        cmd.arg("-l")
            .arg(&self.log_path)
            .args(["-w", "-t", &timeout, "start"]);
        let started = check_output(cmd.output()?, "pg_ctl start");
        let ready = |port| pg_isready(LOCALHOST, port).unwrap_or(false);
        if started.is_ok() && wait_until(self.start_timeout, || ready(self.port)) {
            return Ok(());
        }
        let _ = self.kill();
        let why = match started {
            Ok(_) => format!("not ready within {:?}", self.start_timeout),
            Err(e) => e.to_string(),
        };
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
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.args(["-m", mode, "-w", "-t", "30", "stop"]);
        check_output(cmd.output()?, &format!("pg_ctl stop -m {mode}")).map(drop)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let what = format!("PostgreSQL {LOCALHOST}:{}", self.port);
            super::print_log_tail(&what, &self.log_path, 50);
        }
        let _ = self.kill();
        self.watchdog = None;
    }
}

/// A private [`PostgresServer`], or the external server named by `DATABASE_URL`.
pub type PostgresTarget = Target<PostgresServer>;

super::impl_server!(PostgresServer, DATABASE_URL_ENV);

impl Target<PostgresServer> {
    /// Creates database `name` (`[a-z0-9_]+`) via `psql` and returns its URL
    /// (for an external server: its URL with the path replaced).
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        match self {
            Self::Private(server) => server.create_database(name),
            Self::External { url } => {
                psql_with(url, &create_database_sql(name)?, false)?;
                Ok(with_database(url, name))
            }
        }
    }
}

/// Returns `url` with its path (database) replaced by `/name`, keeping any query.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| i + authority);
    format!("{}/{name}{query}", &base[..path])
}

/// Runs `sql` with `psql -X -A -t -q -v ON_ERROR_STOP=1 -d URL -c SQL` and
/// returns its trimmed standard output (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> io::Result<String> {
    psql_with(url, sql, false)
}

/// Whether `pg_isready -h HOST -p PORT` reports the server accepting connections.
pub fn pg_isready(host: &str, port: u16) -> io::Result<bool> {
    let mut cmd = client("pg_isready", true)?;
    let port = port.to_string();
    cmd.args(["-q", "-t", "2", "-h", host, "-p", &port]);
    cmd.args(["-U", SUPERUSER, "-d", SUPERUSER]);
    Ok(cmd.status()?.success())
}

fn psql_with(url: &str, sql: &str, clear_env: bool) -> io::Result<String> {
    let mut cmd = client("psql", clear_env)?;
    cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
    cmd.arg("-d").arg(url).arg("-c").arg(sql);
    let output = check_output(cmd.output()?, &format!("psql -c {sql:?}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A client program from the server's bindir, else from PATH, with the
/// `PG*` environment that could redirect it removed if `clear_env`.
fn client(name: &str, clear_env: bool) -> io::Result<Command> {
    let in_bindir = server_bindir().ok().map(|dir| dir.join(name));
    let program = in_bindir
        .filter(|p| super::is_executable(p))
        .or_else(|| find_program(name));
    let detail = "PostgreSQL client, Debian package `postgresql-client`";
    let mut cmd = Command::new(program.ok_or_else(|| super::missing_program(name, detail))?);
    for var in PG_ENV.split(' ').filter(|_| clear_env) {
        cmd.env_remove(var);
    }
    Ok(cmd)
}

fn create_database_sql(name: &str) -> io::Result<String> {
    let valid = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    if !name.is_empty() && name.bytes().all(valid) {
        return Ok(format!("CREATE DATABASE \"{name}\""));
    }
    let msg = format!("invalid database name {name:?}: use [a-z0-9_]+");
    Err(io::Error::new(io::ErrorKind::InvalidInput, msg))
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `pg_config
/// --bindir`, else the newest `/usr/lib/postgresql/N/bin`, else the directory
/// of `initdb` on PATH with symlinks resolved. Looked up once.
fn server_bindir() -> io::Result<&'static Path> {
    static BINDIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let search = || {
        let mut candidates = Vec::new();
        if let Some(Ok(out)) =
            find_program("pg_config").map(|p| Command::new(p).arg("--bindir").output())
        {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        let mut versioned: Vec<(Vec<u32>, PathBuf)> = Vec::new();
        let entries = std::fs::read_dir("/usr/lib/postgresql");
        for entry in entries.into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.split('.').map(|n| n.parse().unwrap_or(0)).collect();
            versioned.push((version, entry.path().join("bin")));
        }
        versioned.sort();
        candidates.extend(versioned.into_iter().rev().map(|(_, bin)| bin));
        if let Some(Ok(initdb)) = find_program("initdb").map(std::fs::canonicalize) {
            candidates.extend(initdb.parent().map(Path::to_path_buf));
        }
        let complete = |dir: &PathBuf| {
            let bins = ["initdb", "pg_ctl", "postgres"];
            bins.iter().all(|b| super::is_executable(&dir.join(b)))
        };
        candidates.into_iter().find(complete)
    };
    BINDIR.get_or_init(search).as_deref().ok_or_else(|| {
        let searched = "searched `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH; \
                        Debian package `postgresql`";
        super::missing_program("the PostgreSQL server (initdb, pg_ctl, postgres)", searched)
    })
}
