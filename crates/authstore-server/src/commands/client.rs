//! `authstore client add|list|show|update|rotate-secret|delete`: register OAuth clients (the secret printed once), see them, change their metadata, rotate a secret, delete one with its grants.

use std::time::Duration;

use authstore::oauth::{AuthMethod, ClientOrigin, GrantType, NewClient};

use crate::admin::clients;
use crate::admin::views::ClientView;
use crate::command_prelude::*;
use crate::config;

/// `authstore client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client and print its client_id (and secret, once).
    Add(ClientAddArgs),
    /// List the stored clients: id, name, kind, origin.
    List(ClientListArgs),
    /// Show one client with its live grants.
    Show(ClientArgs),
    /// Change a client's name, redirect URIs, scopes, grant types or ID-token algorithm.
    Update(ClientUpdateArgs),
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret(ClientRotateArgs),
    /// Revoke a client's grants (every token issued to it stops working) and delete it.
    Delete(ClientArgs),
}

/// `authstore client list`.
#[derive(Debug, Clone, Args)]
pub struct ClientListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// A command on one client.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The client id.
    #[arg(allow_hyphen_values = true)]
    pub client_id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore client update`: each option given replaces that field whole.
#[derive(Debug, Clone, Args)]
pub struct ClientUpdateArgs {
    /// The client id.
    #[arg(allow_hyphen_values = true)]
    pub client_id: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// The redirect URIs (repeatable; replaces them all).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// The scopes it may request (repeatable or space-separated; replaces them all).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// The grant types (repeatable; replaces them all).
    #[arg(long = "grant-type", value_enum, value_name = "GRANT")]
    pub grant_types: Vec<GrantArg>,
    /// The algorithm of its ID tokens: RS256, ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    pub id_token_alg: Option<authstore::oauth::SigningAlg>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore client rotate-secret`.
#[derive(Debug, Clone, Args)]
pub struct ClientRotateArgs {
    /// The client id.
    #[arg(allow_hyphen_values = true)]
    pub client_id: String,
    /// Lifetime of the new secret, e.g. 90d (default: no expiry).
    #[arg(long, value_name = "DURATION", value_parser = config::parse_duration)]
    pub secret_ttl: Option<Duration>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
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
        ClientCommand::List(args) => list(args).await,
        ClientCommand::Show(args) => show(args).await,
        ClientCommand::Update(args) => update(args).await,
        ClientCommand::RotateSecret(args) => rotate_secret(args).await,
        ClientCommand::Delete(args) => delete(args).await,
    }
}

/// One line of text about a client.
fn line(c: &ClientView) -> String {
    format!(
        "{}  {:?}  {}  {}  created {} UTC",
        c.client_id,
        c.client_name,
        if c.token_endpoint_auth_method == "none" {
            "public"
        } else {
            "confidential"
        },
        c.origin,
        utc(c.created_at)
    )
}

async fn list(args: ClientListArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let all = clients::list(&state).await?;
    if args.json {
        print_json(&all);
    } else if all.is_empty() {
        println!("no clients");
    } else {
        for c in &all {
            println!("{}", line(c));
        }
    }
    Ok(())
}

async fn show(args: ClientArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let detail = clients::show(&state, &args.client_id).await?;
    if args.json {
        print_json(&detail);
        return Ok(());
    }
    let c = &detail.client;
    println!("{}", line(c));
    println!("redirect_uris: {}", c.redirect_uris.join(" "));
    println!("scope: {}", c.scope);
    println!("grant_types: {}", c.grant_types.join(" "));
    println!("live grants: {}", detail.grants.len());
    Ok(())
}

async fn update(args: ClientUpdateArgs) -> Result<(), Failure> {
    let changes = authstore::oauth::ClientChanges {
        name: args.name.clone(),
        redirect_uris: (!args.redirect_uris.is_empty()).then(|| args.redirect_uris.clone()),
        scopes: (!args.scopes.is_empty()).then(|| {
            args.scopes
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_owned)
                .collect()
        }),
        grant_types: (!args.grant_types.is_empty()).then(|| {
            let mut grants: Vec<GrantType> = args.grant_types.iter().copied().map(grant).collect();
            grants.dedup();
            grants
        }),
        id_token_alg: args.id_token_alg.map(Some),
    };
    if changes == authstore::oauth::ClientChanges::default() {
        return Err(Failure::config(
            "nothing to change: give --name, --redirect-uri, --scope, --grant-type or --id-token-alg",
        ));
    }
    let state = admin_state(&args.store).await?;
    let client = clients::update(&state, &args.client_id, &changes).await?;
    if args.json {
        print_json(&client);
    } else {
        println!("updated {}", line(&client));
    }
    Ok(())
}

async fn rotate_secret(args: ClientRotateArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let rotated = clients::rotate_secret(&state, &args.client_id, args.secret_ttl).await?;
    if args.json {
        print_json(&rotated);
    } else {
        println!("client_id: {}", rotated.client.client_id);
        println!(
            "client_secret: {}",
            rotated.client_secret.as_deref().unwrap_or_default()
        );
        eprintln!("The new secret is shown only this once, and the old one no longer works.");
    }
    Ok(())
}

async fn delete(args: ClientArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let deleted = clients::delete(&state, &args.client_id).await?;
    if args.json {
        print_json(&deleted);
    } else {
        println!(
            "deleted client {} ({:?}) and revoked its {} live grant(s)",
            deleted.client.client_id, deleted.client.client_name, deleted.grants_revoked
        );
    }
    Ok(())
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
    let state = admin_state(&args.store).await?;
    let created = clients::create(&state, new_client(&args)).await?;
    if args.json {
        print_json(&created);
    } else {
        println!("client_id: {}", created.client.client_id);
        if let Some(secret) = &created.client_secret {
            println!("client_secret: {secret}");
            eprintln!(
                "The secret is shown only this once (the store keeps an argon2id hash): save it now."
            );
        }
    }
    Ok(())
}
