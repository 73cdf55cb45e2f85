//! OAuth 2.1 grant state on any [`Store`]: clients, authorization codes with PKCE, rotating refresh tokens, opaque access tokens, revocation, introspection and remembered consent — every check-then-write one atomic store step.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authstore::oauth::{AuthorizationRequest, NewClient, OAuth, pkce_challenge};
//! let oauth = OAuth::new(authstore::open("memory://").await?)?;
//! let app = oauth.register_client(NewClient::public("cli", "http://127.0.0.1/callback")).await?;
//! let verifier = authstore::secret::random_token()?;
//! let code = oauth.issue_code(&AuthorizationRequest {
//!     client_id: app.client.client_id.clone(),
//!     redirect_uri: "http://127.0.0.1:8123/callback".into(), // loopback: any port (RFC 8252)
//!     scope: vec![],
//!     code_challenge: pkce_challenge(&verifier),
//!     subject: "u-1".into(),
//!     ..Default::default()
//! }).await?;
//! let tokens = oauth.exchange_code(&app.client, &code, "http://127.0.0.1:8123/callback", &verifier).await?;
//! assert!(oauth.introspect(&tokens.access_token).await?.is_some());
//! assert!(oauth.exchange_code(&app.client, &code, "http://127.0.0.1:8123/callback", &verifier).await.is_err());
//! assert!(oauth.introspect(&tokens.access_token).await?.is_none(), "code reuse revoked the grant");
//! # Ok(()) }
//! ```
//!
//! **Storage** (all secrets as SHA-256, client secrets as argon2id; see
//! [`OAuthConfig::secret_cache_ttl`] for the in-process memo of verified ones):
//! - `oauth-client:<client_id>`: the client.
//! - `oauth-cimd:<sha256 of the URL>`: the client of a URL `client_id`'s
//!   metadata document, while cached (see [`cimd`]).
//! - `oauth-grant:{<grant_id>}`: the grant (client, subject, scope, resources, revoked flag).
//!   Every key of a grant carries its id as hash tag (see `keys`), so a
//!   redemption or rotation is one [`Store::commit`].
//!   Every artefact of a grant is listed under the index `oauth-grant-ix:{<grant_id>}`;
//!   a grant, live or revoked, is listed under `oauth-user-grants:<subject>` and
//!   `oauth-client-grants:<client_id>` (see [`OAuth::user_grants`] and [`OAuth::erase_user`]).
//! - `oauth-code:{<grant_id>}<sha256>`: a code; redeemed by compare-and-set from unused to
//!   used, and then kept as a tombstone, so a second redemption is seen and
//!   revokes the grant.
//! - `oauth-at:{<grant_id>}<sha256>`, `oauth-rt:{<grant_id>}<sha256>`: access and refresh tokens.
//! - `oauth-rt-head:{<grant_id>}`: the one live refresh token of a grant, and
//!   the one it replaced; rotation is a compare-and-set on it. It also keeps
//!   the tokens of the last rotation, encrypted under a key derived from the
//!   replaced token (never stored), for retries within the grace window.
//! - `oauth-consent:<subject>|<client_id>|<sha256 of the resource set>`:
//!   remembered consent, one per client and set of resources.

mod audience;
mod authenticate;
pub mod cimd;
mod client;
mod client_admin;
mod client_registry;
mod code;
mod consent;
mod error;
mod grants;
mod introspect;
mod jwt;
mod kek;
mod keys;
mod oidc;
mod redeem;
mod redirect_uri;
mod refresh;
pub mod resource;
mod sealed;
mod token;
mod verified;

use keys::grant_index;
use std::sync::Arc;
use std::time::Duration;

pub use audience::{
    KnownResource, KnownResources, MAX_RESOURCES, SERVER_SCOPES, is_resource_indicator,
    is_server_scope,
};
pub use authenticate::{ClientCheck, ClientCredentials, SecretCheck};
pub use client::{
    AuthMethod, Client, ClientOrigin, GrantType, NewClient, RegisteredClient, Upserted,
};
pub use client_admin::ClientChanges;
pub use code::{AuthorizationRequest, CodeRead, pkce_challenge};
pub use consent::RememberedConsent;
pub use error::{GrantProblem, OAuthError};
pub use grants::GrantSummary;
pub use introspect::{RevokeOutcome, TokenInfo};
pub use jwt::{
    KeyProtection, KeyUpkeep, SigningAlg, SigningKeyInfo, SigningKeyStatus, UnknownSigningAlg,
};
pub use kek::KeyEncryptionKey;
pub use oidc::{MAX_NONCE_LEN, OPENID_SCOPE, at_hash, check_nonce, id_token_signed_response_alg};
pub use redirect_uri::redirect_uri_matches;
pub use token::TokenResponse;

use crate::clock::{Clock, SharedClock};
use crate::error::Result;
use crate::password::SecretHasher;
use crate::store::Store;

/// Lifetimes and costs of the OAuth state.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthConfig {
    /// An authorization code is redeemable this long (default 60 s).
    pub code_ttl: Duration,
    /// A redeemed code's tombstone is kept this long to catch reuse (default 24 h).
    pub code_tombstone_ttl: Duration,
    /// Access tokens live this long (default 1 h).
    pub access_token_ttl: Duration,
    /// Refresh tokens live this long, and so does a grant after its creation
    /// or its last refresh: each refresh extends it (default 30 days).
    pub refresh_token_ttl: Duration,
    /// A refresh token used again within this long after its rotation is taken
    /// as a retry of a lost response and gets the same response again (the
    /// same access and refresh tokens; nothing rotates); later it is reuse,
    /// which revokes the grant (default 10 s; zero disables retries).
    pub refresh_grace: Duration,
    /// The resources (RFC 8707) tokens may be for and the scopes each
    /// accepts; empty (the default): any resource indicator, any scope.
    /// See [`KnownResources`].
    pub resources: KnownResources,
    /// When set, access tokens are RFC 9068 JWTs signed with
    /// [`access_token_alg`](Self::access_token_alg), with this `iss` (the
    /// default `None` issues opaque 256-bit tokens). Either
    /// way the token is recorded by its SHA-256, so revocation and
    /// introspection behave the same.
    pub jwt_issuer: Option<String>,
    /// argon2id memory (KiB) and passes for client secrets (default 19,456 and 2).
    pub secret_hash_memory_kib: u32,
    /// argon2id passes for client secrets (default 2).
    pub secret_hash_iterations: u32,
    /// A client secret that passed argon2id verification is remembered in
    /// this process (as an HMAC under a per-process random key, next to the
    /// stored hash it matched) for this long, so that a client
    /// authenticating on every request pays for argon2id once, not on every
    /// request. Only successes are remembered; a changed stored hash, a
    /// deleted client or an expired secret is seen at once, because the
    /// client record is read from the store every time. Zero disables it
    /// (default 10 min).
    pub secret_cache_ttl: Duration,
    /// At most this many client-secret checks wait for a core; past it a
    /// check fails at once with a busy error (HTTP 503 with `Retry-After`)
    /// instead of queueing (default [`default_max_waiting`](crate::password::default_max_waiting):
    /// eight per core, at least 16).
    pub secret_hash_max_waiting: usize,
    /// Encrypts the JWT signing keys at rest (AES-256-GCM). Without one
    /// (the default) a signing key's private half is stored in clear: fine
    /// for the in-process memory store only. A key stored in clear is sealed
    /// when first used with one configured.
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// Refuse to keep a signing key's private half in clear: without a
    /// [`key_encryption_key`](Self::key_encryption_key), creating or
    /// signing with a key fails (a server error) instead. For stores that
    /// outlive the process (default `false`; `authstore serve` sets it for
    /// persistent stores).
    pub require_key_encryption: bool,
    /// The algorithm of JWT access tokens (with [`jwt_issuer`](Self::jwt_issuer)
    /// set): `EdDSA` (the default: Ed25519, small and fast), `RS256`
    /// (2048-bit RSA) or `ES256` (P-256). Each algorithm has its own current
    /// key, created on first use; all are published at `/jwks`.
    pub access_token_alg: SigningAlg,
    /// The algorithm of OpenID Connect ID tokens for clients that registered
    /// none ([`Client::id_token_alg`], `id_token_signed_response_alg`):
    /// `RS256` by default, the OpenID Connect default every relying party
    /// expects when it states no algorithm. Set `ES256` or `EdDSA` only when
    /// every such client is told to expect it.
    pub id_token_alg: SigningAlg,
    /// OpenID Connect: a grant whose scope has `openid` gets an ID token
    /// with its tokens, at the code exchange and at every refresh (default
    /// `false`). Needs an issuer: [`id_token_issuer`](Self::id_token_issuer)
    /// or [`jwt_issuer`](Self::jwt_issuer).
    pub openid: bool,
    /// The `iss` of ID tokens, the authorization server's issuer URL
    /// (default `None`: [`jwt_issuer`](Self::jwt_issuer)).
    pub id_token_issuer: Option<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(60),
            code_tombstone_ttl: Duration::from_secs(24 * 3600),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            resources: KnownResources::any(),
            jwt_issuer: None,
            secret_hash_memory_kib: 19_456,
            secret_hash_iterations: 2,
            secret_cache_ttl: Duration::from_secs(600),
            secret_hash_max_waiting: crate::password::default_max_waiting(),
            key_encryption_key: None,
            require_key_encryption: false,
            access_token_alg: SigningAlg::EdDSA,
            id_token_alg: SigningAlg::RS256,
            openid: false,
            id_token_issuer: None,
        }
    }
}

/// OAuth grant state on a [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuth {
    store: Arc<dyn Store>,
    clock: SharedClock,
    config: Arc<OAuthConfig>,
    hasher: SecretHasher,
    verified: Arc<verified::VerifiedSecrets>,
    /// The loaded current signing keys.
    keys: Arc<jwt::KeyCache>,
}

impl OAuth {
    /// OAuth state on `store` with the default config, judging time by the
    /// store's [`clock`](Store::clock).
    ///
    /// # Errors
    /// Never with the defaults; see [`with_config`](Self::with_config).
    pub fn new(store: Arc<dyn Store>) -> Result<Self> {
        let clock = store.clock();
        Self::with_config(store, OAuthConfig::default(), clock)
    }

    /// OAuth state with `config`, judging time by `clock` (use the store's).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for argon2 parameters out of range,
    /// or [`OAuthConfig::openid`] without an issuer.
    pub fn with_config(
        store: Arc<dyn Store>,
        config: OAuthConfig,
        clock: impl Clock,
    ) -> Result<Self> {
        if config.openid && config.id_token_issuer.is_none() && config.jwt_issuer.is_none() {
            return Err(crate::Error::InvalidArgument(
                "OpenID Connect needs an issuer for ID tokens: set id_token_issuer",
            ));
        }
        let hasher = SecretHasher::new(
            config.secret_hash_memory_kib,
            config.secret_hash_iterations,
            1,
        )?
        .with_max_waiting(config.secret_hash_max_waiting);
        let verified = Arc::new(verified::VerifiedSecrets::new(config.secret_cache_ttl)?);
        Ok(Self {
            store,
            verified,
            keys: Arc::default(),
            clock: crate::clock::share(clock),
            config: Arc::new(config),
            hasher,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The argon2id hasher of client secrets (its queue and run count).
    pub fn secret_hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    fn now(&self) -> u64 {
        self.clock.now_millis()
    }
}
