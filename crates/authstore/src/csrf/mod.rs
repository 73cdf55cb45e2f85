//! CSRF protection, three ways usable together: synchronizer tokens (in the store or in the session), signed double-submit tokens, and Fetch-Metadata/Origin verification.
//!
//! - [`SynchronizerTokens`]: random tokens kept in the store with a
//!   lifetime, bound to a session; one-time or reusable.
//! - [`session_token`] / [`verify_session_token`]: one token per session,
//!   kept in the session record, so it ends with the session.
//! - [`SignedTokens`]: stateless HMAC tokens bound to the session, with a [`KeyRing`].
//! - [`OriginCheck`]: a pure check of `Sec-Fetch-Site` / `Origin` / `Host`.
//!
//! Every comparison of a presented token runs in constant time.

mod origin;
mod signed;

use std::sync::Arc;
use std::time::Duration;

pub use origin::{OriginCheck, OriginVerdict, RequestParts};
pub use signed::{KeyRing, SignedTokens};

use crate::error::Result;
use crate::secret;
use crate::session::Session;
use crate::store::Store;
use crate::types::PutOptions;

/// Session data key of [`session_token`].
pub const SESSION_TOKEN_KEY: &str = "_csrf";

/// Synchronizer tokens in the store: `csrf:<sha256(token)>` holds the
/// session binding, with a TTL. One-time tokens are taken atomically, so a
/// token is accepted at most once even under concurrency.
#[derive(Debug, Clone)]
pub struct SynchronizerTokens {
    store: Arc<dyn Store>,
    ttl: Duration,
    one_time: bool,
}

impl SynchronizerTokens {
    /// Tokens on `store` living `ttl`; `one_time` tokens are consumed by verification.
    pub fn new(store: Arc<dyn Store>, ttl: Duration, one_time: bool) -> Self {
        Self {
            store,
            ttl,
            one_time,
        }
    }

    /// A new token bound to `binding` (the session handle).
    ///
    /// # Errors
    /// Store errors.
    pub async fn issue(&self, binding: &str) -> Result<String> {
        let token = secret::random_token()?;
        let key = format!("csrf:{}", secret::sha256_hex(&token));
        self.store
            .put(
                &key,
                binding.as_bytes(),
                PutOptions::new().ttl(self.ttl).create_only(),
            )
            .await?;
        Ok(token)
    }

    /// Whether `token` is live and bound to `binding`. A one-time token is
    /// consumed even if the binding does not match, so it cannot be retried.
    ///
    /// # Errors
    /// Store errors.
    pub async fn verify(&self, binding: &str, token: &str) -> Result<bool> {
        if !secret::is_token_shaped(token) {
            return Ok(false);
        }
        let key = format!("csrf:{}", secret::sha256_hex(token));
        let entry = if self.one_time {
            self.store.take(&key).await?
        } else {
            self.store.get(&key).await?
        };
        Ok(entry.is_some_and(|e| secret::constant_time_eq(&e.value, binding.as_bytes())))
    }
}

/// The session's CSRF token, created and stored in the session data on
/// first use (save the session afterwards). It ends with the session.
///
/// # Errors
/// As [`Session::insert`].
pub fn session_token(session: &mut Session) -> Result<String> {
    if let Some(token) = session.get::<String>(SESSION_TOKEN_KEY)? {
        return Ok(token);
    }
    let token = secret::random_token()?;
    session.insert(SESSION_TOKEN_KEY, &token)?;
    Ok(token)
}

/// Whether `token` is the session's CSRF token (constant time).
pub fn verify_session_token(session: &Session, token: &str) -> bool {
    match session.get::<String>(SESSION_TOKEN_KEY) {
        Ok(Some(expected)) => secret::constant_time_eq(expected.as_bytes(), token.as_bytes()),
        _ => false,
    }
}
