//! One-shot admin commands: `authstore user add` and `authstore client add`, writing to the store `--store` names.

use std::io::BufRead as _;
use std::sync::Arc;

use authstore::credentials::Credentials;
use authstore::oauth::{AuthMethod, ClientOrigin, GrantType, NewClient, OAuth, OAuthError};
use authstore::{Error, Store, SystemClock};

use crate::cli::{
    AuthMethodArg, ClientAddArgs, Failure, GrantArg, StoreArgs, UserAddArgs, load_config,
};
use crate::config;
use crate::serve::{log_safe_url, open_failure};
use crate::state::Settings;

/// Opens the store the arguments name, with the settings of `--config` (hashing costs) if given.
async fn open_store(args: &StoreArgs) -> Result<(Arc<dyn Store>, Settings), Failure> {
    let file = load_config(args)?;
    let settings = config::admin_settings(file.as_ref())?;
    let (url, source) =
        config::resolve_store(args.store.as_deref(), file.as_ref(), &config::process_env);
    let safe = log_safe_url(&url);
    let store = crate::ops::open_boxed(&url)
        .await
        .map_err(|e| open_failure(&safe, &e))?;
    tracing::info!(store = %safe, source = source.as_str(), "store opened");
    if store.backend() == "memory" {
        eprintln!(
            "warning: the store is {safe} (from {}), which lives only in this process: \
             what this command writes is lost when it exits; pass --store with a persistent store",
            source.as_str()
        );
    }
    Ok((store, settings))
}

/// Reads the first line of standard input, without its line ending.
fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::runtime(format!("cannot read the password from standard input: {e}"))
    })?;
    let password = line
        .strip_suffix('\n')
        .map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    if password.is_empty() {
        return Err(Failure::config("the password on standard input is empty"));
    }
    Ok(password.to_owned())
}

/// `authstore user add NAME --password-stdin [--user-id ID]`.
///
/// # Errors
/// Exit status 2 for an empty name or password, 1 if the user exists or the store fails.
pub async fn user_add(args: UserAddArgs) -> Result<(), Failure> {
    let password = read_password()?;
    let (store, settings) = open_store(&args.store).await?;
    let credentials = Credentials::with_config(store, settings.credentials, SystemClock)
        .map_err(|e| Failure::config(format!("invalid hashing settings: {e}")))?;
    let user_id = match args.user_id {
        Some(id) if id.trim().is_empty() => {
            return Err(Failure::config("--user-id must not be empty"));
        }
        Some(id) => id,
        None => authstore::secret::random_token().map_err(|e| Failure::runtime(e.to_string()))?,
    };
    match credentials
        .register_user(&args.name, &user_id, &password)
        .await
    {
        Ok(()) => {}
        Err(Error::AlreadyExists { .. }) => {
            return Err(Failure::runtime(format!(
                "user {:?} already exists",
                args.name.trim()
            )));
        }
        Err(e @ Error::InvalidArgument(_)) => return Err(Failure::config(e.to_string())),
        Err(e) => {
            return Err(Failure::runtime(format!(
                "cannot register the user: {}",
                authstore::error_chain(&e)
            )));
        }
    }
    let username = args.name.trim();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "username": username, "user_id": user_id })
        );
    } else {
        println!("created user {username:?} with user_id {user_id}");
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
pub fn new_client(args: &ClientAddArgs) -> NewClient {
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
pub async fn client_add(args: ClientAddArgs) -> Result<(), Failure> {
    let (store, settings) = open_store(&args.store).await?;
    let oauth = OAuth::with_config(store, settings.oauth, SystemClock)
        .map_err(|e| Failure::config(format!("invalid hashing settings: {e}")))?;
    let registered = oauth
        .register_client(new_client(&args))
        .await
        .map_err(|e| match e {
            OAuthError::Store(e) => Failure::runtime(format!(
                "cannot register the client: {}",
                authstore::error_chain(&e)
            )),
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
