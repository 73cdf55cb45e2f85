//! OpenID Connect discovery on `authstore serve`'s router: both discovery documents (also under an issuer with a path), the `[openid]` configuration section, OpenID Connect switched off, and CORS on the endpoints browsers call.

mod common;
mod openid_support;

use common::hidden;
use http::Method;
use openid_support::*;

#[tokio::test]
async fn discovery_documents() {
    let server = start("", |_| {}).await;
    let issuer = &server.issuer;
    let (status, oidc) = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert_eq!(oidc["issuer"], issuer.as_str());
    assert_eq!(oidc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(oidc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"]),
        "every alg a client may register, the default first"
    );
    assert!(
        oidc.get("userinfo_signing_alg_values_supported").is_none(),
        "/userinfo answers plain JSON only"
    );
    for claim in ["sub", "auth_time", "nonce", "preferred_username", "email"] {
        assert!(
            oidc["claims_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == claim),
            "{claim}"
        );
    }
    assert!(
        oidc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "openid")
    );
    let (status, oauth) =
        get_json(&format!("{issuer}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 200);
    assert_eq!(oauth["token_endpoint"], oidc["token_endpoint"]);
    assert_eq!(oauth["userinfo_endpoint"], oidc["userinfo_endpoint"]);
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_everything_under_it() {
    let server = start("/tenant", |_| {}).await;
    let (origin, issuer) = (&server.origin, &server.issuer);
    for url in [
        format!("{origin}/.well-known/oauth-authorization-server/tenant"),
        format!("{origin}/.well-known/openid-configuration/tenant"),
        format!("{issuer}/.well-known/openid-configuration"),
    ] {
        let (status, doc) = get_json(&url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(doc["issuer"], issuer.as_str(), "{url}");
        assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    }
    let (status, _) = get_json(&format!("{origin}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 404, "not at the root");
    assert_eq!(get_json(&format!("{origin}/jwks")).await.0, 404);

    let (_, tokens) = sign_in_and_exchange(
        &server,
        "/tenant",
        &[("scope", "openid profile"), ("nonce", "n-t")],
    )
    .await;
    let claims = verify_id_token(issuer, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["nonce"], "n-t");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let res = userinfo(issuer, Method::GET, Some(&bearer)).await;
    assert_eq!(res.status(), 200);

    // The account page and sign-out stay under the path too.
    let mut browser = Browser::new(&server);
    let res = browser.get("/tenant/account").await;
    assert_eq!(location(&res), "/tenant/login");
    let page = browser.get("/tenant/login").await;
    assert_eq!(hidden(page.body(), "return_to"), "/tenant/account");
    // A browser resolves the form's action against the page's URL.
    let action = form_action(page.body());
    let page_url = url::Url::parse(&format!("{issuer}/login")).unwrap();
    assert_eq!(page_url.join(&action).unwrap().path(), "/tenant/login");
    assert_eq!(
        browser.sign_in(&page, "/tenant/login").await,
        "/tenant/account"
    );
    let page = browser.get("/tenant/account").await;
    let logout = page.body().split("action=\"").last().unwrap();
    let logout = &logout[..logout.find('"').unwrap()];
    let page_url = url::Url::parse(&format!("{issuer}/account")).unwrap();
    assert_eq!(page_url.join(logout).unwrap().path(), "/tenant/logout");
}

#[tokio::test]
async fn openid_switched_off() {
    let server = start("", |s| s.openid = false).await;
    let issuer = &server.issuer;
    let (_, oauth) = get_json(&format!("{issuer}/.well-known/oauth-authorization-server")).await;
    assert!(
        !oauth["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "openid"),
        "{oauth}"
    );
    assert!(oauth.get("userinfo_endpoint").is_none(), "{oauth}");
    assert_eq!(
        get_json(&format!("{issuer}/.well-known/openid-configuration"))
            .await
            .0,
        404
    );
    let (_, tokens) = sign_in_and_exchange(&server, "", &[("scope", "openid read")]).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    assert_eq!(
        userinfo(issuer, Method::GET, Some(&bearer)).await.status(),
        404
    );
}

#[tokio::test]
async fn cors_on_the_endpoints_browsers_call_only() {
    let server = start("", |_| {}).await;
    let issuer = &server.issuer;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/token",
        "/register",
        "/revoke",
        "/jwks",
        "/userinfo",
    ] {
        let url = format!("{issuer}{path}");
        let res = with_origin(Method::OPTIONS, &url, true).await;
        assert!(
            res.status().is_success(),
            "preflight {path}: {}",
            res.status()
        );
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert!(
            h.get("access-control-allow-credentials").is_none(),
            "{path}"
        );
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{path}: {methods}"
        );
        let headers = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            headers.contains("authorization") && headers.contains("content-type"),
            "{path}: {headers}"
        );

        let method = if matches!(path, "/token" | "/register" | "/revoke") {
            Method::POST
        } else {
            Method::GET
        };
        let res = with_origin(method, &url, false).await;
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert!(
            h.get("access-control-allow-credentials").is_none(),
            "{path}"
        );
        let exposed = h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(exposed.contains("www-authenticate"), "{path}: {exposed}");
    }
    for path in ["/authorize", "/login", "/account", "/introspect"] {
        let url = format!("{issuer}{path}");
        for (method, preflight) in [(Method::GET, false), (Method::OPTIONS, true)] {
            let res = with_origin(method, &url, preflight).await;
            assert!(
                res.headers().get("access-control-allow-origin").is_none(),
                "{path}"
            );
        }
    }
}

#[test]
fn config_file_openid_section_and_issuer_path() {
    use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
    let no_env = |_: &str| None::<String>;
    let resolve = |text: &str| {
        let file = ConfigFile::parse(text, "test.toml").expect("valid TOML");
        ServeConfig::resolve(&Overrides::default(), Some(&file), &no_env)
    };
    let on = resolve("issuer = \"https://as.example/tenant/v1\"").unwrap();
    assert!(on.settings.openid, "on by default");
    assert_eq!(on.settings.issuer_path(), "/tenant/v1");
    let off = resolve("[openid]\nenabled = false").unwrap();
    assert!(!off.settings.openid);
    for issuer in [
        "https://as.example/{tenant}",
        "https://as.example/a//b",
        "https://as.example/a/../b",
        "https://as.example/*all",
    ] {
        let err = resolve(&format!("issuer = {issuer:?}")).unwrap_err();
        assert!(err.to_string().contains("path"), "{issuer}: {err}");
    }
    assert!(ConfigFile::parse("[openid]\nenable = true", "test.toml").is_err());
}
