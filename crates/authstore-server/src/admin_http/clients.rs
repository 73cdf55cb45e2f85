//! `/admin/v1/clients`: list, show, create, update, rotate a secret, delete.

use std::time::Duration;

use authstore::oauth::{AuthMethod, ClientChanges, ClientOrigin, GrantType, NewClient, SigningAlg};
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;

use super::extract::{Body, Path, Query};
use super::{ApiError, ApiErrorBody};
use crate::admin::clients::{self as ops, ClientDetail, Deleted, WithSecret};
use crate::admin::views::ClientView;
use crate::state::AppState;

/// A grant type (RFC 7591 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GrantTypeName {
    /// The code flow with PKCE.
    AuthorizationCode,
    /// Refresh tokens.
    RefreshToken,
    /// A confidential client's own tokens.
    ClientCredentials,
}

impl From<GrantTypeName> for GrantType {
    fn from(name: GrantTypeName) -> Self {
        match name {
            GrantTypeName::AuthorizationCode => Self::AuthorizationCode,
            GrantTypeName::RefreshToken => Self::RefreshToken,
            GrantTypeName::ClientCredentials => Self::ClientCredentials,
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthMethodName {
    /// A public client: no secret.
    None,
    /// HTTP Basic.
    ClientSecretBasic,
    /// In the form body.
    ClientSecretPost,
}

/// The algorithm of the client's ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub(crate) enum AlgName {
    /// RSA-2048 with SHA-256.
    RS256,
    /// P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl From<AlgName> for SigningAlg {
    fn from(name: AlgName) -> Self {
        match name {
            AlgName::RS256 => Self::RS256,
            AlgName::ES256 => Self::ES256,
            AlgName::EdDSA => Self::EdDSA,
        }
    }
}

/// A client to register (RFC 7591 names).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClientBody {
    /// Display name, shown on the consent page.
    #[schema(min_length = 1, max_length = 200)]
    client_name: String,
    /// Redirect URIs: https, loopback http, or a private-use scheme.
    #[serde(default)]
    #[schema(max_items = 20)]
    redirect_uris: Vec<String>,
    /// The scopes it may request, space-separated.
    #[serde(default)]
    scope: Option<String>,
    /// Grant types (default: authorization_code and refresh_token, plus
    /// client_credentials for a confidential client).
    #[serde(default)]
    grant_types: Option<Vec<GrantTypeName>>,
    /// `none` for a public client (default: client_secret_basic).
    #[serde(default)]
    token_endpoint_auth_method: Option<AuthMethodName>,
    /// Lifetime of the secret in seconds (default: no expiry).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    client_secret_ttl_secs: Option<u64>,
    /// The algorithm of its ID tokens (default: the server's).
    #[serde(default)]
    id_token_signed_response_alg: Option<AlgName>,
}

/// Changes to a client: each field given replaces that field whole.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientChangesBody {
    /// Display name.
    #[serde(default)]
    client_name: Option<String>,
    /// Every redirect URI.
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    /// Every scope it may request, space-separated.
    #[serde(default)]
    scope: Option<String>,
    /// Every grant type.
    #[serde(default)]
    grant_types: Option<Vec<GrantTypeName>>,
    /// The algorithm of its ID tokens.
    #[serde(default)]
    id_token_signed_response_alg: Option<AlgName>,
}

/// How long a rotated secret lives.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SecretTtl {
    /// Lifetime of the new secret in seconds (default: no expiry).
    #[param(minimum = 1, maximum = 3_153_600_000_u64)]
    secret_ttl_secs: Option<u64>,
}

fn scopes(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn ttl(secs: Option<u64>) -> Result<Option<Duration>, ApiError> {
    match secs {
        Some(0) => Err(ApiError::Invalid(
            "a secret lifetime must be at least 1 second".into(),
        )),
        Some(s) if s > 100 * 365 * 24 * 3600 => Err(ApiError::Invalid(
            "a secret lifetime must be at most 100 years".into(),
        )),
        other => Ok(other.map(Duration::from_secs)),
    }
}

/// Every stored client, by name.
#[utoipa::path(get, path = "/clients", tag = "clients",
    responses(
        (status = 200, description = "Every stored client", body = [ClientView]),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<ClientView>>, ApiError> {
    Ok(Json(ops::list(&state).await?))
}

/// Registers a client; a confidential client's secret is in the answer, once.
#[utoipa::path(post, path = "/clients", tag = "clients", request_body = NewClientBody,
    responses(
        (status = 201, description = "Registered", body = WithSecret),
        (status = 400, description = "Malformed, or metadata that breaks the registration rules", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Body(body): Body<NewClientBody>,
) -> Result<(StatusCode, Json<WithSecret>), ApiError> {
    let auth_method = match body.token_endpoint_auth_method {
        Some(AuthMethodName::None) => AuthMethod::None,
        Some(AuthMethodName::ClientSecretPost) => AuthMethod::ClientSecretPost,
        Some(AuthMethodName::ClientSecretBasic) | None => AuthMethod::ClientSecretBasic,
    };
    let public = auth_method == AuthMethod::None;
    let grant_types = match body.grant_types {
        Some(names) => names.into_iter().map(GrantType::from).collect(),
        None if public => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        None => vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
    };
    if public && body.client_secret_ttl_secs.is_some() {
        return Err(ApiError::Invalid("a public client has no secret".into()));
    }
    let new = NewClient {
        name: body.client_name,
        redirect_uris: body.redirect_uris,
        scopes: body.scope.as_deref().map(scopes).unwrap_or_default(),
        grant_types,
        auth_method,
        secret_ttl: ttl(body.client_secret_ttl_secs)?,
        origin: ClientOrigin::Operator,
        id_token_alg: body.id_token_signed_response_alg.map(SigningAlg::from),
    };
    Ok((StatusCode::CREATED, Json(ops::create(&state, new).await?)))
}

/// One client, with its live grants.
#[utoipa::path(get, path = "/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client", body = ClientDetail),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such client", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Json<ClientDetail>, ApiError> {
    Ok(Json(ops::show(&state, &client_id).await?))
}

/// Changes what the body names; the rest stays.
#[utoipa::path(patch, path = "/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client id")),
    request_body = ClientChangesBody,
    responses(
        (status = 200, description = "Updated", body = ClientView),
        (status = 400, description = "Malformed, empty, or breaks the registration rules", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such client", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    Body(body): Body<ClientChangesBody>,
) -> Result<Json<ClientView>, ApiError> {
    let changes = ClientChanges {
        name: body.client_name,
        redirect_uris: body.redirect_uris,
        scopes: body.scope.as_deref().map(scopes),
        grant_types: body
            .grant_types
            .map(|names| names.into_iter().map(GrantType::from).collect()),
        id_token_alg: body.id_token_signed_response_alg.map(|a| Some(a.into())),
    };
    if changes == ClientChanges::default() {
        return Err(ApiError::Invalid("nothing to change".into()));
    }
    Ok(Json(ops::update(&state, &client_id, &changes).await?))
}

/// Revokes the client's grants (every token issued to it stops working)
/// and deletes it.
#[utoipa::path(delete, path = "/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such client", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(ops::delete(&state, &client_id).await?))
}

/// Gives a confidential client a new secret, in the answer once; the old
/// one stops working at once.
#[utoipa::path(post, path = "/clients/{client_id}/secret", tag = "clients",
    params(("client_id" = String, Path, description = "The client id"), SecretTtl),
    responses(
        (status = 200, description = "The new secret", body = WithSecret),
        (status = 400, description = "A public client, or a bad lifetime", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such client", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    Query(query): Query<SecretTtl>,
) -> Result<Json<WithSecret>, ApiError> {
    let ttl = ttl(query.secret_ttl_secs)?;
    Ok(Json(ops::rotate_secret(&state, &client_id, ttl).await?))
}
