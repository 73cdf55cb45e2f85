//! Rate limits finer than one request per millisecond, which the limiter cannot keep, are refused when the config is read (instead of failing every sign-in later), and the finest one accepted works.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use authstore::MemoryStore;
use authstore::oauth::{NewClient, pkce_challenge};
use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
use common::{Browser, start};

fn resolve(text: &str) -> Result<ServeConfig, String> {
    let file = ConfigFile::parse(text, "limits.toml").expect("valid TOML");
    let env: HashMap<String, String> = HashMap::new();
    ServeConfig::resolve(&Overrides::default(), Some(&file), &|name: &str| {
        env.get(name).cloned()
    })
    .map_err(|e| e.0)
}

#[test]
fn limits_above_one_request_per_millisecond_are_refused() {
    let per_minute = [
        "logins_per_minute",
        "page_requests_per_minute",
        "machine_requests_per_minute",
        "secret_checks_per_minute",
        "secret_checks_per_ip_per_minute",
    ];
    let cases = per_minute
        .iter()
        .map(|key| (*key, 60_000))
        .chain([("registrations_per_hour", 3_600_000)]);
    for (key, max) in cases {
        let accepted = format!("[rate_limits]\n{key} = {max}");
        assert!(resolve(&accepted).is_ok(), "{accepted}");
        let refused = format!("[rate_limits]\n{key} = {}", max + 1);
        let error = resolve(&refused).expect_err(&refused);
        assert!(
            error.contains(&format!("rate_limits.{key} must be at most {max}")),
            "{refused}: {error}"
        );
    }
}

#[tokio::test]
async fn sign_in_works_at_the_finest_login_limit() {
    let store = Arc::new(MemoryStore::builder().build().unwrap());
    let server = start(store, |s| {
        s.logins_per_minute = 60_000;
        s.page_requests_per_minute = 60_000;
    })
    .await;
    let redirect = "http://127.0.0.1:7777/callback";
    let mut app = NewClient::public("App", redirect);
    app.scopes = vec!["read".into()];
    server
        .state
        .oauth()
        .put_client("app", app, None)
        .await
        .unwrap();
    let verifier = authstore::secret::random_token().unwrap();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "app")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "read")
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    // Signs in (asserting the 303) and consents.
    let location = Browser::new(&server.base)
        .authorize(&format!("{}/authorize?{query}", server.base))
        .await;
    assert!(location.contains("code="), "{location}");
}
