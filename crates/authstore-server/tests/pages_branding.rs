//! Pages an operator brands: templates overridden from a directory (read through the config file as `serve` reads it), the product name, logo and accent colour; escaping and the Content-Security-Policy hold for overridden templates.

mod common;

use std::sync::Arc;

use authstore::MemoryStore;
use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
use common::{Browser, hidden, start};
use http::header::CONTENT_SECURITY_POLICY;

const HOSTILE: &str = "<script>alert(1)</script>";

/// `[pages]` with a templates directory holding `login.html` and
/// `error.html` of the operator's.
fn branded_pages(dir: &std::path::Path) -> authstore_server::branding::PagesSettings {
    std::fs::write(
        dir.join("login.html"),
        r#"{% extends "base.html" %}{% block title %}Log in{% endblock %}{% block body %}
<h1 id="custom-login">Welcome to {{ brand.name }}</h1>
{% if error %}<p id="error">{{ error }} ({{ username }})</p>{% endif %}
<form method="post" action="login" id="login"><input type="hidden" name="_csrf" value="{{ csrf }}">
<input type="hidden" name="return_to" value="{{ return_to }}">
<input type="text" name="username" value="{{ username }}"><input type="password" name="password">
<button type="submit">Go</button></form>{% endblock %}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("error.html"),
        r#"<!doctype html><title>Oops</title><p id="custom-error">{{ message }} at {{ brand.name }}</p><script>alert("inline")</script>"#,
    )
    .unwrap();
    let file = ConfigFile::parse(
        &format!(
            "[pages]\ntemplates = {:?}\nproduct_name = \"Acme <b>ID</b>\"\nlogo_url = \"https://cdn.acme.example/logo.svg\"\naccent_color = \"#0a7\"\n",
            dir.display().to_string()
        ),
        "branding.toml",
    )
    .unwrap();
    ServeConfig::resolve(&Overrides::default(), Some(&file), &|_: &str| None)
        .unwrap()
        .settings
        .pages
}

#[tokio::test]
async fn overridden_templates_are_used_escaped_and_under_the_same_csp() {
    let dir = tempfile::tempdir().unwrap();
    let pages = branded_pages(dir.path());
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |s| {
        s.pages = pages;
    })
    .await;
    let mut browser = Browser::new(&server.base);
    let page = browser
        .get(&format!("{}/login?return_to=/account", server.base))
        .await;
    assert_eq!(page.status(), 200);
    let body = page.body();
    assert!(
        body.contains("id=\"custom-login\""),
        "the operator's template: {body}"
    );
    assert!(
        body.contains("Welcome to Acme &lt;b&gt;ID&lt;&#x2f;b&gt;"),
        "{body}"
    );
    assert!(body.contains("--accent: #0a7"), "the accent colour: {body}");
    assert!(
        body.contains("<img src=\"https:&#x2f;&#x2f;cdn.acme.example&#x2f;logo.svg\""),
        "{body}"
    );
    let csp = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "default-src 'none'",
        "img-src https://cdn.acme.example;",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("script-src"), "no scripts: {csp}");

    // What a visitor types comes back escaped in the operator's template.
    let csrf = hidden(body, "_csrf");
    let res = browser
        .post_form(
            &format!("{}/login", server.base),
            &[
                ("_csrf", csrf.as_str()),
                ("return_to", "/account"),
                ("username", HOSTILE),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(!res.body().contains(HOSTILE), "{}", res.body());
    assert!(
        res.body()
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{}",
        res.body()
    );

    // An overridden error page with an inline script of its own: the CSP
    // (no script-src) keeps a browser from running it.
    let res = browser
        .get(&format!(
            "{}/authorize?response_type=code&client_id=no-such-client",
            server.base
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.body().contains("id=\"custom-error\""), "{}", res.body());
    assert!(res.body().contains("at Acme &lt;b&gt;ID"), "{}", res.body());
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
}

#[tokio::test]
async fn the_built_in_pages_carry_the_default_brand_and_no_image_source() {
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |_| {}).await;
    let mut browser = Browser::new(&server.base);
    let page = browser.get(&format!("{}/login", server.base)).await;
    let body = page.body();
    assert!(
        body.contains("<span id=\"product-name\">authstore</span>"),
        "{body}"
    );
    assert!(
        body.contains("<title>Sign in · authstore</title>"),
        "{body}"
    );
    assert!(!body.contains("<img"), "{body}");
    let csp = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(!csp.contains("img-src"), "{csp}");
}
