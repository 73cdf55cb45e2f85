//! Shared by the signing-key tests: an SQLite store, HTTP helpers, JWS verification against a JWK set of any algorithm, unsealing a stored key as an operator would, store dumps, and the real binary with a JWT config.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use authstore::Store;
use authstore::oauth::{KeyEncryptionKey, OAuthError};
use authstore_server::AppState;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http_body_util::Full;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde_json::Value;

use crate::common::send;
use crate::ops_support;

pub const KEK_ENV: &str = "AUTHSTORE_KEY_ENCRYPTION_KEY";
pub const KEK_FILE_ENV: &str = "AUTHSTORE_KEY_ENCRYPTION_KEY_FILE";

pub async fn sqlite(dir: &Path) -> (Arc<dyn Store>, String) {
    let url = format!("sqlite://{}", dir.join("auth.db").display());
    (authstore::open(&url).await.unwrap(), url)
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let res = send(Request::get(url).body(Full::default()).unwrap()).await;
    (
        res.status().as_u16(),
        serde_json::from_str(res.body()).unwrap_or(Value::Null),
    )
}

pub async fn post_token(base: &str, client_id: &str, secret: &str) -> (u16, Value) {
    let res = send(
        Request::post(format!("{base}/token"))
            .header(
                AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))),
            )
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from_static(
                b"grant_type=client_credentials&scope=read",
            )))
            .unwrap(),
    )
    .await;
    (
        res.status().as_u16(),
        serde_json::from_str(res.body()).unwrap_or(Value::Null),
    )
}

pub fn part(token: &str, i: usize) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// Verifies a compact JWS against the JWK set.
pub fn verifies(token: &str, jwks: &Value) -> bool {
    let kid = part(token, 0)["kid"].clone();
    let Some(key) = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
    else {
        return false;
    };
    if key["alg"] != part(token, 0)["alg"] || key["use"] != "sig" {
        return false;
    }
    let field = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (input, signature) = (input.as_bytes(), URL_SAFE_NO_PAD.decode(signature).unwrap());
    match key["kty"].as_str().unwrap() {
        "OKP" => UnparsedPublicKey::new(&ED25519, field("x"))
            .verify(input, &signature)
            .is_ok(),
        "EC" => {
            let point = [vec![4], field("x"), field("y")].concat();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(input, &signature)
                .is_ok()
        }
        "RSA" => RsaPublicKeyComponents {
            n: field("n"),
            e: field("e"),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, input, &signature)
        .is_ok(),
        _ => false,
    }
}

/// The private key of `kid`: opens its sealed record with `kek` as an
/// operator holding the key-encryption key would (AES-256-GCM, the key id
/// as associated data). Returns the PKCS#8 document.
/// The stored record of the signing key `kid`.
pub async fn key_record(store: &Arc<dyn Store>, kid: &str) -> Value {
    let entry = store
        .get(&format!("oauth-signing-key:{kid}"))
        .await
        .unwrap()
        .expect("the signing key is stored");
    serde_json::from_slice(&entry.value).unwrap()
}

/// An ID token for the test user, signed with the server's ID token algorithm.
pub async fn sign_id_token(state: &AppState) -> Result<String, OAuthError> {
    state
        .oauth()
        .sign_id_token(
            state.oauth().id_token_alg(),
            &serde_json::json!({"sub": "u-ada"}),
        )
        .await
}

pub fn unseal(record: &Value, kid: &str, kek: &KeyEncryptionKey) -> Vec<u8> {
    let sealed = &record["sealed"];
    assert_eq!(sealed["alg"], "A256GCM");
    assert_eq!(sealed["kek"], kek.fingerprint().as_str());
    let key_bytes = URL_SAFE_NO_PAD.decode(kek.to_base64url()).unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key_bytes).unwrap());
    let nonce: [u8; 12] = URL_SAFE_NO_PAD
        .decode(sealed["nonce"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let mut data = URL_SAFE_NO_PAD
        .decode(sealed["ciphertext"].as_str().unwrap())
        .unwrap();
    let aad = format!("authstore oauth-signing-key v1 {kid}");
    key.open_in_place(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut data,
    )
    .expect("the sealed key opens with the key-encryption key")
    .to_vec()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every encoding of `secret` a store or a file might hold it in.
pub fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        URL_SAFE_NO_PAD.encode(secret).into_bytes(),
        STANDARD.encode(secret).into_bytes(),
        secret
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    ]
}

/// Every live entry of the store, keys and values, as raw bytes.
pub async fn dump(store: &Arc<dyn Store>) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 1000).await.unwrap();
        for entry in page.entries {
            all.push((entry.key.clone(), entry.value.to_vec()));
        }
        cursor = page.cursor;
        if cursor.is_none() {
            return all;
        }
    }
}

/// The real binary, with no store, config or key-encryption key from the environment.
pub fn authstore() -> Command {
    let mut command = ops_support::authstore();
    command.env_remove(KEK_ENV).env_remove(KEK_FILE_ENV);
    command
}

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    authstore()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A config for JWT access tokens on an SQLite file, with one confidential client.
pub fn jwt_config(dir: &Path) -> String {
    let path = dir.join("jwt.toml");
    std::fs::write(
        &path,
        format!(
            "store = \"sqlite://{}\"\nscopes_supported = [\"read\"]\n{}\
             [tokens]\nformat = \"jwt\"\n\n\
             [[clients]]\nname = \"api\"\nclient_id = \"api\"\nsecret = \"s3cret-s3cret-s3cret-s3cret-s3cret\"\n\
             scopes = [\"read\"]\nredirect_uris = [\"https://app.example/cb\"]\n\
             grant_types = [\"client_credentials\"]\n",
            dir.join("auth.db").display(),
            ops_support::FAST_HASHING,
        ),
    )
    .unwrap();
    path.display().to_string()
}

pub fn list(config: &str, kek: &str) -> Value {
    let out = run(
        &["keys", "list", "--json", "--config", config],
        &[(KEK_ENV, kek)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(kek) && !text(&out.stderr).contains(kek));
    serde_json::from_slice(&out.stdout).unwrap()
}
