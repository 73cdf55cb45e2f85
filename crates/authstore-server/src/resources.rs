//! The resources (RFC 8707) tokens may be for: `[[resources]]` and the top-level `resource` of the config file, checked and mapped onto [`KnownResources`], and their RFC 9728 metadata paths.

use authstore::oauth::KnownResources;
use serde::Deserialize;

use crate::config_error::{ConfigError, bad};
use crate::settings::Settings;

/// One `[[resources]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceEntry {
    /// The resource indicator: an absolute `https://` URI (`http://` on a
    /// loopback host) without a fragment; the `aud` of its tokens.
    pub id: String,
    /// The scopes its tokens may carry (`openid`, `profile`, `email` and
    /// `offline_access` always may).
    pub scopes: Vec<String>,
    /// The audience of tokens whose request names no resource (at most one
    /// entry; without any, the first entry is the default).
    #[serde(default)]
    pub default: bool,
}

/// Maps the config file's `resource` and `[[resources]]` onto `s`:
///
/// - `resource` alone: one resource accepting every scope, the default.
/// - `[[resources]]`: those resources; the default is the entry marked
///   `default = true`, or the top-level `resource` if given (it must then
///   be one of the entries), or else the first entry.
///
/// # Errors
/// An invalid or repeated id, an invalid scope, more than one default, or a
/// top-level `resource` that is not one of the entries.
pub(crate) fn apply(
    resource: Option<&str>,
    entries: &[ResourceEntry],
    s: &mut Settings,
) -> Result<(), ConfigError> {
    if entries.is_empty() {
        s.resource = resource.map(str::to_owned);
        return Ok(());
    }
    let mut known = KnownResources::any();
    for (i, entry) in entries.iter().enumerate() {
        let key = format!("resources[{i}].id");
        check_id(&key, &entry.id)?;
        if known.get(&entry.id).is_some() {
            return bad(format!("{key}: {:?} is listed twice", entry.id));
        }
        if let Some(scope) = entry.scopes.iter().find(|scope| !is_scope(scope)) {
            return bad(format!(
                "resources[{i}].scopes: {scope:?} is not a scope (printable ASCII without spaces, quotes or backslashes)"
            ));
        }
        known = known
            .with_resource(entry.id.clone(), entry.scopes.iter().cloned())
            .map_err(|e| ConfigError(format!("{key}: {e}")))?;
    }
    let marked: Vec<&ResourceEntry> = entries.iter().filter(|e| e.default).collect();
    let default = match (marked.as_slice(), resource) {
        ([], None) => entries[0].id.as_str(),
        ([], Some(top)) => {
            if known.get(top).is_none() {
                return bad(format!(
                    "resource {top:?} must be one of the [[resources]] ids when both are given"
                ));
            }
            top
        }
        ([one], None) => one.id.as_str(),
        ([one], Some(top)) if one.id == top => top,
        ([_], Some(_)) => {
            return bad(
                "resource names another default than the [[resources]] entry marked default = true",
            );
        }
        _ => return bad("resources: at most one entry may have default = true"),
    };
    s.resource = Some(default.to_owned());
    s.oauth.resources = known
        .with_default(default)
        .map_err(|e| ConfigError(format!("resources: {e}")))?;
    Ok(())
}

/// The resources of `s` as the OAuth state knows them: `[[resources]]`
/// as given, or else the single `resource` accepting every scope (or no
/// list at all: any resource). Also makes `s.resource` the default.
///
/// # Errors
/// A `resource` that is no resource indicator.
pub(crate) fn align(s: &mut Settings) -> authstore::Result<()> {
    if s.oauth.resources.is_empty() {
        if let Some(resource) = &s.resource {
            s.oauth.resources = KnownResources::any()
                .with_any_scope(resource.clone())?
                .with_default(resource)?;
        }
    } else if let Some(default) = s.oauth.resources.default_resource() {
        s.resource = Some(default.to_owned());
    }
    Ok(())
}

/// Checks that every `[[resource_servers]]` resource is a configured one
/// (when resources are configured at all).
///
/// # Errors
/// The first resource server bound to an unknown resource.
pub(crate) fn check_resource_servers(s: &Settings) -> Result<(), ConfigError> {
    let known = &s.oauth.resources;
    let single = s.resource.as_deref();
    if known.is_empty() && single.is_none() {
        return Ok(());
    }
    for (client_id, resources) in &s.introspection.resource_servers {
        for r in resources {
            let configured = known.get(r).is_some() || (known.is_empty() && single == Some(r));
            if !configured {
                return bad(format!(
                    "resource_servers.resource: {r:?} (client {client_id:?}) is not a configured resource"
                ));
            }
        }
    }
    Ok(())
}

/// The resources whose RFC 9728 metadata this server may serve: every
/// configured one.
pub(crate) fn served(s: &Settings) -> Vec<String> {
    if s.oauth.resources.is_empty() {
        return s.resource.iter().cloned().collect();
    }
    s.oauth
        .resources
        .iter()
        .map(|r| r.id().to_owned())
        .collect()
}

/// The path of the RFC 9728 metadata of `resource` on its host
/// (`https://h/mcp` → `/.well-known/oauth-protected-resource/mcp`).
pub(crate) fn metadata_path(resource: &str) -> Option<String> {
    let url = authstore::oauth::resource::metadata_url(resource).ok()?;
    let start = url.find("/.well-known/")?;
    Some(url[start..].to_owned())
}

/// With `serve_resource_metadata`: every configured resource has a
/// metadata URL, and no two share one path here.
///
/// # Errors
/// A resource with a query, or two resources whose metadata would be
/// served at the same path.
pub(crate) fn check_metadata_paths(s: &Settings) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeMap::new();
    for resource in served(s) {
        let Some(path) = metadata_path(&resource) else {
            return bad(format!(
                "serve_resource_metadata: resource {resource:?} must be an http(s) URL without query or fragment"
            ));
        };
        if let Some(other) = seen.insert(path.clone(), resource.clone()) {
            return bad(format!(
                "serve_resource_metadata: resources {other:?} and {resource:?} would both have their metadata at {path}"
            ));
        }
    }
    Ok(())
}

/// An absolute `https://` URI, or `http://` on a loopback host, with a
/// host and without a fragment.
fn check_id(key: &str, id: &str) -> Result<(), ConfigError> {
    if !authstore::oauth::is_resource_indicator(id) {
        return bad(format!(
            "{key}: {id:?} must be an absolute https:// URI without a fragment"
        ));
    }
    if id.starts_with("http://") && !crate::urls::is_loopback_url(id) {
        return bad(format!(
            "{key}: {id:?} must use https:// (http:// only on a loopback host)"
        ));
    }
    Ok(())
}

fn is_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}
