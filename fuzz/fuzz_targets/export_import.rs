//! The export file (`authstore export`/`import`): a header, entry lines with base64 values, TTLs and index keys, an end marker. An arbitrary file is imported, leniently and strictly, into a memory store: nothing panics; a strict import that succeeds counted no bad line, and a failed one names a corrupt line; the counts add up. What was imported, exported again and imported into a second store, gives the same entries.
//!
//! Input: the file's bytes.

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authstore::migrate::{ImportOptions, MigrateOptions, export, import};
use authstore::{Error, FakeClock, MemoryStore, Store};
use libfuzzer_sys::fuzz_target;

fn store(clock: &FakeClock) -> Arc<dyn Store> {
    Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .shards(1)
            .clock(clock.clone())
            .build()
            .expect("a memory store"),
    )
}

/// Every entry with at least `min_ttl` left (or none): key → (value, sorted index keys).
async fn entries(store: &dyn Store, min_ttl: Duration) -> BTreeMap<String, (Vec<u8>, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 500).await.expect("scan");
        for e in page.entries {
            if e.ttl.is_some_and(|t| t < min_ttl) {
                continue;
            }
            let mut index = e.index_keys.clone();
            index.sort();
            out.insert(e.key, (e.value.to_vec(), index));
        }
        cursor = page.cursor;
        if cursor.is_none() {
            return out;
        }
    }
}

async fn run(data: &[u8]) {
    let clock = FakeClock::new();
    let options = MigrateOptions {
        batch_size: 7,
        ..MigrateOptions::default()
    };

    let strict = store(&clock);
    let outcome = import(
        &*strict,
        &mut &data[..],
        &options,
        ImportOptions { strict: true },
        |_| {},
    )
    .await;
    match outcome {
        Ok(report) => assert_eq!(report.failed, 0, "a strict import refuses bad lines"),
        Err(Error::Corrupt { detail, .. }) => assert!(detail.starts_with("line "), "{detail}"),
        Err(e) => panic!("unexpected error: {e:?}"),
    }

    let first = store(&clock);
    let report = match import(
        &*first,
        &mut &data[..],
        &options,
        ImportOptions::default(),
        |_| {},
    )
    .await
    {
        Ok(report) => report,
        Err(Error::Corrupt { detail, .. }) => {
            assert!(
                detail.starts_with("line 1:"),
                "only the header stops a lenient import: {detail}"
            );
            return;
        }
        Err(e) => panic!("unexpected error: {e:?}"),
    };
    assert!(report.failures.len() as u64 <= report.failed);
    assert!(
        report.migrated + report.unchanged + report.expired + report.failed >= report.scanned,
        "every entry line is counted: {report:?}"
    );

    // Round trip: export what was imported, import it into a second store.
    let mut file = Vec::new();
    export(&*first, &mut file, &MigrateOptions::default(), |_| {})
        .await
        .expect("a memory store exports");
    let second = store(&clock);
    let again = import(
        &*second,
        &mut &file[..],
        &MigrateOptions::default(),
        ImportOptions { strict: true },
        |_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("an export imports strictly: {e:?}"));
    assert_eq!(again.failed, 0);
    // An entry with little time left may expire while it is exported.
    let long_lived = entries(&*first, Duration::from_secs(120)).await;
    let all = entries(&*first, Duration::ZERO).await;
    let copied = entries(&*second, Duration::ZERO).await;
    for (key, entry) in &long_lived {
        assert_eq!(
            copied.get(key),
            Some(entry),
            "export then import keeps {key:?}"
        );
    }
    for (key, entry) in &copied {
        assert_eq!(
            all.get(key),
            Some(entry),
            "nothing but the export is imported: {key:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    authstore_fuzz::block_on(run(data));
});
