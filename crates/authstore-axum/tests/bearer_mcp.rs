//! Per-tool scopes on an MCP endpoint through tower's `oneshot`: guarded `tools/call` requests without their scopes get 403 `insufficient_scope`, others pass with their body untouched, oversized or unreadable bodies are refused.

mod bearer_support;

use bearer_support::*;

#[tokio::test]
async fn guarded_mcp_tools_need_their_scopes() {
    let env = env().await;
    let app = env.app();
    let plain = env.token(&["mcp:tools"]).await;
    let admin = env.token(&["mcp:tools", "mcp:admin"]).await;

    let call = tool_call(1, "admin_report").to_string();
    let res = send(&app, mcp_post(&plain, call.clone())).await;
    assert_refused(&res, StatusCode::FORBIDDEN, NEEDS_TOOLS_AND_ADMIN);
    assert_eq!(json_body(res).await["scope"], "mcp:tools mcp:admin");

    // With the scope it passes, and the server gets the very same bytes.
    let res = send(&app, mcp_post(&admin, call.clone())).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bytes(res).await, call.as_bytes());

    // Unguarded tools and other methods pass without the scope.
    for body in [
        tool_call(2, "echo").to_string(),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        // Whitespace and key order are kept as sent.
        "{ \"method\" : \"initialize\" ,\n \"id\":4, \"jsonrpc\":\"2.0\", \"params\":{} }".into(),
    ] {
        let res = send(&app, mcp_post(&plain, body.clone())).await;
        assert_eq!(res.status(), StatusCode::OK, "{body}");
        assert_eq!(bytes(res).await, body.as_bytes());
    }

    // A batch with one guarded call among others is refused as a whole.
    let batch = json!([tool_call(5, "echo"), tool_call(6, "admin_report")]).to_string();
    let res = send(&app, mcp_post(&plain, batch.clone())).await;
    assert_refused(&res, StatusCode::FORBIDDEN, NEEDS_TOOLS_AND_ADMIN);
    let res = send(&app, mcp_post(&admin, batch.clone())).await;
    assert_eq!(bytes(res).await, batch.as_bytes());

    // A name spelled with JSON escapes is the same tool.
    let escaped =
        r#"{"jsonrpc":"2.0","id":7,"method":"tools\/call","params":{"name":"admin\u005freport"}}"#;
    assert_eq!(
        status(&app, mcp_post(&plain, escaped)).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn mcp_bodies_over_the_limit_or_unreadable_are_refused_and_others_pass_untouched() {
    let env = env().await;
    let app = env.app();
    let admin = env.token(&["mcp:tools", "mcp:admin"]).await;

    // Over the 4 KiB limit: read up to the limit (no Content-Length here)...
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x".repeat(5000)}}).to_string();
    let res = send(&app, mcp_post(&admin, big)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(res).await["error"], "request_too_large");
    // ...or refused unread when the declared length is over it.
    let mut declared = mcp_post(&admin, "{}");
    declared
        .headers_mut()
        .insert(CONTENT_LENGTH, http::HeaderValue::from(1_000_000u64));
    assert_eq!(status(&app, declared).await, StatusCode::PAYLOAD_TOO_LARGE);

    // JSON that is not JSON-RPC, or names the method twice: a JSON-RPC error, not a pass.
    let res = send(&app, mcp_post(&admin, "{not json")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(res).await["error"]["code"], -32700);
    let twice = r#"{"method":"ping","method":"tools/call","params":{"name":"admin_report"}}"#;
    let res = send(&app, mcp_post(&admin, twice)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(res).await["error"]["code"], -32600);

    // A body of another type is not read.
    let text = "tools/call admin_report ".repeat(500);
    let res = send(&app, post_to_mcp(Some(&admin), "text/plain", text.clone())).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bytes(res).await, text.as_bytes());
}
