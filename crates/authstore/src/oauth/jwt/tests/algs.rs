//! Unit tests of the three signing algorithms: each signs and verifies against its published JWK alone, keys are sealed whatever the algorithm, an earlier version's record keeps working, and rotation per algorithm, of all at once, and on schedule across instances.

use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::*;

fn decode(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).unwrap()
}

fn header(token: &str) -> Value {
    serde_json::from_slice(&decode(token.split('.').next().unwrap())).unwrap()
}

/// Verifies `token` with ring's verifier for the key its header names,
/// built from nothing but the published JWK's public members.
fn verify_with_jwks(token: &str, jwks: &Value) -> Result<(), String> {
    let header = header(token);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or("no published key with that kid")?;
    assert_eq!(jwk["alg"], header["alg"], "{jwk}");
    assert_eq!(jwk["use"], "sig");
    let field = |name: &str| decode(jwk[name].as_str().unwrap());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = decode(signature);
    use ring::signature as sig;
    let verified = match (jwk["kty"].as_str().unwrap(), jwk["alg"].as_str().unwrap()) {
        ("OKP", "EdDSA") => {
            assert_eq!(jwk["crv"], "Ed25519");
            sig::UnparsedPublicKey::new(&sig::ED25519, field("x"))
                .verify(input.as_bytes(), &signature)
        }
        ("EC", "ES256") => {
            assert_eq!(jwk["crv"], "P-256");
            let (x, y) = (field("x"), field("y"));
            assert_eq!((x.len(), y.len()), (32, 32));
            let point = [&[4u8][..], &x, &y].concat();
            sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(input.as_bytes(), &signature)
        }
        ("RSA", "RS256") => {
            let n = field("n");
            assert!(n.len() * 8 >= 2048 && n[0] != 0, "a 2048-bit modulus");
            assert_eq!(jwk["e"], "AQAB");
            sig::RsaPublicKeyComponents { n, e: field("e") }.verify(
                &sig::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &signature,
            )
        }
        other => panic!("unexpected key type {other:?}"),
    };
    verified.map_err(|_| "bad signature".to_owned())
}

#[test]
fn algorithm_names_parse_exactly_and_say_what_is_accepted() {
    for alg in SigningAlg::ALL {
        assert_eq!(alg.as_str().parse::<SigningAlg>().unwrap(), alg);
        assert_eq!(format!("{alg:<6}|"), format!("{:<6}|", alg.as_str()));
    }
    for bad in ["", "rs256", "HS256", "none", "ES384"] {
        let error = bad.parse::<SigningAlg>().unwrap_err().to_string();
        assert!(
            error.contains("\"EdDSA\", \"RS256\" or \"ES256\""),
            "{error}"
        );
    }
    let long = "x".repeat(1000);
    assert!(long.parse::<SigningAlg>().unwrap_err().to_string().len() < 200);
    let defaults = OAuthConfig::default();
    assert_eq!(defaults.access_token_alg, SigningAlg::EdDSA);
    assert_eq!(defaults.id_token_alg, SigningAlg::RS256);
}

#[tokio::test]
async fn every_algorithm_signs_and_verifies_against_its_published_key() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let oauth = oauth(&store, &clock, None);
    let claims = json!({"sub": "u-1", "aud": "client-1"});
    let mut tokens = Vec::new();
    for alg in SigningAlg::ALL {
        let token = oauth.sign_jwt(alg, "at+jwt", &claims).await.unwrap();
        let head = header(&token);
        assert_eq!(head["alg"], alg.as_str());
        assert_eq!(head["typ"], "at+jwt");
        let body: Value =
            serde_json::from_slice(&decode(token.split('.').nth(1).unwrap())).unwrap();
        assert_eq!(body, claims);
        tokens.push(token);
    }
    let id_token = oauth
        .sign_id_token(oauth.id_token_alg(), &claims)
        .await
        .unwrap();
    assert_eq!(header(&id_token)["typ"], "JWT");
    assert_eq!(header(&id_token)["alg"], "RS256");
    assert_eq!(oauth.id_token_alg(), SigningAlg::RS256);
    assert_eq!(
        header(&id_token)["kid"],
        header(&tokens[1])["kid"],
        "one current key per algorithm, whatever the token type"
    );
    tokens.push(id_token);

    let jwks = oauth.jwks().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3, "{jwks}");
    for token in &tokens {
        verify_with_jwks(token, &jwks).unwrap();
    }
    // A changed claim, or a signature moved to another key, does not verify.
    let (head, rest) = tokens[1].split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(b"{\"sub\":\"admin\"}")
    );
    assert!(verify_with_jwks(&forged, &jwks).is_err());
    for key in jwks["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{key}");
        }
    }
    let listed = oauth.signing_keys().await.unwrap();
    let mut algs: Vec<SigningAlg> = listed.iter().map(|k| k.alg).collect();
    algs.sort();
    assert_eq!(algs, SigningAlg::ALL.to_vec());
    assert!(listed.iter().all(|k| k.status == SigningKeyStatus::Current));
}

#[tokio::test]
async fn a_record_of_an_earlier_version_still_signs_and_verifies() {
    let clock = FakeClock::new();
    let store = store(&clock);
    // An Ed25519 key as earlier versions stored it: no `alg`, the current
    // pointer under its old name.
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let old = json!({
        "kid": "old-format-kid-1",
        "pkcs8": URL_SAFE_NO_PAD.encode(pkcs8.as_ref()),
        "public": URL_SAFE_NO_PAD.encode(pair.public_key()),
        "created_at": 1_700_000_000u64,
    });
    let options = PutOptions::new().index(KEYS_INDEX);
    store
        .put_json("oauth-signing-key:old-format-kid-1", &old, options)
        .await
        .unwrap();
    store
        .put_json(
            "oauth-signing-key:current",
            &json!({"kid": "old-format-kid-1"}),
            PutOptions::new(),
        )
        .await
        .unwrap();

    let oauth = oauth(&store, &clock, None);
    let token = oauth
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({"sub": "u"}))
        .await
        .unwrap();
    assert_eq!(header(&token)["kid"], "old-format-kid-1");
    let jwks = oauth.jwks().await.unwrap();
    verify_with_jwks(&token, &jwks).unwrap();
    assert_eq!(jwks["keys"][0]["x"], old["public"]);
    let keys = oauth.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0].alg, keys[0].status),
        (SigningAlg::EdDSA, SigningKeyStatus::Current)
    );
    assert_eq!(
        oauth.signing_algs_in_use().await.unwrap(),
        vec![SigningAlg::EdDSA]
    );

    // Sealing it later keeps it working, and a new algorithm gets its own pointer.
    let kek = KeyEncryptionKey::generate().unwrap();
    let sealed = oauth_with(&store, &clock, Some(&kek), |_| {});
    assert_eq!(sealed.secure_signing_keys().await.unwrap().sealed, 1);
    let again = sealed
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    assert_eq!(header(&again)["kid"], "old-format-kid-1");
    sealed
        .sign_id_token(SigningAlg::RS256, &json!({}))
        .await
        .unwrap();
    let pointers = store
        .get_json::<Current>("oauth-signing-key:current:RS256")
        .await
        .unwrap();
    assert!(pointers.is_some());
    let old_pointer = store
        .get_json::<Current>("oauth-signing-key:current")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old_pointer.value.kid, "old-format-kid-1");
}

fn oauth_with(
    store: &Arc<dyn Store>,
    clock: &FakeClock,
    kek: Option<&KeyEncryptionKey>,
    tweak: impl FnOnce(&mut OAuthConfig),
) -> OAuth {
    let mut config = OAuthConfig {
        key_encryption_key: kek.cloned(),
        jwt_issuer: Some("https://issuer.example".into()),
        ..OAuthConfig::default()
    };
    tweak(&mut config);
    OAuth::with_config(Arc::clone(store), config, clock.clone()).unwrap()
}

#[tokio::test]
async fn rsa_and_p256_keys_are_sealed_at_rest_too() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let kek = KeyEncryptionKey::generate().unwrap();
    let oauth = oauth(&store, &clock, Some(&kek));
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let token = oauth.sign_jwt(alg, "JWT", &json!({})).await.unwrap();
        let kid = header(&token)["kid"].as_str().unwrap().to_owned();
        let stored = record(&store, &kid).await;
        assert_eq!(stored.alg, alg);
        assert!(stored.pkcs8.is_none());
        let sealed = stored.sealed.clone().expect("sealed");
        assert_eq!(sealed.kek, kek.fingerprint());
        let der = kek.open(&kid, &sealed).unwrap();
        let pair = alg::load(alg, &der).expect("the sealed document is a key of its algorithm");
        let public = pair.public_key();
        assert_eq!(
            public.public, stored.public,
            "the sealed key is the published one"
        );
        let raw = store.get(&key_key(&kid)).await.unwrap().unwrap().value;
        assert!(!raw.windows(der.len()).any(|w| w == der.as_slice()));
        assert!(!String::from_utf8_lossy(&raw).contains(&URL_SAFE_NO_PAD.encode(&der)));
        // A fresh process (no loaded keys) without the key-encryption key cannot sign.
        let without = oauth_with(&store, &clock, None, |_| {});
        let error = without.sign_jwt(alg, "JWT", &json!({})).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no key-encryption key is configured"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn keys_are_never_kept_in_clear_when_encryption_is_required() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let strict = oauth_with(&store, &clock, None, |c| c.require_key_encryption = true);
    let error = strict
        .sign_id_token(SigningAlg::RS256, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "server_error");
    assert!(error.to_string().contains("key-encryption key"), "{error}");
    assert!(
        strict.signing_keys().await.unwrap().is_empty(),
        "no key was stored"
    );
    // A key stored in clear earlier is not used either.
    let lax = oauth(&store, &clock, None);
    lax.sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    let fresh = oauth_with(&store, &clock, None, |c| c.require_key_encryption = true);
    assert!(
        fresh
            .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
            .await
            .is_err()
    );
    // With a key-encryption key it is sealed and used.
    let kek = KeyEncryptionKey::generate().unwrap();
    let sealed = oauth_with(&store, &clock, Some(&kek), |c| {
        c.require_key_encryption = true
    });
    sealed
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    sealed
        .sign_id_token(SigningAlg::RS256, &json!({}))
        .await
        .unwrap();
    for key in sealed.signing_keys().await.unwrap() {
        assert_eq!(key.protection.as_str(), "encrypted", "{key:?}");
    }
}

#[tokio::test]
async fn rotating_one_algorithm_keeps_its_previous_key_published_and_leaves_the_others() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let oauth = oauth(&store, &clock, None);
    let ed = oauth
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    let es = oauth
        .sign_jwt(SigningAlg::ES256, "JWT", &json!({}))
        .await
        .unwrap();
    let new_es = oauth.rotate_signing_key(SigningAlg::ES256).await.unwrap();
    let es2 = oauth
        .sign_jwt(SigningAlg::ES256, "JWT", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        header(&es2)["kid"],
        new_es.as_str(),
        "the loaded key is not used after rotation"
    );
    assert_ne!(header(&es)["kid"], header(&es2)["kid"]);
    let jwks = oauth.jwks().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
    for token in [&ed, &es, &es2] {
        verify_with_jwks(token, &jwks).unwrap();
    }
    let keys = oauth.signing_keys().await.unwrap();
    let status = |kid: &Value| {
        keys.iter()
            .find(|k| k.kid == kid.as_str().unwrap())
            .unwrap()
            .status
    };
    assert_eq!(status(&header(&es)["kid"]), SigningKeyStatus::Previous);
    assert_eq!(status(&header(&ed)["kid"]), SigningKeyStatus::Current);

    // Every algorithm in use at once.
    let rotated = oauth.rotate_signing_keys().await.unwrap();
    let algs: Vec<SigningAlg> = rotated.iter().map(|(alg, _)| *alg).collect();
    assert_eq!(algs, vec![SigningAlg::EdDSA, SigningAlg::ES256]);

    // Another process rotating is seen at once: the pointer is read on every signature.
    let other = oauth_with(&store, &clock, None, |_| {});
    let newest = other.rotate_signing_key(SigningAlg::ES256).await.unwrap();
    let es3 = oauth
        .sign_jwt(SigningAlg::ES256, "JWT", &json!({}))
        .await
        .unwrap();
    assert_eq!(header(&es3)["kid"], newest.as_str());

    clock.advance(oauth.publish_after_rotation() + Duration::from_secs(1));
    let jwks = oauth.jwks().await.unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "only the current keys: {jwks}"
    );
    assert!(verify_with_jwks(&es, &jwks).is_err());
}

#[tokio::test]
async fn keys_older_than_the_maximum_age_rotate_and_only_once_across_instances() {
    let clock = FakeClock::new();
    let store = store(&clock);
    let a = oauth(&store, &clock, None);
    let b = oauth(&store, &clock, None);
    let month = Duration::from_secs(30 * 24 * 3600);
    assert!(
        a.rotate_due_signing_keys(month).await.unwrap().is_empty(),
        "no keys yet"
    );
    a.sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    a.sign_jwt(SigningAlg::ES256, "JWT", &json!({}))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(10 * 24 * 3600));
    a.rotate_signing_key(SigningAlg::ES256).await.unwrap();
    clock.advance(Duration::from_secs(19 * 24 * 3600));
    assert!(
        a.rotate_due_signing_keys(month).await.unwrap().is_empty(),
        "29 days old"
    );

    clock.advance(Duration::from_secs(24 * 3600));
    let before = a.signing_keys().await.unwrap();
    let (first, second) = tokio::join!(
        a.rotate_due_signing_keys(month),
        b.rotate_due_signing_keys(month)
    );
    let mut rotated: Vec<(SigningAlg, String)> = first.unwrap();
    rotated.extend(second.unwrap());
    assert_eq!(
        rotated.len(),
        1,
        "the EdDSA key only, by one instance: {rotated:?}"
    );
    assert_eq!(rotated[0].0, SigningAlg::EdDSA);
    let after = a.signing_keys().await.unwrap();
    assert_eq!(
        after.len(),
        before.len() + 1,
        "the losing instance's key was deleted"
    );
    let current: Vec<&SigningKeyInfo> = after
        .iter()
        .filter(|k| k.status == SigningKeyStatus::Current)
        .collect();
    assert_eq!(current.len(), 2);
    assert!(current.iter().any(|k| k.kid == rotated[0].1));
    let token = b
        .sign_jwt(SigningAlg::EdDSA, "at+jwt", &json!({}))
        .await
        .unwrap();
    assert_eq!(header(&token)["kid"], rotated[0].1.as_str());
    assert!(
        a.rotate_due_signing_keys(month).await.unwrap().is_empty(),
        "a young key is left alone"
    );

    clock.advance(Duration::from_secs(20 * 24 * 3600));
    let rotated = b.rotate_due_signing_keys(month).await.unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].0, SigningAlg::ES256);
}

/// Run with `--nocapture` to see the figures; asserts only what must hold.
#[tokio::test]
async fn key_generation_and_signing_time() {
    let started = std::time::Instant::now();
    let key = alg::generate(SigningAlg::RS256).unwrap();
    let keygen = started.elapsed();
    eprintln!("RSA-2048 key generation: {keygen:?}");
    // A key the `rsa` crate made is one ring accepts: 2048 bits, e = 65537.
    assert_eq!(key.public.e.as_deref(), Some("AQAB"));
    assert_eq!(decode(&key.public.public).len(), 256);
    for (alg, length) in [
        (SigningAlg::RS256, 256),
        (SigningAlg::ES256, 64),
        (SigningAlg::EdDSA, 64),
    ] {
        let pair = alg::load(alg, &alg::generate(alg).unwrap().pkcs8).unwrap();
        let rounds = 50;
        let started = std::time::Instant::now();
        for i in 0..rounds {
            let signature = pair.sign(format!("input {i}").as_bytes()).unwrap();
            assert_eq!(signature.len(), length);
        }
        eprintln!("{alg} signature: {:?}", started.elapsed() / rounds);
    }
}
