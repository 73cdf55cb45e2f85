//! Checks that need more than one store or a restart: durability across a
//! server restart or reopen, and races between two independent stores on
//! one database. Backends call them from their own tests, which own the
//! server or file.

use std::time::Duration;

use authstore::{Entry, PutOptions, Store};

use crate::conformance::run_parallel;

/// What [`fill`] wrote under one key, to compare after the restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The key.
    pub key: String,
    /// The entry as it must read back.
    pub entry: Entry,
    /// The index key it was written under, if any.
    pub index_key: Option<String>,
}

/// Writes `n` entries of every kind the schema stores differently: JSON,
/// binary, counters (`incr`), with and without TTL and index keys, and a
/// rewritten entry (version 2). Returns what each must read back as.
///
/// # Panics
/// If a write fails.
pub async fn fill(store: &dyn Store, n: usize) -> Vec<Written> {
    run_parallel(n, |i| async move {
        let key = format!("durable:{i:06}");
        let ttl = (i % 3 != 0).then(|| Duration::from_secs(3600 + i as u64));
        // Counters (i % 4 == 0) are written by `incr`, which takes no index keys.
        let index_key = (i % 5 == 0 && i % 4 != 0).then(|| format!("owner:{}", i % 50));
        match i % 4 {
            // A counter.
            0 => {
                store.incr(&key, i as i64, ttl).await.expect("incr");
            }
            // JSON, written twice so the version is 2.
            1 => {
                let value = format!("{{\"user\": {i}, \"roles\": [\"a\", \"b\"]}}");
                let mut opts = PutOptions::new();
                opts.ttl = ttl;
                opts.index_keys.extend(index_key.clone());
                store.put(&key, b"{}", opts.clone()).await.expect("put");
                store.put(&key, value.as_bytes(), opts).await.expect("put");
            }
            // Binary bytes, including NUL and invalid UTF-8.
            _ => {
                let value: Vec<u8> = (0..64)
                    .map(|b| (b as u8) ^ (i as u8))
                    .chain([0, 0xff])
                    .collect();
                let mut opts = PutOptions::new().create_only();
                opts.ttl = ttl;
                opts.index_keys.extend(index_key.clone());
                store.put(&key, &value, opts).await.expect("put");
            }
        }
        let entry = store.get(&key).await.expect("get").expect("just written");
        Written {
            key,
            entry,
            index_key,
        }
    })
}

/// Asserts every entry [`fill`] wrote reads back identically (value,
/// version, expiry to the millisecond) and is still listed in its index.
///
/// # Panics
/// On the first difference.
pub async fn verify(store: &dyn Store, written: &[Written]) {
    let mut missing = Vec::new();
    for w in written {
        match store.get(&w.key).await.expect("get after restart") {
            Some(entry) => assert_eq!(entry, w.entry, "{} changed across the restart", w.key),
            None => missing.push(w.key.clone()),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} entries lost, e.g. {:?}",
        missing.len(),
        written.len(),
        &missing[..missing.len().min(5)]
    );
    let with_index = written.iter().filter(|w| w.index_key.is_some());
    for w in with_index.take(50) {
        let listed = store
            .list_index(w.index_key.as_deref().unwrap_or_default())
            .await
            .expect("list_index");
        assert!(listed.contains(&w.key), "{} left its index", w.key);
    }
}

/// Two independent stores (separate connections or pools) on one database
/// race: 1000 concurrent `take`s of one entry have exactly one winner, and
/// 1000 concurrent `incr`s of one counter sum exactly.
///
/// # Panics
/// If either property fails.
pub async fn two_stores_race(a: &dyn Store, b: &dyn Store) {
    const N: usize = 1000;
    a.put("race:token", b"single-use", PutOptions::new().create_only())
        .await
        .expect("put");
    let takes = run_parallel(N, |i| async move {
        let store = if i % 2 == 0 { a } else { b };
        store.take("race:token").await.expect("take")
    });
    let winners = takes.iter().filter(|t| t.is_some()).count();
    assert_eq!(winners, 1, "exactly one of {N} takes from two stores wins");

    let values = run_parallel(N, |i| async move {
        let store = if i % 2 == 0 { a } else { b };
        store
            .incr("race:counter", 1, None)
            .await
            .expect("incr")
            .value
    });
    let mut sorted = values.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), N, "every incr saw a distinct value");
    let total = a.incr("race:counter", 0, None).await.expect("incr").value;
    assert_eq!(
        total, N as i64,
        "{N} increments from two stores sum exactly"
    );
    assert_eq!(
        b.incr("race:counter", 0, None).await.expect("incr").value,
        N as i64
    );
}

/// With a background sweeper running (short interval, small batches), 30
/// expired entries of 40 are physically removed, leaving the 10 live ones,
/// and counted as expirations. `clock` must be the store's clock.
///
/// # Panics
/// If the rows are not removed within 10 s.
pub async fn sweeper_removes_expired_rows(store: &dyn Store, clock: &authstore::FakeClock) {
    for i in 0..40 {
        let ttl = Duration::from_secs(if i < 30 { 1 } else { 3600 });
        store
            .put(&format!("s:{i}"), b"v", PutOptions::new().ttl(ttl))
            .await
            .expect("put");
    }
    clock.advance(Duration::from_secs(2));
    let started = std::time::Instant::now();
    loop {
        // `entries` counts stored rows, purged or not: it drops only when the sweeper deletes.
        let stats = store.stats().await.expect("stats");
        if stats.entries == 10 {
            assert_eq!(stats.expirations, 30, "every removal counted");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sweeper left {} rows",
            stats.entries
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
