//! `authstore client add`: register an OAuth client and print its id and, for a confidential client, its secret (once).

use std::time::Duration;

use authstore::SystemClock;
use authstore::oauth::{AuthMethod, ClientOrigin, GrantType, NewClient, OAuth, OAuthError};

use crate::command_prelude::*;
use crate::config;

/// `authstore client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client and print its client_id (and secret, once).
    Add(ClientAddArgs),
}

/// A grant type, by its RFC name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrantArg {
    /// `authorization_code` (with PKCE).
    #[value(name = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token`.
    #[value(name = "refresh_token")]
    RefreshToken,
    /// `client_credentials` (confidential clients).
    #[value(name = "client_credentials")]
    ClientCredentials,
}

/// How a confidential client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethodArg {
    /// HTTP Basic.
    #[value(name = "client_secret_basic")]
    ClientSecretBasic,
    /// In the form body.
    #[value(name = "client_secret_post")]
    ClientSecretPost,
}

/// `authstore client add`.
#[derive(Debug, Clone, Args)]
pub struct ClientAddArgs {
    /// Display name (shown on the consent page).
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeatable): https, loopback http, or a private-use scheme.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A public client (no secret: native and browser apps).
    #[arg(long)]
    pub public: bool,
    /// A scope the client may request (repeatable, or space-separated).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A grant type, repeatable (default: authorization_code and refresh_token, plus client_credentials if confidential).
    #[arg(long = "grant-type", value_enum, value_name = "GRANT")]
    pub grant_types: Vec<GrantArg>,
    /// How a confidential client authenticates.
    #[arg(long, value_enum, default_value_t = AuthMethodArg::ClientSecretBasic, conflicts_with = "public")]
    pub auth_method: AuthMethodArg,
    /// Lifetime of the secret, e.g. 90d (default: no expiry).
    #[arg(long, value_name = "DURATION", value_parser = config::parse_duration, conflicts_with = "public")]
    pub secret_ttl: Option<Duration>,
    /// The algorithm of the client's ID tokens: RS256, ES256 or EdDSA
    /// (default: `[tokens] id_token_alg`, RS256 unless configured).
    #[arg(long, value_name = "ALG")]
    pub id_token_alg: Option<authstore::oauth::SigningAlg>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs a `client` subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub(crate) async fn exec(command: ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Add(args) => add(args).await,
    }
}

fn grant(arg: GrantArg) -> GrantType {
    match arg {
        GrantArg::AuthorizationCode => GrantType::AuthorizationCode,
        GrantArg::RefreshToken => GrantType::RefreshToken,
        GrantArg::ClientCredentials => GrantType::ClientCredentials,
    }
}

/// The [`NewClient`] the arguments describe.
fn new_client(args: &ClientAddArgs) -> NewClient {
    let mut grant_types: Vec<GrantType> = args.grant_types.iter().copied().map(grant).collect();
    grant_types.dedup();
    if grant_types.is_empty() {
        grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        if !args.public {
            grant_types.push(GrantType::ClientCredentials);
        }
    }
    let auth_method = match (args.public, args.auth_method) {
        (true, _) => AuthMethod::None,
        (false, AuthMethodArg::ClientSecretBasic) => AuthMethod::ClientSecretBasic,
        (false, AuthMethodArg::ClientSecretPost) => AuthMethod::ClientSecretPost,
    };
    NewClient {
        name: args.name.clone(),
        redirect_uris: args.redirect_uris.clone(),
        scopes: args
            .scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect(),
        grant_types,
        auth_method,
        secret_ttl: args.secret_ttl,
        origin: ClientOrigin::Operator,
        id_token_alg: args.id_token_alg,
    }
}

/// `authstore client add --name N --redirect-uri URI … [--public] [--scope S …]`:
/// prints the client id and, for a confidential client, its secret (once).
///
/// # Errors
/// Exit status 2 for invalid metadata, 1 if the store fails.
async fn add(args: ClientAddArgs) -> Result<(), Failure> {
    let (store, settings) = open_for_admin(&args.store).await?;
    let oauth = OAuth::with_config(store, settings.oauth, SystemClock)
        .map_err(|e| Failure::config(format!("invalid hashing settings: {e}")))?;
    let registered = oauth
        .register_client(new_client(&args))
        .await
        .map_err(|e| match e {
            OAuthError::Store(e) => {
                Failure::runtime(format!("cannot register the client: {}", error_chain(&e)))
            }
            other => Failure::config(other.to_string()),
        })?;
    let client = &registered.client;
    if args.json {
        let mut out = serde_json::json!({
            "client_id": client.client_id,
            "client_name": client.name,
            "redirect_uris": client.redirect_uris,
            "scope": client.scopes.join(" "),
            "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "token_endpoint_auth_method": client.auth_method.as_str(),
        });
        if let Some(alg) = client.id_token_alg {
            out["id_token_signed_response_alg"] = alg.as_str().into();
        }
        if let Some(secret) = &registered.secret {
            out["client_secret"] = secret.as_str().into();
            out["client_secret_expires_at"] = client.secret_expires_at.unwrap_or(0).into();
        }
        println!("{out}");
    } else {
        println!("client_id: {}", client.client_id);
        if let Some(secret) = &registered.secret {
            println!("client_secret: {secret}");
            eprintln!(
                "The secret is shown only this once (the store keeps an argon2id hash): save it now."
            );
        }
    }
    Ok(())
}
