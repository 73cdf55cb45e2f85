//! Client ID Metadata Documents in the server: the `[client_metadata_documents]` config section, and the client lookup `/authorize` and `/token` share, which resolves a URL `client_id` by its document first.

use authstore::oauth::Client;
use authstore::oauth::cimd::{
    ClientMetadataConfig, ResolveError, certificates_from_pem, is_document_url,
};
use serde::Deserialize;

use crate::config::{ConfigError, bad};
use crate::duration::ConfigDuration;
use crate::state::{AppState, Settings};

/// `[client_metadata_documents]`: a `client_id` that is an https URL names
/// a JSON document the server fetches (enabled by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadataSection {
    /// Whether URL client ids are resolved (default true).
    pub enabled: Option<bool>,
    /// Development only: accept `127.0.0.1`, `[::1]` and `localhost`
    /// document URLs over https or plain http (default false;
    /// `allow_loopback_http` is accepted as another name).
    #[serde(alias = "allow_loopback_http")]
    pub allow_loopback: Option<bool>,
    /// A PEM file of one or more CA certificates trusted for https document
    /// fetches in addition to the webpki roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// A fetch must finish within this (default 5 s).
    pub timeout: Option<ConfigDuration>,
    /// Shortest time a document is cached, whatever its headers say (default 5 min).
    pub min_cache: Option<ConfigDuration>,
    /// Longest time a document is cached (default 24 h).
    pub max_cache: Option<ConfigDuration>,
    /// Requests that need a fetch, per client IP per minute (default 20).
    pub fetches_per_minute: Option<u32>,
}

impl ClientMetadataSection {
    /// Applies the section to `s`.
    ///
    /// # Errors
    /// Zero durations or limits, `min_cache` above `max_cache`, or a
    /// `ca_file` that cannot be read or holds no usable CA certificate.
    pub(crate) fn apply(
        &self,
        s: &mut Settings,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        const KEY: &str = "client_metadata_documents";
        if self.enabled == Some(false) {
            s.client_metadata = None;
            return Ok(());
        }
        let mut config = s.client_metadata.take().unwrap_or_default();
        if let Some(on) = self.allow_loopback {
            config.allow_loopback = on;
        }
        if config.allow_loopback {
            warnings.push(format!(
                "{KEY}.allow_loopback is on: loopback client metadata URLs (http and https) are accepted (development only)"
            ));
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError(format!(
                    "{KEY}.ca_file: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            config.extra_roots = certificates_from_pem(&pem)
                .map_err(|e| ConfigError(format!("{KEY}.ca_file {}: {e}", path.display())))?;
        }
        for (name, value, field) in [
            ("timeout", self.timeout, &mut config.timeout),
            ("min_cache", self.min_cache, &mut config.min_cache),
            ("max_cache", self.max_cache, &mut config.max_cache),
        ] {
            if let Some(ConfigDuration(d)) = value {
                if d.is_zero() {
                    return bad(format!("{KEY}.{name} must be positive"));
                }
                *field = d;
            }
        }
        if config.min_cache > config.max_cache {
            return bad(format!("{KEY}.min_cache must not exceed max_cache"));
        }
        if let Some(n) = self.fetches_per_minute {
            if n == 0 {
                return bad(format!("{KEY}.fetches_per_minute must be at least 1"));
            }
            config.fetches_per_minute = n;
        }
        s.client_metadata = Some(config);
        Ok(())
    }
}

/// The scopes a document client may request when the settings leave them
/// open: those of dynamically registered clients.
pub(crate) fn document_scopes(settings: &Settings) -> Vec<String> {
    settings
        .registration_scopes
        .clone()
        .unwrap_or_else(|| settings.scopes_supported.clone())
}

/// The client `client_id` names: for a URL with documents enabled, the
/// document's client (cached, or fetched now counting against
/// `requester`, the client IP's rate-limit key); otherwise the stored client.
///
/// # Errors
/// Why the document was refused, a limit, or a store failure.
pub(crate) async fn lookup_client(
    state: &AppState,
    client_id: &str,
    requester: &str,
) -> Result<Option<Client>, ResolveError> {
    match state.client_metadata() {
        Some(resolver) if is_document_url(client_id) => {
            resolver.resolve(client_id, requester).await.map(Some)
        }
        _ => Ok(state.oauth().client(client_id).await?),
    }
}

/// [`ClientMetadataConfig`] with the scopes filled in from `settings`.
pub(crate) fn effective_config(settings: &Settings) -> Option<ClientMetadataConfig> {
    let mut config = settings.client_metadata.clone()?;
    if config.scopes.is_none() {
        config.scopes = Some(document_scopes(settings));
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config_file::ConfigFile;

    fn settings(toml: &str) -> Result<(crate::state::Settings, Vec<String>), String> {
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
}
