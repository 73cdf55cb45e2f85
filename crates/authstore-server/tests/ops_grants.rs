//! `authstore grant list|revoke` and `authstore session list|revoke` run as the real binary against an SQLite file, then checked in the store.

use std::process::Output;
use std::sync::Arc;

use authstore::oauth::{Client, NewClient, OAuth};
use authstore::session::{SessionManager, SessionMeta, SessionUser};
use authstore::{Store, SystemClock};
use serde_json::Value;

mod ops_support;

use ops_support::grants::{REDIRECT, active, grant};

struct Env {
    _dir: tempfile::TempDir,
    url: String,
    config: String,
    store: Arc<dyn Store>,
}

impl Env {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("fast.toml");
        std::fs::write(&config, ops_support::FAST_HASHING).unwrap();
        let url = format!("sqlite://{}", dir.path().join("auth.db").display());
        let store = authstore::open(&url).await.unwrap();
        Self {
            _dir: dir,
            url,
            config: config.display().to_string(),
            store,
        }
    }

    /// Runs the binary with `args`, `--store` and `--config`.
    fn run(&self, args: &[&str]) -> Output {
        ops_support::authstore()
            .args(args)
            .args(["--store", &self.url, "--config", &self.config])
            .output()
            .unwrap()
    }

    /// [`run`](Self::run), expecting success and JSON on standard output.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn oauth(&self) -> OAuth {
        OAuth::with_config(
            Arc::clone(&self.store),
            ops_support::fast_settings().oauth,
            SystemClock,
        )
        .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn app(oauth: &OAuth, name: &str) -> Client {
    let mut new = NewClient::public(name, REDIRECT);
    new.scopes = vec!["read".into()];
    oauth.register_client(new).await.unwrap().client
}

#[tokio::test]
async fn grants_are_listed_and_revoked_by_user_by_client_and_by_id() {
    let env = Env::new().await;
    let oauth = env.oauth();
    let notes = app(&oauth, "Notes").await;
    let photos = app(&oauth, "Photos").await;
    let ada_notes = grant(&oauth, &notes, "u-ada").await;
    let ada_photos = grant(&oauth, &photos, "u-ada").await;
    let bob_notes = grant(&oauth, &notes, "u-bob").await;

    let listed = env.json(&["grant", "list", "--user", "u-ada", "--json"]);
    let clients: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(clients, [&notes.client_id, &photos.client_id]);
    assert!(
        listed[0]["grant_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(listed[0]["scope"], "read");

    let out = env.run(&["grant", "list", "--client", &notes.client_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert_eq!(printed.lines().count(), 2, "{printed}");
    assert!(
        printed.contains("user u-ada") && printed.contains("user u-bob"),
        "{printed}"
    );

    let out = env.run(&["grant", "list"]);
    assert_eq!(out.status.code(), Some(2), "--user or --client is required");
    let out = env.run(&["grant", "list", "--user", "u-ada", "--client", "x"]);
    assert_eq!(out.status.code(), Some(2), "not both");

    // Every grant of a user, with their tokens.
    assert_eq!(
        env.json(&["grant", "revoke", "--user", "u-ada", "--json"]),
        serde_json::json!({"revoked": 2})
    );
    assert!(!active(&oauth, &ada_notes).await && !active(&oauth, &ada_photos).await);
    assert!(active(&oauth, &bob_notes).await, "Bob's grant stays");
    assert_eq!(
        env.json(&["grant", "list", "--user", "u-ada", "--json"]),
        serde_json::json!([])
    );

    // One grant by id.
    let bobs = env.json(&["grant", "list", "--user", "u-bob", "--json"]);
    let id = bobs[0]["grant_id"].as_str().unwrap().to_owned();
    let out = env.run(&["grant", "revoke", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("revoked 1 live grant(s)"));
    assert!(!active(&oauth, &bob_notes).await);

    // Every grant of a client.
    let again = grant(&oauth, &photos, "u-cat").await;
    assert_eq!(
        env.json(&["grant", "revoke", "--client", &photos.client_id, "--json"]),
        serde_json::json!({"revoked": 1})
    );
    assert!(!active(&oauth, &again).await);
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_or_all() {
    let env = Env::new().await;
    let sessions = SessionManager::new(Arc::clone(&env.store));
    for agent in ["Firefox", "Chromium"] {
        let meta = SessionMeta {
            ip: Some("192.0.2.7".into()),
            user_agent: Some(agent.into()),
            device: None,
        };
        sessions
            .create(Some(SessionUser::new("u-ada")), meta)
            .await
            .unwrap();
    }
    let bob = sessions
        .create(Some(SessionUser::new("u-bob")), SessionMeta::default())
        .await
        .unwrap();

    let listed = env.json(&["session", "list", "--user", "u-ada", "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let mut agents: Vec<&str> = listed
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    agents.sort_unstable();
    assert_eq!(agents, ["Chromium", "Firefox"]);
    assert!(listed.iter().all(|s| s["ip"] == "192.0.2.7"));
    let out = env.run(&["session", "list", "--user", "u-ada"]);
    assert!(text(&out.stdout).contains("from 192.0.2.7  signed in "));

    // Bob's handle is not Ada's session: refused, nothing ended.
    let out = env.run(&[
        "session",
        "revoke",
        "--user",
        "u-ada",
        "--handle",
        bob.handle().as_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(sessions.list_for_user("u-bob").await.unwrap().len(), 1);
    let out = env.run(&["session", "revoke", "--user", "u-ada", "--handle", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["session", "revoke", "--user", "u-ada"]);
    assert_eq!(out.status.code(), Some(2), "--all or --handle is required");

    let one = listed[0]["handle"].as_str().unwrap();
    assert_eq!(
        env.json(&[
            "session", "revoke", "--user", "u-ada", "--handle", one, "--json"
        ]),
        serde_json::json!({"ended": 1})
    );
    assert_eq!(sessions.list_for_user("u-ada").await.unwrap().len(), 1);
    assert_eq!(
        env.json(&["session", "revoke", "--user", "u-ada", "--all", "--json"]),
        serde_json::json!({"ended": 1})
    );
    assert!(sessions.list_for_user("u-ada").await.unwrap().is_empty());
    assert_eq!(sessions.list_for_user("u-bob").await.unwrap().len(), 1);
}
