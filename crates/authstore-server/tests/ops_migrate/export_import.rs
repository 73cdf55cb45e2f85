//! `authstore export` → `import` round trips and bad lines named by number.

use serde_json::Value;

use crate::{
    assert_same_entries, assert_standard_data, authstore, count, fill, fresh_postgres, migrate_run,
    open, redis, redis_url, snapshot, sqlite_url,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_and_bad_lines_are_named() {
    const ENTRIES: usize = 5_000;
    let redis = redis();
    let dir = tempfile::tempdir().unwrap();
    let from_url = redis_url(&redis, "export");
    let from = open(&from_url).await;
    fill(&from, 0..ENTRIES).await;
    let plain = dir.path().join("export.jsonl");
    let packed = dir.path().join("export.jsonl.zst");
    for file in [&plain, &packed] {
        let file = file.to_str().unwrap();
        let run = authstore(&["export", "--store", &from_url, "--out", file]).await;
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!("exported {ENTRIES} entries")),
            "{}",
            run.all()
        );
    }
    let plain_text = std::fs::read_to_string(&plain).unwrap();
    let lines: Vec<&str> = plain_text.lines().collect();
    assert_eq!(lines.len(), ENTRIES + 2, "header, entries, end marker");
    assert!(
        lines[0].starts_with("{\"authstore_export\":1"),
        "{}",
        lines[0]
    );
    let end: Value = serde_json::from_str(lines[ENTRIES + 1]).unwrap();
    assert_eq!(
        (end["end"].as_bool(), end["entries"].as_u64()),
        (Some(true), Some(ENTRIES as u64))
    );
    let zst = std::fs::read(&packed).unwrap();
    assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    assert!(zst.len() < plain_text.len() / 2, "compressed");

    let source = snapshot(from.as_ref(), "").await;
    assert_standard_data(&source, ENTRIES);
    let targets = [
        (plain.to_str().unwrap(), sqlite_url(&dir, "from-plain")),
        (packed.to_str().unwrap(), fresh_postgres("import")),
    ];
    for (file, url) in &targets {
        let run = authstore(&["import", "--store", url, "--in", file, "--json"]).await;
        run.expect_code(0);
        let report = run.json();
        assert_eq!(count(&report, "scanned"), ENTRIES as u64, "{report}");
        assert_eq!(count(&report, "migrated"), ENTRIES as u64, "{report}");
        assert_eq!(count(&report, "failed"), 0, "{report}");
        let imported = snapshot(open(url).await.as_ref(), "").await;
        assert_same_entries(&source, &imported);

        // Importing again changes nothing.
        let again = authstore(&["import", "--store", url, "--in", file, "--json"]).await;
        again.expect_code(0);
        let report = again.json();
        assert_eq!(
            (count(&report, "unchanged"), count(&report, "migrated")),
            (ENTRIES as u64, 0),
            "{report}"
        );
        // And migrate --verify agrees.
        let check = migrate_run(&from_url, url, &["--verify", "--json"]).await;
        check.expect_code(0);
        assert_eq!(
            count(&check.json()["verify"], "mismatched"),
            0,
            "{}",
            check.all()
        );
    }

    // A full disk fails the export (exit status 1), compressed or not.
    if std::path::Path::new("/dev/full").exists() {
        for name in ["full.jsonl", "full.jsonl.zst"] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink("/dev/full", &link).unwrap();
            let run = authstore(&[
                "export",
                "--store",
                &from_url,
                "--out",
                link.to_str().unwrap(),
            ])
            .await;
            run.expect_code(1);
            assert!(run.stderr.contains("No space left"), "{}", run.all());
            assert!(!run.stdout.contains("exported"), "{}", run.all());
        }
    }

    // One corrupt line: named, skipped and counted; with --strict, the import stops.
    const BAD: usize = 42;
    let mut corrupt: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    corrupt[BAD - 1] = corrupt[BAD - 1][..corrupt[BAD - 1].len() / 2].to_owned();
    let bad_file = dir.path().join("corrupt.jsonl");
    std::fs::write(&bad_file, corrupt.join("\n") + "\n").unwrap();
    let bad_file = bad_file.to_str().unwrap();
    let lenient_url = sqlite_url(&dir, "lenient");
    let run = authstore(&["import", "--store", &lenient_url, "--in", bad_file]).await;
    run.expect_code(1);
    assert!(run.stderr.contains(&format!("line {BAD}")), "{}", run.all());
    let imported = snapshot(open(&lenient_url).await.as_ref(), "").await;
    assert_eq!(imported.len(), ENTRIES - 1, "every other line is imported");

    let strict_url = sqlite_url(&dir, "strict");
    let run = authstore(&[
        "import",
        "--store",
        &strict_url,
        "--in",
        bad_file,
        "--strict",
        "--json",
    ])
    .await;
    run.expect_code(1);
    assert!(run.stderr.contains(&format!("line {BAD}")), "{}", run.all());
    let imported = snapshot(open(&strict_url).await.as_ref(), "").await;
    assert!(
        imported.len() < ENTRIES - 1,
        "the strict import stopped: {}",
        imported.len()
    );
}
