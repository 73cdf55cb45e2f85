//! Helpers shared by the `ops_*` tests: cheap settings, a raw HTTP/1.1 client, and the real `authstore` binary run as a child process.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use authstore_server::Settings;

pub mod grants;

/// Settings with the cheapest argon2 cost, so tests hash fast.
pub fn fast_settings() -> Settings {
    let mut settings = Settings::default();
    settings.oauth.secret_hash_memory_kib = 8;
    settings.oauth.secret_hash_iterations = 1;
    settings.credentials.memory_kib = 8;
    settings.credentials.iterations = 1;
    settings
}

/// The same cheap cost as a config file section.
pub const FAST_HASHING: &str = "[hashing]\nmemory_kib = 8\niterations = 1\n";

/// A temporary config file holding only [`FAST_HASHING`]; keep the directory alive while it is used.
pub fn fast_config() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fast.toml");
    std::fs::write(&path, FAST_HASHING).expect("write config");
    (dir, path.display().to_string())
}

/// The `authstore` binary, with an environment that names no store or config.
pub fn authstore() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authstore"));
    for var in [
        "AUTHSTORE_STORE",
        "AUTHSTORE_LISTEN",
        "AUTHSTORE_ISSUER",
        "AUTHSTORE_CONFIG",
        "AUTHSTORE_LOG_FORMAT",
        "REDIS_URL",
        "DATABASE_URL",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); returns status and body.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    read_response(&mut stream)
}

/// Reads a whole response until the server closes the connection.
pub fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

/// The real binary running `serve`, its stderr (JSON log lines) collected by a thread.
pub struct Server {
    pub child: Child,
    lines: Receiver<String>,
    pub log: Vec<String>,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `authstore --log-format json serve --listen 127.0.0.1:0 <args>` and waits until it listens.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = authstore();
        command.envs(env.iter().copied());
        command
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn authstore");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            log: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let listening = server.wait_for("listening", Duration::from_secs(60));
        let json: serde_json::Value = serde_json::from_str(&listening).expect("a JSON log line");
        server.addr = json["addr"]
            .as_str()
            .expect("addr field")
            .parse()
            .expect("a socket address");
        server
    }

    /// Waits for a log line containing `needle`; panics with the log so far after `timeout`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no log line with {needle:?} in {timeout:?}; log:\n{}",
                    self.log.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the server exited before logging {needle:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends a signal (`TERM`, `INT`) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, at most `timeout`; then drains the rest of its log.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.log.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {timeout:?}; log:\n{}",
                self.log.join("\n")
            );
            while let Ok(line) = self.lines.try_recv() {
                self.log.push(line);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether any log line so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.iter().any(|l| l.contains(needle))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
