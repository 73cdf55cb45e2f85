//! Same-store validation: the resource server shares the authorization server's store and checks a token with one hashed lookup, so a revocation takes effect at once.

use async_trait::async_trait;

use super::{AccessToken, InvalidToken, TokenValidator, ValidationError};
use crate::oauth::OAuth;

/// Validates tokens against the [`OAuth`] state in a shared store: one
/// lookup by the token's SHA-256, no network hop. Revoking a token or its
/// grant takes effect on the next request. Works for opaque and JWT
/// access tokens alike (both are recorded by hash).
#[derive(Debug, Clone)]
pub struct SameStoreValidator {
    oauth: OAuth,
}

impl SameStoreValidator {
    /// Validates against `oauth`'s store (open it on the authorization
    /// server's store URL, with the same key prefix).
    pub fn new(oauth: OAuth) -> Self {
        Self { oauth }
    }
}

#[async_trait]
impl TokenValidator for SameStoreValidator {
    async fn validate(&self, token: &str) -> Result<AccessToken, ValidationError> {
        match self.oauth.access_token(token).await {
            Ok(Some(token)) => Ok(token),
            Ok(None) => Err(InvalidToken::Inactive.into()),
            Err(e) => Err(ValidationError::Unavailable(e.to_string())),
        }
    }
}
