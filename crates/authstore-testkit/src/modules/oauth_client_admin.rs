//! Checks of the operator's client actions on any store: list, update within the registration rules, rotate a secret.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{ClientChanges, GrantType, NewClient, OAuthError};
use authstore::{FakeClock, Store};

use super::oauth::{oauth, register, scopes};

/// Clients are listed (whole and by page); an update changes only what it
/// names, keeps the secret and the remaining lifetime, and is refused
/// whole when the result breaks the registration rules; a rotated secret
/// works at once and the old one stops at once, even where it was just
/// accepted; a public client has no secret to rotate; an unknown client
/// is `None` everywhere.
pub async fn oauth_client_operator_actions(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let web = register(&oauth, true).await;
    let native = register(&oauth, false).await;
    let mut leased = NewClient::public("leased", "http://127.0.0.1/cb");
    leased.scopes = scopes(&["read"]);
    let leased = oauth
        .register_client_with_ttl(leased, Some(Duration::from_secs(3600)))
        .await
        .unwrap()
        .client;
    let ids: Vec<String> = oauth
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    let mut expected = vec![
        leased.client_id.clone(),
        native.client.client_id.clone(),
        web.client.client_id.clone(),
    ];
    expected.sort_by_key(|id| {
        let name = if *id == leased.client_id {
            "leased"
        } else if *id == native.client.client_id {
            native.client.name.as_str()
        } else {
            web.client.name.as_str()
        };
        (name.to_owned(), id.clone())
    });
    assert_eq!(ids, expected, "by name, then id");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = oauth.clients_page(cursor.as_deref(), 1).await.unwrap();
        assert!(page.len() <= 1);
        paged.extend(page.into_iter().map(|c| c.client_id));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    paged.sort();
    expected.sort();
    assert_eq!(paged, expected);

    let id = web.client.client_id.as_str();
    let changes = ClientChanges {
        name: Some("  renamed  ".into()),
        scopes: Some(scopes(&["read"])),
        ..ClientChanges::default()
    };
    let updated = oauth.update_client(id, &changes).await.unwrap().unwrap();
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.scopes, scopes(&["read"]));
    assert_eq!(updated.redirect_uris, web.client.redirect_uris);
    assert_eq!(oauth.client(id).await.unwrap().unwrap().name, "renamed");
    let old = web.secret.clone().unwrap();
    assert!(oauth.authenticate_client(id, Some(&old)).await.is_ok());

    for (bad, what) in [
        (
            ClientChanges {
                redirect_uris: Some(vec!["http://app.example/cb".into()]),
                ..ClientChanges::default()
            },
            "plain http off loopback",
        ),
        (
            ClientChanges {
                name: Some(" ".into()),
                ..ClientChanges::default()
            },
            "empty name",
        ),
        (
            ClientChanges {
                grant_types: Some(Vec::new()),
                ..ClientChanges::default()
            },
            "no grant type",
        ),
    ] {
        match oauth.update_client(id, &bad).await {
            Err(OAuthError::InvalidRedirectUri(_) | OAuthError::InvalidClientMetadata(_)) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    let kept = oauth.client(id).await.unwrap().unwrap();
    assert_eq!(kept, updated, "a refused update writes nothing");
    let public_cc = ClientChanges {
        grant_types: Some(vec![GrantType::ClientCredentials]),
        ..ClientChanges::default()
    };
    let refused = oauth
        .update_client(&native.client.client_id, &public_cc)
        .await;
    assert!(
        matches!(refused, Err(OAuthError::InvalidClientMetadata(_))),
        "{refused:?}"
    );

    let rotated = oauth
        .rotate_client_secret(id, Some(Duration::from_secs(86_400)))
        .await
        .unwrap()
        .unwrap();
    let new = rotated.secret.clone().unwrap();
    assert_ne!(new, old);
    assert!(new.len() >= 43, "256 bits");
    assert!(matches!(
        oauth.authenticate_client(id, Some(&old)).await,
        Err(OAuthError::InvalidClient)
    ));
    assert!(oauth.authenticate_client(id, Some(&new)).await.is_ok());
    assert_eq!(rotated.client.name, "renamed", "metadata kept");
    assert!(rotated.client.secret_expires_at.is_some());
    let public = oauth
        .rotate_client_secret(&native.client.client_id, None)
        .await;
    assert!(
        matches!(public, Err(OAuthError::InvalidClientMetadata(_))),
        "{public:?}"
    );

    let renamed = ClientChanges {
        name: Some("leased app".into()),
        ..ClientChanges::default()
    };
    oauth
        .update_client(&leased.client_id, &renamed)
        .await
        .unwrap()
        .unwrap();
    let leased_now = oauth.client(&leased.client_id).await.unwrap().unwrap();
    assert_eq!(leased_now.name, "leased app");
    assert!(leased_now.expires_at.is_some(), "the lifetime is kept");

    let unknown = "no-such-client";
    assert_eq!(oauth.update_client(unknown, &changes).await.unwrap(), None);
    assert!(
        oauth
            .rotate_client_secret(unknown, None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        oauth.update_client("bad id\n", &changes).await.unwrap(),
        None
    );
    assert!(store.exists(&format!("oauth-client:{id}")).await.unwrap());
}
