//! Checks of [`authstore::tokens`] on any store.

use std::sync::Arc;
use std::time::Duration;

use authstore::tokens::{ApiTokens, NewToken};
use authstore::{FakeClock, Store};

use crate::conformance::{SHORT_TTL, pass_time};

/// A token verifies to its principal, scopes and metadata; only its hash is stored.
pub async fn tokens_verify_and_store_only_hashes(store: Arc<dyn Store>, clock: FakeClock) {
    let tokens = ApiTokens::with_clock(Arc::clone(&store), clock);
    let issued = tokens
        .issue(
            NewToken::for_principal("u1")
                .scope("read")
                .role("admin")
                .meta("name", "ci"),
        )
        .await
        .unwrap();
    assert!(issued.token.starts_with("ast_") && issued.token.len() == 47);
    assert!(
        !format!("{issued:?}").contains(&issued.token[4..]),
        "Debug hides the secret"
    );
    let info = tokens
        .verify(&issued.token)
        .await
        .unwrap()
        .expect("valid token");
    assert_eq!(info.principal, "u1");
    assert!(info.has_scope("read") && !info.has_scope("write"));
    assert_eq!(info.metadata.get("name").map(String::as_str), Some("ci"));
    let entries = crate::conformance::scan_all(&*store, "", 100).await;
    assert!(!entries.is_empty(), "the token is stored");
    for e in &entries {
        assert!(
            !e.key.contains(&issued.token[4..])
                && !String::from_utf8_lossy(&e.value).contains(&issued.token[4..])
        );
    }
    for bad in [
        "",
        "ast_",
        "ast_short",
        &issued.token[4..],
        &format!("ast_{}", "A".repeat(43)),
    ] {
        assert!(tokens.verify(bad).await.unwrap().is_none(), "{bad:?}");
    }
}

/// A token with a lifetime stops verifying when it ends.
pub async fn tokens_expire(store: Arc<dyn Store>, clock: FakeClock) {
    let tokens = ApiTokens::with_clock(Arc::clone(&store), clock.clone());
    let issued = tokens
        .issue(NewToken::for_principal("u2").ttl(SHORT_TTL))
        .await
        .unwrap();
    assert!(tokens.verify(&issued.token).await.unwrap().is_some());
    pass_time(&*store, &clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(tokens.verify(&issued.token).await.unwrap().is_none());
}

/// Tokens are listed per principal and revoked one at a time or all at once.
pub async fn tokens_list_and_revoke(store: Arc<dyn Store>, clock: FakeClock) {
    let tokens = ApiTokens::with_clock(Arc::clone(&store), clock.clone());
    let mut issued = Vec::new();
    for name in ["a", "b", "c"] {
        issued.push(
            tokens
                .issue(NewToken::for_principal("u3").meta("name", name))
                .await
                .unwrap(),
        );
        clock.advance(Duration::from_millis(5));
    }
    let other = tokens.issue(NewToken::for_principal("u4")).await.unwrap();
    let names: Vec<_> = tokens
        .list("u3")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.metadata["name"].clone())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(tokens.revoke(&issued[1].info.handle).await.unwrap());
    assert!(tokens.verify(&issued[1].token).await.unwrap().is_none());
    assert_eq!(tokens.list("u3").await.unwrap().len(), 2);
    assert_eq!(tokens.revoke_all("u3").await.unwrap(), 2);
    assert!(tokens.verify(&issued[0].token).await.unwrap().is_none());
    assert!(
        tokens.verify(&other.token).await.unwrap().is_some(),
        "other principals untouched"
    );
    assert!(tokens.revoke("not-a-handle").await.is_err());
}
