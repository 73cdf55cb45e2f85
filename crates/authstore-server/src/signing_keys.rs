//! JWT signing-key upkeep of the server: the key-encryption key check and sealing `serve` runs before it starts, and its scheduled rotation.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::{
    KeyEncryptionKey, KeyProtection, OAuth, SigningAlg, SigningKeyInfo, SigningKeyStatus,
};
use authstore::{Store, SystemClock};

use crate::command_prelude::{Failure, InProcess, Opened, error_chain, open_store};
use crate::config::{self, ServeConfig};
use crate::settings::Settings;
use crate::state::AppState;

/// How often `serve` looks for signing keys due for rotation.
pub const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

/// The algorithms the server is configured to sign with: the access-token
/// algorithm with JWT access tokens, the ID-token algorithm with OpenID
/// Connect on.
pub(crate) fn configured_algs(settings: &Settings) -> Vec<SigningAlg> {
    let mut algs = Vec::new();
    if settings.jwt_access_tokens {
        algs.push(settings.oauth.access_token_alg);
    }
    if settings.openid && !algs.contains(&settings.oauth.id_token_alg) {
        algs.push(settings.oauth.id_token_alg);
    }
    algs
}

pub(crate) fn oauth_on(
    store: Arc<dyn Store>,
    config: authstore::oauth::OAuthConfig,
) -> Result<OAuth, Failure> {
    OAuth::with_config(store, config, SystemClock)
        .map_err(|e| Failure::config(format!("invalid settings: {e}")))
}

pub(crate) fn store_failure(what: &str, error: &authstore::oauth::OAuthError) -> Failure {
    Failure::runtime(format!("{what}: {}", error_chain(error)))
}

/// Refuses a key-encryption key that is not the one every current signing
/// key was sealed with (or none, when one is sealed): exit status 2.
pub(crate) fn check_kek(
    keys: &[SigningKeyInfo],
    kek: Option<&KeyEncryptionKey>,
) -> Result<(), Failure> {
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

/// Before `serve` starts on a persistent store with JWT access tokens, or
/// with OpenID Connect and a key-encryption key: refuses a key-encryption
/// key that is not the current signing keys' (exit status 2), seals a
/// signing key stored in clear, and deletes the private key of rotated-out
/// keys. (OpenID Connect without a key-encryption key starts: ID tokens
/// are refused, see the configuration warning.)
///
/// # Errors
/// As said; exit status 1 when the store fails.
pub(crate) async fn check_at_start(config: &ServeConfig) -> Result<(), Failure> {
    let settings = &config.settings;
    let signs = settings.jwt_access_tokens
        || (!configured_algs(settings).is_empty() && settings.oauth.key_encryption_key.is_some());
    if !signs || config::is_in_process_store(&config.store) {
        return Ok(());
    }
    let Opened { store, safe, .. } = open_store(&config.store, InProcess::Quiet).await?;
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
                error = %error_chain(&e),
                "scheduled signing-key rotation failed; trying again at the next check"
            );
            Vec::new()
        }
    }
}
