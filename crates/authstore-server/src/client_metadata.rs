//! Client ID Metadata Documents in the server: the `[client_metadata_documents]` config section, and the scopes a document client may ask for.

use authstore::oauth::cimd::{ClientMetadataConfig, certificates_from_pem};
use serde::Deserialize;

use crate::config_error::{ConfigError, bad};
use crate::duration::ConfigDuration;
use crate::settings::Settings;

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

/// [`ClientMetadataConfig`] with the scopes filled in from `settings`.
pub(crate) fn effective_config(settings: &Settings) -> Option<ClientMetadataConfig> {
    let mut config = settings.client_metadata.clone()?;
    if config.scopes.is_none() {
        config.scopes = Some(document_scopes(settings));
    }
    Some(config)
}
