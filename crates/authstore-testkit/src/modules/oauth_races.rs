//! Checks of the OAuth races: concurrent code redemption and refresh rotation, on one store and across two.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::oauth::{GrantProblem, OAuth, OAuthConfig, OAuthError, TokenResponse};
use authstore::{FakeClock, Store};

use crate::conformance::run_parallel;

use super::oauth::{
    LOOPBACK_PORT, RACE, active, assert_invalid_grant, assert_revoked_by_reuse, authorize, config,
    grant, oauth, oauth_with, refresh_token, register,
};

/// Redeems one code from `RACE` concurrent requests spread over `instances`;
/// asserts exactly one success, every other attempt refused as reuse, and
/// the grant revoked afterwards.
async fn race_code(instances: &[OAuth]) {
    let oauth = &instances[0];
    let client = register(oauth, false).await.client;
    let (code, verifier) = authorize(oauth, &client, &["read"]).await;
    let started = Instant::now();
    let results = run_parallel(RACE, |i| {
        let oauth = instances[i % instances.len()].clone();
        let (client, code, verifier) = (client.clone(), code.clone(), verifier.clone());
        async move {
            oauth
                .exchange_code(&client, &code, LOOPBACK_PORT, &verifier)
                .await
        }
    });
    let elapsed = started.elapsed();
    eprintln!(
        "{RACE} concurrent redemptions over {} store(s): {elapsed:?}",
        instances.len()
    );
    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(tokens) => winners.push(tokens),
            loser => assert_revoked_by_reuse(loser, "a losing redemption"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one redemption wins");
    let winner = &winners[0];
    assert!(
        !active(oauth, &winner.access_token).await,
        "the concurrent reuse revoked the winner's access token"
    );
    assert!(!active(oauth, refresh_token(winner)).await);
    assert_invalid_grant(
        oauth.refresh(&client, refresh_token(winner), None).await,
        "the winner's refresh token",
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "{RACE} redemptions took {elapsed:?}"
    );
}

/// 200 concurrent redemptions of one code: exactly one wins; every other
/// sees the used code and revokes the grant, so the winner's tokens end inactive.
pub async fn oauth_concurrent_code_redemption_has_one_winner(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    race_code(&[oauth(&store, &clock)]).await;
}

/// The code race across two store instances on one backend.
pub async fn oauth_two_stores_redeem_a_code_once(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    clock: FakeClock,
) {
    race_code(&[oauth(&a, &clock), oauth(&b, &clock)]).await;
}

/// 200 concurrent refreshes of one refresh token inside a 60 s grace
/// window: rotation is a compare-and-set on the grant's head, so one
/// rotates, and every other request, a retry of the replaced token, gets
/// that rotation's response: all 200 return the same tokens, that refresh
/// token is the one active (one chain), and it keeps working. Each loser
/// of the compare-and-set costs one failed write and a read; the elapsed
/// time is printed.
pub async fn oauth_concurrent_refresh_within_grace_keeps_one_chain(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            refresh_grace: Duration::from_secs(60),
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let first = grant(&oauth, &client, &["read"]).await;
    let token = refresh_token(&first).to_owned();
    let started = Instant::now();
    let results = run_parallel(RACE, |_| {
        let (oauth, client, token) = (oauth.clone(), client.clone(), token.clone());
        async move { oauth.refresh(&client, &token, None).await }
    });
    let elapsed = started.elapsed();
    eprintln!("{RACE} concurrent refreshes within the grace window: {elapsed:?}");
    let issued: Vec<TokenResponse> = results
        .into_iter()
        .map(|r| r.expect("every retry within the grace window succeeds"))
        .collect();
    let mut distinct: Vec<&str> = issued.iter().map(refresh_token).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        1,
        "every request got the one rotation's token"
    );
    assert!(
        issued
            .iter()
            .all(|t| t.access_token == issued[0].access_token),
        "and its access token"
    );
    let successor = distinct[0];
    assert!(active(&oauth, successor).await && active(&oauth, &issued[0].access_token).await);
    assert!(
        !active(&oauth, &token).await,
        "one chain: the replaced token is dead"
    );
    // The losers of the compare-and-set removed their successors' records:
    // the grant has its first tokens and the one rotation's, nothing else.
    for (prefix, what) in [("oauth-rt:", "refresh"), ("oauth-at:", "access")] {
        // Every page: on a Cluster one page covers one master.
        let records = crate::conformance::scan_all(&*store, prefix, 1000).await;
        assert_eq!(records.len(), 2, "{what} token records");
    }
    let next = oauth
        .refresh(&client, successor, None)
        .await
        .expect("the chain continues");
    assert!(active(&oauth, refresh_token(&next)).await);
    assert!(
        elapsed < Duration::from_secs(60),
        "{RACE} refreshes took {elapsed:?}"
    );
}

/// 200 concurrent refreshes of one refresh token without a grace window:
/// at most one succeeds, and the others' reuse revokes the grant.
pub async fn oauth_concurrent_refresh_without_grace_revokes_the_grant(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            refresh_grace: Duration::ZERO,
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let first = grant(&oauth, &client, &["read"]).await;
    let token = refresh_token(&first).to_owned();
    let results = run_parallel(RACE, |_| {
        let (oauth, client, token) = (oauth.clone(), client.clone(), token.clone());
        async move { oauth.refresh(&client, &token, None).await }
    });
    let mut winners = Vec::new();
    let mut reuse_seen = false;
    for result in results {
        match result {
            Ok(tokens) => winners.push(tokens),
            Err(OAuthError::InvalidGrant(why)) => {
                reuse_seen |= why == GrantProblem::RefreshTokenReused;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(winners.len() <= 1, "{} refreshes succeeded", winners.len());
    assert!(reuse_seen, "some refresh saw the reuse");
    assert!(!active(&oauth, &first.access_token).await, "grant revoked");
    for tokens in &winners {
        assert!(!active(&oauth, &tokens.access_token).await);
        assert!(!active(&oauth, refresh_token(tokens)).await);
    }
}
