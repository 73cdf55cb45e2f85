//! The server driven by an independent client in another language: `tests/interop/authlib_flow.py`, on Python's authlib, runs registration, code + PKCE through the sign-in and consent forms, refresh, introspection, revocation, client credentials and an OpenID Connect sign-in (ID token, userinfo) against a server started here.
//!
//! Needs `python3` with `authlib` and `requests`
//! (`python3 -m pip install -r tests/interop/requirements.txt`; `scripts/test`
//! does, and sets `AUTHSTORE_REQUIRE_INTEROP=1`, which turns a missing
//! Python or authlib into a failure). Without them, and without that
//! variable, the test prints why it skips. `AUTHSTORE_PYTHON` names
//! another interpreter.

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::MemoryStore;
use common::{PASSWORD, USER, start};

/// The server's RFC 7591 initial access token, handed to the script: it registers confidential clients.
const INITIAL_ACCESS_TOKEN: &str = "authlib-interop-initial-access-token-0123";

/// The trusted introspector the script introspects with (`CLIENT_ID:SECRET`).
const INTROSPECTOR_ID: &str = "authlib-introspector";
const INTROSPECTOR_SECRET: &str = "authlib-introspector-secret-0123456789";

/// The whole script may take this long before it is killed.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);

fn python() -> String {
    std::env::var("AUTHSTORE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Why the interop client cannot run here, if it cannot.
fn missing_client(python: &str) -> Option<String> {
    match Command::new(python)
        .args(["-c", "import authlib, requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Err(e) => Some(format!("{python} cannot be run: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "{python} lacks authlib or requests: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Ok(_) => None,
    }
}

/// Runs the script to its end (or kills it at the deadline); returns (exit success, stdout + stderr).
fn run_script(python: &str, base: &str) -> (bool, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempfile().unwrap();
    let mut child = Command::new(python)
        .arg(dir.join("tests/interop/authlib_flow.py"))
        .arg(base)
        .args([
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--subject",
            "u-ada",
            "--initial-access-token",
            INITIAL_ACCESS_TOKEN,
            "--introspector",
            &format!("{INTROSPECTOR_ID}:{INTROSPECTOR_SECRET}"),
        ])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("AUTHLIB_INSECURE_TRANSPORT")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out.try_clone().unwrap())
        .spawn()
        .expect("the interop script starts");
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    let mut out = out;
    std::io::Seek::rewind(&mut out).unwrap();
    out.read_to_string(&mut text).unwrap();
    match status {
        Some(status) => (status.success(), text),
        None => (false, format!("{text}\n(killed after {SCRIPT_DEADLINE:?})")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_every_grant_against_the_server() {
    let python = python();
    if let Some(why) = missing_client(&python) {
        assert!(
            std::env::var_os("AUTHSTORE_REQUIRE_INTEROP").is_none(),
            "AUTHSTORE_REQUIRE_INTEROP is set but the interop client cannot run: {why}"
        );
        eprintln!(
            "SKIP authlib interop test: {why} (python3 -m pip install -r crates/authstore-server/tests/interop/requirements.txt; scripts/test does)"
        );
        return;
    }
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |s| {
        // OpenID Connect is on by default; its scopes are offered next to the test's own.
        s.scopes_supported
            .extend(["openid".to_owned(), "profile".to_owned()]);
        s.registration_tokens
            .add_token(INITIAL_ACCESS_TOKEN)
            .unwrap();
        s.introspection.trusted = vec![INTROSPECTOR_ID.into()];
    })
    .await;
    server
        .state
        .oauth()
        .put_client(
            INTROSPECTOR_ID,
            authstore::oauth::NewClient::confidential("introspector", "https://rs.example/cb"),
            Some(INTROSPECTOR_SECRET),
        )
        .await
        .unwrap();
    let base = server.base.clone();
    let (ok, output) = tokio::task::spawn_blocking(move || run_script(&python, &base))
        .await
        .unwrap();
    println!("{output}");
    assert!(ok, "the authlib interop script failed:\n{output}");
    assert!(
        output.contains("authlib interop: all"),
        "the script ran every step:\n{output}"
    );
}
