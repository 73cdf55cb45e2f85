//! Bearer-token protection through tower's `oneshot`, with real tokens from `OAuth` on a memory store: 401/403/503 challenges with their exact headers, the extractor (required, optional, without the layer), per-route scopes, RFC 9728 metadata and CORS.

mod bearer_support;

use bearer_support::*;
#[tokio::test]
async fn a_request_without_a_token_gets_the_discovery_challenge() {
    let env = env().await;
    let app = env.app();
    let res = send(&app, get_with("/me", None)).await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, NO_TOKEN);
    assert!(res.headers().get(RETRY_AFTER).is_none());
    assert_eq!(json_body(res).await["error"], "invalid_token");

    // Another scheme is no bearer token either.
    let basic = Request::get("/me")
        .header(AUTHORIZATION, "Basic dXNlcjpwdw==")
        .body(Body::empty())
        .unwrap();
    assert_refused(&send(&app, basic).await, StatusCode::UNAUTHORIZED, NO_TOKEN);
}

/// GET /me with `authorization` is refused as an invalid token, for `why`.
async fn assert_invalid(app: &Router, authorization: &str, why: &str) {
    let req = Request::get("/me").header(AUTHORIZATION, authorization);
    let res = send(app, req.body(Body::empty()).unwrap()).await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, &invalid_token(why));
    let body = json_body(res).await;
    assert_eq!(
        body,
        json!({ "error": "invalid_token", "error_description": why })
    );
}

const INACTIVE: &str = "the access token is not active";

#[tokio::test]
async fn bad_malformed_foreign_revoked_and_expired_tokens_are_invalid() {
    let env = env().await;
    let app = env.app();
    let ok = |token: &str| get_with("/me", Some(token));

    assert_invalid(&app, "Bearer not-a-token-we-issued", INACTIVE).await;
    let malformed = "malformed access token: not an RFC 6750 bearer token";
    assert_invalid(&app, "Bearer a\"b", malformed).await;

    let foreign = env.token_for("https://other.example.com/api", &["mcp:tools"]);
    let foreign = format!("Bearer {}", foreign.await);
    assert_invalid(&app, &foreign, "the access token is for another resource").await;

    let revoked = env.token(&["mcp:tools"]).await;
    assert_eq!(status(&app, ok(&revoked)).await, StatusCode::OK);
    env.oauth.revoke(&env.client, &revoked).await.unwrap();
    assert_invalid(&app, &format!("Bearer {revoked}"), INACTIVE).await;

    let expiring = env.token(&["mcp:tools"]).await;
    env.clock.advance(Duration::from_secs(59));
    assert_eq!(status(&app, ok(&expiring)).await, StatusCode::OK);
    env.clock.advance(Duration::from_secs(2));
    assert_invalid(&app, &format!("Bearer {expiring}"), INACTIVE).await;
}

#[tokio::test]
async fn the_handler_sees_what_a_valid_token_stands_for() {
    let env = env().await;
    let app = env.app();
    let token = env.token(&["mcp:tools"]).await;
    let res = send(&app, get_with("/me", Some(&token))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen = json_body(res).await;
    let expected = env.oauth.access_token(&token).await.unwrap().unwrap();
    assert_eq!(seen["subject"], "u-1");
    assert_eq!(seen["client_id"], env.client.client_id.as_str());
    assert_eq!(seen["scopes"], json!(["mcp:tools"]));
    assert_eq!(seen["audience"], RESOURCE);
    let grant_id = expected.grant_id.expect("a user's token has a grant");
    assert_eq!(seen["grant_id"], grant_id.as_str());
}

#[tokio::test]
async fn require_scopes_on_one_route_answers_insufficient_scope() {
    let env = env().await;
    let app = env.app();
    let plain = env.token(&["mcp:tools"]).await;
    let admin = env.token(&["mcp:tools", "mcp:admin"]).await;

    // The resource's own scope is needed everywhere.
    let no_tools = env.token(&["mcp:admin"]).await;
    let res = send(&app, get_with("/me", Some(&no_tools))).await;
    assert_refused(&res, StatusCode::FORBIDDEN, NEEDS_TOOLS_AND_ADMIN);

    // Other routes are unaffected.
    assert_eq!(
        status(&app, get_with("/me", Some(&plain))).await,
        StatusCode::OK
    );

    let res = send(&app, get_with("/admin", Some(&plain))).await;
    assert_refused(&res, StatusCode::FORBIDDEN, NEEDS_TOOLS_AND_ADMIN);
    assert_eq!(
        json_body(res).await,
        json!({
            "error": "insufficient_scope",
            "error_description": "this request needs the scopes: mcp:tools mcp:admin",
            "scope": "mcp:tools mcp:admin",
        })
    );
    let res = send(&app, get_with("/admin", Some(&admin))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bytes(res).await, "admin");

    // The same check from a handler.
    let res = send(&app, get_with("/step-up", Some(&plain))).await;
    assert_refused(&res, StatusCode::FORBIDDEN, NEEDS_TOOLS_AND_ADMIN);
    let res = send(&app, get_with("/step-up", Some(&admin))).await;
    assert_eq!(bytes(res).await, "stepped up");
}

/// A validator whose backend is down: it can never decide.
#[derive(Debug)]
struct Down;

impl TokenValidator for Down {
    fn validate<'a, 'b, 'f>(
        &'a self,
        _token: &'b str,
    ) -> Pin<Box<dyn Future<Output = Result<AccessToken, ValidationError>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async {
            Err(ValidationError::Unavailable(
                "introspection endpoint timed out".into(),
            ))
        })
    }
}

#[tokio::test]
async fn an_unavailable_validator_gets_503_and_never_an_acceptance() {
    let api = ResourceServer::new(
        ResourceConfig::new(RESOURCE, [ISSUER]).scopes(["mcp:tools"]),
        Down,
    )
    .unwrap();
    let app = router(&api, BearerAuthLayer::new(api.clone()));
    let token = authstore::secret::random_token().unwrap();
    for path in ["/me", "/maybe", "/admin"] {
        let res = send(&app, get_with(path, Some(&token))).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(header(&res, RETRY_AFTER), "5");
        assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(header(&res, CACHE_CONTROL), "no-store");
        assert_eq!(json_body(res).await["error"], "temporarily_unavailable");
    }
    // The optional mode does not take "cannot check" for "anonymous" either.
    let optional = router(&api, BearerAuthLayer::new(api.clone()).optional());
    let res = send(&optional, get_with("/maybe", Some(&token))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn metadata_is_served_at_the_path_aware_url_with_cors() {
    let env = env().await;
    let app = env.app();
    assert_eq!(env.api.metadata_path(), METADATA_PATH);

    let req = Request::get(METADATA_PATH)
        .header(ORIGIN, BROWSER)
        .body(Body::empty())
        .unwrap();
    let res = send(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "application/json");
    assert_eq!(header(&res, CACHE_CONTROL), "public, max-age=3600");
    assert_eq!(header(&res, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert_exposes_challenge_and_session(&res);
    let doc = json_body(res).await;
    assert_eq!(doc, env.api.metadata());
    assert_eq!(
        doc,
        json!({
            "resource": RESOURCE,
            "authorization_servers": [ISSUER],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:tools", "mcp:admin"],
        })
    );

    let res = send(
        &app,
        preflight(METADATA_PATH, "GET", "mcp-protocol-version"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert_eq!(header(&res, ACCESS_CONTROL_MAX_AGE), "3600");
    assert!(list(&res, ACCESS_CONTROL_ALLOW_METHODS).contains(&"get".to_owned()));
}

/// A comma-separated header as a lowercase list.
fn list(res: &Response<Body>, name: http::header::HeaderName) -> Vec<String> {
    res.headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

fn assert_exposes_challenge_and_session(res: &Response<Body>) {
    let exposed = list(res, ACCESS_CONTROL_EXPOSE_HEADERS);
    for h in ["www-authenticate", "mcp-session-id"] {
        assert!(exposed.contains(&h.to_owned()), "{h} in {exposed:?}");
    }
}

#[tokio::test]
async fn preflights_to_protected_routes_need_no_token_and_refusals_are_readable() {
    let env = env().await;
    let app = env.app();
    let headers = "authorization,content-type,mcp-protocol-version,mcp-session-id";
    let res = send(&app, preflight("/mcp", "POST", headers)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(header(&res, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let allowed = list(&res, ACCESS_CONTROL_ALLOW_HEADERS);
    for h in [
        "authorization",
        "content-type",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
    ] {
        assert!(allowed.contains(&h.to_owned()), "{h} in {allowed:?}");
    }
    let methods = list(&res, ACCESS_CONTROL_ALLOW_METHODS);
    for m in ["get", "post", "delete", "options"] {
        assert!(methods.contains(&m.to_owned()), "{m} in {methods:?}");
    }

    // The 401 itself carries CORS headers, so the script can read the challenge.
    let mut req = post_to_mcp(None, "application/json", "{}");
    req.headers_mut()
        .insert(ORIGIN, http::HeaderValue::from_static(BROWSER));
    let res = send(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert_exposes_challenge_and_session(&res);
}

#[tokio::test]
async fn the_extractor_and_guards_without_the_layer_are_a_server_error() {
    let tools = McpToolScopes::new().tool("admin_report", ["mcp:admin"]);
    let app: Router = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopes::new(["mcp:admin"])),
        )
        .route(
            "/mcp",
            post(|body: Bytes| async move { body }).route_layer(tools),
        );
    let token = authstore::secret::random_token().unwrap();
    for path in ["/me", "/maybe", "/admin"] {
        let res = send(&app, get_with(path, Some(&token))).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(header(&res, CONTENT_TYPE), "application/json");
        assert_eq!(json_body(res).await, json!({ "error": "server_error" }));
    }
    let call = tool_call(1, "admin_report").to_string();
    let res = send(&app, mcp_post(&token, call)).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_body(res).await, json!({ "error": "server_error" }));
}

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_through_but_not_bad_tokens() {
    let env = env().await;
    let app = router(&env.api, BearerAuthLayer::new(env.api.clone()).optional());

    let res = send(&app, get_with("/maybe", None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bytes(res).await, "anonymous");

    let token = env.token(&["mcp:tools"]).await;
    let res = send(&app, get_with("/maybe", Some(&token))).await;
    assert_eq!(bytes(res).await, "user u-1");

    let res = send(&app, get_with("/maybe", Some("not-a-token-we-issued"))).await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, &invalid_token(INACTIVE));
    env.oauth.revoke(&env.client, &token).await.unwrap();
    let res = send(&app, get_with("/maybe", Some(&token))).await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, &invalid_token(INACTIVE));

    // Routes that need a token answer anonymous requests with the challenge.
    for path in ["/me", "/admin"] {
        let res = send(&app, get_with(path, None)).await;
        assert_refused(&res, StatusCode::UNAUTHORIZED, NO_TOKEN);
    }
    let call = tool_call(1, "admin_report").to_string();
    let res = send(&app, post_to_mcp(None, "application/json", call)).await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, NO_TOKEN);
    // Unguarded MCP traffic is anonymous-friendly.
    let list_tools = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let res = send(
        &app,
        post_to_mcp(None, "application/json", list_tools.clone()),
    )
    .await;
    assert_eq!(bytes(res).await, list_tools.as_bytes());
}
