//! Signing keys at rest and file modes: with JWT access tokens and a key-encryption key, no private key material is in the store in clear and `/jwks` still verifies issued tokens; a wrong or missing key-encryption key fails clearly; `authstore keys list|rotate` through the real binary; export files and SQLite databases are created with mode 0600.

mod common;
mod keys_support;
mod ops_support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use authstore::Store;
use authstore::oauth::{KeyEncryptionKey, NewClient};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::start;
use keys_support::*;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::Value;

#[tokio::test]
async fn jwt_signing_keys_are_encrypted_at_rest_and_jwks_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sqlite(dir.path()).await;
    let kek = KeyEncryptionKey::generate().unwrap();
    let server = start(Arc::clone(&store), |s| {
        s.jwt_access_tokens = true;
        s.oauth.key_encryption_key = Some(kek.clone());
    })
    .await;
    let mut new = NewClient::confidential("api", "https://app.example/cb");
    new.scopes = vec!["read".into()];
    let client = server.state.oauth().register_client(new).await.unwrap();
    let secret = client.secret.unwrap();
    let id = &client.client.client_id;

    let (status, first) = post_token(&server.base, id, &secret).await;
    assert_eq!(status, 200, "{first}");
    let token = first["access_token"].as_str().unwrap().to_owned();
    let (_, jwks) = get_json(&format!("{}/jwks", server.base)).await;
    assert!(verifies(&token, &jwks), "the token verifies against /jwks");
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "/jwks publishes no private part");
    }

    // The stored record holds the key sealed, not in clear.
    let kid = part(&token, 0)["kid"].as_str().unwrap().to_owned();
    let record: Value = key_record(&store, &kid).await;
    assert!(record.get("pkcs8").is_none(), "{record}");
    let pkcs8 = unseal(&record, &kid, &kek);
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.encode(pair.public_key()),
        jwks["keys"][0]["x"].as_str().unwrap(),
        "the sealed key is the published one"
    );
    // The JWK `d` of an Ed25519 key is its 32-byte seed (PKCS#8 bytes 16..48).
    let seed = &pkcs8[16..48];
    let secrets: Vec<Vec<u8>> = encodings(seed)
        .into_iter()
        .chain(encodings(&pkcs8))
        .collect();

    // A rotation: the new key is sealed too, and the old one keeps no private key.
    server
        .state
        .oauth()
        .rotate_signing_key(authstore::oauth::SigningAlg::EdDSA)
        .await
        .unwrap();
    let (_, second) = post_token(&server.base, id, &secret).await;
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    let (_, jwks) = get_json(&format!("{}/jwks", server.base)).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert!(verifies(&token, &jwks) && verifies(&second_token, &jwks));
    let new_kid = part(&second_token, 0)["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, kid);
    let new_record: Value = key_record(&store, &new_kid).await;
    let new_pkcs8 = unseal(&new_record, &new_kid, &kek);
    let secrets: Vec<Vec<u8>> = secrets
        .into_iter()
        .chain(encodings(&new_pkcs8[16..48]))
        .chain(encodings(&new_pkcs8))
        .collect();

    // No entry of the store, and no byte of the database files, holds either private key.
    for (key, value) in dump(&store).await {
        for secret in &secrets {
            assert!(!contains(&value, secret), "private key material in {key}");
        }
    }
    for name in ["auth.db", "auth.db-wal"] {
        let path = dir.path().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            for secret in &secrets {
                assert!(!contains(&bytes, secret), "private key material in {name}");
            }
        }
    }
}

/// A second server on a store `start` already set up (its user exists).
async fn start_again(
    store: Arc<dyn Store>,
    tweak: impl FnOnce(&mut authstore_server::Settings),
) -> common::Server {
    let (listener, base) = common::bind().await;
    let mut settings = common::settings(&base);
    tweak(&mut settings);
    let state = authstore_server::AppState::new(store, settings).unwrap();
    common::serve(listener, &state);
    common::Server { base, state }
}

#[tokio::test]
async fn a_wrong_key_encryption_key_fails_clearly_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sqlite(dir.path()).await;
    let right = KeyEncryptionKey::generate().unwrap();
    let first = start(Arc::clone(&store), |s| {
        s.jwt_access_tokens = true;
        s.oauth.key_encryption_key = Some(right.clone());
    })
    .await;
    let mut new = NewClient::confidential("api", "https://app.example/cb");
    new.scopes = vec!["read".into()];
    let client = first.state.oauth().register_client(new).await.unwrap();
    let secret = client.secret.unwrap();
    let (status, _) = post_token(&first.base, &client.client.client_id, &secret).await;
    assert_eq!(status, 200);

    let wrong = KeyEncryptionKey::generate().unwrap();
    let second = start_again(Arc::clone(&store), |s| {
        s.jwt_access_tokens = true;
        s.oauth.key_encryption_key = Some(wrong.clone());
    })
    .await;
    let (status, body) = post_token(&second.base, &client.client.client_id, &secret).await;
    assert_eq!(status, 500, "a server-side configuration error: {body}");
    assert_eq!(body["error"], "server_error");
    assert!(body.get("access_token").is_none());
    let (status, _) = get_json(&format!("{}/jwks", second.base)).await;
    assert_eq!(status, 200, "the server still answers");
    // The library says which key-encryption key sealed the key, and never shows a key.
    let error = second
        .state
        .oauth()
        .secure_signing_keys()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&right.fingerprint()) && error.contains(&wrong.fingerprint()),
        "{error}"
    );
    assert!(!error.contains(&right.to_base64url()) && !error.contains(&wrong.to_base64url()));
}

#[tokio::test]
async fn keys_list_and_rotate_through_the_binary_and_serve_checks_the_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = jwt_config(dir.path());
    let kek = KeyEncryptionKey::generate().unwrap();
    let kek_text = kek.to_base64url();

    let empty = list(&config, &kek_text);
    assert_eq!(empty["keys"], serde_json::json!([]));
    assert_eq!(empty["key_encryption_key"], kek.fingerprint().as_str());

    // rotate: a first key, then a second; the first stays published, without its private key.
    let out = run(
        &[
            "keys", "rotate", "--alg", "EdDSA", "--json", "--config", &config,
        ],
        &[(KEK_ENV, &kek_text)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first_kid = first["current"].as_str().unwrap().to_owned();
    let out = run(
        &["keys", "rotate", "--config", &config],
        &[(KEK_ENV, &kek_text)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&first_kid),
        "{}",
        text(&out.stdout)
    );
    let keys = list(&config, &kek_text);
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let current = keys.iter().find(|k| k["status"] == "current").unwrap();
    let previous = keys.iter().find(|k| k["status"] == "previous").unwrap();
    assert_eq!(previous["kid"], first_kid.as_str());
    assert_eq!(current["alg"], "EdDSA");
    assert_eq!(current["private_key"], "encrypted");
    assert_eq!(current["kek_fingerprint"], kek.fingerprint().as_str());
    assert_eq!(previous["private_key"], "public-only");
    assert!(
        previous["published_until"].as_u64().unwrap() > current["created_at"].as_u64().unwrap()
    );
    for key in keys {
        let fields: Vec<&String> = key.as_object().unwrap().keys().collect();
        assert!(
            !fields
                .iter()
                .any(|f| ["pkcs8", "sealed", "ciphertext", "d"].contains(&f.as_str())),
            "{key}"
        );
    }
    // The table form says the same.
    let out = run(
        &["keys", "list", "--config", &config],
        &[(KEK_ENV, &kek_text)],
    );
    let table = text(&out.stdout);
    assert!(table.contains("current") && table.contains("previous") && table.contains("EdDSA"));

    // A wrong key-encryption key: rotate and serve refuse, exit status 2, naming both fingerprints.
    let wrong = KeyEncryptionKey::generate().unwrap();
    let wrong_text = wrong.to_base64url();
    let out = run(
        &["keys", "rotate", "--config", &config],
        &[(KEK_ENV, &wrong_text)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(said.contains("wrong key-encryption key"), "{said}");
    assert!(said.contains(&kek.fingerprint()) && said.contains(&wrong.fingerprint()));
    assert!(!said.contains(&wrong_text));
    let out = run(
        &["serve", "--listen", "127.0.0.1:0", "--config", &config],
        &[(KEK_ENV, &wrong_text)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("wrong key-encryption key"));
    // No key-encryption key at all: serve refuses JWTs on a persistent store.
    let out = run(
        &["serve", "--listen", "127.0.0.1:0", "--config", &config],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(KEK_ENV), "{}", text(&out.stderr));
    // A malformed one: exit status 2, without echoing it.
    let out = run(
        &["keys", "list", "--config", &config],
        &[(KEK_ENV, "hunter2-not-a-key")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out.stderr).contains("hunter2"),
        "{}",
        text(&out.stderr)
    );

    // The right key, from a file: the server starts and signs with the current key.
    let key_file = dir.path().join("kek");
    std::fs::write(&key_file, format!("{kek_text}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut server = ops_support::Server::start_with(
        &["--config", &config],
        &[(KEK_FILE_ENV, key_file.to_str().unwrap())],
    );
    let base = format!("http://{}", server.addr);
    let (status, body) = post_token(&base, "api", "s3cret-s3cret-s3cret-s3cret-s3cret").await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(part(token, 0)["kid"], current["kid"]);
    let (_, jwks) = get_json(&format!("{base}/jwks")).await;
    assert!(verifies(token, &jwks));
    assert!(!server.log.iter().any(|l| l.contains(&kek_text)));
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(30)).success());

    // Replacing the key-encryption key is explicit, and leaves nothing under the old one.
    let out = run(
        &[
            "keys",
            "rotate",
            "--replace-encryption-key",
            "--config",
            &config,
        ],
        &[(KEK_ENV, &wrong_text)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys = list(&config, &wrong_text);
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for key in keys {
        if key["status"] == "current" {
            assert_eq!(key["kek_fingerprint"], wrong.fingerprint().as_str());
        } else {
            assert_eq!(key["private_key"], "public-only", "{key}");
        }
    }
    let out = run(
        &["keys", "rotate", "--config", &config],
        &[(KEK_ENV, &kek_text)],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "the old key-encryption key is now the wrong one"
    );
}

/// Whether the umask lets a new file be read by others (else a 0600 check proves nothing).
fn umask_is_permissive(dir: &Path) -> bool {
    let probe = dir.join("probe");
    std::fs::write(&probe, b"").unwrap();
    std::fs::metadata(&probe).unwrap().permissions().mode() & 0o077 != 0
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn sqlite_databases_and_export_files_are_created_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let permissive = umask_is_permissive(dir.path());
    let (_fast_dir, fast) = ops_support::fast_config();
    let db = dir.path().join("users.db");
    let url = format!("sqlite://{}", db.display());
    let mut child = authstore()
        .args([
            "user",
            "add",
            "ada",
            "--password-stdin",
            "--store",
            &url,
            "--config",
            &fast,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"correct horse battery staple\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        mode(&db),
        0o600,
        "the database file (umask permissive: {permissive})"
    );
    for side in ["users.db-wal", "users.db-shm"] {
        let path = dir.path().join(side);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{side}");
        }
    }

    // An export: a new file, a compressed one, and an existing world-readable one.
    let existing = dir.path().join("existing.jsonl");
    std::fs::write(&existing, b"old").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    for name in ["export.jsonl", "export.jsonl.zst", "existing.jsonl"] {
        let path = dir.path().join(name);
        let out = run(
            &["export", "--store", &url, "--out", path.to_str().unwrap()],
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(mode(&path), 0o600, "{name}");
        assert!(
            std::fs::metadata(&path).unwrap().len() > 3,
            "{name} was written"
        );
    }
}

#[tokio::test]
async fn sqlite_wal_and_shm_files_are_owner_only_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sqlite(dir.path()).await;
    store
        .put("probe:1", b"x", authstore::PutOptions::new())
        .await
        .unwrap();
    // While the store is open, SQLite keeps its -wal and -shm files beside the database.
    for name in ["auth.db", "auth.db-wal", "auth.db-shm"] {
        let path = dir.path().join(name);
        assert!(path.exists(), "{name} exists while the store is open");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
}
