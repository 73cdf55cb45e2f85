//! Client authentication at the token, revocation and introspection endpoints: a cheap first step (unknown client, wrong method, expired or remembered secret) and then, only if needed, the secret against its argon2id hash.

use super::client::now_secs;
use super::verified::Recall;
use super::{AuthMethod, Client, OAuth, OAuthError};

/// How a client presented its credentials. The secret never appears in `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ClientCredentials<'a> {
    /// No secret: a public client's bare `client_id` (`none`).
    None,
    /// The secret in an HTTP Basic header (`client_secret_basic`).
    Basic(&'a str),
    /// The secret as the form's `client_secret` (`client_secret_post`).
    Post(&'a str),
}

impl<'a> ClientCredentials<'a> {
    /// The `token_endpoint_auth_method` this presentation uses.
    pub fn method(self) -> AuthMethod {
        match self {
            Self::None => AuthMethod::None,
            Self::Basic(_) => AuthMethod::ClientSecretBasic,
            Self::Post(_) => AuthMethod::ClientSecretPost,
        }
    }

    /// The secret, if any.
    pub fn secret(self) -> Option<&'a str> {
        match self {
            Self::None => None,
            Self::Basic(s) | Self::Post(s) => Some(s),
        }
    }
}

impl std::fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method().as_str())
    }
}

/// The outcome of [`OAuth::check_client`], the cheap step of client authentication.
#[derive(Debug)]
pub enum ClientCheck<'a> {
    /// Authenticated without argon2id.
    Authenticated {
        /// The client.
        client: Client,
        /// True for a confidential client whose secret this process verified
        /// less than [`secret_cache_ttl`](super::OAuthConfig::secret_cache_ttl)
        /// ago; false for a public client.
        remembered: bool,
    },
    /// The secret must be verified against its argon2id hash: [`SecretCheck::verify`].
    Verify(SecretCheck<'a>),
}

/// A presented secret still to be verified with argon2id. The secret never
/// appears in `Debug`.
pub struct SecretCheck<'a> {
    oauth: &'a OAuth,
    client: Client,
    secret: &'a str,
    verified_before: bool,
}

impl std::fmt::Debug for SecretCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCheck")
            .field("client_id", &self.client.client_id)
            .field("verified_before", &self.verified_before)
            .finish_non_exhaustive()
    }
}

impl SecretCheck<'_> {
    /// The client the secret claims to be (not authenticated yet).
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// Whether this same secret already passed verification for this client
    /// and its current stored hash in this process, longer ago than
    /// [`secret_cache_ttl`](super::OAuthConfig::secret_cache_ttl). Such a
    /// secret is almost certainly the client's own: limits on secret checks
    /// per client may let it through while they refuse others.
    pub fn verified_before(&self) -> bool {
        self.verified_before
    }

    /// Verifies the secret against the stored argon2id hash (one run,
    /// queued behind at most the hasher's bound of waiting callers) and
    /// remembers it if it matches.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`] for a wrong secret; a full hasher queue
    /// ([`OAuthError::is_busy`], HTTP 503); store errors.
    pub async fn verify(self) -> Result<Client, OAuthError> {
        let Some(hash) = self.client.secret_hash.as_deref() else {
            return Err(OAuthError::InvalidClient);
        };
        if !self.oauth.hasher.verify(Some(hash), self.secret).await? {
            return Err(OAuthError::InvalidClient);
        }
        let id = &self.client.client_id;
        self.oauth
            .verified
            .remember(id, hash, self.secret, self.oauth.now());
        Ok(self.client)
    }
}

impl OAuth {
    /// The cheap step of client authentication; nothing here runs argon2id.
    ///
    /// Refused at once with [`OAuthError::InvalidClient`]: an unknown client
    /// id (client ids are not secrets, so answering faster for an unknown
    /// one reveals nothing worth hiding), a public client presenting a
    /// secret, a confidential client presenting none or an empty one, or
    /// presenting it by another method than its
    /// [`auth_method`](Client::auth_method) (a `client_secret_basic` client
    /// must use HTTP Basic, a `client_secret_post` one the form), and a
    /// confidential client whose secret has expired.
    ///
    /// Otherwise a public client is [`ClientCheck::Authenticated`], and so is
    /// a confidential one whose secret this process verified less than
    /// [`secret_cache_ttl`](super::OAuthConfig::secret_cache_ttl) ago (a
    /// constant-time HMAC comparison). Any other secret is left to
    /// [`SecretCheck::verify`], so a caller can apply its limits in between.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`]; store errors.
    pub async fn check_client<'a>(
        &'a self,
        client_id: &str,
        presented: ClientCredentials<'a>,
    ) -> Result<ClientCheck<'a>, OAuthError> {
        self.check_client_inner(client_id, presented.secret(), Some(presented.method()))
            .await
    }

    /// Whether `secret` is the one this process last verified for
    /// `client_id` (an HMAC comparison in memory; no store read, no
    /// argon2id). It does not authenticate anything (the secret may have
    /// been rotated since); it tells a client's own secret from a guess, so
    /// a caller can exempt the client from limits meant for guessers before
    /// spending a store read on a request.
    pub fn remembers_secret(&self, client_id: &str, secret: &str) -> bool {
        self.verified.knows(client_id, secret)
    }

    /// Authenticates a client presenting `presented`:
    /// [`check_client`](Self::check_client), then, when needed,
    /// [`SecretCheck::verify`].
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`]; a full hasher queue
    /// ([`OAuthError::is_busy`]); store errors.
    pub async fn authenticate_client_with(
        &self,
        client_id: &str,
        presented: ClientCredentials<'_>,
    ) -> Result<Client, OAuthError> {
        match self.check_client(client_id, presented).await? {
            ClientCheck::Authenticated { client, .. } => Ok(client),
            ClientCheck::Verify(check) => check.verify().await,
        }
    }

    /// Authenticates a client by its secret, however it was sent (for
    /// callers without an HTTP request, such as the CLI; the HTTP endpoints
    /// use [`check_client`](Self::check_client), which also enforces the
    /// client's method). A confidential client must present its unexpired
    /// secret, a public one none.
    ///
    /// An unknown client, a public client with a secret or an expired
    /// secret is refused before any hashing. The right secret costs one
    /// argon2id verification per
    /// [`OAuthConfig::secret_cache_ttl`](super::OAuthConfig::secret_cache_ttl)
    /// and stored hash, then a constant-time HMAC comparison; a wrong one
    /// costs one verification each time.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`]; a full hasher queue
    /// ([`OAuthError::is_busy`]); store errors.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Client, OAuthError> {
        match self.check_client_inner(client_id, secret, None).await? {
            ClientCheck::Authenticated { client, .. } => Ok(client),
            ClientCheck::Verify(check) => check.verify().await,
        }
    }

    /// [`check_client`](Self::check_client); `method: None` accepts any.
    async fn check_client_inner<'a>(
        &'a self,
        client_id: &str,
        secret: Option<&'a str>,
        method: Option<AuthMethod>,
    ) -> Result<ClientCheck<'a>, OAuthError> {
        let Some(client) = self.client(client_id).await? else {
            return Err(OAuthError::InvalidClient);
        };
        if method.is_some_and(|m| m != client.auth_method) {
            return Err(OAuthError::InvalidClient);
        }
        let (hash, secret) = match (client.secret_hash.as_deref(), secret) {
            (None, None) => {
                return Ok(ClientCheck::Authenticated {
                    client,
                    remembered: false,
                });
            }
            (Some(hash), Some(secret)) if !secret.is_empty() => (hash, secret),
            _ => return Err(OAuthError::InvalidClient),
        };
        let expired = client
            .secret_expires_at
            .is_some_and(|at| at <= now_secs(self));
        if expired {
            return Err(OAuthError::InvalidClient);
        }
        let recall = self
            .verified
            .recall(&client.client_id, hash, secret, self.now());
        if recall == Recall::Fresh {
            return Ok(ClientCheck::Authenticated {
                client,
                remembered: true,
            });
        }
        Ok(ClientCheck::Verify(SecretCheck {
            oauth: self,
            client,
            secret,
            verified_before: recall == Recall::Stale,
        }))
    }
}
