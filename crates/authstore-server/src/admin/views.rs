//! What the operator's actions return, as they print in JSON: users, clients, grants and sessions, never a secret or a hash.

use authstore::credentials::UserInfo;
use authstore::oauth::{Client, GrantSummary};
use authstore::session::SessionInfo;
use serde::Serialize;

use super::secs;

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct UserView {
    /// The login name.
    pub username: String,
    /// The stable id (OAuth subject).
    pub user_id: String,
    /// Registration, seconds since the epoch.
    pub created_at: u64,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// When the user was disabled, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<u64>,
}

impl From<&UserInfo> for UserView {
    fn from(u: &UserInfo) -> Self {
        Self {
            username: u.username.clone(),
            user_id: u.user_id.clone(),
            created_at: secs(u.created_at),
            disabled: u.is_disabled(),
            disabled_at: u.disabled_at.map(secs),
        }
    }
}

/// A sign-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionView {
    /// The handle that names it to `session revoke` (not the cookie's id).
    pub handle: String,
    /// The device, as the browser described itself.
    pub device: Option<String>,
    /// The browser's User-Agent.
    pub user_agent: Option<String>,
    /// The address it signed in from.
    pub ip: Option<String>,
    /// Sign-in, seconds since the epoch.
    pub created_at: u64,
    /// Last use, seconds since the epoch.
    pub last_seen: u64,
    /// When it ends unless used, seconds since the epoch.
    pub expires_at: Option<u64>,
}

impl From<&SessionInfo> for SessionView {
    fn from(s: &SessionInfo) -> Self {
        Self {
            handle: s.handle.as_str().to_owned(),
            device: s.meta.device.clone(),
            user_agent: s.meta.user_agent.clone(),
            ip: s.meta.ip.clone(),
            created_at: secs(s.created_at),
            last_seen: secs(s.last_seen),
            expires_at: s.expires_at.map(secs),
        }
    }
}

/// A live grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct GrantView {
    /// Its id (what `grant revoke` takes).
    pub grant_id: String,
    /// The client it was granted to.
    pub client_id: String,
    /// The user who approved it.
    pub user_id: Option<String>,
    /// The approved scopes, space-separated.
    pub scope: String,
    /// The resources (RFC 8707) its tokens may be for.
    pub resources: Vec<String>,
    /// Approval, ms since the epoch.
    pub created_at_ms: u64,
    /// Last refresh (else approval), ms since the epoch.
    pub last_used_at_ms: u64,
}

impl From<&GrantSummary> for GrantView {
    fn from(g: &GrantSummary) -> Self {
        Self {
            grant_id: g.grant_id.clone(),
            client_id: g.client_id.clone(),
            user_id: g.subject.clone(),
            scope: g.scope.join(" "),
            resources: g.resources.clone(),
            created_at_ms: g.created_at,
            last_used_at_ms: g.last_used_at,
        }
    }
}

/// A client, in RFC 7591's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct ClientView {
    /// Its id.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The scopes it may request, space-separated.
    pub scope: String,
    /// Its grant types.
    pub grant_types: Vec<&'static str>,
    /// How it authenticates (`none` for a public client).
    pub token_endpoint_auth_method: &'static str,
    /// Who created it: `operator`, `registered` (at /register).
    pub origin: &'static str,
    /// Registration, seconds since the epoch.
    pub created_at: u64,
    /// When its secret expires, seconds since the epoch (0: never; public: absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
    /// When the client itself expires unless used, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The algorithm of its ID tokens, when it chose one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<&'static str>,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            client_name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            scope: c.scopes.join(" "),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            origin: match c.origin {
                authstore::oauth::ClientOrigin::Operator => "operator",
                authstore::oauth::ClientOrigin::Registered => "registered",
                authstore::oauth::ClientOrigin::MetadataDocument => "metadata_document",
            },
            created_at: c.created_at,
            client_secret_expires_at: c
                .is_confidential()
                .then(|| c.secret_expires_at.unwrap_or(0)),
            expires_at: c.expires_at,
            id_token_signed_response_alg: c.id_token_alg.map(|a| a.as_str()),
        }
    }
}
