//! RFC 7662 introspection against a live local authorization server: Basic client authentication, the verdict cache under a fake clock, revocation, and outages that never become acceptances.
#![cfg(feature = "remote-validation")]

#[path = "fixtures/resource/auth_server.rs"]
#[allow(dead_code)]
mod auth_server;
#[path = "fixtures/resource/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::time::Duration;

use authstore::oauth::resource::{
    AccessToken, IntrospectionConfig, InvalidToken, Rejection, ResourceConfig, ResourceServer,
    TokenValidator,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use InvalidToken::{Expired, Inactive, WrongAudience};
use auth_server::{AuthServer, closed_port_url};
use checks::{
    MALFORMED, OTHER_RESOURCE, RESOURCE, accepted, edited, now_secs, refused, refuses, secs,
    unavailable,
};

const HOUR: Duration = Duration::from_secs(3600);

fn resource_server(validator: impl TokenValidator) -> ResourceServer {
    let config = ResourceConfig::new(RESOURCE, ["https://as.example"]);
    ResourceServer::new(config, validator).unwrap()
}

#[tokio::test]
async fn introspection_accepts_active_tokens_with_basic_client_authentication() {
    let server = AuthServer::start(false, HOUR).await;
    let secret = "s3cret p&ss=:";
    let config = IntrospectionConfig::new(server.url("/introspect"), "rs:1", secret);
    assert!(!format!("{config:?}").contains("s3cret"));
    let validator = server.introspection(config);
    assert!(!format!("{validator:?}").contains("s3cret"));
    let (tokens, client) = server.user_tokens(RESOURCE, &["mcp"]).await;

    let token = validator.validate(&tokens.access_token).await.unwrap();
    let expected = AccessToken {
        subject: Some("u-1".into()),
        client_id: client.client_id.clone(),
        scopes: vec!["mcp".into()],
        audience: Some(RESOURCE.into()),
        expires_at: now_secs(&server.clock) + 3600,
        grant_id: None,
    };
    assert_eq!(token, expected);

    let header = server.last_authorization().unwrap();
    let decoded = STANDARD
        .decode(header.strip_prefix("Basic ").unwrap())
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (id, sent) = decoded.split_once(':').unwrap();
    let unform = |s: &str| {
        let mut pairs = url::form_urlencoded::parse(s.as_bytes());
        pairs.next().unwrap().0.into_owned()
    };
    assert_eq!(
        (unform(id).as_str(), unform(sent).as_str()),
        ("rs:1", secret)
    );

    let unknown = authstore::secret::random_token().unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    refuses(&validator, &[(unknown, Inactive), (refresh, Inactive)]).await;

    let elsewhere = server.access_token(OTHER_RESOURCE, &[]).await;
    let api = resource_server(validator);
    let header = format!("Bearer {}", tokens.access_token);
    assert_eq!(api.authenticate(Some(&header)).await.unwrap(), expected);
    let header = format!("Bearer {elsewhere}");
    let err = api.authenticate(Some(&header)).await.unwrap_err();
    assert!(matches!(err, Rejection::Invalid(WrongAudience)), "{err:?}");
}

#[tokio::test]
async fn introspection_sees_a_revocation_once_its_cache_expires() {
    let server = AuthServer::start(false, HOUR).await;
    let validator = server.introspection_default();
    let (tokens, client) = server.user_tokens(RESOURCE, &[]).await;
    let token = tokens.access_token;
    validator.validate(&token).await.unwrap();
    validator.validate(&token).await.unwrap();
    assert_eq!(
        server.hits("/introspect"),
        1,
        "the second answer is remembered"
    );

    server.oauth.revoke(&client, &token).await.unwrap();
    accepted(&validator, &token, "remembered for up to max_cache").await;
    assert_eq!(server.hits("/introspect"), 1);
    server.clock.advance(secs(61));
    assert_eq!(refused(&validator, &token).await, Inactive);
    assert_eq!(server.hits("/introspect"), 2);
    assert_eq!(refused(&validator, &token).await, Inactive);
    assert_eq!(server.hits("/introspect"), 2, "the refusal is remembered");
    server.clock.advance(secs(6));
    assert_eq!(refused(&validator, &token).await, Inactive);
    assert_eq!(server.hits("/introspect"), 3, "for negative_cache only");

    let config = IntrospectionConfig::new(server.url("/introspect"), "rs", "pw")
        .max_cache(Duration::ZERO)
        .negative_cache(Duration::ZERO);
    let uncached = server.introspection(config);
    let token = server.access_token(RESOURCE, &[]).await;
    uncached.validate(&token).await.unwrap();
    uncached.validate(&token).await.unwrap();
    let unknown = authstore::secret::random_token().unwrap();
    refuses(
        &uncached,
        &[(unknown.clone(), Inactive), (unknown, Inactive)],
    )
    .await;
    assert_eq!(
        server.hits("/introspect"),
        7,
        "zero lifetimes remember nothing"
    );
}

#[tokio::test]
async fn an_introspection_answer_is_never_remembered_past_the_token_expiry() {
    let server = AuthServer::start(false, secs(30)).await;
    let validator = server.introspection_default();
    let token = server.access_token(RESOURCE, &[]).await;
    validator.validate(&token).await.unwrap();
    server.clock.advance(secs(29));
    validator.validate(&token).await.unwrap();
    assert_eq!(server.hits("/introspect"), 1);
    server.clock.advance(secs(2));
    let reason = refused(&validator, &token).await;
    assert!(matches!(reason, Inactive | Expired), "{reason:?}");
    assert_eq!(server.hits("/introspect"), 2);
}

#[tokio::test]
async fn a_failing_introspection_endpoint_is_unavailable_and_never_remembered() {
    let server = AuthServer::start(false, HOUR).await;
    let secret = "very-secret-value";
    let endpoint = server.url("/introspect");
    let validator = server.introspection(IntrospectionConfig::new(endpoint, "rs", secret));
    let token = server.access_token(RESOURCE, &[]).await;
    let no_secrets = |why: &str| {
        let leaks = why.contains(secret) || why.contains(&token) || why.contains("Basic");
        assert!(!leaks, "{why}");
    };

    let down = IntrospectionConfig::new(closed_port_url("/introspect"), "rs", secret);
    let why = unavailable(&server.introspection(down), &token).await;
    assert!(why.contains("could not reach"), "{why}");
    no_secrets(&why);

    for (status, says) in [(500, "500"), (401, "client credentials")] {
        server.introspect_status(status);
        let why = unavailable(&validator, &token).await;
        assert!(why.contains(says), "{why}");
        no_secrets(&why);
    }
    server.introspect_status(200);
    for body in ["<html>", "{\"ok\": true}", "{\"active\": \"yes\"}"] {
        server.introspect_body(Some(body));
        no_secrets(&unavailable(&validator, &token).await);
    }
    assert_eq!(server.hits("/introspect"), 5);

    server.introspect_body(None);
    accepted(&validator, &token, "no failure was remembered").await;
    assert_eq!(server.hits("/introspect"), 6);
}

#[tokio::test]
async fn introspection_answers_that_cannot_stand_for_an_access_token_are_refused() {
    let server = AuthServer::start(false, HOUR).await;
    let validator = server.introspection_default();
    let exp = now_secs(&server.clock) + 60;
    let answer = json!({ "active": true, "client_id": "c", "exp": exp });
    let with = |name: &str, value| edited(&answer, name, value);
    let cases = [
        (with("token_type", json!("refresh_token")), Inactive),
        (
            with("aud", json!([RESOURCE, OTHER_RESOURCE])),
            WrongAudience,
        ),
        (with("exp", json!(exp - 60)), Expired),
        (with("active", json!(false)), Inactive),
        (with("exp", Value::Null), MALFORMED),
        (with("client_id", Value::Null), MALFORMED),
        (with("scope", json!(["a"])), MALFORMED),
    ];
    for (answer, reason) in cases {
        server.introspect_body(Some(&answer.to_string()));
        let token = authstore::secret::random_token().unwrap();
        refuses(&validator, &[(token, reason)]).await;
    }
    server.introspect_body(Some(&with("aud", json!([RESOURCE])).to_string()));
    let token = authstore::secret::random_token().unwrap();
    let token = validator.validate(&token).await.unwrap();
    let fields = (token.audience.as_deref(), token.subject, token.scopes.len());
    assert_eq!(fields, (Some(RESOURCE), None, 0));
}
