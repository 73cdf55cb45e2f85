//! One protected resource: its identifier, authorization servers and scopes, the validator it trusts, and the audience and scope checks on every request.

use std::sync::Arc;

use serde_json::{Value, json};

use super::challenge::Challenge;
use super::{AccessToken, InvalidToken, Rejection, TokenValidator};
use crate::error::{Error, Result};

/// What a protected resource is, as its tokens and its RFC 9728 metadata say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceConfig {
    /// The resource identifier: the RFC 8707 `resource` clients ask tokens
    /// for, usually the API's or MCP endpoint's URL.
    pub resource: String,
    /// The issuers of the authorization servers that issue its tokens.
    pub authorization_servers: Vec<String>,
    /// Scopes every request needs (named in the 401 challenge's `scope`).
    pub required_scopes: Vec<String>,
    /// Scopes advertised in the metadata's `scopes_supported` (never
    /// `offline_access`, which is for the authorization server); the
    /// required scopes are always included.
    pub scopes_supported: Vec<String>,
    /// A human-readable name for the metadata's `resource_name`.
    pub resource_name: Option<String>,
}

impl ResourceConfig {
    /// A resource named `resource`, whose tokens come from `authorization_servers`.
    pub fn new<I, S>(resource: impl Into<String>, authorization_servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            resource: resource.into(),
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
            required_scopes: Vec::new(),
            scopes_supported: Vec::new(),
            resource_name: None,
        }
    }

    /// Scopes every request needs.
    pub fn scopes<I, S>(mut self, required: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = required.into_iter().map(Into::into).collect();
        self
    }

    /// Further scopes to advertise (those that routes require, for example).
    pub fn supported_scopes<I, S>(mut self, supported: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = supported.into_iter().map(Into::into).collect();
        self
    }

    /// The metadata's `resource_name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }
}

/// Whether a token's audience names `resource`: equal strings once one
/// trailing slash is dropped from each (`https://api.example/` and
/// `https://api.example` are one resource; nothing else is normalised).
pub fn audience_matches<'a>(audience: &'a str, resource: &'a str) -> bool {
    let trim = |s: &'a str| -> &'a str { s.strip_suffix('/').unwrap_or(s) };
    trim(audience) == trim(resource)
}

/// The RFC 9728 §3.1 metadata URL of `resource`: `/.well-known/oauth-protected-resource`
/// inserted between the host and the path (`https://h/mcp` →
/// `https://h/.well-known/oauth-protected-resource/mcp`).
///
/// # Errors
/// [`Error::InvalidArgument`] unless `resource` is an absolute http(s) URL
/// without a query or fragment.
pub fn metadata_url(resource: &str) -> Result<String> {
    let url = url::Url::parse(resource)
        .map_err(|_| Error::InvalidArgument("the resource must be an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(Error::InvalidArgument(
            "the resource must be an http(s) URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidArgument(
            "the resource must have no query or fragment",
        ));
    }
    let path = url.path().trim_end_matches('/');
    Ok(format!(
        "{}/.well-known/oauth-protected-resource{path}",
        url.origin().ascii_serialization()
    ))
}

/// A protected resource: checks every request's bearer token with its
/// validator, then the audience and scopes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ResourceServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ResourceConfig,
    metadata_url: String,
    validator: Arc<dyn TokenValidator>,
}

impl ResourceServer {
    /// The resource described by `config`, trusting `validator`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a resource identifier that is not an
    /// absolute http(s) URL without query or fragment, or no authorization server.
    pub fn new(config: ResourceConfig, validator: impl TokenValidator) -> Result<Self> {
        Self::with_validator(config, Arc::new(validator))
    }

    /// As [`new`](Self::new), with a shared validator.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_validator(
        config: ResourceConfig,
        validator: Arc<dyn TokenValidator>,
    ) -> Result<Self> {
        let metadata_url = metadata_url(&config.resource)?;
        if config.authorization_servers.is_empty() {
            return Err(Error::InvalidArgument(
                "a resource needs at least one authorization server",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                metadata_url,
                validator,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ResourceConfig {
        &self.inner.config
    }

    /// The RFC 9728 metadata URL (see [`metadata_url`]).
    pub fn metadata_url(&self) -> &str {
        &self.inner.metadata_url
    }

    /// The path of [`metadata_url`](Self::metadata_url), to route it.
    pub fn metadata_path(&self) -> &str {
        let url = &self.inner.metadata_url;
        let origin_end = url.find("/.well-known/").unwrap_or(0);
        &url[origin_end..]
    }

    /// The RFC 9728 Protected Resource Metadata document.
    pub fn metadata(&self) -> Value {
        let config = &self.inner.config;
        let mut scopes: Vec<&str> = Vec::new();
        for s in config
            .required_scopes
            .iter()
            .chain(&config.scopes_supported)
        {
            if s != "offline_access" && !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        let mut doc = json!({
            "resource": config.resource,
            "authorization_servers": config.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        if !scopes.is_empty() {
            doc["scopes_supported"] = json!(scopes);
        }
        if let Some(name) = &config.resource_name {
            doc["resource_name"] = json!(name);
        }
        doc
    }

    /// Checks a request's `Authorization` header value: a `Bearer` token
    /// that the validator accepts, for this resource, with the required scopes.
    ///
    /// # Errors
    /// The [`Rejection`] to answer with (see [`challenge`](Self::challenge)).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> std::result::Result<AccessToken, Rejection> {
        let token = bearer_token(authorization)?;
        let token = self.inner.validator.validate(token).await?;
        let resource = &self.inner.config.resource;
        if !token
            .audience
            .as_deref()
            .is_some_and(|aud| audience_matches(aud, resource))
        {
            return Err(Rejection::Invalid(InvalidToken::WrongAudience));
        }
        self.require(&token, &[])?;
        Ok(token)
    }

    /// Checks that `token` carries the resource's required scopes and
    /// `scopes`; the rejection names all of them, with the token's own.
    ///
    /// # Errors
    /// [`Rejection::InsufficientScope`].
    pub fn require(
        &self,
        token: &AccessToken,
        scopes: &[&str],
    ) -> std::result::Result<(), Rejection> {
        let required = &self.inner.config.required_scopes;
        let missing = required
            .iter()
            .map(String::as_str)
            .chain(scopes.iter().copied());
        if missing.clone().all(|s| token.has_scope(s)) {
            return Ok(());
        }
        let mut scope: Vec<String> = Vec::new();
        for s in missing.chain(token.scopes.iter().map(String::as_str)) {
            if !scope.iter().any(|have| have == s) {
                scope.push(s.to_owned());
            }
        }
        Err(Rejection::InsufficientScope { scope })
    }

    /// The response to a rejection: status, `WWW-Authenticate` and a JSON body.
    pub fn challenge(&self, rejection: &Rejection) -> Challenge {
        Challenge::new(
            rejection,
            &self.inner.metadata_url,
            &self.inner.config.required_scopes,
        )
    }
}

/// The bytes of an RFC 6750 `b64token`: letters, digits and `-._~+/=`.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        b += 1;
    }
    table
};

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750
/// §2.1; the scheme is case-insensitive).
fn bearer_token(authorization: Option<&str>) -> std::result::Result<&str, Rejection> {
    let Some(value) = authorization else {
        return Err(Rejection::Missing);
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(Rejection::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Missing);
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.len() > 8192 || !token.bytes().all(|b| B64TOKEN[usize::from(b)]) {
        return Err(Rejection::Invalid(InvalidToken::Malformed(
            "not an RFC 6750 bearer token",
        )));
    }
    Ok(token)
}
