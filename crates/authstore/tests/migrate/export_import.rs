//! Export → import round trips and corrupted export files.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use authstore::PutOptions;
use authstore::migrate::{ImportOptions, MigrateOptions, MigrateReport, export, import};

use crate::{
    Redis, assert_exact, assert_no_failures, key_set, memory_store, run_verify, scan_all,
    unique_prefix,
};

/// An export's entry lines by key: base64 value, sorted index keys, and
/// absolute expiry (ms since the epoch). Checks the header and end marker.
fn export_lines(file: &[u8]) -> BTreeMap<String, (String, Vec<String>, Option<u64>)> {
    let text = std::str::from_utf8(file).expect("an export is UTF-8");
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    let header: serde_json::Value = serde_json::from_str(lines[0]).expect("header");
    assert_eq!(
        header["authstore_export"],
        authstore::migrate::FORMAT_VERSION
    );
    let exported_at = header["exported_at_ms"].as_u64().expect("exported_at_ms");
    let end: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).expect("end");
    assert_eq!(end["end"], true);
    assert_eq!(end["entries"].as_u64(), Some(lines.len() as u64 - 2));
    let mut out = BTreeMap::new();
    for line in &lines[1..lines.len() - 1] {
        let entry: serde_json::Value = serde_json::from_str(line).expect("entry line");
        let key = entry["key"].as_str().expect("key").to_owned();
        let value = entry["value"].as_str().expect("value").to_owned();
        let mut index: Vec<String> = entry
            .get("index")
            .map(|i| {
                i.as_array()
                    .expect("index array")
                    .iter()
                    .map(|k| k.as_str().expect("index key").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        index.sort();
        let expires = entry["ttl_ms"].as_u64().map(|ttl| exported_at + ttl);
        assert!(
            out.insert(key, (value, index, expires)).is_none(),
            "repeated line"
        );
    }
    out
}

/// Test 5: export → import keeps every byte, index key and expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_is_byte_exact() {
    let prefix = unique_prefix("roundtrip");
    let redis = Redis::start();
    let source = memory_store().await;
    let all_bytes: Vec<u8> = (0..=255).collect();
    source
        .put(
            "bin:all",
            &all_bytes,
            PutOptions::new()
                .ttl(Duration::from_secs(3600))
                .index("bin-set:all"),
        )
        .await
        .unwrap();
    for b in 0..=255u8 {
        let value = [b, !b, b, b'\n', b'\r', b'"', b'\\', b];
        let mut options = PutOptions::new().index(format!("bin-set:{}", b % 4));
        if b % 2 == 0 {
            options = options.ttl(Duration::from_secs(600 + u64::from(b)));
        }
        if b % 3 == 0 {
            options = options.index(format!("bin-byte:{b}"));
        }
        source
            .put(&format!("bin:{b:03}"), &value, options)
            .await
            .unwrap();
    }
    let odd_keys = [
        "bin:empty",
        "user:ünïcødé-ключ-鍵",
        "user:quote\"back\\slash",
        "user:{\"end\":true,\"entries\":0}",
        "user:a:b:c",
    ];
    for (i, key) in odd_keys.iter().enumerate() {
        let value: &[u8] = if i == 0 { b"" } else { key.as_bytes() };
        source
            .put(key, value, PutOptions::new().index("odd-set:all"))
            .await
            .unwrap();
    }
    for i in 0..50 {
        source
            .incr(
                &format!("ratelimit:{i}"),
                i * 1_000_000_007,
                Some(Duration::from_secs(1200)),
            )
            .await
            .unwrap();
    }
    let n = 1 + 256 + odd_keys.len() as u64 + 50;
    let options = MigrateOptions::default();

    let mut file = Vec::new();
    let exported = export(source.as_ref(), &mut file, &options, |_| {})
        .await
        .unwrap();
    assert_eq!((exported.scanned, exported.migrated), (n, n));
    let first = export_lines(&file);
    assert_eq!(first.len() as u64, n);

    let into_memory = memory_store().await;
    let into_redis = redis.store(&prefix).await;
    for target in [&into_memory, &into_redis] {
        let report = import(
            target.as_ref(),
            &mut &file[..],
            &options,
            ImportOptions { strict: true },
            |_| {},
        )
        .await
        .expect("import");
        assert_no_failures(&report, target.capabilities().name);
        assert_eq!((report.scanned, report.migrated), (n, n), "{report:?}");
        let verified = run_verify(source.as_ref(), target.as_ref(), &options).await;
        assert_exact(&verified, target.capabilities().name);
        assert_eq!(verified.checked, n);
        for entry in scan_all(source.as_ref(), "").await {
            let got = target.get(&entry.key).await.unwrap().expect("imported");
            assert_eq!(got.value, entry.value, "{}: bytes", entry.key);
        }
        for index_key in [
            "bin-set:0",
            "bin-set:3",
            "bin-set:all",
            "bin-byte:255",
            "odd-set:all",
        ] {
            assert_eq!(
                target.list_index(index_key).await.unwrap(),
                source.list_index(index_key).await.unwrap(),
                "{}: {index_key}",
                target.capabilities().name
            );
        }
        let counter = target.incr("ratelimit:3", 1, None).await.unwrap();
        assert_eq!(counter.value, 3_000_000_022);
        assert!(counter.ttl.is_some_and(|t| t <= Duration::from_secs(1200)));
        target.incr("ratelimit:3", -1, None).await.unwrap();

        // Exported again, the entry lines say the same.
        let mut again = Vec::new();
        export(target.as_ref(), &mut again, &options, |_| {})
            .await
            .unwrap();
        let second = export_lines(&again);
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            second.keys().collect::<Vec<_>>(),
            "{}",
            target.capabilities().name
        );
        for (key, (value, index, expires)) in &first {
            let (value_2, index_2, expires_2) = &second[key];
            assert_eq!(value, value_2, "{key}: value");
            assert_eq!(index, index_2, "{key}: index keys");
            let close = match (expires, expires_2) {
                (None, None) => true,
                (Some(a), Some(b)) => a.abs_diff(*b) <= 2000,
                _ => false,
            };
            assert!(close, "{key}: expiry {expires:?} then {expires_2:?}");
        }
    }
    redis.cleanup(&[&prefix]).await;
}

/// A small export: header, 10 entry lines (lines 2–11), end marker (line 12).
async fn small_export() -> (Vec<Vec<u8>>, Vec<String>) {
    let source = memory_store().await;
    for i in 0..10 {
        let options = PutOptions::new()
            .ttl(Duration::from_secs(600))
            .index(format!("session-user:{}", i % 3));
        source
            .put(
                &format!("session:{i}"),
                format!("value {i}").as_bytes(),
                options,
            )
            .await
            .unwrap();
    }
    let mut file = Vec::new();
    export(
        source.as_ref(),
        &mut file,
        &MigrateOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let lines: Vec<Vec<u8>> = file
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), 12);
    let keys = lines[1..11]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["key"].as_str().unwrap().to_owned()
        })
        .collect();
    (lines, keys)
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut file = lines.join(&b'\n');
    file.push(b'\n');
    file
}

/// Imports `file` into a fresh memory store; returns the report (or error) and the keys imported.
async fn try_import(
    file: &[u8],
    strict: bool,
) -> (authstore::Result<MigrateReport>, BTreeSet<String>) {
    let target = memory_store().await;
    let report = import(
        target.as_ref(),
        &mut &file[..],
        &MigrateOptions::default(),
        ImportOptions { strict },
        |_| {},
    )
    .await;
    (report, key_set(target.as_ref(), "").await)
}

/// Test 6: a bad line is reported with its line number; strict stops there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_export_lines_are_reported_with_their_line_number() {
    let (lines, keys) = small_export().await;
    let all: BTreeSet<String> = keys.iter().cloned().collect();
    let (report, imported) = try_import(&join(&lines), true).await;
    let report = report.expect("the intact file imports");
    assert_no_failures(&report, "intact");
    assert_eq!((report.scanned, report.migrated), (10, 10));
    assert!(imported == all);

    // Line 5 is the fourth entry line.
    let original = String::from_utf8(lines[4].clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(&original).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut line = line.clone();
        line[field] = value;
        line.to_string().into_bytes()
    };
    let mut not_utf8 = original.clone().into_bytes();
    let at = not_utf8.len() - 10;
    not_utf8.insert(at, 0xff);
    let corruptions: [(&str, Vec<u8>, &str); 7] = [
        (
            "bad JSON",
            original.as_bytes()[..original.len() / 2].to_vec(),
            "not an entry line",
        ),
        (
            "bad base64",
            with("value", "!!not base64!!".into()),
            "not base64",
        ),
        ("bad key", with("key", "no-namespace".into()), "bad key"),
        (
            "control character in the key",
            with("key", "session:a\u{7}b".into()),
            "bad key",
        ),
        (
            "bad index key",
            with("index", serde_json::json!(["no namespace"])),
            "bad index key",
        ),
        (
            "unknown field",
            with("extra", 1.into()),
            "not an entry line",
        ),
        ("not UTF-8", not_utf8, "not an entry line"),
    ];
    let good: BTreeSet<String> = all.iter().filter(|k| **k != keys[3]).cloned().collect();
    for (what, bad_line, why) in corruptions {
        let mut corrupted = lines.clone();
        corrupted[4] = bad_line;
        let file = join(&corrupted);
        let (report, imported) = try_import(&file, false).await;
        let report = report.unwrap_or_else(|e| panic!("{what}: non-strict import failed: {e}"));
        assert_eq!(
            (report.scanned, report.migrated, report.failed),
            (10, 9, 1),
            "{what}: {report:?}"
        );
        assert_eq!(report.failures.len(), 1, "{what}");
        let (place, reason) = &report.failures[0];
        assert_eq!(place, "line 5", "{what}: {reason}");
        assert!(reason.contains(why), "{what}: {reason}");
        assert!(imported == good, "{what}: the other entries are imported");

        let (strict, imported) = try_import(&file, true).await;
        let err = strict.expect_err(what).to_string();
        assert!(err.contains("line 5"), "{what}: {err}");
        assert!(err.contains(why), "{what}: {err}");
        assert!(!imported.contains(&keys[3]), "{what}");
    }

    // Truncated: no end marker.
    let truncated = join(&lines[..11]);
    let (report, imported) = try_import(&truncated, false).await;
    let report = report.unwrap();
    assert_eq!((report.migrated, report.failed), (10, 1), "{report:?}");
    assert_eq!(report.failures[0].0, "line 11");
    assert!(report.failures[0].1.contains("truncated"), "{report:?}");
    assert!(imported == all);
    let err = try_import(&truncated, true)
        .await
        .0
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 11") && err.contains("truncated"),
        "{err}"
    );

    // Cut in the middle of line 7: a bad line, and no end marker.
    let mut cut = lines[..7].to_vec();
    let half = cut[6].len() / 2;
    cut[6].truncate(half);
    let cut = cut.join(&b'\n');
    let (report, imported) = try_import(&cut, false).await;
    let report = report.unwrap();
    assert_eq!(
        (report.scanned, report.migrated, report.failed),
        (6, 5, 2),
        "{report:?}"
    );
    assert_eq!(report.failures[0].0, "line 7");
    assert!(report.failures[0].1.contains("not an entry line"));
    assert_eq!(report.failures[1].0, "line 7");
    assert!(report.failures[1].1.contains("truncated"));
    assert_eq!(imported.len(), 5);

    // An entry line missing: the end marker's count no longer matches.
    let mut missing = lines.clone();
    missing.remove(4);
    let (report, imported) = try_import(&join(&missing), false).await;
    let report = report.unwrap();
    assert_eq!((report.migrated, report.failed), (9, 1), "{report:?}");
    assert_eq!(report.failures[0].0, "line 11");
    assert!(
        report.failures[0]
            .1
            .contains("the end marker counts 10 entries, the file has 9"),
        "{report:?}"
    );
    assert!(imported == good);

    // An end marker with the wrong count.
    let mut wrong_count = lines.clone();
    wrong_count[11] = br#"{"end":true,"entries":11}"#.to_vec();
    let file = join(&wrong_count);
    let (report, imported) = try_import(&file, false).await;
    let report = report.unwrap();
    assert_eq!((report.migrated, report.failed), (10, 1), "{report:?}");
    assert_eq!(report.failures[0].0, "line 12");
    assert!(
        report.failures[0]
            .1
            .contains("the end marker counts 11 entries, the file has 10"),
        "{report:?}"
    );
    assert!(imported == all);
    let err = try_import(&file, true).await.0.unwrap_err().to_string();
    assert!(err.contains("line 12"), "{err}");

    // Text after the end marker.
    let mut trailing = lines.clone();
    trailing.push(lines[1].clone());
    let (report, _) = try_import(&join(&trailing), false).await;
    let report = report.unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(report.failures[0].0, "line 13");
    assert!(report.failures[0].1.contains("after the end marker"));

    // A bad header or an unknown format version stops the import either way.
    for (header, why) in [
        (b"not json".to_vec(), "not an authstore export header"),
        (
            String::from_utf8(lines[0].clone())
                .unwrap()
                .replace("\"authstore_export\":1", "\"authstore_export\":2")
                .into_bytes(),
            "format version 2",
        ),
    ] {
        let mut file = lines.clone();
        file[0] = header;
        for strict in [false, true] {
            let (report, imported) = try_import(&join(&file), strict).await;
            let err = report.expect_err(why).to_string();
            assert!(err.contains("line 1:") && err.contains(why), "{err}");
            assert!(imported.is_empty());
        }
    }
    let err = try_import(b"", false).await.0.unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}
