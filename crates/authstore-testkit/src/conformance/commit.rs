//! Checks of [`Store::commit`]: every put or none, conditions checked first, one winner under contention.
//!
//! Every key of one commit shares the hash tag `{g}`, so the checks run
//! unchanged on Redis Cluster.

use std::time::Duration;

use authstore::{Error, FakeClock, PutItem, PutOptions, Store, VersionCheck};

use super::{SHORT_TTL, assert_ttl, pass_time, run_parallel};

fn item<'a>(key: &'a str, value: &'a [u8], options: PutOptions) -> PutItem<'a> {
    PutItem {
        key,
        value,
        options,
    }
}

/// A commit that must fail with `AlreadyExists` for `commit:{g}taken`.
async fn expect_taken(
    store: &dyn Store,
    checks: &[VersionCheck<'_>],
    puts: &[PutItem<'_>],
    why: &str,
) {
    let got = store.commit(checks, puts).await;
    assert!(
        matches!(&got, Err(Error::AlreadyExists { key }) if key == "commit:{g}taken"),
        "{why}: {got:?}"
    );
}

fn check(key: &str, version: u64) -> VersionCheck<'_> {
    VersionCheck { key, version }
}

/// Asserts that none of `keys` holds a live entry.
async fn assert_absent(store: &dyn Store, keys: &[&str], what: &str) {
    for key in keys {
        assert!(
            store.get(key).await.unwrap().is_none(),
            "{what}: {key} must not have been written"
        );
    }
}

/// A commit whose conditions hold writes every put, with its TTL, index
/// keys and version, and leaves the checked entry as it was.
pub async fn commit_writes_every_put_when_all_conditions_hold(
    store: &dyn Store,
    _clock: &FakeClock,
) {
    let grant = store
        .put(
            "commit:{g}grant",
            b"grant",
            PutOptions::new().ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let code = store
        .put("commit:{g}code", b"unused", PutOptions::new())
        .await
        .unwrap();
    let versions = store
        .commit(
            &[check("commit:{g}grant", grant)],
            &[
                item(
                    "commit:{g}code",
                    b"used",
                    PutOptions::new().if_version(code),
                ),
                item(
                    "commit:{g}access",
                    b"access",
                    PutOptions::new()
                        .ttl(Duration::from_secs(30))
                        .create_only()
                        .index("commit-ix:{g}"),
                ),
                item(
                    "commit:{g}refresh",
                    b"refresh",
                    PutOptions::new().index("commit-ix:{g}"),
                ),
            ],
        )
        .await
        .expect("every condition holds");
    assert_eq!(versions, vec![code + 1, 1, 1], "the new versions, in order");
    let used = store.get("commit:{g}code").await.unwrap().unwrap();
    assert_eq!((&used.value[..], used.version), (&b"used"[..], code + 1));
    let access = store.get("commit:{g}access").await.unwrap().unwrap();
    assert_eq!(&access.value[..], b"access");
    assert_ttl(
        store,
        access
            .expires_at
            .and_then(|at| at.duration_since(super::store_now(store, _clock)).ok()),
        Duration::from_secs(30),
        "a committed put keeps its TTL",
    );
    assert_eq!(
        store.list_index("commit-ix:{g}").await.unwrap(),
        vec!["commit:{g}access", "commit:{g}refresh"],
        "committed puts are listed under their index keys"
    );
    let checked = store.get("commit:{g}grant").await.unwrap().unwrap();
    assert_eq!(
        (&checked.value[..], checked.version),
        (&b"grant"[..], grant),
        "a check changes neither value nor version"
    );
    assert!(checked.expires_at.is_some(), "a check keeps the TTL");
}

/// A failed condition, a check's or a put's, fails the whole commit with
/// that condition's error, and nothing is written.
pub async fn commit_failed_condition_writes_nothing(store: &dyn Store, clock: &FakeClock) {
    let grant = store
        .put("commit:{g}grant", b"grant", PutOptions::new())
        .await
        .unwrap();
    store
        .put("commit:{g}taken", b"taken", PutOptions::new())
        .await
        .unwrap();
    let fresh = "commit:{g}fresh";
    let fresh_put = || item(fresh, b"new", PutOptions::new().index("commit-ix:{g}"));

    let stale = store
        .commit(&[check("commit:{g}grant", grant + 1)], &[fresh_put()])
        .await;
    assert!(
        matches!(&stale, Err(Error::VersionConflict { key, expected, actual })
            if key == "commit:{g}grant" && *expected == grant + 1 && *actual == grant),
        "a check at another version: {stale:?}"
    );
    let missing = store
        .commit(&[check("commit:{g}nobody", 1)], &[fresh_put()])
        .await;
    assert!(
        matches!(&missing, Err(Error::NotFound { key }) if key == "commit:{g}nobody"),
        "a check of a missing entry: {missing:?}"
    );
    let take = || item("commit:{g}taken", b"mine", PutOptions::new().create_only());
    expect_taken(
        store,
        &[check("commit:{g}grant", grant)],
        &[fresh_put(), take()],
        "a later put's failed condition fails the earlier ones too",
    )
    .await;
    let update = store
        .commit(
            &[],
            &[
                fresh_put(),
                item("commit:{g}gone", b"x", PutOptions::new().update_only()),
            ],
        )
        .await;
    assert!(
        matches!(&update, Err(Error::NotFound { key }) if key == "commit:{g}gone"),
        "{update:?}"
    );
    let cas = store
        .commit(
            &[],
            &[
                item("commit:{g}taken", b"cas", PutOptions::new().if_version(9)),
                fresh_put(),
            ],
        )
        .await;
    assert!(
        matches!(&cas, Err(Error::VersionConflict { key, expected: 9, .. }) if key == "commit:{g}taken"),
        "{cas:?}"
    );
    let create_fresh = PutOptions::new().create_only().index("commit-ix:{g}");
    expect_taken(
        store,
        &[],
        &[item(fresh, b"new", create_fresh), take()],
        "an entry to create before a later one that exists is not kept",
    )
    .await;
    let gone = item("commit:{g}gone", b"x", PutOptions::new().update_only());
    expect_taken(
        store,
        &[],
        &[take(), gone],
        "the first failed condition in the puts' order is the error",
    )
    .await;
    assert_absent(store, &[fresh], "after failed commits").await;
    assert!(
        store.list_index("commit-ix:{g}").await.unwrap().is_empty(),
        "a failed commit lists nothing"
    );
    let taken = store.get("commit:{g}taken").await.unwrap().unwrap();
    assert_eq!(
        &taken.value[..],
        b"taken",
        "a failed commit overwrites nothing"
    );

    // An expired entry fails a check as a missing one does.
    store
        .put(
            "commit:{g}brief",
            b"brief",
            PutOptions::new().ttl(SHORT_TTL),
        )
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(50)).await;
    let expired = store
        .commit(&[check("commit:{g}brief", 1)], &[fresh_put()])
        .await;
    assert!(
        matches!(&expired, Err(Error::NotFound { .. })),
        "a check of an expired entry: {expired:?}"
    );
    assert_absent(store, &[fresh], "after a check of an expired entry").await;
}

/// Commits that name no put, too many keys or one key twice, or carry a
/// bad key, TTL or value, are refused before anything is written.
pub async fn commit_rejects_bad_arguments(store: &dyn Store, _clock: &FakeClock) {
    let ok = || item("commit:{g}ok", b"ok", PutOptions::new());
    let none = store.commit(&[check("commit:{g}ok", 1)], &[]).await;
    assert!(matches!(none, Err(Error::InvalidArgument(_))), "{none:?}");
    let keys: Vec<String> = (0..=authstore::MAX_COMMIT_KEYS)
        .map(|i| format!("commit:{{g}}many{i}"))
        .collect();
    let many: Vec<PutItem<'_>> = keys
        .iter()
        .map(|k| item(k, b"x", PutOptions::new()))
        .collect();
    let too_many = store.commit(&[], &many).await;
    assert!(
        matches!(too_many, Err(Error::InvalidArgument(_))),
        "{too_many:?}"
    );
    let twice = store.commit(&[check("commit:{g}ok", 1)], &[ok()]).await;
    assert!(matches!(twice, Err(Error::InvalidArgument(_))), "{twice:?}");
    let bad_key = store
        .commit(&[], &[ok(), item("no namespace", b"x", PutOptions::new())])
        .await;
    assert!(
        matches!(bad_key, Err(Error::InvalidKey { .. })),
        "{bad_key:?}"
    );
    let bad_check = store.commit(&[check("bad\nkey:x", 1)], &[ok()]).await;
    assert!(
        matches!(bad_check, Err(Error::InvalidKey { .. })),
        "{bad_check:?}"
    );
    let zero = store
        .commit(
            &[],
            &[
                ok(),
                item("commit:{g}z", b"x", PutOptions::new().ttl(Duration::ZERO)),
            ],
        )
        .await;
    assert!(matches!(zero, Err(Error::ZeroTtl)), "{zero:?}");
    assert_absent(
        store,
        &["commit:{g}ok", "commit:{g}many0", "commit:{g}z"],
        "after refused commits",
    )
    .await;
}

/// 200 concurrent commits, each redeeming the same entry by version and
/// writing a token of its own: exactly one wins, and only its token exists.
pub async fn concurrent_commits_have_one_winner(store: &dyn Store, _clock: &FakeClock) {
    let grant = store
        .put("race:{g}grant", b"grant", PutOptions::new())
        .await
        .unwrap();
    let code = store
        .put("race:{g}code", b"unused", PutOptions::new())
        .await
        .unwrap();
    let tokens: Vec<String> = (0..200).map(|i| format!("race:{{g}}token{i}")).collect();
    let results = run_parallel(200, |i| {
        let token = &tokens[i];
        async move {
            store
                .commit(
                    &[check("race:{g}grant", grant)],
                    &[
                        item("race:{g}code", b"used", PutOptions::new().if_version(code)),
                        item(token, b"token", PutOptions::new().create_only()),
                    ],
                )
                .await
        }
    });
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one commit wins");
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            assert!(
                matches!(r, Err(Error::VersionConflict { .. })),
                "a losing commit reports the version conflict: {r:?}"
            );
        }
    }
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(
            store.exists(token).await.unwrap(),
            i == winners[0],
            "only the winner's token is written ({token})"
        );
    }
}
