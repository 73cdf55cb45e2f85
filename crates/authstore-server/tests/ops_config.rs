//! Config parsing, the precedence of flags, environment and file, the mapping onto `Settings`, and config errors (exit status 2, no panic).

use std::collections::HashMap;
use std::time::Duration;

use authstore::oauth::GrantType;
use authstore_server::config::{
    ConfigFile, Overrides, ServeConfig, StoreSource, parse_duration, resolve_store,
};

mod ops_support;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn parse(text: &str) -> ConfigFile {
    ConfigFile::parse(text, "test.toml").expect("valid config")
}

/// Flag, file, environment, and the expected URL and source.
type Case<'a> = (
    Option<&'a str>,
    Option<&'a ConfigFile>,
    &'a dyn Fn(&str) -> Option<String>,
    &'a str,
    StoreSource,
);

#[test]
fn store_precedence_is_flag_env_file_redis_database_default() {
    let file = parse("store = \"sqlite:///from-file.db\"");
    let all = env_of(&[
        ("AUTHSTORE_STORE", "redis://from-authstore-env"),
        ("REDIS_URL", "redis://from-redis-url"),
        ("DATABASE_URL", "postgres://from-database-url"),
    ]);
    let cases: [Case<'_>; 6] = [
        (
            Some("memory://?flag"),
            Some(&file),
            &all,
            "memory://?flag",
            StoreSource::Flag,
        ),
        (
            None,
            Some(&file),
            &all,
            "redis://from-authstore-env",
            StoreSource::AuthstoreEnv,
        ),
        (
            None,
            Some(&file),
            &env_of(&[("REDIS_URL", "redis://r")]),
            "sqlite:///from-file.db",
            StoreSource::ConfigFile,
        ),
        (
            None,
            None,
            &env_of(&[("REDIS_URL", "redis://r"), ("DATABASE_URL", "postgres://d")]),
            "redis://r",
            StoreSource::RedisUrl,
        ),
        (
            None,
            None,
            &env_of(&[("DATABASE_URL", "postgres://d")]),
            "postgres://d",
            StoreSource::DatabaseUrl,
        ),
        (None, None, &env_of(&[]), "memory://", StoreSource::Default),
    ];
    for (flag, file, env, url, source) in cases {
        assert_eq!(
            resolve_store(flag, file, env),
            (url.to_owned(), source),
            "flag {flag:?}"
        );
    }
}

#[test]
fn listen_and_issuer_precedence_and_defaults() {
    let file = parse("listen = \"127.0.0.1:7000\"\nissuer = \"https://file.example\"");
    let env = env_of(&[
        ("AUTHSTORE_LISTEN", "127.0.0.1:7001"),
        ("AUTHSTORE_ISSUER", "https://env.example/"),
    ]);
    let flags = Overrides {
        listen: Some("127.0.0.1:7002".into()),
        issuer: Some("https://flag.example".into()),
        ..Default::default()
    };
    let c = ServeConfig::resolve(&flags, Some(&file), &env).unwrap();
    assert_eq!(
        (c.listen.port(), c.settings.issuer.as_str()),
        (7002, "https://flag.example")
    );
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env).unwrap();
    assert_eq!(
        (c.listen.port(), c.settings.issuer.as_str()),
        (7001, "https://env.example"),
        "trailing / trimmed"
    );
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(&[])).unwrap();
    assert_eq!(
        (c.listen.port(), c.settings.issuer.as_str()),
        (7000, "https://file.example")
    );
    let c = ServeConfig::resolve(&Overrides::default(), None, &env_of(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        c.settings.issuer, "http://127.0.0.1:8080",
        "issuer defaults to http://<listen>"
    );
    assert_eq!(
        (c.store.as_str(), c.store_source),
        ("memory://", StoreSource::Default)
    );
    assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
    let wild = Overrides {
        listen: Some("0.0.0.0:9000".into()),
        ..Default::default()
    };
    let c = ServeConfig::resolve(&wild, None, &env_of(&[])).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("no issuer configured")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn every_key_maps_onto_settings() {
    let file = parse(
        r#"
        store = "memory://"
        listen = "127.0.0.1:9000"
        issuer = "https://auth.example"
        resource = "https://api.example"
        serve_resource_metadata = true
        scopes_supported = ["openid", "read"]
        dev_cookies = true
        consent_ttl = "30d"
        shutdown_timeout = "5s"
        cleanup_interval = "2m"
        [registration]
        enabled = false
        secret_ttl = "never"
        [rate_limits]
        logins_per_minute = 3
        registrations_per_hour = 4
        [tokens]
        code_ttl = "30s"
        code_tombstone_ttl = "12h"
        access_token_ttl = "15m"
        refresh_token_ttl = "7d"
        refresh_grace = 0
        [hashing]
        memory_kib = 4096
        iterations = 3
        client_secret_cache = "2m"
        [lockout]
        max_failures = 7
        failure_forgiven_after = "1m30s"
        [sessions]
        idle_timeout = "10m"
        absolute_lifetime = "1d"
        "#,
    );
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(&[])).unwrap();
    let s = &c.settings;
    assert_eq!(s.resource.as_deref(), Some("https://api.example"));
    assert!(s.serve_resource_metadata);
    assert_eq!(s.scopes_supported, ["openid", "read"]);
    assert!(s.dev_cookies && !s.registration);
    assert_eq!(s.registered_secret_ttl, None);
    assert_eq!(s.consent_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!((s.logins_per_minute, s.registrations_per_hour), (3, 4));
    assert_eq!(s.oauth.code_ttl, Duration::from_secs(30));
    assert_eq!(s.oauth.code_tombstone_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(s.oauth.access_token_ttl, Duration::from_secs(900));
    assert_eq!(s.oauth.refresh_token_ttl, Duration::from_secs(7 * 86_400));
    assert_eq!(s.oauth.refresh_grace, Duration::ZERO);
    assert_eq!(
        (
            s.oauth.secret_hash_memory_kib,
            s.oauth.secret_hash_iterations
        ),
        (4096, 3)
    );
    assert_eq!(s.oauth.secret_cache_ttl, Duration::from_secs(120));
    assert_eq!(
        (s.credentials.memory_kib, s.credentials.iterations),
        (4096, 3)
    );
    assert_eq!(s.credentials.max_failures, 7);
    assert_eq!(
        s.credentials.failure_forgiven_after,
        Duration::from_secs(90)
    );
    assert_eq!(s.cleanup_interval, Some(Duration::from_secs(120)));
    assert_eq!(s.sessions.idle_timeout, Duration::from_secs(600));
    assert_eq!(s.sessions.absolute_lifetime, Duration::from_secs(86_400));
    assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
    let off = parse("cleanup_interval = \"0s\"");
    let c = ServeConfig::resolve(&Overrides::default(), Some(&off), &env_of(&[])).unwrap();
    assert_eq!(
        c.settings.cleanup_interval, None,
        "0s turns the cleanup off"
    );
    let ttl = parse("[registration]\nsecret_ttl = 3600");
    let c = ServeConfig::resolve(&Overrides::default(), Some(&ttl), &env_of(&[])).unwrap();
    assert_eq!(
        c.settings.registered_secret_ttl,
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn users_and_clients_take_secrets_inline_or_from_env() {
    let file = parse(
        r#"
        [[users]]
        name = "alice"
        password = "inline pw"
        user_id = "u-alice"
        [[users]]
        name = "bob"
        password_env = "BOB_PW"
        [[clients]]
        name = "cli"
        public = true
        redirect_uris = ["http://127.0.0.1/cb"]
        scopes = ["openid"]
        id_token_alg = "ES256"
        [[clients]]
        name = "backend"
        client_id = "backend"
        secret_env = "BACKEND_SECRET"
        grant_types = ["client_credentials"]
        "#,
    );
    let env = env_of(&[("BOB_PW", "env pw"), ("BACKEND_SECRET", "s3cret")]);
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env).unwrap();
    assert_eq!(c.users[0].password, "inline pw");
    assert_eq!(c.users[0].user_id.as_deref(), Some("u-alice"));
    assert_eq!(
        (c.users[1].name.as_str(), c.users[1].password.as_str()),
        ("bob", "env pw")
    );
    assert_eq!(
        c.clients[0].grant_types,
        [GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert!(c.clients[0].public && c.clients[0].secret.is_none());
    assert_eq!(
        c.clients[0].id_token_alg,
        Some(authstore::oauth::SigningAlg::ES256)
    );
    assert_eq!(c.clients[1].id_token_alg, None, "[tokens] id_token_alg");
    assert_eq!(c.clients[1].secret.as_deref(), Some("s3cret"));
    assert_eq!(c.clients[1].grant_types, [GrantType::ClientCredentials]);
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("inline pw") && !debug.contains("env pw") && !debug.contains("s3cret"),
        "{debug}"
    );
}

#[test]
fn invalid_configs_are_clear_errors() {
    let cases = [
        ("listen = \"localhost\"", "invalid listen address"),
        ("issuer = \"ftp://x\"", "issuer"),
        ("issuer = \"https://x/?a=b\"", "query"),
        (
            "[tokens]\naccess_token_ttl = 0",
            "tokens.access_token_ttl must be greater than zero",
        ),
        ("[rate_limits]\nlogins_per_minute = 0", "at least 1"),
        (
            "[sessions]\nidle_timeout = \"0s\"",
            "sessions.idle_timeout must be greater than zero",
        ),
        (
            "[sessions]\nidle_timeout = \"8d\"",
            "sessions.idle_timeout must not be longer than sessions.absolute_lifetime",
        ),
        ("[hashing]\nmemory_kib = 1", "hashing.memory_kib"),
        (
            "serve_resource_metadata = true",
            "serve_resource_metadata needs resource",
        ),
        ("[[users]]\nname = \"a\"", "needs password"),
        (
            "[[users]]\nname = \"a\"\npassword_env = \"UNSET_VAR\"",
            "UNSET_VAR is not set",
        ),
        (
            "[[users]]\nname = \"a\"\npassword = \"x\"\n[[users]]\nname = \"A \"\npassword = \"y\"",
            "duplicate user",
        ),
        ("[[clients]]\nname = \"c\"", "needs secret or secret_env"),
        (
            "[[clients]]\nname = \"c\"\npublic = true\nsecret = \"x\"",
            "public client has no secret",
        ),
        (
            "[[clients]]\nname = \"c\"\nsecret = \"x\"\nsecret_env = \"Y\"",
            "not both",
        ),
        (
            "[[clients]]\nname = \"c\"\npublic = true\nid_token_alg = \"HS256\"",
            "id_token_alg: unknown signing algorithm \"HS256\"",
        ),
    ];
    for (text, expected) in cases {
        let file = parse(text);
        let error =
            ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(&[])).unwrap_err();
        assert!(error.0.contains(expected), "{text:?}: {error}");
    }
    for (text, expected) in [
        ("lissten = 1", "unknown field `lissten`"),
        ("[tokens]\ncode_ttl = \"5 parsecs\"", "invalid duration"),
        ("[tokens]\ncode_ttl = true", "expected a duration"),
        ("[tokens]\ncode_ttl = -5", "cannot be negative"),
        ("listen = ", "line 1"),
        ("[[users]]\nname = \"a\"\npassword = 12345", "line 3"),
    ] {
        let error = ConfigFile::parse(text, "test.toml").unwrap_err();
        assert!(
            error.0.contains(expected) && error.0.contains("test.toml"),
            "{text:?}: {error}"
        );
        assert!(
            !error.0.contains("12345"),
            "the offending value is not echoed: {error}"
        );
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
    for bad in ["", "h", "1y", "1.5h", "-1s", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_binary_exits_2_on_bad_config_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[tokens]\naccess_token_ttl = \"soon\"\n").unwrap();
    let runs = [
        vec![
            "serve".to_owned(),
            "--config".to_owned(),
            path.display().to_string(),
        ],
        vec![
            "serve".to_owned(),
            "--listen".to_owned(),
            "nowhere".to_owned(),
        ],
        vec![
            "serve".to_owned(),
            "--store".to_owned(),
            "nosuch://x".to_owned(),
        ],
        vec![
            "serve".to_owned(),
            "--config".to_owned(),
            dir.path().join("missing.toml").display().to_string(),
        ],
    ];
    for args in runs {
        let out = ops_support::authstore().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error: ") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    let out = ops_support::authstore()
        .args(["serve", "--store", "memory://"])
        .env("AUTHSTORE_LISTEN", "bad")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "AUTHSTORE_LISTEN is read");
}

#[test]
fn store_urls_are_logged_without_secrets() {
    use authstore_server::log_safe_url;
    assert_eq!(
        log_safe_url("redis://app:hunter2@cache:6379/0"),
        "redis://app:***@cache:6379/0"
    );
    assert_eq!(
        log_safe_url("postgres://app@db/auth?sslmode=require&password=hunter2&api_token=t0k"),
        "postgres://app@db/auth?sslmode=require&password=***&api_token=***"
    );
    assert_eq!(
        log_safe_url("sqlite:///var/lib/auth.db"),
        "sqlite:///var/lib/auth.db"
    );
}

#[test]
fn the_admin_token_hash_comes_from_env_or_file_and_needs_admin_listen() {
    let sha = "a".repeat(64);
    let file = parse(&format!(
        "admin_listen = \"127.0.0.1:9091\"\nadmin_token_sha256 = \"{sha}\"\n"
    ));
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(&[])).unwrap();
    assert_eq!(c.settings.admin_token_sha256, Some([0xaa; 32]));
    let env_sha = "0f".repeat(32);
    let pairs = [("AUTHSTORE_ADMIN_TOKEN_SHA256", env_sha.as_str())];
    let env = env_of(&pairs);
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env).unwrap();
    assert_eq!(c.settings.admin_token_sha256, Some([0x0f; 32]), "env first");
    let c = ServeConfig::resolve(&Overrides::default(), None, &env_of(&[])).unwrap();
    assert_eq!(c.settings.admin_token_sha256, None, "off by default");

    let no_listen = parse(&format!("admin_token_sha256 = \"{sha}\"\n"));
    let err =
        ServeConfig::resolve(&Overrides::default(), Some(&no_listen), &env_of(&[])).unwrap_err();
    assert!(err.0.contains("admin_listen"), "{}", err.0);
    for bad in ["abc", &"g".repeat(64), &"a".repeat(63)] {
        let file = parse(&format!(
            "admin_listen = \"127.0.0.1:9091\"\nadmin_token_sha256 = \"{bad}\"\n"
        ));
        let err =
            ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(&[])).unwrap_err();
        assert!(err.0.contains("64 hex digits"), "{bad}: {}", err.0);
    }
}

#[test]
fn admin_clients_comes_from_env_or_file_and_needs_admin_listen() {
    let file = parse("admin_listen = \"127.0.0.1:9091\"\nadmin_clients = true\n");
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(&[])).unwrap();
    assert!(c.settings.admin_clients);
    let c = ServeConfig::resolve(
        &Overrides::default(),
        Some(&file),
        &env_of(&[("AUTHSTORE_ADMIN_CLIENTS", "false")]),
    )
    .unwrap();
    assert!(!c.settings.admin_clients, "env first");
    let c = ServeConfig::resolve(&Overrides::default(), None, &env_of(&[])).unwrap();
    assert!(!c.settings.admin_clients, "off by default");
    let err = ServeConfig::resolve(
        &Overrides::default(),
        Some(&file),
        &env_of(&[("AUTHSTORE_ADMIN_CLIENTS", "maybe")]),
    )
    .unwrap_err();
    assert!(err.0.contains("AUTHSTORE_ADMIN_CLIENTS"), "{}", err.0);
    let no_listen = parse("admin_clients = true\n");
    let err =
        ServeConfig::resolve(&Overrides::default(), Some(&no_listen), &env_of(&[])).unwrap_err();
    assert!(
        err.0
            .contains("admin_clients is set but admin_listen is not"),
        "{}",
        err.0
    );
}
