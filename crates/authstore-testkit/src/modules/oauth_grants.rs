//! Checks of a user's and a client's grants: listed while live, with when they were last used, and revoked in one call with everything issued under them.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{Client, OAuth, OAuthConfig, TokenResponse, pkce_challenge};
use authstore::secret::random_token;
use authstore::{FakeClock, Store};

use crate::conformance::{SHORT_TTL, pass_time};

use super::oauth::{
    active, config, oauth, oauth_with, redirect_of, refresh_token, register, request, scopes,
};

/// Tokens of a fresh grant `subject` gave `client`.
async fn grant_of(oauth: &OAuth, client: &Client, subject: &str, scope: &[&str]) -> TokenResponse {
    let verifier = random_token().unwrap();
    let mut req = request(client, scope, &pkce_challenge(&verifier));
    req.subject = subject.into();
    let code = oauth.issue_code(&req).await.expect("code issued");
    oauth
        .exchange_code(client, &code, redirect_of(client), &verifier)
        .await
        .expect("code redeemed")
}

/// Whether both tokens of a grant are active, each as expected.
async fn assert_tokens(oauth: &OAuth, tokens: &TokenResponse, live: bool, what: &str) {
    assert_eq!(
        active(oauth, &tokens.access_token).await,
        live,
        "{what}: access token"
    );
    assert_eq!(
        active(oauth, refresh_token(tokens)).await,
        live,
        "{what}: refresh token"
    );
}

/// A user's grants and a client's grants are listed while live; revoking
/// one app of a user, all of a user's grants, or all of a client's grants
/// is one call each, and ends every token issued under them.
pub async fn oauth_grants_are_listed_and_revoked_by_user_and_client(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth(&store, &clock);
    let web = register(&oauth, true).await.client;
    let cli = register(&oauth, false).await.client;
    let ada_web = grant_of(&oauth, &web, "u-ada", &["read"]).await;
    clock.advance(Duration::from_millis(5));
    let ada_cli = grant_of(&oauth, &cli, "u-ada", &["read", "write"]).await;
    let bob_web = grant_of(&oauth, &web, "u-bob", &["write"]).await;

    let ada = oauth.user_grants("u-ada").await.unwrap();
    let listed: Vec<(&str, Vec<String>)> = ada
        .iter()
        .map(|g| (g.client_id.as_str(), g.scope.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (web.client_id.as_str(), scopes(&["read"])),
            (cli.client_id.as_str(), scopes(&["read", "write"])),
        ],
        "oldest first"
    );
    assert!(ada.iter().all(|g| g.subject.as_deref() == Some("u-ada")));
    assert!(ada.iter().all(|g| g.last_used_at == g.created_at));
    let web_grants = oauth.client_grants(&web.client_id).await.unwrap();
    let mut subjects: Vec<_> = web_grants
        .iter()
        .filter_map(|g| g.subject.clone())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["u-ada", "u-bob"]);
    assert!(oauth.user_grants("u-nobody").await.unwrap().is_empty());

    // "Remove this app": only Ada's grant to the web app ends.
    assert_eq!(
        oauth
            .revoke_user_client_grants("u-ada", &web.client_id)
            .await
            .unwrap(),
        1
    );
    assert_tokens(&oauth, &ada_web, false, "Ada's web grant").await;
    assert_tokens(&oauth, &ada_cli, true, "Ada's cli grant").await;
    assert_tokens(&oauth, &bob_web, true, "Bob's web grant").await;
    assert!(
        oauth
            .refresh(&web, refresh_token(&ada_web), None)
            .await
            .is_err(),
        "a revoked grant does not refresh"
    );
    let left: Vec<String> = oauth
        .user_grants("u-ada")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.client_id)
        .collect();
    assert_eq!(
        left,
        [cli.client_id.as_str()],
        "a revoked grant is not listed"
    );

    // Every grant of a user.
    let ada_web_again = grant_of(&oauth, &web, "u-ada", &["read"]).await;
    assert_eq!(oauth.revoke_user_grants("u-ada").await.unwrap(), 2);
    assert_tokens(&oauth, &ada_cli, false, "Ada's cli grant").await;
    assert_tokens(&oauth, &ada_web_again, false, "Ada's second web grant").await;
    assert_tokens(&oauth, &bob_web, true, "Bob's web grant").await;
    assert!(oauth.user_grants("u-ada").await.unwrap().is_empty());
    assert_eq!(
        oauth.revoke_user_grants("u-ada").await.unwrap(),
        0,
        "nothing left to revoke"
    );

    // Every grant of a client.
    assert_eq!(oauth.revoke_client_grants(&web.client_id).await.unwrap(), 1);
    assert_tokens(&oauth, &bob_web, false, "Bob's web grant").await;
    assert!(
        oauth
            .client_grants(&web.client_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(oauth.user_grants("u-bob").await.unwrap().is_empty());
}

/// A grant's last use moves with each refresh; an expired grant is no
/// longer listed.
pub async fn oauth_grants_show_their_last_use_and_leave_when_expired(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    // Short lifetimes: a server-clock backend waits for them.
    let short = OAuthConfig {
        access_token_ttl: SHORT_TTL,
        code_tombstone_ttl: SHORT_TTL,
        refresh_token_ttl: SHORT_TTL * 2,
        ..config()
    };
    let oauth = oauth_with(&store, &clock, short);
    let cli = register(&oauth, false).await.client;
    let tokens = grant_of(&oauth, &cli, "u-cat", &["read"]).await;
    let [first] = <[_; 1]>::try_from(oauth.user_grants("u-cat").await.unwrap()).unwrap();
    pass_time(store.as_ref(), &clock, Duration::from_millis(200)).await;
    oauth
        .refresh(&cli, refresh_token(&tokens), None)
        .await
        .expect("refreshed");
    let [after] = <[_; 1]>::try_from(oauth.user_grants("u-cat").await.unwrap()).unwrap();
    assert_eq!(after.grant_id, first.grant_id);
    assert_eq!(after.created_at, first.created_at);
    assert!(
        after.last_used_at >= first.created_at + 200,
        "the refresh moved the last use: {} → {}",
        first.created_at,
        after.last_used_at
    );
    let lifetime = oauth.config().refresh_token_ttl;
    pass_time(store.as_ref(), &clock, lifetime + SHORT_TTL).await;
    assert!(
        oauth.user_grants("u-cat").await.unwrap().is_empty(),
        "an expired grant is not listed"
    );
}

/// Every entry in the store, key and value as text.
async fn every_entry(store: &Arc<dyn Store>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 500).await.unwrap();
        out.extend(
            page.entries
                .into_iter()
                .map(|e| (e.key, String::from_utf8_lossy(&e.value).into_owned())),
        );
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// Erasing a user leaves no entry that names it: grants live and revoked,
/// their tokens, rotated refresh tokens and remembered consents all go,
/// found by a scan of the whole store; another user's grant and consent
/// stay and work.
pub async fn oauth_erase_user_leaves_nothing_behind(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let web = register(&oauth, true).await.client;
    let cli = register(&oauth, false).await.client;
    let subject = "u-erased-7f3a";
    let kept = grant_of(&oauth, &web, subject, &["read"]).await;
    let revoked = grant_of(&oauth, &cli, subject, &["read"]).await;
    let other = grant_of(&oauth, &web, "u-stays", &["read"]).await;
    oauth
        .refresh(&web, refresh_token(&kept), None)
        .await
        .expect("rotated once");
    assert!(
        oauth
            .revoke_user_client_grants(subject, &cli.client_id)
            .await
            .unwrap()
            == 1
    );
    let consent = |subject: &'static str| {
        let oauth = oauth.clone();
        let client_id = web.client_id.clone();
        async move {
            oauth
                .remember_consent(
                    subject,
                    &client_id,
                    &scopes(&["read"]),
                    &[],
                    Duration::from_secs(600),
                )
                .await
                .unwrap();
        }
    };
    consent(subject).await;
    consent("u-stays").await;
    let before = every_entry(&store).await;
    assert!(
        before
            .iter()
            .any(|(k, v)| k.contains(subject) || v.contains(subject)),
        "the subject is stored before"
    );

    assert_eq!(
        oauth.erase_user(subject).await.unwrap(),
        1,
        "one grant was live"
    );
    let left: Vec<_> = every_entry(&store)
        .await
        .into_iter()
        .filter(|(k, v)| k.contains(subject) || v.contains(subject))
        .collect();
    assert!(left.is_empty(), "entries naming the user remain: {left:?}");
    assert_tokens(&oauth, &kept, false, "erased").await;
    assert_tokens(&oauth, &revoked, false, "revoked, then erased").await;
    assert!(oauth.user_grants(subject).await.unwrap().is_empty());
    assert!(oauth.consents(subject).await.unwrap().is_empty());
    assert_tokens(&oauth, &other, true, "another user's grant").await;
    assert_eq!(oauth.consents("u-stays").await.unwrap().len(), 1);
    assert_eq!(oauth.erase_user(subject).await.unwrap(), 0, "idempotent");
}
