//! `authstore user add` and `authstore client add` run as the real binary against an SQLite file, then checked in the store.

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use authstore::credentials::{Credentials, LoginOutcome};
use authstore::oauth::{AuthMethod, GrantType, OAuth};
use authstore::{Store, SystemClock};

mod ops_support;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fast.toml"), ops_support::FAST_HASHING).unwrap();
        Self { dir }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("auth.db").display())
    }

    fn config(&self) -> String {
        self.dir.path().join("fast.toml").display().to_string()
    }

    /// Runs the binary with `args`, `--config fast.toml`, and `stdin` on standard input.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with(args, stdin, |_| {})
    }

    fn run_with(
        &self,
        args: &[&str],
        stdin: &str,
        env: impl FnOnce(&mut std::process::Command),
    ) -> Output {
        let mut command = ops_support::authstore();
        command.args(args).args(["--config", &self.config()]);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        env(&mut command);
        let mut child = command.spawn().unwrap();
        // A command that does not read its input may exit before it is written.
        if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        child.wait_with_output().unwrap()
    }

    async fn store(&self) -> Arc<dyn Store> {
        authstore::open(&self.url()).await.unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fast_credentials(store: Arc<dyn Store>) -> Credentials {
    Credentials::with_config(store, ops_support::fast_settings().credentials, SystemClock).unwrap()
}

#[tokio::test]
async fn user_add_writes_the_user_to_the_store() {
    let env = Env::new();
    let url = env.url();
    let out = env.run(
        &[
            "user",
            "add",
            "Alice",
            "--password-stdin",
            "--user-id",
            "u-1",
            "--store",
            &url,
            "--json",
        ],
        "correct horse\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["username"].as_str(), json["user_id"].as_str()),
        (Some("Alice"), Some("u-1"))
    );
    assert!(
        !text(&out.stderr).contains("correct horse"),
        "the password is never logged"
    );
    let credentials = fast_credentials(env.store().await);
    let login = credentials
        .authenticate("alice", "correct horse")
        .await
        .unwrap();
    assert_eq!(
        login,
        LoginOutcome::Authenticated {
            user_id: "u-1".into()
        }
    );

    let again = env.run(
        &["user", "add", "alice", "--password-stdin", "--store", &url],
        "other\n",
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already exists"));
    let random_id = env.run(
        &["user", "add", "bob", "--password-stdin", "--store", &url],
        "pw\r\n",
    );
    assert!(random_id.status.success(), "{}", text(&random_id.stderr));
    assert!(text(&random_id.stdout).contains("created user \"bob\" with user_id "));
    let login = fast_credentials(env.store().await)
        .authenticate("bob", "pw")
        .await
        .unwrap();
    assert!(
        matches!(login, LoginOutcome::Authenticated { .. }),
        "CRLF stripped: {login:?}"
    );

    let empty = env.run(
        &["user", "add", "carol", "--password-stdin", "--store", &url],
        "\n",
    );
    assert_eq!(empty.status.code(), Some(2));
    let no_flag = env.run(&["user", "add", "carol", "--store", &url], "pw\n");
    assert_eq!(
        no_flag.status.code(),
        Some(2),
        "--password-stdin is required"
    );
}

#[tokio::test]
async fn client_add_prints_the_id_and_the_secret_once() {
    let env = Env::new();
    let url = env.url();
    let out = env.run(
        &[
            "client",
            "add",
            "--name",
            "Backend",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "read write",
            "--scope",
            "admin",
            "--store",
            &url,
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let client_id = json["client_id"].as_str().unwrap();
    let secret = json["client_secret"]
        .as_str()
        .expect("a confidential client's secret");
    assert_eq!(json["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(json["scope"], "read write admin");
    assert!(
        !text(&out.stderr).contains(secret),
        "the secret is printed on stdout only"
    );
    let oauth = OAuth::new(env.store().await).unwrap();
    let client = oauth
        .authenticate_client(client_id, Some(secret))
        .await
        .unwrap();
    assert_eq!(client.name, "Backend");
    assert_eq!(
        client.redirect_uris,
        ["https://app.example/cb", "http://127.0.0.1/cb"]
    );
    assert_eq!(client.scopes, ["read", "write", "admin"]);
    assert!(client.allows(GrantType::ClientCredentials));

    let public = env.run(
        &[
            "client",
            "add",
            "--name",
            "CLI",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--store",
            &url,
        ],
        "",
    );
    assert!(public.status.success(), "{}", text(&public.stderr));
    let stdout = text(&public.stdout);
    let client_id = stdout
        .strip_prefix("client_id: ")
        .map(str::trim)
        .expect("client_id line");
    assert!(!stdout.contains("client_secret"), "{stdout}");
    let client = OAuth::new(env.store().await)
        .unwrap()
        .client(client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (client.auth_method, client.is_confidential()),
        (AuthMethod::None, false)
    );
    assert!(!client.allows(GrantType::ClientCredentials));

    let bad = env.run(
        &[
            "client",
            "add",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://evil.example/cb",
            "--store",
            &url,
        ],
        "",
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("invalid_redirect_uri"));
}

#[test]
fn the_store_comes_from_the_environment_and_memory_is_warned_about() {
    let env = Env::new();
    let db = env.dir.path().join("from-env.db");
    let database_url = format!("sqlite://{}", db.display());
    let out = env.run_with(&["user", "add", "dora", "--password-stdin"], "pw\n", |c| {
        c.env("DATABASE_URL", &database_url);
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(Path::new(&db).exists(), "DATABASE_URL named the store");
    let out = env.run(&["user", "add", "eve", "--password-stdin"], "pw\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("lost when it exits"),
        "{}",
        text(&out.stderr)
    );
}
