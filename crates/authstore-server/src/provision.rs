//! Static provisioning: the config file's `[[users]]` and `[[clients]]`, applied at start, idempotently.
//!
//! Users are registered with `Credentials::register_user`; an existing user
//! is left as it is (its password is not re-applied). A client without a fixed
//! `client_id` is registered once with `OAuth::register_client`, and the id it
//! drew is remembered under `server-provisioned-client:<base64url(name)>`, so a
//! restart on a persistent store finds it instead of registering a duplicate.
//! A client with a fixed `client_id` (and, if confidential, a configured
//! secret) is written with `OAuth::put_client`: created, replaced when the
//! config changed, left alone when it matches.

use authstore::oauth::{AuthMethod, Client, ClientOrigin, NewClient, OAuthError, Upserted};
use authstore::{Error, PutOptions, StoreExt};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::config::{ClientSpec, UserSpec};
use crate::state::AppState;

/// What provisioning did to one user or client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was created now.
    Created,
    /// It already existed and was left alone.
    Existing,
    /// A client with a fixed id existed with other settings and was replaced by the configured one.
    Updated,
}

/// What provisioning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// `(name, outcome)` per configured user.
    pub users: Vec<(String, Outcome)>,
    /// `(name, client_id, outcome)` per configured client.
    pub clients: Vec<(String, String, Outcome)>,
    /// Stored clients that differ from their config entry (they are kept as stored).
    pub drifted: Vec<String>,
}

/// Why provisioning stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionError {
    /// The configuration asks for something invalid (exit status 2).
    Invalid(String),
    /// The store failed (exit status 1).
    Store(String),
}

impl std::fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(message) | Self::Store(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ProvisionError {}

fn store_error(what: &str, error: &Error) -> ProvisionError {
    ProvisionError::Store(format!("{what}: {error}"))
}

fn oauth_error(what: &str, error: OAuthError) -> ProvisionError {
    match error {
        OAuthError::Store(e) => store_error(what, &e),
        other => ProvisionError::Invalid(format!("{what}: {other}")),
    }
}

/// What a provisioned client's marker remembers.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    client_id: String,
}

/// The key remembering which client id was drawn for the client named `name`.
pub fn marker_key(name: &str) -> String {
    format!(
        "server-provisioned-client:{}",
        URL_SAFE_NO_PAD.encode(name.as_bytes())
    )
}

/// Applies `users` and `clients` to the state's store. Safe to run on every
/// start and from several instances at once: nothing is duplicated, and
/// what exists is left as it is.
///
/// A configured secret without a fixed `client_id` is refused before
/// anything is written (the secret must belong to a known id).
///
/// # Errors
/// [`ProvisionError::Invalid`] for unsupported or invalid entries (bad
/// redirect URIs, …); [`ProvisionError::Store`] when the store fails.
pub async fn provision(
    state: &AppState,
    users: &[UserSpec],
    clients: &[ClientSpec],
) -> Result<ProvisionReport, ProvisionError> {
    if let Some(spec) = clients
        .iter()
        .find(|c| c.client_id.is_none() && c.secret.is_some())
    {
        return Err(ProvisionError::Invalid(format!(
            "[[clients]] {:?}: a configured secret needs a fixed client_id",
            spec.name
        )));
    }
    let mut report = ProvisionReport::default();
    for user in users {
        let outcome = provision_user(state, user).await?;
        report.users.push((user.name.clone(), outcome));
    }
    for spec in clients {
        if let Some(client_id) = &spec.client_id {
            let what = format!("[[clients]] {:?}", spec.name);
            let (client, upserted) = state
                .oauth()
                .put_client(client_id, new_client(spec), spec.secret.as_deref())
                .await
                .map_err(|e| oauth_error(&what, e))?;
            let outcome = match upserted {
                Upserted::Created => Outcome::Created,
                Upserted::Updated => Outcome::Updated,
                Upserted::Unchanged => Outcome::Existing,
            };
            tracing::info!(client = %spec.name, %client_id, ?outcome, "provisioned client with a fixed id");
            report
                .clients
                .push((spec.name.clone(), client.client_id, outcome));
            continue;
        }
        let (client, outcome) = provision_client(state, spec).await?;
        if let Some(fields) = drift(&client, spec) {
            tracing::warn!(
                client = %spec.name, client_id = %client.client_id, fields,
                "the stored client differs from the config; it is kept as stored"
            );
            report.drifted.push(spec.name.clone());
        }
        report
            .clients
            .push((spec.name.clone(), client.client_id, outcome));
    }
    Ok(report)
}

async fn provision_user(state: &AppState, user: &UserSpec) -> Result<Outcome, ProvisionError> {
    let what = format!("[[users]] {:?}", user.name);
    let user_id = match &user.user_id {
        Some(id) => id.clone(),
        None => authstore::secret::random_token().map_err(|e| store_error(&what, &e))?,
    };
    match state
        .credentials()
        .register_user(&user.name, &user_id, &user.password)
        .await
    {
        Ok(()) => {
            tracing::info!(user = %user.name, %user_id, "provisioned user");
            Ok(Outcome::Created)
        }
        Err(Error::AlreadyExists { .. }) => {
            tracing::info!(user = %user.name, "user exists; left unchanged");
            Ok(Outcome::Existing)
        }
        Err(e @ Error::InvalidArgument(_)) => Err(ProvisionError::Invalid(format!("{what}: {e}"))),
        Err(e) => Err(store_error(&what, &e)),
    }
}

fn new_client(spec: &ClientSpec) -> NewClient {
    NewClient {
        name: spec.name.clone(),
        redirect_uris: spec.redirect_uris.clone(),
        scopes: spec.scopes.clone(),
        grant_types: spec.grant_types.clone(),
        auth_method: if spec.public {
            AuthMethod::None
        } else {
            AuthMethod::ClientSecretBasic
        },
        secret_ttl: None,
        origin: ClientOrigin::Operator,
        id_token_alg: spec.id_token_alg,
    }
}

async fn provision_client(
    state: &AppState,
    spec: &ClientSpec,
) -> Result<(Client, Outcome), ProvisionError> {
    let what = format!("[[clients]] {:?}", spec.name);
    let store = state.store();
    let key = marker_key(&spec.name);
    // A few rounds at most: each lost race means another instance provisioned it.
    for _ in 0..4 {
        let marker = store
            .get_json::<Marker>(&key)
            .await
            .map_err(|e| store_error(&what, &e))?;
        if let Some(marker) = &marker {
            let found = state
                .oauth()
                .client(&marker.value.client_id)
                .await
                .map_err(|e| oauth_error(&what, e))?;
            if let Some(client) = found {
                tracing::info!(client = %spec.name, client_id = %client.client_id, "client exists; left unchanged");
                return Ok((client, Outcome::Existing));
            }
            tracing::warn!(client = %spec.name, "the provisioned client was deleted; registering it again");
        }
        let registered = state
            .oauth()
            .register_client(new_client(spec))
            .await
            .map_err(|e| oauth_error(&what, e))?;
        let client_id = registered.client.client_id.clone();
        let options = match &marker {
            Some(m) => PutOptions::new().if_version(m.version),
            None => PutOptions::new().create_only(),
        };
        match store
            .put_json(
                &key,
                &Marker {
                    client_id: client_id.clone(),
                },
                options,
            )
            .await
        {
            Ok(_) => {
                tracing::info!(client = %spec.name, %client_id, "provisioned client");
                return Ok((registered.client, Outcome::Created));
            }
            Err(
                Error::AlreadyExists { .. }
                | Error::VersionConflict { .. }
                | Error::NotFound { .. },
            ) => {
                // Another instance won: drop ours and use theirs.
                let _ = state.oauth().delete_client(&client_id).await;
            }
            Err(e) => {
                let _ = state.oauth().delete_client(&client_id).await;
                return Err(store_error(&what, &e));
            }
        }
    }
    Err(ProvisionError::Store(format!(
        "{what}: gave up after repeated concurrent provisioning"
    )))
}

/// The fields in which a stored client differs from its config entry, if any.
fn drift(client: &Client, spec: &ClientSpec) -> Option<String> {
    let mut fields = Vec::new();
    if client.redirect_uris != spec.redirect_uris {
        fields.push("redirect_uris");
    }
    if client.scopes != spec.scopes {
        fields.push("scopes");
    }
    if client.grant_types != spec.grant_types {
        fields.push("grant_types");
    }
    if client.is_confidential() == spec.public {
        fields.push("public");
    }
    if client.id_token_alg != spec.id_token_alg {
        fields.push("id_token_alg");
    }
    (!fields.is_empty()).then(|| fields.join(","))
}
