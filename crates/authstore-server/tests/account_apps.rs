//! `/account` "Apps with access": each app the user approved is listed with its scopes and dates, and removing one ends its tokens at once.

mod common;

use std::sync::Arc;

use authstore::MemoryStore;
use authstore::oauth::{NewClient, pkce_challenge};
use bytes::Bytes;
use common::{Browser, Server, hidden, send, start};
use http::Request;
use http::header::{CONTENT_TYPE, LOCATION};
use http_body_util::Full;
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-xx";

/// A public client named `name` with scope `read`: its id.
async fn app(server: &Server, name: &str) -> String {
    let mut new = NewClient::public(name, REDIRECT);
    new.scopes = vec!["read".into()];
    server
        .state
        .oauth()
        .register_client(new)
        .await
        .unwrap()
        .client
        .client_id
}

/// A form POST to `path`; the status and JSON body.
async fn post(server: &Server, path: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let res = send(
        Request::post(format!("{}{path}", server.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
    )
    .await;
    let status = res.status().as_u16();
    (
        status,
        serde_json::from_str(res.body()).unwrap_or(Value::Null),
    )
}

/// Signs in (first time) or reuses the session, approves `client_id`, and
/// redeems the code: the access and refresh tokens.
async fn tokens(server: &Server, browser: &mut Browser, client_id: &str) -> (String, String) {
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=read&code_challenge={}&code_challenge_method=S256&state=s",
        server.base,
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        pkce_challenge(VERIFIER),
    );
    let location = browser.authorize(&url).await;
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let (status, body) = post(
        server,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn active(server: &Server, token: &str) -> bool {
    server
        .state
        .oauth()
        .introspect(token)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn removing_an_app_on_the_account_page_ends_its_tokens_and_only_its() {
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |_| {}).await;
    let notes = app(&server, "Notes app").await;
    let photos = app(&server, "Photos app").await;
    let mut browser = Browser::new(&server.base);
    let (notes_access, notes_refresh) = tokens(&server, &mut browser, &notes).await;
    let (photos_access, _) = tokens(&server, &mut browser, &photos).await;

    let page = browser.get(&format!("{}/account", server.base)).await;
    assert_eq!(page.status(), 200);
    let body = page.body();
    assert!(body.contains("id=\"apps\""), "{body}");
    assert_eq!(body.matches("class=\"remove-app\"").count(), 2, "{body}");
    for name in ["Notes app", "Photos app"] {
        assert!(body.contains(name), "{name} listed: {body}");
    }
    assert!(body.contains("(read)"), "the scopes: {body}");
    assert!(body.contains("class=\"last-used\""), "{body}");
    assert!(body.contains(" GMT</span>"), "dates: {body}");

    let csrf = hidden(body, "_csrf");
    let res = browser
        .post_form(
            &format!("{}/account/apps/revoke", server.base),
            &[("_csrf", &csrf), ("client_id", &notes)],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.body());
    assert_eq!(res.headers()[LOCATION], "/account");

    assert!(
        !active(&server, &notes_access).await,
        "the access token ended"
    );
    assert!(
        !active(&server, &notes_refresh).await,
        "the refresh token ended"
    );
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &notes_refresh),
            ("client_id", &notes),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        active(&server, &photos_access).await,
        "the other app keeps access"
    );

    let page = browser.get(&format!("{}/account", server.base)).await;
    assert!(!page.body().contains("Notes app"), "{}", page.body());
    assert!(page.body().contains("Photos app"), "{}", page.body());
}

#[tokio::test]
async fn removing_an_app_needs_the_form_token_and_a_session() {
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |_| {}).await;
    let notes = app(&server, "Notes app").await;
    let mut browser = Browser::new(&server.base);
    let (access, _) = tokens(&server, &mut browser, &notes).await;
    let url = format!("{}/account/apps/revoke", server.base);
    let res = browser
        .post_form(&url, &[("_csrf", "forged"), ("client_id", &notes)])
        .await;
    assert_eq!(res.status(), 403, "{}", res.body());
    let mut stranger = Browser::new(&server.base);
    let res = stranger.post_form(&url, &[("client_id", &notes)]).await;
    assert_ne!(res.status(), 303, "{}", res.body());
    assert!(active(&server, &access).await, "nothing was revoked");
}

/// The `handle` fields of the account page's "Sign out" forms.
fn other_handles(body: &str) -> Vec<String> {
    body.split("name=\"handle\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_account_page_lists_the_sessions_and_ends_the_others() {
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |_| {}).await;
    let mut laptop = Browser::new(&server.base);
    let mut phone = Browser::new(&server.base);
    let mut tablet = Browser::new(&server.base);
    for b in [&mut laptop, &mut phone, &mut tablet] {
        b.sign_in().await;
    }
    let account = format!("{}/account", server.base);
    let page = laptop.get(&account).await;
    let body = page.body().to_owned();
    assert_eq!(body.matches("class=\"session\"").count(), 3, "{body}");
    assert_eq!(body.matches("(this device)").count(), 1, "{body}");
    assert!(body.contains("class=\"ip\">127.0.0.1<"), "{body}");
    let others = other_handles(&body);
    assert_eq!(others.len(), 2, "a Sign out form for each other session");

    // One session: a handle of the user's, never the current one.
    let csrf = hidden(&body, "_csrf");
    let revoke = format!("{}/account/sessions/revoke", server.base);
    for b in [&mut phone, &mut tablet] {
        assert_eq!(b.get(&account).await.status(), 200, "signed in before");
    }
    let res = laptop
        .post_form(&revoke, &[("_csrf", &csrf), ("handle", &others[0])])
        .await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let signed_in = |page: &http::Response<String>| page.status() == 200;
    let mut still = 0;
    for b in [&mut phone, &mut tablet] {
        still += usize::from(signed_in(&b.get(&account).await));
    }
    assert_eq!(still, 1, "exactly one of the other two sessions ended");
    let page = laptop.get(&account).await;
    assert!(signed_in(&page), "the current session stays");
    assert_eq!(page.body().matches("class=\"session\"").count(), 2);

    // Everywhere else.
    let csrf = hidden(page.body(), "_csrf");
    let res = laptop
        .post_form(&revoke, &[("_csrf", &csrf), ("others", "1")])
        .await;
    assert_eq!(res.status(), 303, "{}", res.body());
    for b in [&mut phone, &mut tablet] {
        assert!(!signed_in(&b.get(&account).await));
    }
    let page = laptop.get(&account).await;
    assert!(signed_in(&page));
    assert_eq!(page.body().matches("class=\"session\"").count(), 1);
    assert!(!page.body().contains("id=\"end-other-sessions\""));
}

#[tokio::test]
async fn a_session_handle_of_another_user_is_not_ended() {
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |_| {}).await;
    server
        .state
        .credentials()
        .register_user("bob", "u-bob", common::PASSWORD)
        .await
        .unwrap();
    let mut ada = Browser::new(&server.base);
    ada.sign_in().await;
    // Bob signs in; his session's handle, as his own account page shows it.
    let mut bob = Browser::new(&server.base);
    let page = bob
        .get(&format!("{}/login?return_to=/account", server.base))
        .await;
    let csrf = hidden(page.body(), "_csrf");
    let res = bob
        .post_form(
            &format!("{}/login", server.base),
            &[
                ("_csrf", csrf.as_str()),
                ("return_to", "/account"),
                ("username", "bob"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let bobs = server
        .state
        .sessions()
        .list_for_user("u-bob")
        .await
        .unwrap();
    let handle = bobs[0].handle.as_str().to_owned();

    let page = ada.get(&format!("{}/account", server.base)).await;
    let csrf = hidden(page.body(), "_csrf");
    let res = ada
        .post_form(
            &format!("{}/account/sessions/revoke", server.base),
            &[("_csrf", &csrf), ("handle", &handle)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        bob.get(&format!("{}/account", server.base)).await.status(),
        200,
        "Bob is still signed in"
    );
}
