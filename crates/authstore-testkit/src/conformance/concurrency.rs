//! Checks that the atomic primitives stay atomic under real parallel contention.

use std::time::Duration;

use authstore::{Error, FakeClock, GcraParams, PutOptions, Store};

use super::run_parallel;

/// 1000 concurrent `take`s of one key: exactly one winner.
pub async fn concurrent_take_has_one_winner(store: &dyn Store, _clock: &FakeClock) {
    for round in 0..3 {
        let key = format!("once:{round}");
        store
            .put(
                &key,
                b"code",
                PutOptions::new().ttl(Duration::from_secs(60)),
            )
            .await
            .unwrap();
        let results = run_parallel(1000, |_| store.take(&key));
        let winners = results
            .into_iter()
            .map(|r| r.expect("take must not fail"))
            .filter(Option::is_some)
            .count();
        assert_eq!(winners, 1, "round {round}: exactly one take wins");
        assert!(!store.exists(&key).await.unwrap());
    }
}

/// 1000 concurrent `incr`s: the exact sum, and every intermediate value seen once.
pub async fn concurrent_incr_sums_exactly(store: &dyn Store, _clock: &FakeClock) {
    let results = run_parallel(1000, |i| {
        store.incr("sum:ctr", if i % 4 == 0 { -1 } else { 3 }, None)
    });
    let expected: i64 = (0..1000).map(|i| if i % 4 == 0 { -1 } else { 3 }).sum();
    for r in &results {
        assert!(r.is_ok(), "incr failed: {r:?}");
    }
    let final_value = store.incr("sum:ctr", 0, None).await.unwrap().value;
    assert_eq!(final_value, expected, "no increment may be lost");
    let ones = run_parallel(1000, |_| store.incr("sum:ones", 1, None));
    let mut seen: Vec<i64> = ones.into_iter().map(|r| r.unwrap().value).collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=1000).collect::<Vec<_>>(),
        "each increment returns a distinct value"
    );
}

/// 100 concurrent `IfVersion` writers per version: exactly one wins each round.
pub async fn concurrent_if_version_has_one_winner_per_version(
    store: &dyn Store,
    _clock: &FakeClock,
) {
    let mut version = store.put("cas:hot", b"0", PutOptions::new()).await.unwrap();
    for round in 0..5 {
        let results = run_parallel(100, |i| {
            let value = format!("r{round}w{i}");
            async move {
                store
                    .put(
                        "cas:hot",
                        value.as_bytes(),
                        PutOptions::new().if_version(version),
                    )
                    .await
            }
        });
        let mut winners = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(v) => winners.push((i, v)),
                Err(Error::VersionConflict { .. }) => {}
                Err(other) => panic!("unexpected error {other:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: one CAS winner, got {winners:?}"
        );
        let (winner, new_version) = winners[0];
        let entry = store.get("cas:hot").await.unwrap().unwrap();
        assert_eq!(
            entry.value,
            format!("r{round}w{winner}").as_bytes(),
            "the winner's value is stored"
        );
        assert_eq!(entry.version, new_version);
        assert!(new_version > version);
        version = new_version;
    }
}

/// 200 concurrent `CreateOnly` puts of one key: exactly one creates it.
pub async fn concurrent_create_only_has_one_winner(store: &dyn Store, _clock: &FakeClock) {
    let results = run_parallel(200, |i| {
        let value = i.to_string();
        async move {
            store
                .put(
                    "create:once",
                    value.as_bytes(),
                    PutOptions::new().create_only(),
                )
                .await
        }
    });
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Ok(_) => Some(i),
            Err(Error::AlreadyExists { .. }) => None,
            Err(other) => panic!("unexpected error {other:?}"),
        })
        .collect();
    assert_eq!(winners.len(), 1, "one creator");
    let stored = store.get("create:once").await.unwrap().unwrap();
    assert_eq!(
        stored.value,
        winners[0].to_string().as_bytes(),
        "the creator's value is kept"
    );
}

/// 500 concurrent GCRA steps against a burst of 50: exactly 50 admitted.
pub async fn concurrent_gcra_admits_exactly_the_burst(store: &dyn Store, _clock: &FakeClock) {
    let p = GcraParams {
        emission_interval: Duration::from_secs(3600),
        burst: 50,
        cost: 1,
    };
    let results = run_parallel(500, |_| store.gcra("rl:race", p));
    let admitted = results
        .into_iter()
        .filter(|r| r.as_ref().unwrap().allowed)
        .count();
    assert_eq!(admitted, 50, "the limiter never over- or under-admits");
}

/// Concurrent indexed puts and `delete_index` never leave a listed entry that is gone.
pub async fn concurrent_index_upkeep_is_consistent(store: &dyn Store, _clock: &FakeClock) {
    let results = run_parallel(200, |i| async move {
        let key = format!("cix:{}", i % 50);
        if i % 10 == 9 {
            store.delete_index("user:cix").await.map(|_| ())
        } else {
            store
                .put(&key, b"x", PutOptions::new().index("user:cix"))
                .await
                .map(|_| ())
        }
    });
    for r in results {
        r.expect("no operation fails");
    }
    let listed = store.list_index("user:cix").await.unwrap();
    for key in &listed {
        assert!(store.exists(key).await.unwrap(), "listed {key} must exist");
    }
    for i in 0..50 {
        let key = format!("cix:{i}");
        if store.exists(&key).await.unwrap() {
            assert!(listed.contains(&key), "live indexed {key} must be listed");
        }
    }
}

/// Listing an index while entries are being created under it never unlists
/// one of them (a reader must not prune a membership a writer just made).
pub async fn concurrent_list_while_creating_loses_nothing(store: &dyn Store, _clock: &FakeClock) {
    for round in 0..3 {
        let index = format!("user:lw{round}");
        let results = run_parallel(120, |i| {
            let index = index.clone();
            async move {
                if i % 2 == 0 {
                    let key = format!("lw:{round}:{i}");
                    let opts = PutOptions::new().create_only().index(index);
                    store.put(&key, b"x", opts).await.map(|_| ())
                } else {
                    store.list_index(&index).await.map(|_| ())
                }
            }
        });
        for r in results {
            r.expect("no operation fails");
        }
        let listed = store.list_index(&index).await.unwrap();
        assert_eq!(
            listed.len(),
            60,
            "round {round}: every created entry stays listed"
        );
    }
}
