//! Signing algorithms and rotation: access and ID tokens signed with their configured algorithms (EdDSA, RS256, ES256) and sealed at rest; `key_rotation` and the `[tokens]` algorithms in the config; no signing key in clear on a persistent store; scheduled rotation (once across instances, audited, stopped on shutdown); `authstore keys rotate --alg` through the real binary.

mod common;
mod keys_support;
mod ops_support;

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{KeyEncryptionKey, NewClient, SigningAlg};
use authstore::{Clock as _, Store};
use authstore_server::AppState;
use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
use authstore_server::signing_keys::{rotate_due, spawn_rotation};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::start;
use keys_support::*;
use serde_json::Value;

#[tokio::test]
async fn access_and_id_tokens_sign_with_their_configured_algorithms_and_keys_stay_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sqlite(dir.path()).await;
    let kek = KeyEncryptionKey::generate().unwrap();
    let server = start(Arc::clone(&store), |s| {
        s.jwt_access_tokens = true;
        s.oauth.access_token_alg = SigningAlg::ES256;
        s.oauth.id_token_alg = SigningAlg::RS256;
        s.oauth.key_encryption_key = Some(kek.clone());
    })
    .await;
    let mut new = NewClient::confidential("api", "https://app.example/cb");
    new.scopes = vec!["read".into()];
    let client = server.state.oauth().register_client(new).await.unwrap();
    let (status, body) = post_token(
        &server.base,
        &client.client.client_id,
        client.secret.as_deref().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(part(&access, 0)["alg"], "ES256");
    assert_eq!(part(&access, 0)["typ"], "at+jwt");
    let id_token = sign_id_token(&server.state).await.unwrap();
    assert_eq!(part(&id_token, 0)["alg"], "RS256");
    assert_eq!(part(&id_token, 0)["typ"], "JWT");

    let (_, jwks) = get_json(&format!("{}/jwks", server.base)).await;
    let keys = jwks["keys"].as_array().unwrap();
    let mut types: Vec<&str> = keys.iter().map(|k| k["kty"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(types, ["EC", "RSA"], "{jwks}");
    assert!(verifies(&access, &jwks) && verifies(&id_token, &jwks));
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(rsa["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256,
        "2048-bit RSA"
    );
    let ec = keys.iter().find(|k| k["kty"] == "EC").unwrap();
    assert_eq!(ec["crv"], "P-256");

    // Both private keys are sealed; neither is anywhere in the store in clear.
    let mut secrets = Vec::new();
    for token in [&access, &id_token] {
        let kid = part(token, 0)["kid"].as_str().unwrap().to_owned();
        let record: Value = key_record(&store, &kid).await;
        assert_eq!(record["alg"], part(token, 0)["alg"]);
        assert!(record.get("pkcs8").is_none(), "{record}");
        secrets.extend(encodings(&unseal(&record, &kid, &kek)));
    }
    for (key, value) in dump(&store).await {
        for secret in &secrets {
            assert!(!contains(&value, secret), "private key material in {key}");
        }
    }
}

fn resolve(toml: &str, store: &str) -> Result<ServeConfig, String> {
    let file = ConfigFile::parse(&format!("store = \"{store}\"\n{toml}"), "test.toml")
        .map_err(|e| e.to_string())?;
    ServeConfig::resolve(&Overrides::default(), Some(&file), &|_| None).map_err(|e| e.to_string())
}

#[test]
fn the_config_sets_algorithms_and_rotation_and_names_bad_values() {
    let c = resolve("", "memory://").unwrap();
    assert_eq!(c.settings.oauth.access_token_alg, SigningAlg::EdDSA);
    assert_eq!(c.settings.oauth.id_token_alg, SigningAlg::RS256);
    assert_eq!(
        c.settings.key_rotation,
        Some(Duration::from_secs(30 * 86_400))
    );
    let c = resolve(
        "key_rotation = \"7d\"\n[tokens]\naccess_token_alg = \"RS256\"\nid_token_alg = \"ES256\"\n",
        "memory://",
    )
    .unwrap();
    assert_eq!(c.settings.oauth.access_token_alg, SigningAlg::RS256);
    assert_eq!(c.settings.oauth.id_token_alg, SigningAlg::ES256);
    assert_eq!(
        c.settings.key_rotation,
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(
        resolve("key_rotation = \"off\"\n", "memory://")
            .unwrap()
            .settings
            .key_rotation,
        None
    );
    assert_eq!(
        resolve("key_rotation = 7200\n", "memory://")
            .unwrap()
            .settings
            .key_rotation,
        Some(Duration::from_secs(7200))
    );
    for (toml, names) in [
        ("key_rotation = \"soon\"\n", "key_rotation"),
        ("key_rotation = \"5m\"\n", "key_rotation"),
        ("key_rotation = 0\n", "key_rotation"),
        (
            "[tokens]\naccess_token_alg = \"HS256\"\n",
            "tokens.access_token_alg",
        ),
        (
            "[tokens]\nid_token_alg = \"rs256\"\n",
            "tokens.id_token_alg",
        ),
        ("[tokens]\nid_token_alg = \"none\"\n", "tokens.id_token_alg"),
    ] {
        let error = resolve(toml, "memory://").unwrap_err();
        assert!(error.contains(names), "{toml}: {error}");
    }
    let error = resolve("[tokens]\nid_token_alg = \"none\"\n", "memory://").unwrap_err();
    assert!(
        error.contains("\"EdDSA\", \"RS256\" or \"ES256\""),
        "{error}"
    );
}

#[test]
fn a_persistent_store_never_holds_a_signing_key_in_clear() {
    // In-process stores may keep keys in clear; persistent ones never.
    let memory = resolve("", "memory://").unwrap();
    assert!(!memory.settings.oauth.require_key_encryption);
    let sqlite = resolve("", "sqlite:///tmp/never-opened.db").unwrap();
    assert!(sqlite.settings.oauth.require_key_encryption);
    // OpenID Connect on by default, without a key-encryption key: switched
    // off with a warning, so nothing promises ID tokens it cannot sign.
    assert!(memory.settings.openid);
    assert!(!sqlite.settings.openid);
    assert!(
        sqlite
            .warnings
            .iter()
            .any(|w| w.contains("OpenID Connect is off") && w.contains(KEK_ENV)),
        "{:?}",
        sqlite.warnings
    );
    assert!(
        !memory.warnings.iter().any(|w| w.contains("OpenID")),
        "{:?}",
        memory.warnings
    );
    // Switched on explicitly, it is refused at start instead.
    let error = resolve(
        "[openid]\nenabled = true\n",
        "sqlite:///tmp/never-opened.db",
    )
    .unwrap_err();
    assert!(
        error.contains("[openid]") && error.contains(KEK_ENV),
        "{error}"
    );
    // JWT access tokens sign from the first token: refused at start.
    let error = resolve(
        "[tokens]\nformat = \"jwt\"\n",
        "sqlite:///tmp/never-opened.db",
    )
    .unwrap_err();
    assert!(error.contains(KEK_ENV), "{error}");
}

#[tokio::test]
async fn without_a_key_encryption_key_a_persistent_server_refuses_to_create_keys_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sqlite(dir.path()).await;
    let server = start(Arc::clone(&store), |s| {
        s.oauth.require_key_encryption = true;
    })
    .await;
    let error = sign_id_token(&server.state).await.unwrap_err();
    assert_eq!(error.code(), "server_error");
    assert!(
        server
            .state
            .oauth()
            .signing_keys()
            .await
            .unwrap()
            .is_empty()
    );
    for (key, _) in dump(&store).await {
        assert!(!key.starts_with("oauth-signing-key"), "{key}");
    }
}

fn audited_rotations(events: &[authstore::audit::AuditEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.action == "keys.rotated")
        .map(|e| {
            (
                e.metadata["alg"].as_str().unwrap().to_owned(),
                e.metadata["kid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn scheduled_rotation_rotates_old_keys_once_audits_it_and_stops_on_shutdown() {
    let clock = authstore::FakeClock::new();
    let store: Arc<dyn Store> = Arc::new(
        authstore::MemoryStore::builder()
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let month = Duration::from_secs(30 * 86_400);
    let state = |store: &Arc<dyn Store>| {
        let mut settings = common::settings("http://127.0.0.1:1");
        settings.jwt_access_tokens = true;
        settings.key_rotation = Some(month);
        AppState::with_clock(Arc::clone(store), settings, clock.clone()).unwrap()
    };
    let (a, b) = (state(&store), state(&store));
    let oauth = a.oauth();
    oauth
        .sign_id_token(oauth.id_token_alg(), &serde_json::json!({}))
        .await
        .unwrap();
    oauth.rotate_signing_key(SigningAlg::EdDSA).await.unwrap();
    assert!(rotate_due(&a, month).await.is_empty(), "young keys stay");

    clock.advance(month);
    let (first, second) = tokio::join!(rotate_due(&a, month), rotate_due(&b, month));
    let mut rotated: Vec<(String, String)> = first
        .into_iter()
        .chain(second)
        .map(|(alg, kid)| (alg.as_str().to_owned(), kid))
        .collect();
    rotated.sort();
    assert_eq!(
        rotated
            .iter()
            .map(|(alg, _)| alg.as_str())
            .collect::<Vec<_>>(),
        ["EdDSA", "RS256"],
        "each key rotated once, by one of the two instances"
    );
    let events = a
        .audit_log()
        .events()
        .in_time_range(std::time::SystemTime::UNIX_EPOCH, clock.now() + month)
        .await
        .unwrap();
    let mut audited = audited_rotations(&events);
    audited.sort();
    assert_eq!(audited, rotated);
    for event in &events {
        let text = serde_json::to_string(&event.metadata).unwrap();
        assert!(
            !text.contains("pkcs8") && !text.contains("sealed"),
            "{text}"
        );
    }

    // The task checks at once, then hourly, and ends when told to stop.
    clock.advance(month);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = spawn_rotation(&a, async move {
        let _ = stop_rx.await;
    })
    .expect("rotation is on");
    let rotated_again = async {
        loop {
            let keys = oauth.signing_keys().await.unwrap();
            if keys.len() == 6 {
                return keys;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let keys = tokio::time::timeout(Duration::from_secs(30), rotated_again)
        .await
        .expect("the first check runs at start");
    assert_eq!(
        keys.iter()
            .filter(|k| k.status == authstore::oauth::SigningKeyStatus::Current)
            .count(),
        2
    );
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops on shutdown")
        .unwrap();

    let mut off = common::settings("http://127.0.0.1:1");
    off.key_rotation = None;
    let off = AppState::with_clock(Arc::clone(&store), off, clock.clone()).unwrap();
    assert!(spawn_rotation(&off, std::future::pending()).is_none());
}

fn rotate_json(config: &str, kek: &str, extra: &[&str]) -> Output {
    let mut args = vec!["keys", "rotate", "--json", "--config", config];
    args.extend_from_slice(extra);
    run(&args, &[(KEK_ENV, kek)])
}

#[tokio::test]
async fn keys_rotate_by_algorithm_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = jwt_config(dir.path());
    let kek = KeyEncryptionKey::generate().unwrap().to_base64url();

    // A new store: the configured algorithms (EdDSA access tokens, RS256 ID tokens).
    let out = rotate_json(&config, &kek, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let algs: Vec<&str> = first["rotated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["EdDSA", "RS256"], "{first}");
    assert_eq!(first["alg"], "EdDSA");
    assert_eq!(first["current"], first["rotated"][0]["current"]);

    // One algorithm by name; a new one (ES256) starts being used.
    let out = rotate_json(&config, &kek, &["--alg", "RS256"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rs["alg"], "RS256");
    assert_eq!(rs["previous"], first["rotated"][1]["current"]);
    assert!(rs["previous_published_until"].as_u64().is_some());
    let out = rotate_json(&config, &kek, &["--alg", "ES256"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let listed = list(&config, &kek);
    let keys = listed["keys"].as_array().unwrap();
    let current = |alg: &str| {
        keys.iter()
            .filter(|k| k["alg"] == alg && k["status"] == "current")
            .count()
    };
    assert_eq!(
        (current("EdDSA"), current("RS256"), current("ES256")),
        (1, 1, 1)
    );
    assert_eq!(keys.len(), 4, "{listed}");
    for key in keys {
        if key["status"] == "current" {
            assert_eq!(key["private_key"], "encrypted", "{key}");
        }
    }
    let out = run(&["keys", "list", "--config", &config], &[(KEK_ENV, &kek)]);
    let table = text(&out.stdout);
    assert!(
        table.contains("RS256") && table.contains("ES256") && table.contains("EdDSA"),
        "{table}"
    );

    // No --alg: every algorithm in use.
    let out = rotate_json(&config, &kek, &[]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["rotated"].as_array().unwrap().len(), 3, "{all}");

    // An unknown algorithm: a usage error naming the accepted ones.
    let out = rotate_json(&config, &kek, &["--alg", "HS256"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"EdDSA\", \"RS256\" or \"ES256\""),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_rotates_an_old_key_at_start_and_logs_only_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let config = jwt_config(dir.path());
    let kek = KeyEncryptionKey::generate().unwrap();
    let kek_text = kek.to_base64url();
    // A key made 40 days ago, as a server then would have made it.
    let (store, _) = sqlite(dir.path()).await;
    let then =
        authstore::FakeClock::at_millis(authstore::SystemClock.now_millis() - 40 * 86_400 * 1000);
    let old_config = authstore::oauth::OAuthConfig {
        key_encryption_key: Some(kek.clone()),
        ..Default::default()
    };
    let old = authstore::oauth::OAuth::with_config(Arc::clone(&store), old_config, then)
        .unwrap()
        .rotate_signing_key(SigningAlg::EdDSA)
        .await
        .unwrap();
    drop(store);

    let mut server =
        ops_support::Server::start_with(&["--config", &config], &[(KEK_ENV, &kek_text)]);
    let line = server.wait_for("signing key rotated on schedule", Duration::from_secs(30));
    let logged: Value = serde_json::from_str(&line).unwrap();
    let new = logged["fields"]["kid"]
        .as_str()
        .or_else(|| logged["kid"].as_str())
        .unwrap_or_else(|| panic!("kid in {line}"))
        .to_owned();
    assert_ne!(new, old);
    server.wait_for("keys.rotated", Duration::from_secs(10));
    let (status, body) = post_token(
        &format!("http://{}", server.addr),
        "api",
        "s3cret-s3cret-s3cret-s3cret-s3cret",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        part(body["access_token"].as_str().unwrap(), 0)["kid"],
        new.as_str()
    );
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(30)).success());
    assert!(!server.log.iter().any(|l| l.contains(&kek_text)));

    let listed = list(&config, &kek_text);
    let status_of = |kid: &str| {
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["status"].clone())
    };
    assert_eq!(status_of(&old), Some("previous".into()));
    assert_eq!(status_of(&new), Some("current".into()));
}

#[tokio::test]
async fn serve_on_a_persistent_store_without_a_key_encryption_key_starts_with_openid_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opaque.toml");
    std::fs::write(
        &path,
        format!(
            "store = \"sqlite://{}\"\n{}",
            dir.path().join("auth.db").display(),
            ops_support::FAST_HASHING
        ),
    )
    .unwrap();
    let mut server = ops_support::Server::start(&["--config", path.to_str().unwrap()]);
    assert!(
        server.logged("OpenID Connect is off"),
        "{}",
        server.log.join("\n")
    );
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(30)).success());
    let (store, _) = sqlite(dir.path()).await;
    for (key, _) in dump(&store).await {
        assert!(!key.starts_with("oauth-signing-key"), "{key}");
    }
}
