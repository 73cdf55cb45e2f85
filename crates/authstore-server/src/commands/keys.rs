//! `authstore keys list` and `authstore keys rotate`: the JWT signing keys of every algorithm in the store (never their key material).

use authstore::oauth::{
    KeyEncryptionKey, KeyProtection, OAuth, SigningAlg, SigningKeyInfo, SigningKeyStatus,
};

use crate::command_prelude::*;
use crate::config;
use crate::signing_keys::{check_kek, configured_algs, oauth_on, store_failure};

/// `authstore keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the JWT signing keys: id, algorithm, creation, status (current, previous, retired); never key material.
    List(KeysListArgs),
    /// Make a new signing key current (for every algorithm in use, or the one
    /// named by --alg); the previous one stays published until the tokens it signed have expired.
    Rotate(KeysRotateArgs),
}

/// `authstore keys list`.
#[derive(Debug, Clone, Args)]
pub struct KeysListArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `authstore keys rotate`.
#[derive(Debug, Clone, Args)]
pub struct KeysRotateArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The configured key-encryption key replaces the one the current key was
    /// encrypted with: the new signing key is encrypted under it, and the
    /// current key is rotated out without being decrypted.
    #[arg(long)]
    pub replace_encryption_key: bool,
    /// Rotate only this algorithm's key: EdDSA, RS256 or ES256 (default:
    /// every algorithm with a key, or else the configured ones).
    #[arg(long)]
    pub alg: Option<SigningAlg>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `keys` subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub(crate) async fn exec(command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::List(args) => list(args).await,
        KeysCommand::Rotate(args) => rotate(args).await,
    }
}

/// The store, OAuth state on it (lifetimes from `--config`, the
/// key-encryption key from the environment or `--config`), and the
/// store's printable URL.
async fn open(args: &StoreArgs) -> Result<KeysStore, Failure> {
    let (url, source, file) = resolve_store(args)?;
    let mut warnings = Vec::new();
    let kek = config::key_encryption_key(file.as_ref(), &config::process_env, &mut warnings)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    let mut settings = config::admin_settings(file.as_ref())?;
    settings.oauth.key_encryption_key = kek.clone();
    let Opened {
        store,
        safe,
        in_process,
    } = open_store(&url, InProcess::Sees(source)).await?;
    settings.oauth.require_key_encryption = !in_process;
    let algs = configured_algs(&settings);
    let oauth = oauth_on(store, settings.oauth)?;
    Ok(KeysStore {
        oauth,
        kek,
        safe,
        in_process,
        configured_algs: algs,
    })
}

/// What [`open`] opened.
struct KeysStore {
    oauth: OAuth,
    kek: Option<KeyEncryptionKey>,
    safe: String,
    in_process: bool,
    configured_algs: Vec<SigningAlg>,
}

fn protection_text(protection: &KeyProtection) -> String {
    match protection {
        KeyProtection::Encrypted { kek_fingerprint } => format!("encrypted ({kek_fingerprint})"),
        other => other.as_str().to_owned(),
    }
}

fn key_json(key: &SigningKeyInfo) -> serde_json::Value {
    serde_json::json!({
        "kid": key.kid,
        "alg": key.alg.as_str(),
        "created_at": key.created_at,
        "status": key.status.as_str(),
        "published_until": key.published_until,
        "private_key": key.protection.as_str(),
        "kek_fingerprint": match &key.protection {
            KeyProtection::Encrypted { kek_fingerprint } => Some(kek_fingerprint.as_str()),
            _ => None,
        },
    })
}

/// `authstore keys list [--json]`.
///
/// # Errors
/// Exit status 1 when the store fails, 2 for a bad configuration.
async fn list(args: KeysListArgs) -> Result<(), Failure> {
    let KeysStore {
        oauth, kek, safe, ..
    } = open(&args.store).await?;
    let keys = oauth
        .signing_keys()
        .await
        .map_err(|e| store_failure(&format!("cannot list the signing keys of {safe}"), &e))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "store": safe,
                "key_encryption_key": kek.as_ref().map(KeyEncryptionKey::fingerprint),
                "keys": keys.iter().map(key_json).collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    if keys.is_empty() {
        println!(
            "no signing keys in {safe} (each algorithm's first key is created with the first \
             token it signs, or by `authstore keys rotate`)"
        );
        return Ok(());
    }
    println!(
        "{:<18} {:<6} {:<20} {:<9} {:<20} PRIVATE KEY",
        "KID", "ALG", "CREATED (UTC)", "STATUS", "PUBLISHED UNTIL"
    );
    for key in &keys {
        println!(
            "{:<18} {:<6} {:<20} {:<9} {:<20} {}",
            key.kid,
            key.alg,
            utc(key.created_at),
            key.status.as_str(),
            key.published_until.map_or_else(|| "-".to_owned(), utc),
            protection_text(&key.protection)
        );
    }
    if let Some(kek) = &kek {
        println!(
            "key-encryption key configured: fingerprint {}",
            kek.fingerprint()
        );
    }
    Ok(())
}

/// `authstore keys rotate [--alg ALG] [--json]`: a new signing key becomes
/// current, for the algorithm named or else for every algorithm with a key
/// (none yet: the configured ones); each previous one loses its private key
/// and stays published until the tokens it signed have expired.
///
/// # Errors
/// Exit status 2 without a key-encryption key on a persistent store, or
/// with one that is not the current keys' (unless
/// `--replace-encryption-key`); 1 when the store fails.
async fn rotate(args: KeysRotateArgs) -> Result<(), Failure> {
    let KeysStore {
        oauth,
        kek,
        safe,
        in_process,
        configured_algs,
    } = open(&args.store).await?;
    if kek.is_none() && !in_process {
        return Err(Failure::config(format!(
            "keys rotate needs the key-encryption key that protects the signing keys at rest: \
             set {} to the base64url of 32 random bytes (e.g. `openssl rand 32 | basenc \
             --base64url | tr -d =`), or {} or [keys] encryption_key_file to a file holding it",
            config::KEK_ENV,
            config::KEK_FILE_ENV
        )));
    }
    let read_failure = |e| store_failure(&format!("cannot read the signing keys of {safe}"), &e);
    let before = oauth.signing_keys().await.map_err(read_failure)?;
    if !args.replace_encryption_key {
        check_kek(&before, kek.as_ref())?;
        oauth
            .secure_signing_keys()
            .await
            .map_err(|e| store_failure("cannot secure the signing keys", &e))?;
    }
    let algs = match args.alg {
        Some(alg) => vec![alg],
        None => {
            let in_use = oauth.signing_algs_in_use().await.map_err(read_failure)?;
            match (in_use.is_empty(), configured_algs.is_empty()) {
                (false, _) => in_use,
                (true, false) => configured_algs,
                (true, true) => vec![oauth.access_token_alg()],
            }
        }
    };
    let mut rotated = Vec::new();
    for alg in algs {
        let kid = oauth.rotate_signing_key(alg).await.map_err(|e| {
            store_failure(
                &format!("cannot rotate the {alg} signing key of {safe}"),
                &e,
            )
        })?;
        rotated.push((alg, kid));
    }
    if args.replace_encryption_key {
        // The new keys are current: every other key loses its private half.
        oauth
            .secure_signing_keys()
            .await
            .map_err(|e| store_failure("cannot secure the signing keys", &e))?;
    }
    let after = oauth.signing_keys().await.map_err(read_failure)?;
    let report: Vec<serde_json::Value> = rotated
        .iter()
        .map(|(alg, kid)| {
            let previous = before
                .iter()
                .find(|k| k.status == SigningKeyStatus::Current && k.alg == *alg)
                .map(|k| k.kid.clone());
            let until = previous
                .as_ref()
                .and_then(|p| after.iter().find(|k| &k.kid == p))
                .and_then(|k| k.published_until);
            serde_json::json!({
                "alg": alg.as_str(),
                "current": kid,
                "previous": previous,
                "previous_published_until": until,
            })
        })
        .collect();
    if args.json {
        // The first rotation's fields at the top level, every one under `rotated`.
        let mut out = report.first().cloned().unwrap_or_default();
        out["store"] = safe.clone().into();
        out["rotated"] = report.clone().into();
        println!("{out}");
        return Ok(());
    }
    for entry in &report {
        println!(
            "new current {} signing key {} in {safe}",
            entry["alg"].as_str().unwrap_or_default(),
            entry["current"].as_str().unwrap_or_default()
        );
        if let Some(previous) = entry["previous"].as_str() {
            println!(
                "previous key {previous} no longer signs and stays published at /jwks until {} UTC",
                entry["previous_published_until"]
                    .as_u64()
                    .map_or_else(|| "its tokens expire".to_owned(), utc)
            );
        }
    }
    Ok(())
}
