//! Passwords in store URLs never appear in any command's output.

use authstore_testkit::harness::postgres::PostgresTarget;
use authstore_testkit::harness::redis::RedisServer;

use crate::{
    assert_same_entries, authstore_env, fill, fresh_postgres, open, postgres, snapshot, unique,
    with_param,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_in_urls_are_redacted_in_all_output() {
    const PW: &str = "s3cret-pw";
    const PG_PW: &str = "pg-s3cret-pw";
    // An ACL user with a password. (`--requirepass` would also lock the
    // harness's readiness check, an unauthenticated PING, out of the server.)
    let server = RedisServer::builder()
        .args([
            "--user",
            "app",
            "on",
            &format!(">{PW}"),
            "~*",
            "&*",
            "+@all",
        ])
        .start()
        .expect("start redis-server with a password");
    let redis_base = format!("redis://app:{PW}@127.0.0.1:{}", server.port());
    let redis_url = with_param(&redis_base, &format!("prefix={}:", unique("pw")));
    let store = open(&redis_url).await;
    fill(&store, 0..500).await;
    // The harness's PostgreSQL trusts every connection: any password is accepted.
    let (pg_url, pg_secret) = match postgres() {
        PostgresTarget::Private(_) => (
            fresh_postgres("pw").replacen(
                "postgres://postgres@",
                &format!("postgres://postgres:{PG_PW}@"),
                1,
            ),
            Some(PG_PW),
        ),
        PostgresTarget::External { .. } => (fresh_postgres("pw"), None),
    };
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl.zst");
    let export = export.to_str().unwrap();
    let closed = authstore_testkit::harness::free_port().unwrap();
    let closed_url = format!("redis://app:{PW}@127.0.0.1:{closed}/0");
    let wrong_pw = format!("redis://app:wrong-pw@127.0.0.1:{}/0", server.port());
    // PostgreSQL also takes the password as a query parameter.
    const QUERY_PW: &str = "q-s3cret-pw";
    let pg_query = matches!(postgres(), PostgresTarget::Private(_))
        .then(|| with_param(&fresh_postgres("pwq"), &format!("password={QUERY_PW}")));
    let closed_pg = format!(
        "postgres://postgres:{PG_PW}@127.0.0.1:{}/x",
        authstore_testkit::harness::free_port().unwrap()
    );

    // Each run: its arguments, its exit status, and whether it prints a URL
    // with a password (which must then show as `***`).
    let pg_named = pg_secret.is_some();
    let mut runs: Vec<(Vec<&str>, i32, bool)> = vec![
        (
            vec!["migrate", "--from", &redis_url, "--to", &pg_url, "--verify"],
            0,
            true,
        ),
        (
            vec![
                "migrate", "--from", &redis_url, "--to", &pg_url, "--verify", "--json",
            ],
            0,
            true,
        ),
        (
            vec![
                "migrate",
                "--from",
                &redis_url,
                "--to",
                &pg_url,
                "--dry-run",
            ],
            0,
            true,
        ),
        (
            vec!["migrate", "--from", &redis_url, "--to", &closed_url],
            1,
            true,
        ),
        (
            vec!["migrate", "--from", &redis_url, "--to", &redis_url],
            2,
            true,
        ),
        (vec!["stats", "--store", &redis_url], 0, true),
        (vec!["stats", "--store", &redis_url, "--json"], 0, true),
        (vec!["stats", "--store", &pg_url], 0, pg_named),
        (vec!["health", "--store", &redis_url], 0, true),
        (vec!["health", "--store", &redis_url, "--json"], 0, true),
        (vec!["health", "--store", &pg_url, "--json"], 0, pg_named),
        (vec!["health", "--store", &closed_url], 1, true),
        (vec!["health", "--store", &wrong_pw], 1, true),
        (
            vec!["export", "--store", &redis_url, "--out", export],
            0,
            true,
        ),
        (
            vec!["import", "--store", &pg_url, "--in", export],
            0,
            pg_named,
        ),
        (
            vec!["import", "--store", &pg_url, "--in", export, "--json"],
            0,
            false,
        ),
        (vec!["cleanup", "--store", &pg_url], 0, pg_named),
        (vec!["cleanup", "--store", &redis_url], 0, true),
        (vec!["health", "--store", &closed_pg], 1, true),
    ];
    if let Some(pg_query) = &pg_query {
        runs.extend([
            (vec!["stats", "--store", pg_query], 0, true),
            (vec!["health", "--store", pg_query, "--json"], 0, true),
            (
                vec![
                    "migrate",
                    "--from",
                    &redis_url,
                    "--to",
                    pg_query,
                    "--dry-run",
                ],
                0,
                true,
            ),
        ]);
    }
    for (args, code, names_url) in &runs {
        for env in [&[][..], &[("RUST_LOG", "debug")][..]] {
            let run = authstore_env(args, env).await;
            let all = run.all();
            assert_eq!(run.code, Some(*code), "{args:?} {env:?}: {all}");
            for secret in [Some(PW), pg_secret, Some("wrong-pw"), Some(QUERY_PW)]
                .into_iter()
                .flatten()
            {
                assert!(
                    !all.contains(secret),
                    "{args:?} {env:?} printed {secret:?}: {all}"
                );
            }
            if *names_url {
                assert!(
                    all.contains("***"),
                    "{args:?} {env:?} shows the redacted URL: {all}"
                );
            }
        }
    }
    // The runs did their work: the target holds the source's entries.
    let source = snapshot(store.as_ref(), "").await;
    let target = snapshot(open(&pg_url).await.as_ref(), "").await;
    assert_eq!(source.len(), 500);
    assert_same_entries(&source, &target);
}
