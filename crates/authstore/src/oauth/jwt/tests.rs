//! Unit tests of JWT signing keys: every algorithm signs and verifies against its published JWK, sealing, rotation (on demand and scheduled), and records of earlier versions.

use std::sync::Arc;

use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::*;

mod algs;
use crate::clock::FakeClock;
use crate::memory::MemoryStore;
use crate::oauth::{KeyEncryptionKey, OAuthConfig};
use crate::store::Store;

#[test]
fn jwt_shape() {
    assert!(is_jwt_shaped("aGVhZA.Y2xhaW1z.c2ln"));
    assert!(!is_jwt_shaped("a.b"));
    assert!(!is_jwt_shaped("a.b.c d"));
    assert!(!is_jwt_shaped(&format!("{}.b.c", "a".repeat(9000))));
}

fn oauth(store: &Arc<dyn Store>, clock: &FakeClock, kek: Option<&KeyEncryptionKey>) -> OAuth {
    let config = OAuthConfig {
        key_encryption_key: kek.cloned(),
        jwt_issuer: Some("https://issuer.example".into()),
        ..OAuthConfig::default()
    };
    OAuth::with_config(Arc::clone(store), config, clock.clone()).unwrap()
}

fn store(clock: &FakeClock) -> Arc<dyn Store> {
    Arc::new(MemoryStore::builder().clock(clock.clone()).build().unwrap())
}

async fn record(store: &Arc<dyn Store>, kid: &str) -> StoredKey {
    store
        .get_json::<StoredKey>(&key_key(kid))
        .await
        .unwrap()
        .unwrap()
        .value
}

#[test]
fn a_key_encryption_key_parses_only_32_bytes_and_never_shows_itself() {
    let kek = KeyEncryptionKey::generate().unwrap();
    let text = kek.to_base64url();
    assert_eq!(KeyEncryptionKey::from_base64url(&text).unwrap(), kek);
    assert_eq!(
        KeyEncryptionKey::from_base64url(&format!(" {text}=\n")).unwrap(),
        kek
    );
    for bad in [
        "",
        "AAAA",
        &text[..40],
        &format!("{text}AAAA"),
        "not base64!",
    ] {
        let error = KeyEncryptionKey::from_base64url(bad).unwrap_err();
        assert!(error.to_string().contains("32 bytes"), "{error}");
    }
    let debug = format!("{kek:?}");
    assert!(!debug.contains(&text) && debug.contains(&kek.fingerprint()));
    assert_ne!(
        kek.fingerprint(),
        KeyEncryptionKey::generate().unwrap().fingerprint()
    );
}

#[test]
fn sealing_binds_the_key_id_and_detects_a_wrong_key_or_damage() {
    let kek = KeyEncryptionKey::generate().unwrap();
    let sealed = kek.seal("kid-1", b"private key bytes").unwrap();
    assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key bytes");
    let again = kek.seal("kid-1", b"private key bytes").unwrap();
    assert_ne!(again.nonce, sealed.nonce, "a fresh nonce per encryption");

    let moved = kek.open("kid-2", &sealed).unwrap_err().to_string();
    assert!(moved.contains("damaged or altered"), "{moved}");

    let other = KeyEncryptionKey::generate().unwrap();
    let wrong = other.open("kid-1", &sealed).unwrap_err().to_string();
    assert!(
        wrong.contains(&kek.fingerprint()) && wrong.contains(&other.fingerprint()),
        "{wrong}"
    );

    let mut flipped = sealed.clone();
    let mut bytes = URL_SAFE_NO_PAD.decode(&flipped.ciphertext).unwrap();
    bytes[0] ^= 1;
    flipped.ciphertext = URL_SAFE_NO_PAD.encode(bytes);
    assert!(kek.open("kid-1", &flipped).is_err());
    flipped.ciphertext = "!!".into();
    assert!(kek.open("kid-1", &flipped).is_err());
}

#[tokio::test]
async fn with_a_key_encryption_key_the_private_key_is_stored_sealed() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let kek = KeyEncryptionKey::generate().unwrap();
    let oauth = oauth(&store, &clock, Some(&kek));
    let token = oauth
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({"sub": "u-1"}))
        .await
        .unwrap();
    let kid = oauth.signing_keys().await.unwrap()[0].kid.clone();
    let stored = record(&store, &kid).await;
    assert!(stored.pkcs8.is_none());
    let sealed = stored.sealed.clone().expect("sealed");
    assert_eq!(sealed.kek, kek.fingerprint());
    // The sealed document is the key that signed the token.
    let der = kek.open(&kid, &sealed).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(&der).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.encode(pair.public_key()), stored.public);
    let raw = store.get(&key_key(&kid)).await.unwrap().unwrap().value;
    let seed = &der[16..48];
    assert!(!raw.windows(seed.len()).any(|w| w == seed));
    assert!(!String::from_utf8_lossy(&raw).contains(&URL_SAFE_NO_PAD.encode(&der)));
    assert_eq!(token.split('.').count(), 3);

    // No key-encryption key, or another one: a clear error, no panic.
    let without = oauth_err(&store, &clock, None).await;
    assert!(
        without.contains("no key-encryption key is configured"),
        "{without}"
    );
    let other = KeyEncryptionKey::generate().unwrap();
    let wrong = oauth_err(&store, &clock, Some(&other)).await;
    assert!(wrong.contains(&other.fingerprint()), "{wrong}");
}

async fn oauth_err(
    store: &Arc<dyn Store>,
    clock: &FakeClock,
    kek: Option<&KeyEncryptionKey>,
) -> String {
    let oauth = oauth(store, clock, kek);
    let signing = oauth
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap_err()
        .to_string();
    let checked = oauth.secure_signing_keys().await.unwrap_err().to_string();
    assert_eq!(signing, checked);
    signing
}

#[tokio::test]
async fn a_key_stored_in_clear_is_sealed_once_a_key_encryption_key_is_configured() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let plain = oauth(&store, &clock, None);
    plain
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    let old = plain.rotate_signing_key(SigningAlg::EdDSA).await.unwrap();
    let current = plain.rotate_signing_key(SigningAlg::EdDSA).await.unwrap();
    assert_eq!(
        record(&store, &current).await.protection(),
        KeyProtection::Plaintext
    );
    assert_eq!(
        record(&store, &old).await.protection(),
        KeyProtection::PublicOnly,
        "rotation deleted the outgoing private key"
    );

    let kek = KeyEncryptionKey::generate().unwrap();
    let sealed = oauth(&store, &clock, Some(&kek));
    let upkeep = sealed.secure_signing_keys().await.unwrap();
    assert_eq!(
        upkeep,
        KeyUpkeep {
            sealed: 1,
            stripped: 0
        }
    );
    assert_eq!(
        record(&store, &current).await.protection(),
        KeyProtection::Encrypted {
            kek_fingerprint: kek.fingerprint()
        }
    );
    assert_eq!(
        sealed.secure_signing_keys().await.unwrap(),
        KeyUpkeep::default()
    );
    // Signing still works, with the same key.
    let token = sealed
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], current.as_str());
}

#[tokio::test]
async fn a_rotated_out_key_is_published_for_a_token_lifetime_then_retired() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let kek = KeyEncryptionKey::generate().unwrap();
    let oauth = oauth(&store, &clock, Some(&kek));
    let first = oauth.rotate_signing_key(SigningAlg::EdDSA).await.unwrap();
    let second = oauth.rotate_signing_key(SigningAlg::EdDSA).await.unwrap();
    let keys = oauth.signing_keys().await.unwrap();
    let status =
        |keys: &[SigningKeyInfo], kid: &str| keys.iter().find(|k| k.kid == kid).map(|k| k.status);
    assert_eq!(status(&keys, &second), Some(SigningKeyStatus::Current));
    assert_eq!(status(&keys, &first), Some(SigningKeyStatus::Previous));
    assert_eq!(
        oauth.jwks().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    clock.advance(oauth.publish_after_rotation() + Duration::from_secs(1));
    let keys = oauth.signing_keys().await.unwrap();
    assert_eq!(status(&keys, &first), Some(SigningKeyStatus::Retired));
    let published = oauth.jwks().await.unwrap();
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    assert_eq!(published["keys"][0]["kid"], second.as_str());

    clock.advance(RETIRED_KEPT);
    let keys = oauth.signing_keys().await.unwrap();
    assert_eq!(status(&keys, &first), None, "the retired record expired");
    assert_eq!(status(&keys, &second), Some(SigningKeyStatus::Current));
}
