//! `authstore stats`, `health` and `cleanup`.

use std::time::{Duration, Instant};

use authstore::PutOptions;

use crate::{authstore, count, fill, open, redis, redis_url, snapshot, sqlite_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counts_namespaces_and_health_reports_the_store() {
    const ENTRIES: usize = 1_203;
    let redis = redis();
    let dir = tempfile::tempdir().unwrap();
    for url in [redis_url(&redis, "stats"), sqlite_url(&dir, "stats")] {
        let store = open(&url).await;
        fill(&store, 0..ENTRIES).await;
        let run = authstore(&["stats", "--store", &url, "--json"]).await;
        run.expect_code(0);
        let stats = run.json();
        assert_eq!(count(&stats, "live_entries"), ENTRIES as u64, "{stats}");
        let ns = &stats["namespaces"];
        let expected = [
            ("session", ENTRIES.div_ceil(4), true),
            ("oauth-at", (ENTRIES + 2) / 4, true),
            ("ratelimit", (ENTRIES + 1) / 4, true),
            ("user", ENTRIES / 4, false),
        ];
        let mut names: Vec<&str> = ns.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["oauth-at", "ratelimit", "session", "user"],
            "{stats}"
        );
        for (name, entries, expiring) in expected {
            assert_eq!(
                count(&ns[name], "entries"),
                entries as u64,
                "{name}: {stats}"
            );
            let with_ttl = if expiring { entries as u64 } else { 0 };
            assert_eq!(count(&ns[name], "with_ttl"), with_ttl, "{name}: {stats}");
            assert!(count(&ns[name], "bytes") > 0);
        }
        let text = authstore(&["stats", "--store", &url]).await;
        text.expect_code(0);
        assert!(
            text.stdout.contains(&format!("live entries {ENTRIES}")),
            "{}",
            text.all()
        );

        let health = authstore(&["health", "--store", &url, "--json"]).await;
        health.expect_code(0);
        let json = health.json();
        assert_eq!(json["ok"], true, "{json}");
        let latency = json["latency_ms"].as_f64().expect("latency_ms");
        assert!(latency > 0.0 && latency < 5_000.0, "{json}");
        let text = authstore(&["health", "--store", &url]).await;
        text.expect_code(0);
        assert!(
            text.stdout.starts_with("ok ") && text.stdout.contains(" ms"),
            "{}",
            text.all()
        );
    }

    let closed = authstore_testkit::harness::free_port().unwrap();
    let down = format!("redis://127.0.0.1:{closed}");
    let started = Instant::now();
    let run = authstore(&["health", "--store", &down]).await;
    run.expect_code(1);
    assert!(
        run.all().contains(&format!("127.0.0.1:{closed}")),
        "{}",
        run.all()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_purges_the_expired_entries_and_says_how_many() {
    const EXPIRED: usize = 37;
    const LIVE: usize = 25;
    const FOREVER: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "cleanup");
    let store = open(&url).await;
    for i in 0..LIVE {
        let options = PutOptions::new().ttl(Duration::from_secs(3600));
        store
            .put(&format!("session:live-{i}"), b"live", options)
            .await
            .unwrap();
    }
    for i in 0..FOREVER {
        store
            .put(&format!("user:{i}"), b"user", PutOptions::new())
            .await
            .unwrap();
    }
    for i in 0..EXPIRED {
        let mut options = PutOptions::new().ttl(Duration::from_secs(1));
        if i % 3 == 0 {
            options = options.index(format!("session-user:u{i}"));
        }
        store
            .put(&format!("session:old-{i}"), b"old", options)
            .await
            .unwrap();
    }
    // The SQLite store judges expiry by the system clock, in another process: wait for real.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = store.stats().await.unwrap().entries;
    assert_eq!(before, (EXPIRED + LIVE + FOREVER) as u64, "not purged yet");

    let run = authstore(&["cleanup", "--store", &url, "--batch-size", "10"]).await;
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(&format!("purged {EXPIRED} ")),
        "{}",
        run.all()
    );
    let again = authstore(&["cleanup", "--store", &url]).await;
    again.expect_code(0);
    assert!(again.stdout.starts_with("purged 0 "), "{}", again.all());

    assert_eq!(
        store.stats().await.unwrap().entries,
        (LIVE + FOREVER) as u64
    );
    let left = snapshot(store.as_ref(), "").await;
    assert_eq!(left.len(), LIVE + FOREVER);
    assert!(left.keys().all(|k| !k.starts_with("session:old-")));
}
