//! `authstore keys list` and `authstore keys rotate`: the JWT signing keys of every algorithm in the store (never their key material), the key-encryption key check `serve` runs before it starts, and its scheduled rotation.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::{
    KeyEncryptionKey, KeyProtection, OAuth, SigningAlg, SigningKeyInfo, SigningKeyStatus,
};
use authstore::{Store, SystemClock};
use clap::{Args, Subcommand};

use crate::cli::{Failure, StoreArgs, load_config};
use crate::config::{self, ServeConfig};
use crate::state::{AppState, Settings};

/// How often `serve` looks for signing keys due for rotation.
pub const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

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
pub async fn run(command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::List(args) => list(args).await,
        KeysCommand::Rotate(args) => rotate(args).await,
    }
}

/// The store, OAuth state on it (lifetimes from `--config`, the
/// key-encryption key from the environment or `--config`), and the
/// store's printable URL.
async fn open(args: &StoreArgs) -> Result<Opened, Failure> {
    let file = load_config(args)?;
    let mut warnings = Vec::new();
    let kek = config::key_encryption_key(file.as_ref(), &config::process_env, &mut warnings)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    let mut settings = config::admin_settings(file.as_ref())?;
    settings.oauth.key_encryption_key = kek.clone();
    let (store, safe) = crate::ops::open_args(args).await?;
    let in_process = store.backend() == "memory" || safe.trim() == "sqlite::memory:";
    settings.oauth.require_key_encryption = !in_process;
    let algs = configured_algs(&settings);
    let oauth = oauth_on(store, settings.oauth)?;
    Ok(Opened {
        oauth,
        kek,
        safe,
        in_process,
        configured_algs: algs,
    })
}

/// What [`open`] opened.
struct Opened {
    oauth: OAuth,
    kek: Option<KeyEncryptionKey>,
    safe: String,
    in_process: bool,
    configured_algs: Vec<SigningAlg>,
}

/// The algorithms the server is configured to sign with: the access-token
/// algorithm with JWT access tokens, the ID-token algorithm with OpenID
/// Connect on.
pub fn configured_algs(settings: &Settings) -> Vec<SigningAlg> {
    let mut algs = Vec::new();
    if settings.jwt_access_tokens {
        algs.push(settings.oauth.access_token_alg);
    }
    if settings.openid && !algs.contains(&settings.oauth.id_token_alg) {
        algs.push(settings.oauth.id_token_alg);
    }
    algs
}

fn oauth_on(
    store: Arc<dyn Store>,
    config: authstore::oauth::OAuthConfig,
) -> Result<OAuth, Failure> {
    OAuth::with_config(store, config, SystemClock)
        .map_err(|e| Failure::config(format!("invalid settings: {e}")))
}

fn store_failure(what: &str, error: &authstore::oauth::OAuthError) -> Failure {
    Failure::runtime(format!("{what}: {}", authstore::error_chain(error)))
}

/// Refuses a key-encryption key that is not the one every current signing
/// key was sealed with (or none, when one is sealed): exit status 2.
fn check_kek(keys: &[SigningKeyInfo], kek: Option<&KeyEncryptionKey>) -> Result<(), Failure> {
    for current in keys
        .iter()
        .filter(|k| k.status == SigningKeyStatus::Current)
    {
        let KeyProtection::Encrypted { kek_fingerprint } = &current.protection else {
            continue;
        };
        match kek {
            Some(kek) if &kek.fingerprint() == kek_fingerprint => {}
            Some(kek) => {
                return Err(Failure::config(format!(
                    "wrong key-encryption key: the current {} signing key {} was encrypted under \
                     the key with fingerprint {kek_fingerprint}, and the configured one ({} or \
                     [keys]) has fingerprint {}; configure the key it was encrypted with (or, to \
                     replace it, run `authstore keys rotate --replace-encryption-key` with the \
                     new one)",
                    current.alg,
                    current.kid,
                    config::KEK_ENV,
                    kek.fingerprint()
                )));
            }
            None => {
                return Err(Failure::config(format!(
                    "no key-encryption key: the current {} signing key {} is encrypted under the \
                     key with fingerprint {kek_fingerprint}; set {} (or {}, or [keys] in the \
                     config file)",
                    current.alg,
                    current.kid,
                    config::KEK_ENV,
                    config::KEK_FILE_ENV
                )));
            }
        }
    }
    Ok(())
}

/// A date and time in UTC, `YYYY-MM-DD HH:MM:SS`, from unix seconds.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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
pub async fn list(args: KeysListArgs) -> Result<(), Failure> {
    let Opened {
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
pub async fn rotate(args: KeysRotateArgs) -> Result<(), Failure> {
    let Opened {
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

/// Before `serve` starts on a persistent store with JWT access tokens, or
/// with OpenID Connect and a key-encryption key: refuses a key-encryption
/// key that is not the current signing keys' (exit status 2), seals a
/// signing key stored in clear, and deletes the private key of rotated-out
/// keys. (OpenID Connect without a key-encryption key starts: ID tokens
/// are refused, see the configuration warning.)
///
/// # Errors
/// As said; exit status 1 when the store fails.
pub async fn check_at_start(config: &ServeConfig) -> Result<(), Failure> {
    let settings = &config.settings;
    let signs = settings.jwt_access_tokens
        || (!configured_algs(settings).is_empty() && settings.oauth.key_encryption_key.is_some());
    if !signs || config::is_in_process_store(&config.store) {
        return Ok(());
    }
    let (store, safe) = crate::ops::open_url(&config.store).await?;
    let oauth = oauth_on(store, settings.oauth.clone())?;
    let keys = oauth
        .signing_keys()
        .await
        .map_err(|e| store_failure(&format!("cannot read the signing keys of {safe}"), &e))?;
    check_kek(&keys, settings.oauth.key_encryption_key.as_ref())?;
    let upkeep = oauth
        .secure_signing_keys()
        .await
        .map_err(|e| store_failure("cannot secure the signing keys", &e))?;
    if upkeep.sealed > 0 || upkeep.stripped > 0 {
        tracing::info!(
            sealed = upkeep.sealed,
            private_keys_deleted = upkeep.stripped,
            "signing keys secured: keys stored in clear were encrypted, rotated-out keys lost their private half"
        );
    }
    Ok(())
}

/// Starts `serve`'s scheduled rotation: at once and then every
/// [`ROTATION_CHECK_INTERVAL`], each current signing key older than
/// [`Settings::key_rotation`] is rotated, until `stop` completes. `None`
/// when scheduled rotation is off.
pub fn spawn_rotation(
    state: &AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let max_age = state.settings().key_rotation?;
    let state = state.clone();
    Some(tokio::spawn(async move {
        let mut interval = tokio::time::interval(ROTATION_CHECK_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = interval.tick() => {}
            }
            rotate_due(&state, max_age).await;
        }
    }))
}

/// Rotates the signing keys at least `max_age` old; logs and audits each
/// rotation (`keys.rotated`, with the algorithm and the new key id, never
/// key material). A failure is logged and tried again at the next check.
/// Returns what it rotated.
pub async fn rotate_due(state: &AppState, max_age: Duration) -> Vec<(SigningAlg, String)> {
    match state.oauth().rotate_due_signing_keys(max_age).await {
        Ok(rotated) => {
            for (alg, kid) in &rotated {
                tracing::info!(
                    alg = alg.as_str(),
                    kid = %kid,
                    max_age_secs = max_age.as_secs(),
                    "signing key rotated on schedule; the previous one stays published until its tokens expire"
                );
                state
                    .audit(
                        AuditEvent::new("keys.rotated", Outcome::Success)
                            .meta("alg", alg.as_str())
                            .meta("kid", kid.as_str())
                            .meta("reason", "schedule"),
                    )
                    .await;
            }
            rotated
        }
        Err(e) => {
            tracing::warn!(
                error = %authstore::error_chain(&e),
                "scheduled signing-key rotation failed; trying again at the next check"
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_400_000), "2026-11-23 02:13:20");
    }
}
