//! RFC 9068 JWT validation against a live local authorization server: JWTs checked with a fetched JWK set (EdDSA, ES256, RS256), algorithm pinning, key refetching and discovery, all under a fake clock.
#![cfg(feature = "remote-validation")]

#[path = "fixtures/resource/auth_server.rs"]
#[allow(dead_code)]
mod auth_server;
#[path = "fixtures/resource/checks.rs"]
#[allow(dead_code)]
mod checks;
#[path = "fixtures/resource/signing.rs"]
#[allow(dead_code)]
mod signing;

use std::time::Duration;

use authstore::oauth::resource::{
    AccessToken, InvalidToken, JwtConfig, JwtValidator, Rejection, ResourceConfig, ResourceServer,
    TokenValidator,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use InvalidToken::{
    Algorithm, BadSignature, Expired, NotYetValid, UnknownKey, WrongAudience, WrongIssuer,
    WrongType,
};
use auth_server::{AuthServer, closed_port_url};
use checks::{
    MALFORMED, OTHER_RESOURCE, RESOURCE, accepted, claims, edited, now_secs, refused, refuses,
    secs, unavailable,
};
use signing::{
    TestKey, claims_of, compact, header_of, hs256, with_flipped_signature, with_payload,
};

const HOUR: Duration = Duration::from_secs(3600);

fn resource_server(validator: impl TokenValidator) -> ResourceServer {
    let config = ResourceConfig::new(RESOURCE, ["https://as.example"]);
    ResourceServer::new(config, validator).unwrap()
}

#[tokio::test]
async fn eddsa_tokens_of_the_authorization_server_are_accepted_with_their_fields() {
    let server = AuthServer::start(true, HOUR).await;
    let validator = server.jwt_default();
    let (tokens, client) = server.user_tokens(RESOURCE, &["mcp", "read"]).await;
    assert_eq!(
        server.hits("/jwks"),
        0,
        "nothing is fetched before the first token"
    );

    let token = validator.validate(&tokens.access_token).await.unwrap();
    let expected = AccessToken {
        subject: Some("u-1".into()),
        client_id: client.client_id.clone(),
        scopes: vec!["mcp".into(), "read".into()],
        audience: Some(RESOURCE.into()),
        expires_at: now_secs(&server.clock) + 3600,
        grant_id: None,
    };
    assert_eq!(token, expected);
    assert_eq!(server.hits("/.well-known/oauth-authorization-server"), 1);
    assert_eq!(server.hits("/jwks"), 1);
    validator.validate(&tokens.access_token).await.unwrap();
    assert_eq!(server.hits("/jwks"), 1, "the set is kept");

    let api = resource_server(validator.clone());
    let header = format!("Bearer {}", tokens.access_token);
    assert_eq!(api.authenticate(Some(&header)).await.unwrap(), expected);
    let elsewhere = server.access_token(OTHER_RESOURCE, &[]).await;
    let header = format!("Bearer {elsewhere}");
    let err = api.authenticate(Some(&header)).await.unwrap_err();
    assert!(matches!(err, Rejection::Invalid(WrongAudience)), "{err:?}");
}

#[tokio::test]
async fn es256_and_rs256_tokens_are_accepted_with_their_fields() {
    let server = AuthServer::start(true, HOUR).await;
    let (ec, rsa) = (TestKey::p256("ec-1"), TestKey::rsa("rsa-1"));
    server.publish(ec.jwk.clone());
    server.publish(rsa.jwk.clone());
    let config = JwtConfig::new(&server.base).jwks_uri(server.url("/jwks"));
    let validator = server.jwt(config);
    let now = now_secs(&server.clock);

    let token = validator
        .validate(&ec.token(&claims(&server.base, now)))
        .await;
    let expected = AccessToken {
        subject: Some("u-9".into()),
        client_id: "c-9".into(),
        scopes: vec!["mcp".into(), "read".into()],
        audience: Some(RESOURCE.into()),
        expires_at: now + 300,
        grant_id: None,
    };
    assert_eq!(token.unwrap(), expected);
    let mut c = claims(&server.base, now);
    c["aud"] = json!([RESOURCE]);
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["mcp", "admin"]);
    let token = validator.validate(&rsa.token(&c)).await.unwrap();
    assert_eq!(token.scopes, ["mcp", "admin"]);
    assert_eq!(token.audience.as_deref(), Some(RESOURCE));
    assert_eq!(server.hits("/jwks"), 1);
    let metadata = server.hits("/.well-known/oauth-authorization-server");
    assert_eq!(metadata, 0, "no discovery with a jwks_uri");
}

#[tokio::test]
async fn lifetime_issuer_audience_type_and_signature_are_checked() {
    let server = AuthServer::start(true, HOUR).await;
    let ec = TestKey::p256("ec-1");
    server.publish(ec.jwk.clone());
    let validator = server.jwt_default();
    let now = now_secs(&server.clock);
    let with =
        |name: &str, value: Value| ec.token(&edited(&claims(&server.base, now), name, value));
    let typed = |typ: Value| {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": "ec-1" });
        ec.token_with(&header, &claims(&server.base, now))
    };
    let issued = server.access_token(RESOURCE, &["mcp"]).await;
    let mut forged = claims_of(&issued);
    forged["sub"] = json!("admin");
    refuses(
        &validator,
        &[
            (with("exp", json!(now - 31)), Expired),
            (with("nbf", json!(now + 31)), NotYetValid),
            (with("iat", json!(now + 31)), NotYetValid),
            (with("iss", json!(format!("{}/", server.base))), WrongIssuer),
            (with("iss", json!("https://evil.example")), WrongIssuer),
            (with("iss", Value::Null), WrongIssuer),
            (
                with("aud", json!([RESOURCE, OTHER_RESOURCE])),
                WrongAudience,
            ),
            (with("exp", Value::Null), MALFORMED),
            (with("exp", json!("soon")), MALFORMED),
            (with("client_id", Value::Null), MALFORMED),
            (with("scope", json!(["mcp"])), MALFORMED),
            (typed(json!("JWT")), WrongType),
            (typed(json!("at+jwt+x")), WrongType),
            (typed(json!(1)), WrongType),
            (typed(Value::Null), WrongType),
            (with_payload(&issued, &forged), BadSignature),
            (with_flipped_signature(&issued), BadSignature),
        ],
    )
    .await;
    for (token, why) in [
        (with("exp", json!(now - 10)), "exp within the leeway"),
        (with("nbf", json!(now + 10)), "nbf within the leeway"),
        (
            typed(json!("application/AT+JWT")),
            "typ is case-insensitive",
        ),
        (issued.clone(), "the untouched token"),
    ] {
        accepted(&validator, &token, why).await;
    }

    server.clock.advance(HOUR + secs(29));
    accepted(&validator, &issued, "within the leeway").await;
    server.clock.advance(secs(2));
    assert_eq!(refused(&validator, &issued).await, Expired);
}

#[tokio::test]
async fn a_token_cannot_choose_its_algorithm() {
    let server = AuthServer::start(true, HOUR).await;
    let (ec, rsa) = (TestKey::p256("ec-1"), TestKey::rsa("rsa-1"));
    server.publish(ec.jwk.clone());
    server.publish(rsa.jwk.clone());
    let validator = server.jwt_default();
    let issued = server.access_token(RESOURCE, &[]).await;
    validator.validate(&issued).await.unwrap();
    let ed_kid = header_of(&issued)["kid"].as_str().unwrap().to_owned();
    let claims = claims_of(&issued);
    let header = |alg: &str, kid: &str| json!({ "alg": alg, "typ": "at+jwt", "kid": kid });

    let none = compact(&header("none", &ed_kid), &claims, |_| Vec::new());
    assert!(none.ends_with('.'), "an empty signature");
    let jwks = server.oauth.jwks().await.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == ed_kid);
    let jwk = jwk.unwrap().clone();
    let x = jwk["x"].as_str().unwrap();
    let public = URL_SAFE_NO_PAD.decode(x).unwrap();
    let hmac = |secret: &[u8]| hs256(&header("HS256", &ed_kid), &claims, secret);
    refuses(
        &validator,
        &[
            (none, Algorithm),
            (hmac(&public), Algorithm),
            (hmac(jwk.to_string().as_bytes()), Algorithm),
            (hmac(x.as_bytes()), Algorithm),
            (
                rsa.token_with(&header("RS256", &ed_kid), &claims),
                Algorithm,
            ),
            (ec.token_with(&header("ES256", &ed_kid), &claims), Algorithm),
            (ec.token_with(&header("ES256", "rsa-1"), &claims), Algorithm),
            (rsa.token_with(&header("RS256", "ec-1"), &claims), Algorithm),
            (
                TestKey::ed25519("x").token_with(&header("EdDSA", "ec-1"), &claims),
                Algorithm,
            ),
            (
                rsa.token_with(&header("PS256", "rsa-1"), &claims),
                Algorithm,
            ),
            (ec.token_with(&header("ES384", "ec-1"), &claims), Algorithm),
            (ec.token_with(&header("NONE", "ec-1"), &claims), Algorithm),
        ],
    )
    .await;
    assert_eq!(server.hits("/jwks"), 1, "no refetch for a known key");
}

#[tokio::test]
async fn headers_naming_keys_or_urls_and_malformed_tokens_are_refused() {
    let server = AuthServer::start(true, HOUR).await;
    let ec = TestKey::p256("ec-1");
    server.publish(ec.jwk.clone());
    let validator = server.jwt_default();
    let claims = claims(&server.base, now_secs(&server.clock));
    let attacker = TestKey::p256("ec-1");
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "ec-1" });
    let with_header =
        |name: &str, value| attacker.token_with(&edited(&header, name, value), &claims);
    let good = ec.token(&claims);
    let (head, rest) = good.split_once('.').unwrap();
    let not_json = format!("{head}.{}", URL_SAFE_NO_PAD.encode("not json"));
    let signature = URL_SAFE_NO_PAD.encode(ec.sign(not_json.as_bytes()));
    let cases = [
        with_header("jwk", attacker.jwk.clone()),
        with_header("jku", json!(server.url("/evil-jwks"))),
        with_header("x5u", json!(server.url("/evil-cert"))),
        with_header("x5c", json!(["MIIB"])),
        with_header("crit", json!(["exp"])),
        with_header("kid", Value::Null),
        with_header("kid", json!("")),
        with_header("alg", Value::Null),
        attacker.token_with(&json!(["ES256"]), &claims),
        String::new(),
        "a.b".into(),
        format!("{good}.x"),
        format!("{head}=.{rest}"),
        format!("{head}.{rest}!"),
        "....".into(),
        "Zm9v.YmFy.YmF6".into(),
        format!("{good}{}", "A".repeat(8192)),
        format!("{not_json}.{signature}"),
    ];
    refuses(&validator, &cases.map(|t| (t, MALFORMED))).await;
    assert_eq!(server.hits("/evil-jwks") + server.hits("/evil-cert"), 0);
    accepted(&validator, &good, "the untouched token").await;
}

#[tokio::test]
async fn unusable_published_keys_are_skipped_without_losing_the_others() {
    let server = AuthServer::start(true, HOUR).await;
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let mut n1024 = vec![0xC0u8];
    n1024.extend([7u8; 127]);
    let mut rsa = TestKey::rsa("rsa-1").jwk;
    rsa["alg"] = json!("RS256");
    let ed = TestKey::ed25519("ed");
    let x = ed.jwk["x"].clone();
    for jwk in [
        json!({ "kty": "RSA", "kid": "small", "n": b64(&n1024), "e": "AQAB" }),
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": x }),
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": "ops", "key_ops": ["encrypt"], "x": x }),
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": "alg", "alg": "RS256", "x": x }),
        json!({ "kty": "OKP", "crv": "X25519", "kid": "x25519", "x": x }),
        json!({ "kty": "oct", "kid": "oct", "k": x }),
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": "short", "x": b64(&[1; 31]) }),
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": "padded", "x": format!("{}=", x.as_str().unwrap()) }),
        json!("not a key"),
        rsa,
    ] {
        server.publish(jwk);
    }
    let issued = server.access_token(RESOURCE, &[]).await;
    let validator = server.jwt_default();
    let now = now_secs(&server.clock);
    let signed_as = |kid: &str| {
        let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
        ed.token_with(&header, &claims(&server.base, now))
    };
    let kids = [
        "small", "enc", "ops", "alg", "x25519", "oct", "short", "padded",
    ];
    refuses(&validator, &kids.map(|kid| (signed_as(kid), UnknownKey))).await;
    let rsa_token = TestKey::rsa("rsa-1").token(&claims(&server.base, now));
    accepted(&validator, &rsa_token, "the usable key").await;
    accepted(&validator, &issued, "the AS's own key").await;
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_per_interval_and_finds_rotated_keys() {
    let server = AuthServer::start(true, HOUR).await;
    let validator = server.jwt_default();
    let first = server.access_token(RESOURCE, &[]).await;
    validator.validate(&first).await.unwrap();
    assert_eq!(server.hits("/jwks"), 1);

    let later = TestKey::p256("later");
    let unknown = later.token(&claims(&server.base, now_secs(&server.clock)));
    let at_once = (0..8).map(|_| refused(&validator, &unknown));
    let reasons = futures::future::join_all(at_once).await;
    assert!(reasons.iter().all(|r| *r == UnknownKey), "{reasons:?}");
    assert_eq!(
        server.hits("/jwks"),
        2,
        "one refetch for eight requests at once"
    );
    let other = TestKey::ed25519("other").token(&claims(&server.base, now_secs(&server.clock)));
    let again = [
        (unknown.clone(), UnknownKey),
        (unknown.clone(), UnknownKey),
        (other, UnknownKey),
    ];
    refuses(&validator, &again).await;
    assert_eq!(
        server.hits("/jwks"),
        2,
        "none more within the interval, whatever the kid"
    );

    server.clock.advance(secs(11));
    assert_eq!(refused(&validator, &unknown).await, UnknownKey);
    assert_eq!(server.hits("/jwks"), 3, "one more after the interval");

    server.publish(later.jwk.clone());
    assert_eq!(refused(&validator, &unknown).await, UnknownKey);
    assert_eq!(server.hits("/jwks"), 3);
    server.clock.advance(secs(11));
    accepted(&validator, &unknown, "the published key").await;
    assert_eq!(server.hits("/jwks"), 4);

    let new_kid = server
        .oauth
        .rotate_signing_key(authstore::oauth::SigningAlg::EdDSA)
        .await
        .unwrap();
    let second = server.access_token(RESOURCE, &[]).await;
    assert_eq!(header_of(&second)["kid"], new_kid);
    server.clock.advance(secs(11));
    accepted(&validator, &second, "the rotated-in key").await;
    assert_eq!(server.hits("/jwks"), 5);
    accepted(&validator, &first, "the rotated-out key is still published").await;
    assert_eq!(server.hits("/jwks"), 5);
}

#[tokio::test]
async fn the_set_is_refetched_when_old_and_kept_when_a_refetch_fails() {
    let server = AuthServer::start(true, HOUR).await;
    // Every validation consults the key set: nothing is remembered.
    let validator = server.jwt(JwtConfig::new(&server.base).verified_cache(Duration::ZERO));
    let token = server.access_token(RESOURCE, &[]).await;
    let check = |hits: usize, why: &'static str| {
        let (validator, token, server) = (&validator, &token, &server);
        async move {
            accepted(validator, token, why).await;
            assert_eq!(server.hits("/jwks"), hits, "{why}");
        }
    };
    check(1, "first fetch").await;
    server.clock.advance(secs(9 * 60));
    check(1, "younger than ten minutes").await;
    server.clock.advance(secs(2 * 60));
    check(2, "refetched after ten minutes").await;

    server.jwks_status(500);
    server.clock.advance(secs(11 * 60));
    check(3, "a failed refetch keeps the set").await;
    check(3, "failed refetches are spaced").await;
    server.clock.advance(secs(11));
    check(4, "tried again after the interval").await;

    server.jwks_status(200);
    server.clock.advance(secs(11));
    check(5, "fetched again").await;
    check(5, "and fresh").await;
}

#[tokio::test]
async fn without_any_key_set_validation_is_unavailable() {
    let server = AuthServer::start(true, HOUR).await;
    server.jwks_status(503);
    let config = JwtConfig::new(&server.base).jwks_uri(server.url("/jwks"));
    let validator = server.jwt(config);
    let token = server.access_token(RESOURCE, &[]).await;
    let why = unavailable(&validator, &token).await;
    assert!(why.contains("503"), "{why}");
    unavailable(&validator, &token).await;
    server.jwks_status(200);
    unavailable(&validator, &token).await;
    assert_eq!(
        server.hits("/jwks"),
        1,
        "attempts are spaced by the refetch interval"
    );
    server.clock.advance(secs(11));
    accepted(&validator, &token, "the server is up").await;
    assert_eq!(server.hits("/jwks"), 2);

    let config = JwtConfig::new(&server.base).jwks_uri(closed_port_url("/jwks"));
    let why = unavailable(&server.jwt(config), &token).await;
    assert!(why.contains("could not reach"), "{why}");
    let config = JwtConfig::new(closed_port_url(""));
    let why = unavailable(&server.jwt(config), &token).await;
    assert!(why.contains("metadata"), "{why}");
}

#[tokio::test]
async fn discovery_inserts_the_issuer_path_falls_back_and_checks_the_issuer() {
    let server = AuthServer::start(true, HOUR).await;
    let ec = TestKey::p256("ec-1");
    server.publish(ec.jwk.clone());
    let now = now_secs(&server.clock);
    let metadata = |path: &str, issuer: &str, jwks: &str| {
        let doc = json!({ "issuer": issuer, "jwks_uri": server.url(jwks) });
        server.document(path, Some(doc));
    };
    let well_known = "/.well-known/oauth-authorization-server";

    let tenant = server.url("/tenant");
    metadata(&format!("{well_known}/tenant"), &tenant, "/jwks");
    let validator = server.jwt(JwtConfig::new(&tenant));
    let token = ec.token(&claims(&tenant, now));
    accepted(&validator, &token, "RFC 8414 path insertion").await;
    assert_eq!(server.hits(&format!("{well_known}/tenant")), 1);

    let oidc = server.url("/oidc");
    metadata("/oidc/.well-known/openid-configuration", &oidc, "/jwks");
    let validator = server.jwt(JwtConfig::new(&oidc));
    let token = ec.token(&claims(&oidc, now));
    accepted(&validator, &token, "OpenID Connect fallback").await;
    assert_eq!(server.hits(&format!("{well_known}/oidc")), 1);
    assert_eq!(server.hits("/oidc/.well-known/openid-configuration"), 1);

    let spoofed = server.url("/spoofed");
    metadata(
        &format!("{well_known}/spoofed"),
        "https://evil.example",
        "/evil-jwks",
    );
    let validator = server.jwt(JwtConfig::new(&spoofed));
    let why = unavailable(&validator, &ec.token(&claims(&spoofed, now))).await;
    assert!(why.contains("another issuer"), "{why}");
    assert_eq!(server.hits("/evil-jwks"), 0);

    assert!(JwtValidator::new(JwtConfig::new("not a url")).is_err());
    assert!(JwtValidator::new(JwtConfig::new("https://as.example/?tenant=1")).is_err());
    assert!(JwtValidator::new(JwtConfig::new("urn:as").jwks_uri("file:///jwks")).is_err());
    let explicit = JwtConfig::new("urn:as").jwks_uri("https://as.example/jwks");
    assert!(JwtValidator::new(explicit).is_ok());
}

#[tokio::test]
async fn a_verified_token_is_remembered_within_its_bounds() {
    let server = AuthServer::start(true, 2 * HOUR).await;
    let validator = server.jwt(JwtConfig::new(&server.base).verified_cache(HOUR));
    let token = server.access_token(RESOURCE, &[]).await;
    accepted(&validator, &token, "first verification").await;
    assert_eq!(server.hits("/jwks"), 1);
    // Past the key set's age: a token verified before needs no key set.
    server.clock.advance(secs(11 * 60));
    accepted(&validator, &token, "remembered").await;
    assert_eq!(server.hits("/jwks"), 1, "no refetch for a remembered token");
    // Past verified_cache: verified again, with a fresh key set.
    server.clock.advance(secs(50 * 60));
    accepted(&validator, &token, "verified again").await;
    assert_eq!(server.hits("/jwks"), 2);
    // Never past exp plus the leeway, whatever verified_cache says.
    server.clock.advance(2 * HOUR);
    assert_eq!(refused(&validator, &token).await, Expired);
}
