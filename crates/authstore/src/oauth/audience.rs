//! RFC 8707 resource indicators: the resources tokens may be for, the scopes each accepts, and the one audience each token gets.

use super::OAuthError;
use crate::error::Error;

/// Scopes that concern the authorization server itself (OpenID Connect
/// and refresh tokens): allowed alongside any resource.
pub const SERVER_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Most resources one authorization request may name.
pub const MAX_RESOURCES: usize = 16;

/// Longest resource indicator accepted.
const MAX_RESOURCE_LEN: usize = 2048;

/// Whether `scope` concerns the authorization server (see [`SERVER_SCOPES`]).
pub fn is_server_scope(scope: &str) -> bool {
    SERVER_SCOPES.contains(&scope)
}

/// One resource tokens may be for, and the scopes its tokens may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownResource {
    id: String,
    scopes: Option<Vec<String>>,
}

impl KnownResource {
    /// The resource indicator (the tokens' `aud`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scopes its tokens may carry besides [`SERVER_SCOPES`]; `None`: any.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    /// Whether a token for this resource may carry `scope`.
    pub fn accepts(&self, scope: &str) -> bool {
        is_server_scope(scope)
            || self
                .scopes
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == scope))
    }
}

/// The resources (RFC 8707) tokens may be for, as
/// [`OAuthConfig::resources`](super::OAuthConfig::resources) holds them.
///
/// Empty (the default): any absolute `http(s)` URI without a fragment is
/// accepted as a resource, with any scope, and a request naming none gets
/// tokens without an audience. Otherwise only the listed resources are
/// accepted (anything else is `invalid_target`), a token's scopes must be
/// accepted by its resource (`invalid_scope`; [`SERVER_SCOPES`] always
/// are), and a request naming no resource gets the
/// [default](Self::with_default) one, if any.
///
/// ```
/// use authstore::oauth::KnownResources;
/// let known = KnownResources::any()
///     .with_resource("https://api.example/mcp", ["tools:read", "tools:call"])?
///     .with_any_scope("https://files.example/")?
///     .with_default("https://api.example/mcp")?;
/// assert!(known.get("https://api.example/mcp").unwrap().accepts("tools:read"));
/// assert!(known.get("https://api.example/mcp").unwrap().accepts("openid"));
/// assert!(!known.get("https://api.example/mcp").unwrap().accepts("files:write"));
/// assert_eq!(known.default_resource(), Some("https://api.example/mcp"));
/// # Ok::<(), authstore::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownResources {
    entries: Vec<KnownResource>,
    default: Option<usize>,
}

/// Whether `id` can be a resource indicator: an absolute `http(s)` URI
/// with a host and without a fragment, spaces or control characters
/// (RFC 8707 §2).
pub fn is_resource_indicator(id: &str) -> bool {
    let rest = id
        .strip_prefix("https://")
        .or_else(|| id.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && id.len() <= MAX_RESOURCE_LEN
        && !id.contains('#')
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl KnownResources {
    /// No list: any resource indicator is accepted, with any scope.
    pub fn any() -> Self {
        Self::default()
    }

    /// Adds `id`, whose tokens may carry `scopes` (and [`SERVER_SCOPES`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an id that is no resource indicator
    /// (see [`is_resource_indicator`]) or is already listed, or a scope
    /// with spaces or control characters.
    pub fn with_resource(
        self,
        id: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, Error> {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if scopes
            .iter()
            .any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(Error::InvalidArgument(
                "a resource's scope must be printable ASCII without spaces",
            ));
        }
        self.push(id.into(), Some(scopes))
    }

    /// Adds `id`, whose tokens may carry any scope.
    ///
    /// # Errors
    /// As [`with_resource`](Self::with_resource).
    pub fn with_any_scope(self, id: impl Into<String>) -> Result<Self, Error> {
        self.push(id.into(), None)
    }

    fn push(mut self, id: String, scopes: Option<Vec<String>>) -> Result<Self, Error> {
        if !is_resource_indicator(&id) {
            return Err(Error::InvalidArgument(
                "a resource must be an absolute http(s) URI without a fragment",
            ));
        }
        if self.get(&id).is_some() {
            return Err(Error::InvalidArgument("a resource is listed twice"));
        }
        self.entries.push(KnownResource { id, scopes });
        Ok(self)
    }

    /// Makes the listed `id` the audience of tokens whose request names no resource.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `id` is not listed.
    pub fn with_default(mut self, id: &str) -> Result<Self, Error> {
        let Some(at) = self.entries.iter().position(|e| e.id == id) else {
            return Err(Error::InvalidArgument(
                "the default resource must be one of the listed resources",
            ));
        };
        self.default = Some(at);
        Ok(self)
    }

    /// Whether no resource is listed (then any is accepted).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The listed resource `id`.
    pub fn get(&self, id: &str) -> Option<&KnownResource> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The listed resources, in order.
    pub fn iter(&self) -> impl Iterator<Item = &KnownResource> {
        self.entries.iter()
    }

    /// The audience of tokens whose request names no resource.
    pub fn default_resource(&self) -> Option<&str> {
        self.default.map(|i| self.entries[i].id.as_str())
    }

    /// Checks one requested resource: a resource indicator, and listed
    /// when there is a list.
    ///
    /// # Errors
    /// [`OAuthError::InvalidTarget`].
    pub fn check(&self, resource: &str) -> Result<(), OAuthError> {
        if !is_resource_indicator(resource) {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI without a fragment".into(),
            ));
        }
        if !self.is_empty() && self.get(resource).is_none() {
            return Err(OAuthError::InvalidTarget("unknown resource".into()));
        }
        Ok(())
    }

    /// The resources of an authorization request: each checked, repeats
    /// dropped; none named gives the default (if any).
    ///
    /// # Errors
    /// [`OAuthError::InvalidTarget`] for a resource [`check`](Self::check)
    /// refuses, or more than [`MAX_RESOURCES`].
    pub fn for_request(&self, requested: &[String]) -> Result<Vec<String>, OAuthError> {
        let mut out: Vec<String> = Vec::with_capacity(requested.len());
        for r in requested {
            self.check(r)?;
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        if out.len() > MAX_RESOURCES {
            return Err(OAuthError::InvalidTarget(format!(
                "at most {MAX_RESOURCES} resources per request"
            )));
        }
        if out.is_empty()
            && let Some(default) = self.default_resource()
        {
            out.push(default.to_owned());
        }
        Ok(out)
    }

    /// Whether a token for `resource` (`None`: no audience) may carry `scope`.
    pub fn accepts(&self, resource: Option<&str>, scope: &str) -> bool {
        if self.is_empty() || is_server_scope(scope) {
            return true;
        }
        resource
            .and_then(|r| self.get(r))
            .is_some_and(|r| r.accepts(scope))
    }

    /// Checks the scopes of a grant for `resources`: each must be accepted
    /// by at least one of them.
    ///
    /// # Errors
    /// [`OAuthError::InvalidScope`].
    pub fn check_grant_scope(
        &self,
        resources: &[String],
        scope: &[String],
    ) -> Result<(), OAuthError> {
        let refused = scope.iter().find(|s| {
            if resources.is_empty() {
                !self.accepts(None, s)
            } else {
                !resources.iter().any(|r| self.accepts(Some(r), s))
            }
        });
        match refused {
            Some(s) => Err(OAuthError::InvalidScope(format!(
                "{s:?} is not a scope of the requested resource"
            ))),
            None => Ok(()),
        }
    }

    /// The audience of a token from a grant for `granted` resources:
    /// `requested` if it is one of them; none requested, the grant's only
    /// one (or none, for a grant without resources).
    ///
    /// # Errors
    /// [`OAuthError::InvalidTarget`] for a resource that is not one of the
    /// grant's (or no longer listed), or none requested from a grant for
    /// several.
    pub fn pick(
        &self,
        granted: &[String],
        requested: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        match requested {
            Some(r) => {
                self.check(r)?;
                if !granted.iter().any(|g| g == r) {
                    return Err(OAuthError::InvalidTarget(
                        "the resource is not one the grant was approved for".into(),
                    ));
                }
                Ok(Some(r.to_owned()))
            }
            None => match granted {
                [] => Ok(None),
                [only] => Ok(Some(only.clone())),
                _ => Err(OAuthError::InvalidTarget(
                    "the grant is for several resources: name one with resource".into(),
                )),
            },
        }
    }

    /// The scopes of a token for `resource`: the `requested` ones, each
    /// accepted by it (`invalid_scope` otherwise); none requested, the
    /// `granted` ones it accepts.
    ///
    /// # Errors
    /// [`OAuthError::InvalidScope`].
    pub fn token_scope(
        &self,
        resource: Option<&str>,
        granted: &[String],
        requested: Option<&[String]>,
    ) -> Result<Vec<String>, OAuthError> {
        match requested {
            Some(requested) if !requested.is_empty() => {
                if let Some(s) = requested.iter().find(|s| !self.accepts(resource, s)) {
                    return Err(OAuthError::InvalidScope(format!(
                        "{s:?} is not a scope of the token's resource"
                    )));
                }
                Ok(requested.to_vec())
            }
            _ => Ok(granted
                .iter()
                .filter(|s| self.accepts(resource, s))
                .cloned()
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    const API: &str = "https://api.example/mcp";
    const FILES: &str = "https://files.example/";

    fn known() -> KnownResources {
        KnownResources::any()
            .with_resource(API, ["tools"])
            .unwrap()
            .with_resource(FILES, ["files"])
            .unwrap()
    }

    #[test]
    fn indicators_are_absolute_http_uris_without_fragment() {
        for good in [API, "http://127.0.0.1:8080", "https://a.example/x?y=1"] {
            assert!(is_resource_indicator(good), "{good}");
        }
        for bad in [
            "",
            "api.example",
            "urn:x",
            "https://",
            "https:///path",
            "https://a.example/#f",
            "https://a .example",
            "ftp://a.example",
        ] {
            assert!(!is_resource_indicator(bad), "{bad}");
        }
        assert!(KnownResources::any().with_any_scope("nope").is_err());
        assert!(known().with_any_scope(API).is_err(), "duplicate");
        assert!(known().with_default("https://other.example/").is_err());
        assert!(KnownResources::any().with_resource(API, ["a b"]).is_err());
    }

    #[test]
    fn an_empty_list_accepts_any_indicator_and_scope() {
        let any = KnownResources::any();
        assert_eq!(any.for_request(&list(&[API, API])).unwrap(), list(&[API]));
        assert!(any.for_request(&[]).unwrap().is_empty());
        assert_eq!(any.check("nope").unwrap_err().code(), "invalid_target");
        assert!(any.accepts(Some(API), "anything"));
        assert!(any.accepts(None, "anything"));
    }

    #[test]
    fn a_list_refuses_unknown_resources_and_foreign_scopes() {
        let known = known().with_default(FILES).unwrap();
        let e = known.for_request(&list(&["https://other.example/"]));
        assert_eq!(e.unwrap_err().code(), "invalid_target");
        assert_eq!(known.for_request(&[]).unwrap(), list(&[FILES]));
        let too_many: Vec<String> = (0..=MAX_RESOURCES)
            .map(|i| format!("https://r{i}.example/"))
            .collect();
        assert_eq!(
            KnownResources::any()
                .for_request(&too_many)
                .unwrap_err()
                .code(),
            "invalid_target"
        );
        let both = list(&[API, FILES]);
        known
            .check_grant_scope(&both, &list(&["tools", "files", "openid"]))
            .unwrap();
        let e = known.check_grant_scope(&list(&[API]), &list(&["files"]));
        assert_eq!(e.unwrap_err().code(), "invalid_scope");
        let e = known.check_grant_scope(&[], &list(&["tools"]));
        assert_eq!(e.unwrap_err().code(), "invalid_scope");
        known.check_grant_scope(&[], &list(&["openid"])).unwrap();
    }

    #[test]
    fn one_audience_per_token() {
        let known = known();
        let both = list(&[API, FILES]);
        assert_eq!(known.pick(&both, Some(API)).unwrap().as_deref(), Some(API));
        assert_eq!(
            known.pick(&list(&[API]), None).unwrap().as_deref(),
            Some(API)
        );
        assert_eq!(known.pick(&[], None).unwrap(), None);
        for (granted, requested) in [
            (both.clone(), None),
            (list(&[API]), Some(FILES)),
            (both.clone(), Some("https://other.example/")),
        ] {
            let e = known.pick(&granted, requested).unwrap_err();
            assert_eq!(e.code(), "invalid_target", "{granted:?} {requested:?}");
        }
        let granted = list(&["tools", "files", "offline_access"]);
        assert_eq!(
            known.token_scope(Some(API), &granted, None).unwrap(),
            list(&["tools", "offline_access"])
        );
        let e = known.token_scope(Some(API), &granted, Some(&list(&["files"])));
        assert_eq!(e.unwrap_err().code(), "invalid_scope");
    }
}
