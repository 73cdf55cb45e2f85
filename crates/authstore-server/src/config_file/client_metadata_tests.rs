//! The `[client_metadata_documents]` section, parsed from TOML into settings.

use std::time::Duration;

use super::ConfigFile;

fn settings(toml: &str) -> Result<(crate::settings::Settings, Vec<String>), String> {
    let file = ConfigFile::parse(toml, "test.toml").map_err(|e| e.to_string())?;
    let mut warnings = Vec::new();
    let settings = file
        .settings("https://as.example".into(), &mut warnings)
        .map_err(|e| e.to_string())?;
    Ok((settings, warnings))
}

#[test]
fn the_section_sets_every_key_and_defaults_to_enabled() {
    let (defaults, warnings) = settings("").unwrap();
    let config = defaults.client_metadata.unwrap();
    assert!(!config.allow_loopback, "never on by default");
    assert!(config.extra_roots.is_empty());
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert_eq!(config.min_cache, Duration::from_secs(300));
    assert_eq!(config.max_cache, Duration::from_secs(24 * 3600));
    assert!(warnings.is_empty(), "{warnings:?}");

    let (s, warnings) = settings(
        "[client_metadata_documents]\nallow_loopback = true\ntimeout = \"300ms\"\nmin_cache = \"1m\"\nmax_cache = \"2h\"\nfetches_per_minute = 7\n",
    )
    .unwrap();
    let config = s.client_metadata.unwrap();
    assert!(config.allow_loopback);
    assert_eq!(config.timeout, Duration::from_millis(300));
    assert_eq!(config.min_cache, Duration::from_secs(60));
    assert_eq!(config.max_cache, Duration::from_secs(7200));
    assert_eq!(config.fetches_per_minute, 7);
    assert!(
        warnings.iter().any(|w| w.contains("allow_loopback")),
        "{warnings:?}"
    );
    let (old_name, _) =
        settings("[client_metadata_documents]\nallow_loopback_http = true\n").unwrap();
    assert!(
        old_name.client_metadata.unwrap().allow_loopback,
        "allow_loopback_http is another name"
    );

    let (off, _) = settings("[client_metadata_documents]\nenabled = false\n").unwrap();
    assert!(off.client_metadata.is_none());
}

#[test]
fn bad_values_are_refused() {
    for (toml, expected) in [
        ("timeout = 0", "timeout must be positive"),
        (
            "min_cache = \"2h\"\nmax_cache = \"1h\"",
            "min_cache must not exceed",
        ),
        (
            "fetches_per_minute = 0",
            "fetches_per_minute must be at least 1",
        ),
        ("allow_loopback = \"yes\"", "invalid type"),
        ("allow_loopbacks = true", "unknown field"),
        (
            "ca_file = \"/nonexistent/ca.pem\"",
            "client_metadata_documents.ca_file: cannot read",
        ),
        ("ca_file = \"Cargo.toml\"", "no PEM certificate"),
    ] {
        let err = settings(&format!("[client_metadata_documents]\n{toml}\n")).unwrap_err();
        assert!(err.contains(expected), "{toml}: {err}");
    }
}
