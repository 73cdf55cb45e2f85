//! `authstore user …` and `authstore client …` run as the real binary: against an SQLite file, and end to end against a private redis-server; what they print, their exit statuses, and what they leave in the store.

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::sync::Arc;

use authstore::credentials::{Credentials, LoginOutcome};
use authstore::oauth::OAuth;
use authstore::session::{SessionManager, SessionMeta, SessionUser};
use authstore::{Store, SystemClock};
use serde_json::Value;

mod ops_support;

use ops_support::grants::{REDIRECT, active, entries_naming, grant};

struct Env {
    url: String,
    config: String,
    store: Arc<dyn Store>,
}

impl Env {
    /// Runs the binary with `args`, `--store`, `--config` and `stdin`.
    fn run_with(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = ops_support::authstore()
            .args(args)
            .args(["--store", &self.url, "--config", &self.config])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, "")
    }

    /// [`run_with`](Self::run_with), expecting success and JSON on standard output.
    fn json_with(&self, args: &[&str], stdin: &str) -> Value {
        let out = self.run_with(args, stdin);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        self.json_with(args, "")
    }

    fn oauth(&self) -> OAuth {
        OAuth::with_config(
            Arc::clone(&self.store),
            ops_support::fast_settings().oauth,
            SystemClock,
        )
        .unwrap()
    }

    fn credentials(&self) -> Credentials {
        Credentials::with_config(
            Arc::clone(&self.store),
            ops_support::fast_settings().credentials,
            SystemClock,
        )
        .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every user and client command through the binary, on the store `env` names.
async fn walkthrough(env: &Env) {
    let ada = env.json_with(
        &[
            "user",
            "add",
            "ada",
            "--password-stdin",
            "--user-id",
            "u-ada-5e1",
            "--json",
        ],
        "first pass\n",
    );
    assert_eq!(ada["user_id"], "u-ada-5e1");
    env.json_with(
        &["user", "add", "bob", "--password-stdin", "--json"],
        "bob pass\n",
    );
    let client = env.json(&[
        "client",
        "add",
        "--name",
        "Notes",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "read",
        "--json",
    ]);
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let old_secret = client["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(client["origin"], "operator");
    let oauth = env.oauth();
    let notes = oauth.client(&client_id).await.unwrap().unwrap();
    let ada_tokens = grant(&oauth, &notes, "u-ada-5e1").await;
    let sessions = SessionManager::new(Arc::clone(&env.store));
    let meta = SessionMeta {
        ip: Some("198.51.100.4".into()),
        ..SessionMeta::default()
    };
    sessions
        .create(Some(SessionUser::new("u-ada-5e1")), meta)
        .await
        .unwrap();

    // Users.
    let listed = env.json(&["user", "list", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada", "bob"]);
    assert!(!text(&env.run(&["user", "list"]).stdout).contains("$argon2"));
    let shown = env.json(&["user", "show", "ADA", "--json"]);
    assert_eq!(shown["sessions"][0]["ip"], "198.51.100.4");
    assert_eq!(shown["grants"][0]["client_id"], client_id.as_str());
    assert_eq!(shown["disabled"], false);

    let disabled = env.json(&["user", "disable", "ada", "--json"]);
    assert_eq!(disabled["user"]["disabled"], true);
    assert_eq!(disabled["sessions_ended"], 1);
    assert_eq!(disabled["grants_revoked"], 1);
    assert!(
        !active(&oauth, &ada_tokens).await,
        "the grant's token ends at once"
    );
    let creds = env.credentials();
    assert_eq!(
        creds.authenticate("ada", "first pass").await.unwrap(),
        LoginOutcome::Disabled
    );
    let out = env.run(&["user", "enable", "ada"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("enabled user \"ada\""));
    let reset = env.json_with(
        &[
            "user",
            "set-password",
            "ada",
            "--password-stdin",
            "--end-sessions",
            "--json",
        ],
        "second pass\n",
    );
    assert_eq!(reset["sessions_ended"], 0);
    assert!(matches!(
        creds.authenticate("ada", "second pass").await.unwrap(),
        LoginOutcome::Authenticated { .. }
    ));
    for (args, stdin, code) in [
        (vec!["user", "show", "nobody"], "", 1),
        (vec!["user", "disable", "nobody"], "", 1),
        (vec!["user", "delete", "nobody"], "", 1),
        (
            vec!["user", "set-password", "ada", "--password-stdin"],
            "\n",
            2,
        ),
        (vec!["user", "set-password", "ada"], "x\n", 2),
    ] {
        let out = env.run_with(&args, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    let live = grant(&oauth, &notes, "u-ada-5e1").await;
    let deleted = env.json(&["user", "delete", "ada", "--json"]);
    assert_eq!(deleted["user"]["user_id"], "u-ada-5e1");
    assert_eq!(deleted["grants_revoked"], 1);
    assert!(!active(&oauth, &live).await);
    assert_eq!(
        entries_naming(&env.store, "u-ada-5e1").await,
        Vec::<String>::new()
    );
    let listed = env.json(&["user", "list", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Clients.
    let bob_tokens = grant(&oauth, &notes, "u-bob").await;
    let listed = env.json(&["client", "list", "--json"]);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert!(!listed.to_string().contains("argon2"));
    let shown = env.json(&["client", "show", &client_id, "--json"]);
    assert_eq!(shown["grants"].as_array().unwrap().len(), 1);
    let updated = env.json(&[
        "client",
        "update",
        &client_id,
        "--name",
        "Notes 2",
        "--scope",
        "read write",
        "--json",
    ]);
    assert_eq!(updated["client_name"], "Notes 2");
    assert_eq!(updated["scope"], "read write");
    assert_eq!(updated["redirect_uris"][0], REDIRECT, "untouched");
    for args in [
        vec!["client", "update", client_id.as_str()],
        vec![
            "client",
            "update",
            client_id.as_str(),
            "--redirect-uri",
            "http://notes.example/cb",
        ],
    ] {
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let rotated = env.json(&[
        "client",
        "rotate-secret",
        &client_id,
        "--secret-ttl",
        "30d",
        "--json",
    ]);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["client_secret_expires_at"].as_u64().unwrap() > 0);
    assert!(
        oauth
            .authenticate_client(&client_id, Some(&old_secret))
            .await
            .is_err()
    );
    assert!(
        oauth
            .authenticate_client(&client_id, Some(new_secret))
            .await
            .is_ok()
    );
    assert!(active(&oauth, &bob_tokens).await, "rotation keeps grants");
    let deleted = env.json(&["client", "delete", &client_id, "--json"]);
    assert_eq!(deleted["grants_revoked"], 1);
    assert!(
        !active(&oauth, &bob_tokens).await,
        "deletion ends its tokens"
    );
    for args in [
        vec!["client", "show", client_id.as_str()],
        vec!["client", "delete", client_id.as_str()],
        vec!["client", "rotate-secret", client_id.as_str()],
    ] {
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        env.json(&["client", "list", "--json"]),
        Value::Array(Vec::new())
    );
    audit_trail(env, &client_id);
}

/// `authstore audit` finds what the commands above did, by user, client,
/// action and time; bad times are usage errors.
fn audit_trail(env: &Env, client_id: &str) {
    let actions = |events: &Value| -> Vec<String> {
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    let ada = env.json(&[
        "audit",
        "--user",
        "u-ada-5e1",
        "--action",
        "user.",
        "--json",
    ]);
    assert_eq!(
        actions(&ada),
        [
            "user.created",
            "user.disabled",
            "user.enabled",
            "user.password_set",
            "user.deleted"
        ]
    );
    assert!(
        ada.as_array()
            .unwrap()
            .iter()
            .all(|e| e["metadata"]["by"] == "operator")
    );
    let client = env.json(&["audit", "--client", client_id, "--since", "1h", "--json"]);
    assert_eq!(
        actions(&client),
        [
            "client.created",
            "client.updated",
            "client.secret_rotated",
            "client.deleted"
        ]
    );
    let last = env.json(&["audit", "--client", client_id, "--limit", "1", "--json"]);
    assert_eq!(actions(&last), ["client.deleted"], "the newest");
    let none = env.json(&[
        "audit",
        "--since",
        "2000-01-01",
        "--until",
        "2000-01-02T00:00:00Z",
        "--json",
    ]);
    assert_eq!(none, Value::Array(Vec::new()));
    let out = env.run(&["audit", "--user", "u-ada-5e1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("user.deleted  success  user=u-ada-5e1"),
        "{printed}"
    );
    for args in [
        vec!["audit", "--since", "yesterday"],
        vec!["audit", "--since", "1m", "--until", "2h"],
    ] {
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[tokio::test]
async fn user_and_client_commands_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fast.toml");
    std::fs::write(&config, ops_support::FAST_HASHING).unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let env = Env {
        store: authstore::open(&url).await.unwrap(),
        url,
        config: config.display().to_string(),
    };
    walkthrough(&env).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn user_and_client_commands_on_redis() {
    use authstore_testkit::harness::redis::RedisServer;

    // A private server: the test scans every key it holds.
    let server = RedisServer::start().expect("start redis-server");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fast.toml");
    std::fs::write(&config, ops_support::FAST_HASHING).unwrap();
    let url = server.url();
    let env = Env {
        store: authstore::open(&url).await.unwrap(),
        url,
        config: config.display().to_string(),
    };
    walkthrough(&env).await;
}

/// Client ids and user ids are base64url and may start with `-`: the
/// commands take them as values, not as flags.
#[tokio::test]
async fn ids_that_start_with_a_hyphen_are_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fast.toml");
    std::fs::write(&config, ops_support::FAST_HASHING).unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let env = Env {
        store: authstore::open(&url).await.unwrap(),
        url,
        config: config.display().to_string(),
    };
    let added = env.json_with(
        &[
            "user",
            "add",
            "-dash",
            "--password-stdin",
            "--user-id",
            "-u1",
            "--json",
        ],
        "a password\n",
    );
    assert_eq!(added["user_id"], "-u1");
    assert_eq!(
        env.json(&["user", "show", "-dash", "--json"])["user_id"],
        "-u1"
    );
    assert_eq!(
        env.json(&["grant", "list", "--user", "-u1", "--json"]),
        Value::Array(Vec::new())
    );
    assert_eq!(
        env.json(&["grant", "revoke", "--client", "-cyoa", "--json"])["revoked"],
        0
    );
    assert_eq!(
        env.json(&["session", "list", "--user", "-u1", "--json"]),
        Value::Array(Vec::new())
    );
    let out = env.run(&["client", "show", "-cyoa"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no client \"-cyoa\""),
        "{}",
        text(&out.stderr)
    );
}
