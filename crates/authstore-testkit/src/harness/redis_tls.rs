//! A private TLS-only `redis-server` with a throwaway CA for tests.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::ManagedProcess;
use super::redis_cluster::redis_cli;
use super::{
    LOCALHOST, Watchdog, check_output, find_program, free_port, missing_program, wait_until,
};

const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const PANIC_TAIL_LINES: usize = 50;
/// Runs when the test process dies without dropping the guard: `$1` pid, `$2` dir.
const WATCHDOG_SCRIPT: &str = "kill -9 \"$1\" 2>/dev/null; sleep 0.2; rm -rf \"$2\"";
/// Extensions of the server certificate, as webpki/rustls clients want them.
const SERVER_EXTENSIONS: &str = "basicConstraints=critical,CA:FALSE\n\
    keyUsage=critical,digitalSignature\n\
    extendedKeyUsage=serverAuth\n\
    subjectAltName=IP:127.0.0.1,DNS:localhost\n\
    subjectKeyIdentifier=hash\n\
    authorityKeyIdentifier=keyid\n";

/// A private `redis-server` that serves only TLS (`--port 0 --tls-port P`)
/// on `127.0.0.1`, killed on drop.
///
/// At start it generates, with the `openssl` CLI, a throwaway CA
/// (`<dir>/ca.crt`) and a P-256 server certificate for `127.0.0.1` and
/// `localhost` signed by it (`<dir>/server.crt`, `<dir>/server.key`), valid
/// for 7 days. Clients are not asked for certificates
/// (`--tls-auth-clients no`); they must trust [`ca_cert_path`](Self::ca_cert_path).
/// Persistence is off and the log is `<dir>/redis.log`. Debian's
/// `redis-server` is built with TLS support. There is no external-server
/// escape hatch. The guard is `Send + Sync`.
#[derive(Debug)]
pub struct RedisTlsServer {
    binary: PathBuf,
    port: u16,
    log_path: PathBuf,
    process: ManagedProcess,
    dir: tempfile::TempDir,
}

impl RedisTlsServer {
    /// Generates the certificates, starts the server and waits until it
    /// answers `PING` over TLS (`redis-cli --tls --cacert ca.crt`).
    pub fn start() -> io::Result<Self> {
        let binary = find_program("redis-server").ok_or_else(|| {
            missing_program(
                "redis-server",
                "not found on PATH; it is in the Debian package `redis-server`",
            )
        })?;
        let openssl = find_program("openssl").ok_or_else(|| {
            missing_program(
                "openssl",
                "needed to generate test certificates; it is in the Debian package `openssl`",
            )
        })?;
        redis_cli(["--version"])?;
        let dir = tempfile::Builder::new()
            .prefix("authstore-redis-tls-")
            .tempdir()?;
        make_certificates(&openssl, dir.path())?;
        let mut server = Self {
            binary,
            port: 0,
            log_path: dir.path().join("redis.log"),
            process: ManagedProcess::default(),
            dir,
        };
        // A port found free may be taken before redis binds it: retry a few times.
        for attempt in 1..=5 {
            server.port = free_port()?;
            File::create(&server.log_path)?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(_) if attempt < 5 && server.log_tail(20).contains("Address already in use") => {
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// `rediss://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://{LOCALHOST}:{}", self.port)
    }

    /// The TLS port; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM certificate of the CA that signed the server certificate.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The PEM server certificate (SANs `IP:127.0.0.1`, `DNS:localhost`).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// The server's working directory, holding certificates and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        super::tail_file(&self.log_path, lines)
    }

    /// Runs `redis-cli --tls --cacert <ca> -h 127.0.0.1 -p PORT <args>`
    /// against this server; see [`redis_cli`].
    pub fn cli(&self, args: &[&str]) -> io::Result<String> {
        tls_cli(&self.ca_cert_path(), self.port, args)
    }

    /// Whether the server process is alive (it may still be starting).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Stops the server gracefully (`SHUTDOWN NOSAVE` over TLS), killing it
    /// if it has not exited within 10 s. Does nothing if it is not running.
    pub fn stop(&mut self) -> io::Result<()> {
        let (ca, port) = (self.ca_cert_path(), self.port);
        // The server closes the connection instead of replying; ignore errors.
        let shutdown = || drop(tls_cli(&ca, port, &["SHUTDOWN", "NOSAVE"]));
        self.process.stop_with(shutdown, STOP_TIMEOUT)
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(&mut self) -> io::Result<()> {
        self.process.kill()
    }

    /// Starts the server again on the same port, directory and certificates,
    /// stopping it first if it is running, and waits until it answers.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// Spawns `redis-server` with TLS on `self.port` and waits until it answers.
    fn launch(&mut self) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let dir = self.dir.path();
        let file = |name: &str| dir.join(name);
        let child = Command::new(&self.binary)
            .args(["--bind", LOCALHOST, "--port", "0"])
            .args(["--tls-port", &self.port.to_string()])
            .arg("--tls-cert-file")
            .arg(file("server.crt"))
            .arg("--tls-key-file")
            .arg(file("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(file("ca.crt"))
            .args(["--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&self.log_path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let pid = child.id().to_string();
        self.process.set_child(child);
        let args = [OsStr::new(&pid), self.dir.path().as_os_str()];
        match Watchdog::spawn(WATCHDOG_SCRIPT, &args).and_then(|w| {
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

    fn wait_ready(&self) -> io::Result<()> {
        let mut exited = None;
        let ready = wait_until(START_TIMEOUT, || {
            match self.process.lock().as_mut().map(Child::try_wait) {
                Some(Ok(None)) => {}
                other => {
                    exited = Some(format!("{other:?}"));
                    return true;
                }
            }
            self.cli(&["PING"]).is_ok_and(|reply| reply == "PONG")
        });
        let problem = match exited {
            Some(status) => {
                format!("exited during startup ({status}; is it built with TLS support?)")
            }
            None if ready => return Ok(()),
            None => format!("did not answer PING over TLS within {START_TIMEOUT:?}"),
        };
        Err(io::Error::other(format!(
            "TLS redis-server on {LOCALHOST}:{} {problem}; last lines of {}:\n{}",
            self.port,
            self.log_path.display(),
            self.log_tail(30)
        )))
    }
}

impl Drop for RedisTlsServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let what = format!("TLS redis-server {LOCALHOST}:{}", self.port);
            super::print_log_tail(&what, &self.log_path, PANIC_TAIL_LINES);
        }
        let _ = self.kill();
    }
}

/// Runs `redis-cli --tls --cacert <ca> -h 127.0.0.1 -p PORT <args>`.
fn tls_cli(ca: &Path, port: u16, args: &[&str]) -> io::Result<String> {
    let port = port.to_string();
    let tls = [OsStr::new("--tls"), OsStr::new("--cacert"), ca.as_os_str()];
    let target = ["-h", LOCALHOST, "-p", &port].map(OsStr::new);
    redis_cli(
        tls.into_iter()
            .chain(target)
            .chain(args.iter().map(OsStr::new)),
    )
}

/// Writes `ca.{key,crt}` and `server.{key,crt}` (P-256) into `dir` with `openssl`.
pub(super) fn make_certificates(openssl: &Path, dir: &Path) -> io::Result<()> {
    // Each command line is split on whitespace: no argument contains any.
    let run = |command: &str| -> io::Result<()> {
        let output = Command::new(openssl)
            .args(command.split_whitespace())
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()?;
        check_output(output, &format!("openssl {command}")).map(drop)
    };
    let new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run(&format!(
        "req -x509 {new_key} -keyout ca.key -out ca.crt -days 7 -subj /CN=authstore-test-CA \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    ))?;
    run(&format!(
        "req -new {new_key} -keyout server.key -out server.csr -subj /CN=localhost"
    ))?;
    std::fs::write(dir.join("server.ext"), SERVER_EXTENSIONS)?;
    run(
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
         -extfile server.ext -out server.crt",
    )
}
