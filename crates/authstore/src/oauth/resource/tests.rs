//! Tests of the resource checks: bearer parsing, audience, scopes, challenges and metadata.

use super::*;
use async_trait::async_trait;

/// Accepts exactly one token, as given.
#[derive(Debug)]
struct Fixed(AccessToken);

#[async_trait]
impl TokenValidator for Fixed {
    async fn validate(&self, token: &str) -> std::result::Result<AccessToken, ValidationError> {
        if token == "good" {
            Ok(self.0.clone())
        } else {
            Err(InvalidToken::Inactive.into())
        }
    }
}

fn token(aud: &str, scopes: &[&str]) -> AccessToken {
    AccessToken {
        subject: Some("u-1".into()),
        client_id: "c".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        audience: Some(aud.into()),
        expires_at: u64::MAX,
        grant_id: None,
    }
}

fn server(aud: &str, scopes: &[&str]) -> ResourceServer {
    ResourceServer::new(
        ResourceConfig::new("https://api.example/mcp", ["https://as.example"])
            .scopes(["mcp"])
            .supported_scopes(["admin", "offline_access"]),
        Fixed(token(aud, scopes)),
    )
    .unwrap()
}

#[test]
fn metadata_url_inserts_the_well_known_path() {
    assert_eq!(
        metadata_url("https://h.example/mcp").unwrap(),
        "https://h.example/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        metadata_url("https://h.example/").unwrap(),
        "https://h.example/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        metadata_url("http://127.0.0.1:8080/a/b/").unwrap(),
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b"
    );
    assert!(metadata_url("https://h.example/mcp#x").is_err());
    assert!(metadata_url("urn:example:api").is_err());
}

#[test]
fn audience_drops_one_trailing_slash_only() {
    assert!(audience_matches("https://a.example/", "https://a.example"));
    assert!(audience_matches(
        "https://a.example/mcp",
        "https://a.example/mcp/"
    ));
    assert!(!audience_matches(
        "https://a.example/mcp//",
        "https://a.example/mcp"
    ));
    assert!(!audience_matches(
        "https://A.example/mcp",
        "https://a.example/mcp"
    ));
    assert!(!audience_matches(
        "https://a.example/mcp2",
        "https://a.example/mcp"
    ));
}

#[tokio::test]
async fn a_token_for_this_resource_with_its_scopes_is_accepted() {
    let api = server("https://api.example/mcp/", &["mcp"]);
    let got = api.authenticate(Some("Bearer good")).await.unwrap();
    assert_eq!(got.subject.as_deref(), Some("u-1"));
    let got = api.authenticate(Some("bearer  good")).await.unwrap();
    assert_eq!(got.client_id, "c");
}

#[tokio::test]
async fn a_token_for_another_resource_is_invalid() {
    let api = server("https://other.example/mcp", &["mcp"]);
    let err = api.authenticate(Some("Bearer good")).await.unwrap_err();
    assert!(matches!(
        err,
        Rejection::Invalid(InvalidToken::WrongAudience)
    ));
    let c = api.challenge(&err);
    assert_eq!(c.status, 401);
    assert_eq!(
        c.www_authenticate,
        r#"Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token", error_description="the access token is for another resource""#
    );
    assert_eq!(c.body["error"], "invalid_token");
}

#[tokio::test]
async fn no_token_gets_a_challenge_without_an_error_code() {
    let api = server("https://api.example/mcp", &["mcp"]);
    for header in [None, Some("Basic dTpw"), Some("Bearer")] {
        let err = api.authenticate(header).await.unwrap_err();
        assert!(matches!(err, Rejection::Missing), "{header:?}");
        let c = api.challenge(&err);
        assert_eq!(c.status, 401);
        assert_eq!(
            c.www_authenticate,
            r#"Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/mcp", scope="mcp""#
        );
    }
}

#[tokio::test]
async fn a_malformed_or_unknown_token_is_invalid() {
    let api = server("https://api.example/mcp", &["mcp"]);
    for header in ["Bearer a\"b", "Bearer x y", "Bearer bad"] {
        let err = api.authenticate(Some(header)).await.unwrap_err();
        assert!(matches!(err, Rejection::Invalid(_)), "{header}");
        assert!(
            api.challenge(&err)
                .www_authenticate
                .contains(r#"error="invalid_token""#)
        );
    }
}

#[tokio::test]
async fn missing_scopes_name_every_needed_scope_in_one_403() {
    let api = server("https://api.example/mcp", &["read"]);
    let err = api.authenticate(Some("Bearer good")).await.unwrap_err();
    let c = api.challenge(&err);
    assert_eq!(c.status, 403);
    assert_eq!(
        c.www_authenticate,
        r#"Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/mcp", scope="mcp read", error="insufficient_scope", error_description="this request needs the scopes: mcp read""#
    );
    let api = server("https://api.example/mcp", &["mcp"]);
    let tok = api.authenticate(Some("Bearer good")).await.unwrap();
    let err = api.require(&tok, &["admin"]).unwrap_err();
    let c = api.challenge(&err);
    assert_eq!(c.status, 403);
    assert!(
        c.www_authenticate.contains(r#"scope="mcp admin""#),
        "{}",
        c.www_authenticate
    );
    assert_eq!(c.body["scope"], "mcp admin");
    assert!(api.require(&tok, &["mcp"]).is_ok());
}

#[test]
fn unavailable_is_503_without_a_challenge() {
    let api = server("https://api.example/mcp", &[]);
    let c = api.challenge(&Rejection::Unavailable("down".into()));
    assert_eq!((c.status, c.retry_after), (503, Some(5)));
    assert!(c.www_authenticate.is_empty());
    assert_eq!(c.body["error"], "temporarily_unavailable");
}

#[test]
fn metadata_lists_the_scopes_without_offline_access() {
    let api = server("https://api.example/mcp", &[]);
    assert_eq!(
        api.metadata_path(),
        "/.well-known/oauth-protected-resource/mcp"
    );
    let doc = api.metadata();
    assert_eq!(doc["resource"], "https://api.example/mcp");
    assert_eq!(doc["authorization_servers"][0], "https://as.example");
    assert_eq!(doc["scopes_supported"], serde_json::json!(["mcp", "admin"]));
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
}

#[test]
fn a_resource_needs_a_url_and_an_authorization_server() {
    let fixed = || Fixed(token("x", &[]));
    assert!(
        ResourceServer::new(ResourceConfig::new("not a url", ["https://as"]), fixed()).is_err()
    );
    let none: [&str; 0] = [];
    assert!(
        ResourceServer::new(ResourceConfig::new("https://api.example", none), fixed()).is_err()
    );
}
