//! OAuth client records: grant types, authentication methods, origin, what to register, and redirect-URI acceptance (exact; loopback IP ports may vary, RFC 8252).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::redirect_uri::redirect_uri_matches;
use super::{OAuth, SigningAlg};

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code` (with PKCE).
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials` (confidential clients only).
    ClientCredentials,
}

impl GrantType {
    /// The RFC name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How a client authenticates at the token endpoint (`token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: no secret.
    None,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The RFC name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Who created a client. Only the operator's clients are trusted with
/// error redirects from `/authorize` and shown without an "unverified" mark;
/// a client that registered itself (RFC 7591) or that a metadata document
/// describes is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// Created by the operator: configuration, the CLI, or code embedding the library.
    Operator,
    /// Created by dynamic registration at `/register`.
    Registered,
    /// Described by the client metadata document at its URL `client_id`
    /// (see [`cimd`](super::cimd)): a public client, unverified, whose
    /// redirect URIs are matched exactly.
    MetadataDocument,
}

/// A registered client. Its secret is stored only as an argon2id hash and
/// never appears in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The public client id.
    pub client_id: String,
    /// A display name for the consent screen.
    pub name: String,
    /// argon2id hash of the secret (confidential clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) secret_hash: Option<String>,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may request.
    pub scopes: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// How it authenticates.
    pub auth_method: AuthMethod,
    /// Registration time, seconds since the epoch.
    pub created_at: u64,
    /// When the secret expires, seconds since the epoch (`None` = never; RFC 7591's 0).
    #[serde(default)]
    pub secret_expires_at: Option<u64>,
    /// Who created it. Records written before this field existed read as
    /// [`ClientOrigin::Registered`], the less trusted of the two.
    #[serde(default = "registered_origin")]
    pub origin: ClientOrigin,
    /// How long the client lives after its registration or its last use
    /// (a code exchange, a refresh, a client credentials grant), in
    /// seconds; `None` for a client that lives until it is deleted. See
    /// [`OAuth::register_client_with_ttl`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
    /// The algorithm of the client's ID tokens (OpenID Connect Dynamic
    /// Client Registration's `id_token_signed_response_alg`); `None`:
    /// [`OAuthConfig::id_token_alg`](super::OAuthConfig::id_token_alg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_alg: Option<SigningAlg>,
    /// When the stored client expires, seconds since the epoch, as last
    /// read from the store (`None`: never, or not read from the store).
    #[serde(skip)]
    pub expires_at: Option<u64>,
}

fn registered_origin() -> ClientOrigin {
    ClientOrigin::Registered
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("confidential", &self.secret_hash.is_some())
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("grant_types", &self.grant_types)
            .field("auth_method", &self.auth_method)
            .field("origin", &self.origin)
            .field("id_token_alg", &self.id_token_alg)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `uri` is one of the client's redirect URIs (see
    /// [`redirect_uri_matches`]; a metadata document client's are matched
    /// exactly, loopback ports included).
    pub fn accepts_redirect(&self, uri: &str) -> bool {
        if self.origin == ClientOrigin::MetadataDocument {
            return self
                .redirect_uris
                .iter()
                .any(|registered| registered == uri);
        }
        self.redirect_uris
            .iter()
            .any(|registered| redirect_uri_matches(registered, uri))
    }
}

/// What to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Redirect URIs (https, loopback http, or a private-use scheme for native apps).
    pub redirect_uris: Vec<String>,
    /// Scopes it may request (empty: none but the defaults the server grants).
    pub scopes: Vec<String>,
    /// Grant types.
    pub grant_types: Vec<GrantType>,
    /// Authentication method; [`AuthMethod::None`] makes a public client.
    pub auth_method: AuthMethod,
    /// How long the secret is valid (`None` = no expiry).
    pub secret_ttl: Option<Duration>,
    /// Who creates it ([`ClientOrigin::Operator`] from the constructors).
    pub origin: ClientOrigin,
    /// The algorithm of its ID tokens (`id_token_signed_response_alg`);
    /// `None` (from the constructors): [`OAuthConfig::id_token_alg`](super::OAuthConfig::id_token_alg).
    pub id_token_alg: Option<SigningAlg>,
}

impl NewClient {
    /// A public client (no secret) for the code flow with refresh tokens.
    pub fn public(name: &str, redirect_uri: &str) -> Self {
        Self {
            name: name.into(),
            redirect_uris: vec![redirect_uri.into()],
            scopes: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            auth_method: AuthMethod::None,
            secret_ttl: None,
            origin: ClientOrigin::Operator,
            id_token_alg: None,
        }
    }

    /// A confidential client (`client_secret_basic`) for the code flow, refresh and client credentials.
    pub fn confidential(name: &str, redirect_uri: &str) -> Self {
        Self {
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ],
            ..Self::public(name, redirect_uri)
        }
    }
}

/// What [`OAuth::put_client`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// The client did not exist.
    Created,
    /// The stored client differed and was replaced.
    Updated,
    /// The stored client already matched; nothing was written.
    Unchanged,
}

/// A client just registered, with its secret in the clear: shown once, never stored.
#[derive(Clone)]
pub struct RegisteredClient {
    /// The client.
    pub client: Client,
    /// The secret (confidential clients), to hand to the client's owner once.
    pub secret: Option<String>,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client", &self.client)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The current time in seconds since the epoch, as client records count it.
pub(super) fn now_secs(oauth: &OAuth) -> u64 {
    oauth.now() / 1000
}

/// A scope or id token: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3).
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == b'!' || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("read:items"));
        assert!(!is_scope_token("two words"));
        assert!(!is_scope_token("quote\""));
        assert!(!is_scope_token(""));
    }
}
