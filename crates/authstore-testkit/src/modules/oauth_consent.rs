//! Checks of remembered consent: per client, subject and set of resources, until revoked or expired.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::OAuth;
use authstore::{FakeClock, Store};

use crate::conformance::{SHORT_TTL, pass_time};

use super::oauth::{oauth, scopes};

/// Remembered consent covers exactly the approved scopes of one client for
/// one subject and one set of resources, until it is revoked or expires;
/// consents for other sets of resources of the same client coexist.
pub async fn oauth_consent_is_remembered_and_revoked(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let ttl = OAuth::default_consent_ttl();
    let none: &[String] = &[];
    oauth
        .remember_consent("u-1", "client-a", &scopes(&["read", "write"]), none, ttl)
        .await
        .unwrap();
    for (subject, client, wanted, covered) in [
        ("u-1", "client-a", scopes(&["read"]), true),
        ("u-1", "client-a", scopes(&["write", "read"]), true),
        ("u-1", "client-a", scopes(&[]), true),
        ("u-1", "client-a", scopes(&["admin"]), false),
        ("u-1", "client-a", scopes(&["read", "admin"]), false),
        ("u-1", "client-b", scopes(&["read"]), false),
        ("u-2", "client-a", scopes(&["read"]), false),
    ] {
        assert_eq!(
            oauth
                .has_consent(subject, client, &wanted, none)
                .await
                .unwrap(),
            covered,
            "{subject} {client} {wanted:?}"
        );
    }
    oauth
        .remember_consent("u-1", "client-a", &scopes(&["read"]), none, ttl)
        .await
        .unwrap();
    assert!(
        !oauth
            .has_consent("u-1", "client-a", &scopes(&["write"]), none)
            .await
            .unwrap(),
        "a new consent for the same resources replaces the old one"
    );
    // Bound to the set of resources: another set, or none, is asked again;
    // the order of the resources does not matter.
    let api = scopes(&["https://api.example/"]);
    let files = scopes(&["https://files.example/"]);
    let both = scopes(&["https://files.example/", "https://api.example/"]);
    oauth
        .remember_consent("u-4", "client-a", &scopes(&["read"]), &api, ttl)
        .await
        .unwrap();
    oauth
        .remember_consent("u-4", "client-a", &scopes(&["write"]), &both, ttl)
        .await
        .unwrap();
    for (resources, wanted, covered) in [
        (api.clone(), "read", true),
        (api.clone(), "write", false),
        (both.clone(), "write", true),
        (
            scopes(&["https://api.example/", "https://files.example/"]),
            "write",
            true,
        ),
        (files.clone(), "read", false),
        (scopes(&["https://other.example/"]), "read", false),
        (vec![], "read", false),
    ] {
        assert_eq!(
            oauth
                .has_consent("u-4", "client-a", &scopes(&[wanted]), &resources)
                .await
                .unwrap(),
            covered,
            "{resources:?} {wanted}"
        );
    }
    // A record of an earlier format (a bare list of scopes) never matches.
    store
        .put(
            "oauth-consent:u-5|client-a",
            br#"["read"]"#,
            authstore::PutOptions::new(),
        )
        .await
        .unwrap();
    assert!(
        !oauth
            .has_consent("u-5", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap()
    );
    let mut listed = oauth.consents("u-4").await.unwrap();
    listed.sort_by_key(|a| a.resources.len());
    assert_eq!(
        listed,
        vec![
            authstore::oauth::RememberedConsent {
                client_id: "client-a".into(),
                scopes: scopes(&["read"]),
                resources: api.clone(),
            },
            authstore::oauth::RememberedConsent {
                client_id: "client-a".into(),
                scopes: scopes(&["write"]),
                resources: scopes(&["https://api.example/", "https://files.example/"]),
            },
        ]
    );
    // Revoking one set keeps the other; revoking the client drops all.
    assert!(
        oauth
            .revoke_consent_for("u-4", "client-a", &both)
            .await
            .unwrap()
    );
    assert!(
        oauth
            .has_consent("u-4", "client-a", &scopes(&["read"]), &api)
            .await
            .unwrap()
    );
    assert!(
        !oauth
            .has_consent("u-4", "client-a", &scopes(&["write"]), &both)
            .await
            .unwrap()
    );
    assert!(oauth.revoke_consent("u-4", "client-a").await.unwrap());
    assert!(oauth.consents("u-4").await.unwrap().is_empty());
    assert!(oauth.revoke_consent("u-1", "client-a").await.unwrap());
    assert!(
        !oauth
            .has_consent("u-1", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap()
    );
    assert!(!oauth.revoke_consent("u-1", "client-a").await.unwrap());

    oauth
        .remember_consent("u-3", "client-a", &scopes(&["read"]), none, SHORT_TTL)
        .await
        .unwrap();
    assert!(
        oauth
            .has_consent("u-3", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap()
    );
    pass_time(&*store, &clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        !oauth
            .has_consent("u-3", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap(),
        "consent expires"
    );
}
