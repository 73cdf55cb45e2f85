//! JWT access tokens (RFC 9068): signed with the Ed25519 key published at `/jwks`, verifiable offline after a key rotation, and still revocable and introspectable like opaque tokens.

mod common;

use std::sync::Arc;

use authstore::MemoryStore;
use authstore::oauth::NewClient;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use common::{send, start};
use http::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http_body_util::Full;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde_json::Value;

async fn post(base: &str, path: &str, auth: &str, body: &str) -> Value {
    let res = send(
        Request::post(format!("{base}{path}"))
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
    .await;
    serde_json::from_str(res.body()).unwrap_or(Value::Null)
}

/// Verifies a compact JWS against the JWK set; returns its claims.
fn verify(token: &str, jwks: &Value) -> Option<Value> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let key = jwks["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"] == header["kid"])?;
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str()?).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
    UnparsedPublicKey::new(&ED25519, x)
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
}

#[tokio::test]
async fn jwt_access_tokens_verify_against_the_published_keys() {
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |s| {
        s.jwt_access_tokens = true;
        // Introspection below is by the client itself: make it a trusted introspector.
        s.introspection.trusted = vec!["jwt-client".into()];
    })
    .await;
    let base = &server.base;
    let mut new = NewClient::confidential("api client", "https://app.example/cb");
    new.scopes = vec!["read".into()];
    let secret = "jwt-client-secret-".repeat(3);
    let (client, _) = server
        .state
        .oauth()
        .put_client("jwt-client", new, Some(&secret))
        .await
        .unwrap();
    let client = authstore::oauth::RegisteredClient {
        client,
        secret: Some(secret),
    };
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            client.client.client_id,
            client.secret.unwrap()
        ))
    );
    let jwks = || async {
        serde_json::from_str::<Value>(
            send(
                Request::get(format!("{base}/jwks"))
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .body(),
        )
        .unwrap()
    };

    let first = post(
        base,
        "/token",
        &auth,
        "grant_type=client_credentials&scope=read",
    )
    .await;
    let token = first["access_token"].as_str().unwrap().to_owned();
    let claims = verify(&token, &jwks().await).expect("signed by a published key");
    assert_eq!(claims["iss"], base.as_str());
    assert_eq!(claims["client_id"], client.client.client_id);
    assert_eq!(
        claims["sub"], client.client.client_id,
        "a client's own token: sub is the client"
    );
    assert_eq!(claims["scope"], "read");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 43));

    // Rotation: new tokens use the new key; the old key stays published.
    server
        .state
        .oauth()
        .rotate_signing_key(authstore::oauth::SigningAlg::EdDSA)
        .await
        .unwrap();
    let second = post(base, "/token", &auth, "grant_type=client_credentials").await;
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    let keys = jwks().await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(
        verify(&token, &keys).is_some(),
        "the old token still verifies"
    );
    assert!(verify(&second_token, &keys).is_some());
    let kid = |t: &str| {
        serde_json::from_slice::<Value>(
            &URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()["kid"]
            .clone()
    };
    assert_ne!(kid(&token), kid(&second_token));

    // Tampering breaks the signature.
    let mut forged: Vec<String> = token.split('.').map(str::to_owned).collect();
    forged[1] = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#);
    assert!(verify(&forged.join("."), &keys).is_none());

    // Introspection and revocation work as for opaque tokens.
    let info = post(base, "/introspect", &auth, &format!("token={token}")).await;
    assert_eq!(info["active"], true);
    post(base, "/revoke", &auth, &format!("token={token}")).await;
    let info = post(base, "/introspect", &auth, &format!("token={token}")).await;
    assert_eq!(info, serde_json::json!({ "active": false }));
}
